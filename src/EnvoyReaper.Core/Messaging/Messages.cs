using EnvoyReaper.Cluster;
using EnvoyReaper.Workloads;

namespace EnvoyReaper.Messaging;

public enum OptInSource
{
    Label,
    Monitor,
}

/// <summary>A pod as the timer saw it: enough to read its stats without asking the API server again.</summary>
/// <param name="Restarts">Its containers' restarts when it was listed (null in messages of older versions).</param>
public sealed record PodTarget(string Name, string Uid, string Ip, bool IstioProxy, ContainerRestarts? Restarts = null)
{
    /// <summary>A ready pod (one with an IP) as a target.</summary>
    public static PodTarget From(PodInfo pod) => new(pod.Name, pod.Uid, pod.Ip!, pod.HasIstioProxy, pod.Restarts);
}

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

/// <summary>
/// Queued on "inject-rollout" with a visibility delay: re-check the rollout of injection (or removal) operation
/// <paramref name="OperationId"/>. Only the message whose id the operation's record names as its next check acts; any
/// other (a duplicate, a retry of a check already recorded, a superseded operation) is dropped.
/// </summary>
public sealed record RolloutCheckMessage(int Version, string Id, string OperationId, string Namespace, string Deployment)
{
    public const int CurrentVersion = 1;
}
