using System.Text.Json.Nodes;

namespace EnvoyReaper.Cluster;

public sealed record ObjectRef(string Namespace, string Name)
{
    public override string ToString() => $"{Namespace}/{Name}";
}

public sealed record DeploymentInfo(
    string Namespace,
    string Name,
    string Uid,
    string ResourceVersion,
    DateTimeOffset CreatedAt,
    int? Replicas,
    IReadOnlyDictionary<string, string> Labels,
    IReadOnlyDictionary<string, string> Annotations,
    LabelSelector Selector,
    IReadOnlyDictionary<string, string> TemplateLabels)
{
    public ObjectRef Ref => new(Namespace, Name);
}

public sealed record PodInfo(
    string Namespace,
    string Name,
    string Uid,
    string? Ip,
    bool Ready,
    bool Terminating,
    IReadOnlyDictionary<string, string> Labels,
    string? OwnerReplicaSet,
    IReadOnlyList<string> ContainerNames,
    string? Phase = null,
    ContainerRestarts? Restarts = null)
{
    /// <summary>
    /// Failed (evicted pods among them) or Succeeded: its containers have stopped for good, so it serves no one and never
    /// will. Kubernetes keeps such pods until they are garbage-collected; they are not part of the workload.
    /// </summary>
    public bool Finished => Phase is "Failed" or "Succeeded";

    /// <summary>
    /// A Deployment's pods are owned by a ReplicaSet named after the Deployment and the pod-template-hash label,
    /// which ties a pod to exactly one Deployment without listing ReplicaSets.
    /// </summary>
    public bool BelongsTo(DeploymentInfo deployment) =>
        Namespace == deployment.Namespace
        && OwnerDeploymentName == deployment.Name
        && deployment.Selector.Matches(Labels);

    /// <summary>The Deployment that the owning ReplicaSet's name ("&lt;deployment&gt;-&lt;pod-template-hash&gt;") points at.</summary>
    public string? OwnerDeploymentName =>
        OwnerReplicaSet is { } owner
        && Labels.TryGetValue(Workloads.ReaperLabels.PodTemplateHashLabel, out var hash)
        && owner.Length > hash.Length + 1
        && owner.EndsWith(hash, StringComparison.Ordinal)
        && owner[^(hash.Length + 1)] == '-'
            ? owner[..^(hash.Length + 1)]
            : null;

    public bool HasIstioProxy => ContainerNames.Contains(Workloads.ReaperLabels.IstioProxyContainer);
}

/// <summary>
/// How often a pod's containers (all of them, init sidecars included: whichever runs Envoy) have started, from
/// <c>status.containerStatuses</c> and <c>status.initContainerStatuses</c>. Any change between two checks means a
/// container restarted, and an Envoy that restarts starts its counters again.
/// </summary>
/// <param name="Count">The sum of the containers' <c>restartCount</c>.</param>
/// <param name="LastStartedAt">The latest <c>state.running.startedAt</c> of a running container.</param>
public sealed record ContainerRestarts(int Count, DateTimeOffset? LastStartedAt)
{
    /// <summary>
    /// Every container's restarts, init sidecars included (Envoy may run in any of them), from each one's restart count
    /// and the start of its running state. Null when the kubelet reported no container status yet: nothing to compare,
    /// never "no restart".
    /// </summary>
    public static ContainerRestarts? Of(IReadOnlyCollection<(int RestartCount, DateTimeOffset? RunningSince)> containers)
    {
        ArgumentNullException.ThrowIfNull(containers);
        if (containers.Count == 0)
        {
            return null;
        }

        var count = containers.Sum(container => (long)container.RestartCount);
        return new ContainerRestarts((int)Math.Min(count, int.MaxValue), containers.Max(container => container.RunningSince));
    }
}

/// <summary>The seed's EnvoyMonitor custom resource (monitoring.example.com/v1alpha1), spec as users write it.</summary>
public sealed record MonitorInfo(
    string Namespace,
    string Name,
    string Uid,
    string? DeploymentName,
    string? TargetNamespace,
    string? ServiceName,
    string? IngressName,
    string? CheckInterval,
    JsonNode? MinConnections,
    string? IdleTimeout,
    string? Action,
    JsonNode? StatsPort,
    string? StatsPath,
    JsonNode? Listeners,
    JsonNode? Wake = null,
    JsonNode? WakeHold = null)
{
    public string EffectiveNamespace => string.IsNullOrEmpty(TargetNamespace) ? Namespace : TargetNamespace;
}

public enum ResourceKind
{
    Deployment,
    Service,
    Ingress,
    ConfigMap,
}

/// <summary>An object as the API server returned it, kept whole so that a snapshot can restore it.</summary>
public sealed record ClusterObject(ResourceKind Kind, string Namespace, string Name, string Uid, string ResourceVersion, JsonObject Manifest);

public enum DeleteOutcome
{
    Deleted,
    NotFound,
    PreconditionFailed,
}

/// <param name="MayLag">An Event of the checks (a verdict): the write budget may delay or drop it. Events of teardown,
/// restore and wake record what was done to a workload and wait with those writes instead.</param>
public sealed record ClusterEvent(
    ResourceKind InvolvedKind,
    string Namespace,
    string Name,
    string? Uid,
    string Reason,
    string Message,
    bool Warning,
    bool MayLag = false);
