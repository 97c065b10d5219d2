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
    Changed,
    NoSnapshot,
    NotFound,
}

public sealed record RestoreResult(RestoreStatus Status, string Detail, string? Snapshot, IReadOnlyList<string> Restored);

/// <summary>
/// Undoes a teardown from its snapshot: recreates what was deleted, or scales the very Deployment it parked back. A
/// restore can be run again until it is complete: what it created is marked with the snapshot's name and skipped.
/// </summary>
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
        "envoy-reaper/last-teardown", "envoy-reaper/message", ReaperLabels.RestoredFrom,
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
            return await ScaleBackAsync(@namespace, deployment, name, snapshot, current, cancellationToken).ConfigureAwait(false);
        }

        if (current is not null && !RestoredFrom(current.Annotations, name))
        {
            return new(RestoreStatus.AlreadyExists,
                $"Deployment {@namespace}/{deployment} exists (UID {current.Uid}) and was not created from snapshot {name}; delete it first to restore the snapshot", name, []);
        }

        var restored = new List<string>();
        var alreadyRestored = new List<string>();
        var kept = new List<string>();
        var warnings = new List<string>();
        string? newUid = current?.Uid;
        foreach (var manifest in snapshot.Objects.OrderBy(item => Kind(item) switch
                 {
                     ResourceKind.ConfigMap => 0,
                     ResourceKind.Deployment => 1,
                     ResourceKind.Service => 2,
                     _ => 3,
                 }))
        {
            if (Kind(manifest) is not { } kind)
            {
                continue;
            }

            var clean = StripServerFields(manifest);
            var objectName = clean["metadata"]?["name"]?.GetValue<string>() ?? "?";
            var label = $"{kind} {objectName}";
            var existing = kind == ResourceKind.Deployment
                ? (current is null ? null : current.Annotations)
                : (await writer.GetObjectAsync(kind, @namespace, objectName, cancellationToken).ConfigureAwait(false)) is { } found ? Annotations(found.Manifest) : null;
            if (existing is not null)
            {
                (RestoredFrom(existing, name) ? alreadyRestored : kept).Add(label);
                continue;
            }

            var metadata = clean["metadata"] as JsonObject ?? [];
            clean["metadata"] = metadata;
            var annotations = metadata["annotations"] as JsonObject ?? [];
            metadata["annotations"] = annotations;
            annotations[ReaperLabels.RestoredFrom] = name;
            if (kind == ResourceKind.Service && clean["spec"]?["type"]?.GetValue<string>() == "LoadBalancer")
            {
                warnings.Add($"Service {objectName} is a LoadBalancer: its external address changes");
            }

            var created = await CreateAsync(kind, @namespace, clean, warnings, cancellationToken).ConfigureAwait(false);
            if (created is null)
            {
                kept.Add(label);
                continue;
            }

            restored.Add(label);
            if (kind == ResourceKind.Deployment)
            {
                newUid = created.Uid;
            }
        }

        var detail = (restored.Count > 0 ? $"Restored {string.Join(", ", restored)} from snapshot {name}" : $"Nothing left to restore from snapshot {name}")
            + (alreadyRestored.Count > 0 ? $" (already restored: {string.Join(", ", alreadyRestored)})" : string.Empty)
            + (kept.Count > 0 ? $" (already there, kept: {string.Join(", ", kept)})" : string.Empty)
            + (warnings.Count > 0 ? $"; warning: {string.Join("; ", warnings)}" : string.Empty);
        if (restored.Count > 0)
        {
            await RecordAsync(@namespace, deployment, newUid, detail, cancellationToken).ConfigureAwait(false);
        }

        LogRestored(@namespace, deployment, detail);
        return new(RestoreStatus.Restored, detail, name, restored);
    }

    /// <summary>Scales back only the Deployment the teardown parked (same uid), and only while it is still at zero.</summary>
    private async Task<RestoreResult> ScaleBackAsync(string @namespace, string deployment, string name, WorkloadSnapshot snapshot, DeploymentInfo? current, CancellationToken cancellationToken)
    {
        if (current is null)
        {
            return new(RestoreStatus.NotFound, $"Deployment {@namespace}/{deployment} no longer exists", name, []);
        }

        if (current.Uid != snapshot.DeploymentUid)
        {
            return new(RestoreStatus.Changed,
                $"Deployment {@namespace}/{deployment} was recreated since snapshot {name} (UID {current.Uid}, the snapshot's {snapshot.DeploymentUid}): it is not the one the teardown scaled to zero; nothing was changed", name, []);
        }

        if (current.Replicas is not 0)
        {
            return new(RestoreStatus.Changed,
                $"Deployment {@namespace}/{deployment} has {current.Replicas ?? 1} replica(s) now: someone scaled it since snapshot {name}; nothing was changed", name, []);
        }

        var replicas = current.Annotations.TryGetValue(ReaperLabels.ReplicasBeforeTeardown, out var recorded) && int.TryParse(recorded, NumberStyles.None, CultureInfo.InvariantCulture, out var count)
            ? count
            : snapshot.Objects.FirstOrDefault(item => Kind(item) == ResourceKind.Deployment)?["spec"]?["replicas"]?.GetValue<int>() ?? 1;
        try
        {
            await writer.ScaleBackAsync(@namespace, deployment, current.ResourceVersion, replicas, cancellationToken).ConfigureAwait(false);
        }
        catch (ClusterConflictException)
        {
            return new(RestoreStatus.Changed, $"Deployment {@namespace}/{deployment} changed while it was being scaled back; nothing was changed: try again", name, []);
        }

        var scaled = $"Scaled back to {replicas} replica(s) from snapshot {name}";
        await RecordAsync(@namespace, deployment, current.Uid, scaled, cancellationToken).ConfigureAwait(false);
        return new(RestoreStatus.ScaledBack, scaled, name, [$"Deployment {deployment}"]);
    }

    /// <summary>Creates the object; a nodePort another Service took since the teardown is dropped (the server picks one).</summary>
    private async Task<ClusterObject?> CreateAsync(ResourceKind kind, string @namespace, JsonObject manifest, List<string> warnings, CancellationToken cancellationToken)
    {
        try
        {
            return await writer.CreateAsync(kind, @namespace, manifest, cancellationToken).ConfigureAwait(false);
        }
        catch (ClusterInvalidException exception) when (kind == ResourceKind.Service
            && exception.Message.Contains("provided port is already allocated", StringComparison.Ordinal)
            && manifest["spec"]?["ports"] is JsonArray ports)
        {
            var dropped = new List<string>();
            for (var index = 0; index < ports.Count; index++)
            {
                var named = exception.Fields.Count == 0 || exception.Fields.Contains($"spec.ports[{index}].nodePort");
                if (named && ports[index] is JsonObject port && port["nodePort"] is { } nodePort)
                {
                    dropped.Add(nodePort.ToJsonString());
                    port.Remove("nodePort");
                }
            }

            warnings.Add($"Service {manifest["metadata"]?["name"]?.GetValue<string>()}: nodePort {string.Join(", ", dropped)} is already allocated to another Service, dropped: the Service got a new one");
            return await writer.CreateAsync(kind, @namespace, manifest, cancellationToken).ConfigureAwait(false);
        }
    }

    private static bool RestoredFrom(IReadOnlyDictionary<string, string> annotations, string snapshot) =>
        annotations.TryGetValue(ReaperLabels.RestoredFrom, out var from) && from == snapshot;

    private static IReadOnlyDictionary<string, string> Annotations(JsonObject manifest) =>
        manifest["metadata"]?["annotations"] is JsonObject annotations
            ? annotations.ToDictionary(pair => pair.Key, pair => pair.Value?.GetValue<string>() ?? string.Empty)
            : new Dictionary<string, string>();

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
