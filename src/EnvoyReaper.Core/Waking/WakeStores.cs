namespace EnvoyReaper.Waking;

/// <summary>
/// The waker ports, one row per port in a shared table, so that two teardowns on two instances never hand out the same
/// port. An owner ("namespace/service") that asks again gets the ports it holds: a retried teardown reuses its allocation.
/// </summary>
public interface IWakerPortStore
{
    /// <summary>
    /// <paramref name="count"/> ports of [<paramref name="first"/>, <paramref name="last"/>] for <paramref name="owner"/>,
    /// sorted, those it holds first. Throws <see cref="WakerPortsExhaustedException"/> when the range has no room.
    /// </summary>
    Task<IReadOnlyList<int>> AllocateAsync(string owner, int count, int first, int last, CancellationToken cancellationToken);

    /// <summary>Frees every port <paramref name="owner"/> holds.</summary>
    Task ReleaseAsync(string owner, CancellationToken cancellationToken);
}

public sealed class WakerPortsExhaustedException(string message) : Exception(message);

public enum WakePhase
{
    /// <summary>The restore is done or under way; checks look at the Deployment until it is available.</summary>
    Waking,

    /// <summary>Available, the Service unparked.</summary>
    Woken,

    /// <summary>The restore was refused or the Deployment was not available in time: the Service stays parked.</summary>
    Failed,
}

/// <summary>
/// One wake of one parked Service: the record that deduplicates wake messages and names the one check allowed to act
/// next. <paramref name="StartedBy"/> is the id of the wake message that started it: the queue's retry of that message
/// carries on with the restore instead of being taken for a second wake.
/// </summary>
public sealed record WakeRecord(
    string OperationId,
    string Namespace,
    string Service,
    string Deployment,
    string Action,
    string Snapshot,
    WakePhase Phase,
    string Detail,
    DateTimeOffset FirstRequestAt,
    DateTimeOffset RequestedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset Deadline,
    int Checks,
    string NextCheckId,
    string? StartedBy = null);

public sealed record StoredWake(WakeRecord Record, string ETag);

public interface IWakeStore
{
    Task<StoredWake?> GetAsync(string @namespace, string service, CancellationToken cancellationToken);

    /// <summary>Adds (<paramref name="expectedETag"/> null) or replaces the record; null when someone else wrote first.</summary>
    Task<string?> TryWriteAsync(WakeRecord record, string? expectedETag, CancellationToken cancellationToken);
}

public interface IParkQueue
{
    Task EnqueueAsync(ParkMessage message, CancellationToken cancellationToken);
}

public interface IWakeQueue
{
    /// <summary>Queues a message on "wake", invisible for <paramref name="delay"/>.</summary>
    Task EnqueueAsync(WakeMessage message, TimeSpan delay, TimeSpan timeToLive, CancellationToken cancellationToken);
}
