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

/// <summary>
/// Version 1 of "stats-check": one workload per message. Still read during an upgrade (queued by an older timer), as a
/// batch of one; no longer sent.
/// </summary>
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
    public const int Version1 = 1;

    public StatsCheckBatchMessage ToBatch() => new(
        StatsCheckBatchMessage.CurrentVersion,
        Id,
        DueAt,
        Namespace,
        [new WorkloadCheck(Deployment, DeploymentUid, DeploymentCreatedAt, Source, Monitor, Settings, ConfigurationErrors, Pods, NotReadyPods, MonitorNamespace)]);
}

/// <summary>One workload of a stats-check batch: what the timer saw of it, enough to check it without the API server.</summary>
public sealed record WorkloadCheck(
    string Deployment,
    string DeploymentUid,
    DateTimeOffset DeploymentCreatedAt,
    OptInSource Source,
    string? Monitor,
    WorkloadSettings? Settings,
    IReadOnlyList<string>? ConfigurationErrors,
    IReadOnlyList<PodTarget> Pods,
    int NotReadyPods,
    string? MonitorNamespace = null);

/// <summary>
/// Queued on "stats-check": workloads of one namespace (their states share a Table partition) due at the same time,
/// checked by one invocation. A workload appears at most once in a message.
/// </summary>
public sealed record StatsCheckBatchMessage(
    int Version,
    string Id,
    DateTimeOffset DueAt,
    string Namespace,
    IReadOnlyList<WorkloadCheck> Workloads)
{
    public const int CurrentVersion = 2;
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
