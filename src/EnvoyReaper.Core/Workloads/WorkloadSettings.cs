namespace EnvoyReaper.Workloads;

/// <summary>How one workload is watched and reaped, after defaults were applied.</summary>
public sealed record WorkloadSettings(
    int MinConnections,
    TimeSpan IdleTimeout,
    ReaperAction Action,
    int StatsPort,
    string StatsPath,
    IReadOnlyList<string>? Listeners,
    string? ServiceName,
    string? IngressName,
    TimeSpan? CheckInterval);
