using System.Globalization;
using System.Text.Json.Nodes;
using EnvoyReaper.Cluster;
using EnvoyReaper.Workloads;
using Microsoft.Extensions.Logging;

namespace EnvoyReaper.Teardown;

public enum RestoreStatus
{
    Restored,
    ScaledBack,
    AlreadyExists,
    NoSnapshot,
    NotFound,
}

public sealed record RestoreResult(RestoreStatus Status, string Detail, string? Snapshot, IReadOnlyList<string> Restored);

/// <summary>Undoes a teardown from its snapshot: recreates what was deleted, or scales a parked workload back.</summary>
public sealed partial class WorkloadRestorer(
    IClusterReader reader,
    IClusterWriter writer,
    ISnapshotStore snapshots,
    IEventRecorder events,
    ILogger<WorkloadRestorer> logger)
{
    /// <summary>Fields the API server sets: a manifest that carries them cannot be created again.</summary>
    private static readonly string[] ServerSetMetadata =
        ["uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences"];

    private static readonly string[] StaleAnnotations =
    [
        "deployment.kubernetes.io/revision", "kubectl.kubernetes.io/last-applied-configuration",
        "envoy-reaper/verdict", "envoy-reaper/active-connections", "envoy-reaper/idle-since", "envoy-reaper/last-check",
        "envoy-reaper/last-teardown", "envoy-reaper/message",
    ];

    public async Task<RestoreResult> RestoreAsync(string @namespace, string deployment, string? snapshotName, CancellationToken cancellationToken)
    {
        var names = await snapshots.ListAsync(@namespace, deployment, cancellationToken).ConfigureAwait(false);
        var name = snapshotName ?? names.LastOrDefault();
        if (name is null || !names.Contains(name))
        {
            return new(RestoreStatus.NoSnapshot, snapshotName is null
                ? $"no snapshot of {@namespace}/{deployment}"
                : $"snapshot {snapshotName} does not belong to {@namespace}/{deployment} (known: {string.Join(", ", names)})", null, []);
        }

        var snapshot = await snapshots.GetAsync(name, cancellationToken).ConfigureAwait(false);
        if (snapshot is null)
        {
            return new(RestoreStatus.NoSnapshot, $"snapshot {name} cannot be read", name, []);
        }

        var current = await reader.GetDeploymentAsync(@namespace, deployment, cancellationToken).ConfigureAwait(false);
        if (snapshot.Action == ReaperAction.ScaleToZero.ToContractName())
        {
            if (current is null)
            {
                return new(RestoreStatus.NotFound, $"Deployment {@namespace}/{deployment} no longer exists", name, []);
            }

            var replicas = current.Annotations.TryGetValue(ReaperLabels.ReplicasBeforeTeardown, out var recorded) && int.TryParse(recorded, NumberStyles.None, CultureInfo.InvariantCulture, out var count)
                ? count
                : snapshot.Objects.FirstOrDefault(item => Kind(item) == ResourceKind.Deployment)?["spec"]?["replicas"]?.GetValue<int>() ?? 1;
            await writer.ScaleBackAsync(@namespace, deployment, current.ResourceVersion, replicas, cancellationToken).ConfigureAwait(false);
            var scaled = $"Scaled back to {replicas} replica(s) from snapshot {name}";
            await RecordAsync(@namespace, deployment, current.Uid, scaled, cancellationToken).ConfigureAwait(false);
            return new(RestoreStatus.ScaledBack, scaled, name, [$"Deployment {deployment}"]);
        }

        if (current is not null)
        {
            return new(RestoreStatus.AlreadyExists, $"Deployment {@namespace}/{deployment} exists (UID {current.Uid}); delete it first to restore the snapshot", name, []);
        }

        var restored = new List<string>();
        var kept = new List<string>();
        string? newUid = null;
        foreach (var manifest in snapshot.Objects.OrderBy(item => Kind(item) switch
                 {
                     ResourceKind.ConfigMap => 0,
                     ResourceKind.Deployment => 1,
                     ResourceKind.Service => 2,
                     _ => 3,
                 }))
        {
            var kind = Kind(manifest);
            if (kind is null)
            {
                continue;
            }

            var clean = StripServerFields(manifest);
            var objectName = clean["metadata"]?["name"]?.GetValue<string>() ?? "?";
            var created = await writer.CreateAsync(kind.Value, @namespace, clean, cancellationToken).ConfigureAwait(false);
            if (created is null)
            {
                kept.Add($"{kind} {objectName}");
                continue;
            }

            restored.Add($"{kind} {objectName}");
            if (kind == ResourceKind.Deployment)
            {
                newUid = created.Uid;
            }
        }

        var detail = $"Restored {string.Join(", ", restored)} from snapshot {name}{(kept.Count > 0 ? $" (already there, kept: {string.Join(", ", kept)})" : string.Empty)}";
        await RecordAsync(@namespace, deployment, newUid, detail, cancellationToken).ConfigureAwait(false);
        LogRestored(@namespace, deployment, detail);
        return new(RestoreStatus.Restored, detail, name, restored);
    }

    public static JsonObject StripServerFields(JsonObject manifest)
    {
        var clean = manifest.DeepClone().AsObject();
        clean.Remove("status");
        if (clean["metadata"] is JsonObject metadata)
        {
            foreach (var field in ServerSetMetadata)
            {
                metadata.Remove(field);
            }

            if (metadata["annotations"] is JsonObject annotations)
            {
                foreach (var annotation in StaleAnnotations)
                {
                    annotations.Remove(annotation);
                }
            }
        }

        if (Kind(clean) == ResourceKind.Service && clean["spec"] is JsonObject spec)
        {
            // Cluster IPs are allocated anew; asking for the old one can collide with a Service created since.
            spec.Remove("clusterIP");
            spec.Remove("clusterIPs");
        }

        return clean;
    }

    private static ResourceKind? Kind(JsonObject manifest) => manifest["kind"]?.GetValue<string>() switch
    {
        "Deployment" => ResourceKind.Deployment,
        "Service" => ResourceKind.Service,
        "Ingress" => ResourceKind.Ingress,
        "ConfigMap" => ResourceKind.ConfigMap,
        _ => null,
    };

    private async Task RecordAsync(string @namespace, string deployment, string? uid, string message, CancellationToken cancellationToken)
    {
        try
        {
            await events.RecordAsync(new ClusterEvent(ResourceKind.Deployment, @namespace, deployment, uid, "Restored", message, Warning: false), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            LogEventFailed(exception, @namespace, deployment);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Restore of {Namespace}/{Name}: {Detail}")]
    private partial void LogRestored(string @namespace, string name, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not record the Restored event on {Namespace}/{Name}")]
    private partial void LogEventFailed(Exception exception, string @namespace, string name);
}
