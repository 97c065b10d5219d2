namespace EnvoyReaper.Cluster;

/// <summary>The reads the reaper needs from the API server. Lists page through the server's limit/continue.</summary>
public interface IClusterReader
{
    IAsyncEnumerable<DeploymentInfo> ListDeploymentsAsync(string? @namespace, string? labelSelector, CancellationToken cancellationToken);

    IAsyncEnumerable<MonitorInfo> ListMonitorsAsync(CancellationToken cancellationToken);

    IAsyncEnumerable<PodInfo> ListPodsAsync(string @namespace, string? labelSelector, CancellationToken cancellationToken);

    Task<DeploymentInfo?> GetDeploymentAsync(string @namespace, string name, CancellationToken cancellationToken);

    Task<MonitorInfo?> GetMonitorAsync(string @namespace, string name, CancellationToken cancellationToken);
}

/// <summary>Whole-object access for teardown: snapshot, delete with preconditions, scale.</summary>
public interface IClusterWriter
{
    Task<ClusterObject?> GetObjectAsync(ResourceKind kind, string @namespace, string name, CancellationToken cancellationToken);

    Task<IReadOnlyList<ClusterObject>> ListObjectsAsync(ResourceKind kind, string @namespace, CancellationToken cancellationToken);

    /// <summary>Deletes with a uid precondition, and a resourceVersion one when given; 409 Conflict is PreconditionFailed.</summary>
    Task<DeleteOutcome> DeleteAsync(ResourceKind kind, string @namespace, string name, string uid, string? resourceVersion, CancellationToken cancellationToken);

    /// <summary>
    /// Scales to zero with a resourceVersion precondition and records the previous replica count and the teardown's
    /// snapshot (<see cref="Workloads.ReaperLabels.ScaledToZeroBy"/>).
    /// </summary>
    Task ScaleToZeroAsync(string @namespace, string name, string resourceVersion, int previousReplicas, string teardownSnapshot, CancellationToken cancellationToken);

    /// <summary>
    /// Creates an object from a manifest; null when one of that name already exists. A refusal as invalid (422: a taken
    /// nodePort, say) is a <see cref="ClusterInvalidException"/>.
    /// </summary>
    Task<ClusterObject?> CreateAsync(ResourceKind kind, string @namespace, System.Text.Json.Nodes.JsonObject manifest, CancellationToken cancellationToken);

    /// <summary>
    /// Sets the replica count back and drops the record a scale-to-zero left, with a resourceVersion precondition:
    /// <see cref="ClusterConflictException"/> when the Deployment changed since it was read.
    /// </summary>
    Task ScaleBackAsync(string @namespace, string name, string resourceVersion, int replicas, CancellationToken cancellationToken);
}

/// <summary>What users see on the EnvoyMonitor's status, or as annotations on a label-opted Deployment.</summary>
public sealed record WorkloadStatus(
    string Verdict,
    long? ActiveConnections,
    DateTimeOffset? IdleSince,
    DateTimeOffset LastCheck,
    DateTimeOffset? LastTeardown,
    string Message);

public interface IWorkloadStatusWriter
{
    /// <summary>Writes the status of a workload; called on transitions only, never every cycle.</summary>
    Task WriteAsync(string @namespace, string deployment, string? monitorNamespace, string? monitor, WorkloadStatus status, CancellationToken cancellationToken);
}

public interface IEventRecorder
{
    Task RecordAsync(ClusterEvent clusterEvent, CancellationToken cancellationToken);
}
