using EnvoyReaper.Workloads;

namespace EnvoyReaper.Messaging;

public enum OptInSource
{
    Label,
    Monitor,
}

/// <summary>A pod as the timer saw it: enough to read its stats without asking the API server again.</summary>
public sealed record PodTarget(string Name, string Uid, string Ip, bool IstioProxy);

/// <summary>One workload to check, queued on "stats-check" once per workload per cycle.</summary>
public sealed record StatsCheckMessage(
    int Version,
    string Id,
    DateTimeOffset DueAt,
    string Namespace,
    string Deployment,
    string DeploymentUid,
    DateTimeOffset DeploymentCreatedAt,
    OptInSource Source,
    string? Monitor,
    WorkloadSettings? Settings,
    IReadOnlyList<string>? ConfigurationErrors,
    IReadOnlyList<PodTarget> Pods,
    int NotReadyPods,
    string? MonitorNamespace = null)
{
    public const int CurrentVersion = 1;
}

/// <summary>Queued on "teardown" when a workload has been idle for its timeout.</summary>
public sealed record TeardownMessage(
    int Version,
    string Id,
    DateTimeOffset RequestedAt,
    string Namespace,
    string Deployment,
    string DeploymentUid,
    OptInSource Source,
    string? Monitor,
    WorkloadSettings Settings,
    DateTimeOffset IdleSince,
    string? MonitorNamespace = null)
{
    public const int CurrentVersion = 1;
}
