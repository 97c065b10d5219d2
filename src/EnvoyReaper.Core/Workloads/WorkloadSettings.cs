namespace EnvoyReaper.Workloads;

/// <summary>How one workload is watched and reaped, after defaults were applied.</summary>
/// <param name="Wake">Park the Service at teardown and wake the workload on its first request (issue 13).</param>
/// <param name="WakeHold">While waking, the waker holds requests until the workload is ready instead of answering a page or 503.</param>
public sealed record WorkloadSettings(
    int MinConnections,
    TimeSpan IdleTimeout,
    ReaperAction Action,
    int StatsPort,
    string StatsPath,
    IReadOnlyList<string>? Listeners,
    string? ServiceName,
    string? IngressName,
    TimeSpan? CheckInterval,
    bool Wake = false,
    bool WakeHold = false);
