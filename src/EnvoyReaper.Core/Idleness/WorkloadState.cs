using EnvoyReaper.Cluster;

namespace EnvoyReaper.Idleness;

/// <summary>The counters of one pod at the last check, to see traffic that came and went between two polls.</summary>
/// <param name="EnvoyStartedAt">Now minus server.uptime: stable from check to check, later after a restart.</param>
/// <param name="Uptime">server.uptime at the read these counters come from (null in states written before it was kept).</param>
/// <param name="SampledAt">When that read was taken.</param>
/// <param name="Restarts">The pod's container restarts at that read (null when unknown or in older states).</param>
public sealed record PodBaseline(
    string PodUid,
    DateTimeOffset? EnvoyStartedAt,
    IReadOnlyDictionary<string, ulong> ConnectionTotals,
    ulong? Uptime = null,
    DateTimeOffset? SampledAt = null,
    ContainerRestarts? Restarts = null);

/// <summary>What the reaper remembers of a workload between checks; shared by all instances through the state store.</summary>
/// <param name="QuietSince">
/// When the sample behind <see cref="Pods"/> was taken, if it was complete (every pod read, none unready) and below the
/// minimum of connections, and no check since has seen a connection: the workload is known to have been idle since then.
/// </param>
/// <param name="QuietBelow">The minimum of connections that QuietSince and IdleSince were judged against.</param>
/// <param name="PriorVerdict">
/// The verdict before <see cref="Verdict"/>, passing over Unknown (null: none known), for the teardown breaker's mass-idle measure.
/// </param>
/// <param name="VerdictSince">When the current verdict began (null: in a state written before this was recorded).</param>
/// <param name="WokenAt">When a wake on traffic brought the workload back: the startup grace counts from it too.</param>
public sealed record WorkloadState(
    string DeploymentUid,
    Verdict Verdict,
    string? Reason,
    long? ActiveConnections,
    DateTimeOffset? IdleSince,
    DateTimeOffset LastChange,
    IReadOnlyList<PodBaseline> Pods,
    DateTimeOffset? TeardownRequestedAt,
    DateTimeOffset? TeardownCompletedAt,
    string? LastSnapshot,
    string? TeardownAction = null,
    DateTimeOffset? QuietSince = null,
    int? QuietBelow = null,
    Verdict? PriorVerdict = null,
    DateTimeOffset? VerdictSince = null,
    DateTimeOffset? WokenAt = null);

public sealed record StoredState(WorkloadState State, string ETag);

/// <summary>One state to write, in the namespace of a batch: <paramref name="ExpectedETag"/> null means it must not exist yet.</summary>
public sealed record StateWrite(string Deployment, WorkloadState State, string? ExpectedETag);

public interface IWorkloadStateStore
{
    Task<StoredState?> GetAsync(string @namespace, string deployment, CancellationToken cancellationToken);

    /// <summary>
    /// The stored states of several Deployments of one namespace, read together where the store can (one query of the
    /// namespace's partition); a Deployment without state is absent from the result.
    /// </summary>
    Task<IReadOnlyDictionary<string, StoredState>> GetManyAsync(string @namespace, IReadOnlyCollection<string> deployments, CancellationToken cancellationToken);

    /// <summary>Every stored state, keyed by namespace and Deployment name: one paged scan, for the status endpoint.</summary>
    Task<IReadOnlyDictionary<(string Namespace, string Deployment), WorkloadState>> ListAsync(CancellationToken cancellationToken);

    /// <summary>Writes the state if the stored copy still has <paramref name="expectedETag"/> (null: must not exist yet).</summary>
    /// <returns>
    /// The ETag of the written state (empty if the service did not say); null when another instance wrote first or the
    /// row expected was deleted.
    /// </returns>
    Task<string?> TryWriteAsync(string @namespace, string deployment, WorkloadState state, string? expectedETag, CancellationToken cancellationToken);

    /// <summary>
    /// Writes several states of one namespace together where the store can (one transaction), each under the same rule as
    /// <see cref="TryWriteAsync"/>: a write whose ETag no longer holds is refused (null at its index) and never makes
    /// another one fail.
    /// </summary>
    /// <returns>For each write, in order, what <see cref="TryWriteAsync"/> would have returned.</returns>
    Task<IReadOnlyList<string?>> TryWriteManyAsync(string @namespace, IReadOnlyList<StateWrite> writes, CancellationToken cancellationToken);
}
