using EnvoyReaper.Idleness;

namespace EnvoyReaper.Teardown;

/// <summary>A teardown admitted in the rolling hour; <paramref name="Request"/> is the teardown message's id, so a retry keeps its slot.</summary>
public sealed record TeardownSlot(string Request, DateTimeOffset At);

/// <summary>The breaker shared by all instances: one row, written with ETags.</summary>
/// <param name="Slots">Teardowns admitted in the last hour (older ones are dropped at the next write).</param>
/// <param name="MonitoredWorkloads">Workloads the last discovery cycle counted (not observe, not dry run).</param>
/// <param name="MeasuredAt">When the last discovery cycle read the verdicts for the mass-idle measure.</param>
/// <param name="OpenedAt">Set while the breaker is open; only a person closes it.</param>
public sealed record TeardownBreakerState(
    IReadOnlyList<TeardownSlot> Slots,
    int? MonitoredWorkloads = null,
    DateTimeOffset? MeasuredAt = null,
    DateTimeOffset? OpenedAt = null,
    string? OpenedBecause = null,
    DateTimeOffset? ClosedAt = null,
    string? ClosedBy = null)
{
    public static TeardownBreakerState Empty { get; } = new([]);

    public bool IsOpen => OpenedAt is not null;
}

public sealed record StoredBreakerState(TeardownBreakerState State, string ETag);

/// <summary>What the mass-idle measure needs of a workload's stored state: its verdict and the one before.</summary>
public sealed record VerdictRecord(string DeploymentUid, Verdict Verdict, Verdict? PriorVerdict, DateTimeOffset? VerdictSince);

public interface ITeardownBreakerStore
{
    Task<StoredBreakerState?> GetAsync(CancellationToken cancellationToken);

    /// <summary>Writes the breaker if the stored copy still has <paramref name="expectedETag"/> (null: must not exist yet).</summary>
    /// <returns>The new ETag; null when another instance wrote first.</returns>
    Task<string?> TryWriteAsync(TeardownBreakerState state, string? expectedETag, CancellationToken cancellationToken);

    /// <summary>The verdict columns of every workload state: one paged scan of a few columns per discovery cycle.</summary>
    Task<IReadOnlyDictionary<(string Namespace, string Deployment), VerdictRecord>> ListVerdictsAsync(CancellationToken cancellationToken);
}
