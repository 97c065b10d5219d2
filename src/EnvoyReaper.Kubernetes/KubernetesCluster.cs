using System.Net;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using EnvoyReaper.Cluster;
using EnvoyReaper.Workloads;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Kubernetes;

/// <summary>The reaper's port onto the API server, over the official client.</summary>
public sealed class KubernetesCluster(IKubernetes client, IOptions<ReaperOptions> options, TimeProvider time)
    : IClusterReader, IClusterWriter, IEventRecorder, IWorkloadStatusWriter, EnvoyReaper.Waking.IParkingCluster
{
    public const string MonitorGroup = "monitoring.example.com";
    public const string MonitorVersion = "v1alpha1";
    public const string MonitorPlural = "envoymonitors";
    public const string Component = "envoy-reaper";

    private readonly PodListReader? podReader = client is k8s.Kubernetes kubernetes ? new PodListReader(kubernetes) : null;

    private int PageSize => options.Value.ListPageSize;

    public async IAsyncEnumerable<DeploymentInfo> ListDeploymentsAsync(string? @namespace, string? labelSelector, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string? continueToken = null;
        do
        {
            var page = @namespace is null
                ? await client.AppsV1.ListDeploymentForAllNamespacesAsync(continueParameter: continueToken, labelSelector: labelSelector, limit: PageSize, cancellationToken: cancellationToken).ConfigureAwait(false)
                : await client.AppsV1.ListNamespacedDeploymentAsync(@namespace, continueParameter: continueToken, labelSelector: labelSelector, limit: PageSize, cancellationToken: cancellationToken).ConfigureAwait(false);
            foreach (var deployment in page.Items)
            {
                yield return ToInfo(deployment);
            }

            continueToken = page.Metadata?.ContinueProperty;
        }
        while (!string.IsNullOrEmpty(continueToken));
    }

    public async IAsyncEnumerable<MonitorInfo> ListMonitorsAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string? continueToken = null;
        do
        {
            JsonObject page;
            try
            {
                page = await client.CustomObjects.ListClusterCustomObjectAsync<JsonObject>(
                    MonitorGroup, MonitorVersion, MonitorPlural, continueParameter: continueToken, limit: PageSize, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (HttpOperationException exception) when (exception.Response.StatusCode == HttpStatusCode.NotFound && continueToken is null)
            {
                yield break; // The EnvoyMonitor CRD is not installed: label opt-in only.
            }

            if (page["items"] is JsonArray items)
            {
                foreach (var item in items.OfType<JsonObject>())
                {
                    yield return ToMonitor(item);
                }
            }

            continueToken = page["metadata"]?["continue"]?.GetValue<string>();
        }
        while (!string.IsNullOrEmpty(continueToken));
    }

    /// <summary>
    /// The pods of <paramref name="namespace"/>, page by page, read with <see cref="PodListReader"/> (only what
    /// <see cref="PodInfo"/> holds). A continue token that expired mid-list ends the list with 410 Gone: the pods already
    /// yielded are never a complete list.
    /// </summary>
    public async IAsyncEnumerable<PodInfo> ListPodsAsync(string @namespace, string? labelSelector, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string? continueToken = null;
        do
        {
            var page = podReader is not null
                ? await podReader.ReadPageAsync(@namespace, labelSelector, options.Value.PodListPageSize, continueToken, cancellationToken).ConfigureAwait(false)
                : await ReadTypedPodPageAsync(client, @namespace, labelSelector, options.Value.PodListPageSize, continueToken, cancellationToken).ConfigureAwait(false);
            foreach (var pod in page.Items)
            {
                yield return pod;
            }

            continueToken = page.Continue;
        }
        while (!string.IsNullOrEmpty(continueToken));
    }

    /// <summary>A page of pods through the typed client: for an <see cref="IKubernetes"/> that is not the HTTP client, and the benchmark's baseline.</summary>
    internal static async Task<PodListPage> ReadTypedPodPageAsync(IKubernetes client, string @namespace, string? labelSelector, int limit, string? continueToken, CancellationToken cancellationToken)
    {
        var page = await client.CoreV1.ListNamespacedPodAsync(@namespace, continueParameter: continueToken, labelSelector: labelSelector, limit: limit, cancellationToken: cancellationToken).ConfigureAwait(false);
        return new PodListPage(page.Items.Select(ToInfo).ToList(), page.Metadata?.ContinueProperty, page.Metadata?.ResourceVersion);
    }

    public async Task<DeploymentInfo?> GetDeploymentAsync(string @namespace, string name, CancellationToken cancellationToken)
    {
        var deployment = await NullIfNotFound(() => client.AppsV1.ReadNamespacedDeploymentAsync(name, @namespace, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return deployment is null ? null : ToInfo(deployment);
    }

    public async Task<MonitorInfo?> GetMonitorAsync(string @namespace, string name, CancellationToken cancellationToken)
    {
        var monitor = await NullIfNotFound(() => client.CustomObjects.GetNamespacedCustomObjectAsync<JsonObject>(
            MonitorGroup, MonitorVersion, @namespace, MonitorPlural, name, cancellationToken: cancellationToken)).ConfigureAwait(false);
        return monitor is null ? null : ToMonitor(monitor);
    }

    public async Task<ClusterObject?> GetObjectAsync(ResourceKind kind, string @namespace, string name, CancellationToken cancellationToken)
    {
        object? found = kind switch
        {
            ResourceKind.Deployment => await NullIfNotFound(() => client.AppsV1.ReadNamespacedDeploymentAsync(name, @namespace, cancellationToken: cancellationToken)).ConfigureAwait(false),
            ResourceKind.Service => await NullIfNotFound(() => client.CoreV1.ReadNamespacedServiceAsync(name, @namespace, cancellationToken: cancellationToken)).ConfigureAwait(false),
            ResourceKind.Ingress => await NullIfNotFound(() => client.NetworkingV1.ReadNamespacedIngressAsync(name, @namespace, cancellationToken: cancellationToken)).ConfigureAwait(false),
            ResourceKind.ConfigMap => await NullIfNotFound(() => client.CoreV1.ReadNamespacedConfigMapAsync(name, @namespace, cancellationToken: cancellationToken)).ConfigureAwait(false),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
        };
        return found is null ? null : ToClusterObject(kind, found);
    }

    public async Task<IReadOnlyList<ClusterObject>> ListObjectsAsync(ResourceKind kind, string @namespace, CancellationToken cancellationToken)
    {
        var result = new List<ClusterObject>();
        string? continueToken = null;
        do
        {
            (IEnumerable<object> items, V1ListMeta? metadata) page = kind switch
            {
                ResourceKind.Service => Unpack(await client.CoreV1.ListNamespacedServiceAsync(@namespace, continueParameter: continueToken, limit: PageSize, cancellationToken: cancellationToken).ConfigureAwait(false)),
                ResourceKind.Ingress => Unpack(await client.NetworkingV1.ListNamespacedIngressAsync(@namespace, continueParameter: continueToken, limit: PageSize, cancellationToken: cancellationToken).ConfigureAwait(false)),
                ResourceKind.ConfigMap => Unpack(await client.CoreV1.ListNamespacedConfigMapAsync(@namespace, continueParameter: continueToken, limit: PageSize, cancellationToken: cancellationToken).ConfigureAwait(false)),
                ResourceKind.Deployment => Unpack(await client.AppsV1.ListNamespacedDeploymentAsync(@namespace, continueParameter: continueToken, limit: PageSize, cancellationToken: cancellationToken).ConfigureAwait(false)),
                _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
            };
            result.AddRange(page.items.Select(item => ToClusterObject(kind, item)));
            continueToken = page.metadata?.ContinueProperty;
        }
        while (!string.IsNullOrEmpty(continueToken));

        return result;
    }

    private static (IEnumerable<object>, V1ListMeta?) Unpack<T>(IItems<T> list)
        where T : class
        => (list.Items.Cast<object>(), (list as IMetadata<V1ListMeta>)?.Metadata);

    public async Task<DeleteOutcome> DeleteAsync(ResourceKind kind, string @namespace, string name, string uid, string? resourceVersion, CancellationToken cancellationToken)
    {
        var body = new V1DeleteOptions { Preconditions = new V1Preconditions { Uid = uid, ResourceVersion = resourceVersion }, PropagationPolicy = "Background" };
        try
        {
            switch (kind)
            {
                case ResourceKind.Deployment:
                    await client.AppsV1.DeleteNamespacedDeploymentAsync(name, @namespace, body, cancellationToken: cancellationToken).ConfigureAwait(false);
                    break;
                case ResourceKind.Service:
                    await client.CoreV1.DeleteNamespacedServiceAsync(name, @namespace, body, cancellationToken: cancellationToken).ConfigureAwait(false);
                    break;
                case ResourceKind.Ingress:
                    await client.NetworkingV1.DeleteNamespacedIngressAsync(name, @namespace, body, cancellationToken: cancellationToken).ConfigureAwait(false);
                    break;
                case ResourceKind.ConfigMap:
                    await client.CoreV1.DeleteNamespacedConfigMapAsync(name, @namespace, body, cancellationToken: cancellationToken).ConfigureAwait(false);
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
            }

            return DeleteOutcome.Deleted;
        }
        catch (HttpOperationException exception) when (exception.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return DeleteOutcome.NotFound;
        }
        catch (HttpOperationException exception) when (exception.Response.StatusCode == HttpStatusCode.Conflict)
        {
            return DeleteOutcome.PreconditionFailed;
        }
    }

    public async Task<ClusterObject?> CreateAsync(ResourceKind kind, string @namespace, JsonObject manifest, CancellationToken cancellationToken)
    {
        var json = manifest.ToJsonString();
        try
        {
            object created = kind switch
            {
                ResourceKind.Deployment => await client.AppsV1.CreateNamespacedDeploymentAsync(KubernetesJson.Deserialize<V1Deployment>(json), @namespace, fieldManager: Component, cancellationToken: cancellationToken).ConfigureAwait(false),
                ResourceKind.Service => await client.CoreV1.CreateNamespacedServiceAsync(KubernetesJson.Deserialize<V1Service>(json), @namespace, fieldManager: Component, cancellationToken: cancellationToken).ConfigureAwait(false),
                ResourceKind.Ingress => await client.NetworkingV1.CreateNamespacedIngressAsync(KubernetesJson.Deserialize<V1Ingress>(json), @namespace, fieldManager: Component, cancellationToken: cancellationToken).ConfigureAwait(false),
                ResourceKind.ConfigMap => await client.CoreV1.CreateNamespacedConfigMapAsync(KubernetesJson.Deserialize<V1ConfigMap>(json), @namespace, fieldManager: Component, cancellationToken: cancellationToken).ConfigureAwait(false),
                _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
            };
            return ToClusterObject(kind, created);
        }
        catch (HttpOperationException exception) when (exception.Response.StatusCode == HttpStatusCode.Conflict)
        {
            return null;
        }
        catch (HttpOperationException exception) when (exception.Response.StatusCode == HttpStatusCode.UnprocessableEntity)
        {
            throw Invalid(exception);
        }
    }

    private static ClusterInvalidException Invalid(HttpOperationException exception)
    {
        var message = exception.Message;
        var fields = new List<string>();
        try
        {
            var status = JsonNode.Parse(exception.Response.Content ?? string.Empty);
            message = status?["message"]?.GetValue<string>() ?? message;
            fields.AddRange((status?["details"]?["causes"] as JsonArray ?? []).Select(cause => cause?["field"]?.GetValue<string>()).OfType<string>());
        }
        catch (JsonException)
        {
            // Not a Status body: the exception's own message is all there is.
        }

        return new ClusterInvalidException(message, fields, exception);
    }

    public async Task ScaleBackAsync(string @namespace, string name, string resourceVersion, int replicas, CancellationToken cancellationToken)
    {
        var patch = new JsonObject
        {
            ["metadata"] = new JsonObject
            {
                ["resourceVersion"] = resourceVersion,
                ["annotations"] = new JsonObject { [ReaperLabels.ReplicasBeforeTeardown] = null, [ReaperLabels.ScaledToZeroBy] = null },
            },
            ["spec"] = new JsonObject { ["replicas"] = replicas },
        };
        try
        {
            await client.AppsV1.PatchNamespacedDeploymentAsync(new V1Patch(patch.ToJsonString(), V1Patch.PatchType.MergePatch), name, @namespace, fieldManager: Component, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException exception) when (exception.Response.StatusCode == HttpStatusCode.Conflict)
        {
            throw new ClusterConflictException($"Deployment {@namespace}/{name} changed since resourceVersion {resourceVersion}: {exception.Response.Content}", exception);
        }
    }

    public async Task ScaleToZeroAsync(string @namespace, string name, string resourceVersion, int previousReplicas, string teardownSnapshot, CancellationToken cancellationToken)
    {
        // A merge patch that carries resourceVersion is refused with 409 if the Deployment changed since it was read.
        var patch = new JsonObject
        {
            ["metadata"] = new JsonObject
            {
                ["resourceVersion"] = resourceVersion,
                ["annotations"] = new JsonObject
                {
                    [ReaperLabels.ReplicasBeforeTeardown] = previousReplicas.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    [ReaperLabels.ScaledToZeroBy] = teardownSnapshot,
                },
            },
            ["spec"] = new JsonObject { ["replicas"] = 0 },
        };
        try
        {
            await client.AppsV1.PatchNamespacedDeploymentAsync(new V1Patch(patch.ToJsonString(), V1Patch.PatchType.MergePatch), name, @namespace, fieldManager: Component, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException exception) when (exception.Response.StatusCode == HttpStatusCode.Conflict)
        {
            throw new ClusterConflictException($"Deployment {@namespace}/{name} changed since resourceVersion {resourceVersion}: {exception.Response.Content}", exception);
        }
    }

    public async Task<ClusterObject?> PatchServiceAsync(string @namespace, string name, JsonObject mergePatch, CancellationToken cancellationToken)
    {
        try
        {
            var patched = await NullIfNotFound(() => client.CoreV1.PatchNamespacedServiceAsync(
                new V1Patch(mergePatch.ToJsonString(), V1Patch.PatchType.MergePatch), name, @namespace, fieldManager: Component, cancellationToken: cancellationToken)).ConfigureAwait(false);
            return patched is null ? null : ToClusterObject(ResourceKind.Service, patched);
        }
        catch (HttpOperationException exception) when (exception.Response.StatusCode == HttpStatusCode.Conflict)
        {
            throw new ClusterConflictException($"Service {@namespace}/{name} changed since it was read: {exception.Response.Content}", exception);
        }
    }

    public async Task<IReadOnlyList<JsonObject>> ListEndpointSlicesAsync(string? @namespace, string labelSelector, CancellationToken cancellationToken)
    {
        var result = new List<JsonObject>();
        string? continueToken = null;
        do
        {
            var page = @namespace is null
                ? await client.DiscoveryV1.ListEndpointSliceForAllNamespacesAsync(continueParameter: continueToken, labelSelector: labelSelector, limit: PageSize, cancellationToken: cancellationToken).ConfigureAwait(false)
                : await client.DiscoveryV1.ListNamespacedEndpointSliceAsync(@namespace, continueParameter: continueToken, labelSelector: labelSelector, limit: PageSize, cancellationToken: cancellationToken).ConfigureAwait(false);
            result.AddRange(page.Items.Select(EndpointSliceJson));
            continueToken = page.Metadata?.ContinueProperty;
        }
        while (!string.IsNullOrEmpty(continueToken));

        return result;
    }

    public async Task<JsonObject?> CreateEndpointSliceAsync(string @namespace, JsonObject manifest, CancellationToken cancellationToken)
    {
        try
        {
            var created = await client.DiscoveryV1.CreateNamespacedEndpointSliceAsync(
                KubernetesJson.Deserialize<V1EndpointSlice>(manifest.ToJsonString()), @namespace, fieldManager: Component, cancellationToken: cancellationToken).ConfigureAwait(false);
            return EndpointSliceJson(created);
        }
        catch (HttpOperationException exception) when (exception.Response.StatusCode == HttpStatusCode.Conflict)
        {
            return null;
        }
    }

    public async Task ReplaceEndpointSliceAsync(string @namespace, JsonObject manifest, CancellationToken cancellationToken)
    {
        var slice = KubernetesJson.Deserialize<V1EndpointSlice>(manifest.ToJsonString());
        try
        {
            await client.DiscoveryV1.ReplaceNamespacedEndpointSliceAsync(slice, slice.Metadata.Name, @namespace, fieldManager: Component, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException exception) when (exception.Response.StatusCode is HttpStatusCode.Conflict or HttpStatusCode.NotFound)
        {
            throw new ClusterConflictException($"EndpointSlice {@namespace}/{slice.Metadata.Name} changed since it was read: {exception.Response.Content}", exception);
        }
    }

    public async Task<DeleteOutcome> DeleteEndpointSliceAsync(string @namespace, string name, CancellationToken cancellationToken)
    {
        try
        {
            await client.DiscoveryV1.DeleteNamespacedEndpointSliceAsync(name, @namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
            return DeleteOutcome.Deleted;
        }
        catch (HttpOperationException exception) when (exception.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return DeleteOutcome.NotFound;
        }
    }

    private static JsonObject EndpointSliceJson(V1EndpointSlice slice)
    {
        var json = JsonNode.Parse(KubernetesJson.Serialize(slice))!.AsObject();
        json["apiVersion"] = "discovery.k8s.io/v1";
        json["kind"] = "EndpointSlice";
        return json;
    }

    public const string VerdictAnnotation = "envoy-reaper/verdict";
    public const string ActiveConnectionsAnnotation = "envoy-reaper/active-connections";
    public const string IdleSinceAnnotation = "envoy-reaper/idle-since";
    public const string LastCheckAnnotation = "envoy-reaper/last-check";
    public const string LastTeardownAnnotation = "envoy-reaper/last-teardown";
    public const string MessageAnnotation = "envoy-reaper/message";

    /// <summary>
    /// Writes the status unless the same one is already there (read first: a GET is far cheaper for the API server than
    /// a write, and a write wakes every watcher of the object). The time of the last check alone is not a change. The
    /// write is low priority in the write budget: it may be dropped with <see cref="ClusterWriteDroppedException"/>.
    /// </summary>
    public async Task WriteAsync(string @namespace, string deployment, string? monitorNamespace, string? monitor, WorkloadStatus status, CancellationToken cancellationToken)
    {
        using var lowPriority = ApiWritePriorityScope.Low(monitor is null ? $"{@namespace}/{deployment}" : $"{monitorNamespace ?? @namespace}/{monitor}");
        try
        {
            await WriteStatusAsync(@namespace, deployment, monitorNamespace, monitor, status, cancellationToken).ConfigureAwait(false);
        }
        catch (ApiWriteBudgetException exception) when (exception.Priority == ApiWritePriority.Low)
        {
            throw new ClusterWriteDroppedException(exception.Message, exception);
        }
    }

    private async Task WriteStatusAsync(string @namespace, string deployment, string? monitorNamespace, string? monitor, WorkloadStatus status, CancellationToken cancellationToken)
    {
        if (monitor is not null)
        {
            var monitorStatus = MonitorStatus(status);
            var current = await NullIfNotFound(() => client.CustomObjects.GetNamespacedCustomObjectAsync<JsonObject>(
                MonitorGroup, MonitorVersion, monitorNamespace ?? @namespace, MonitorPlural, monitor, cancellationToken: cancellationToken)).ConfigureAwait(false);
            if (current is null || SameStatus(monitorStatus, current["status"] as JsonObject))
            {
                return;
            }

            // Only through the status subresource: the main endpoint ignores status changes.
            var patch = new JsonObject { ["status"] = monitorStatus };
            await NullIfNotFound(() => client.CustomObjects.PatchNamespacedCustomObjectStatusAsync<JsonObject>(
                new V1Patch(patch.ToJsonString(), V1Patch.PatchType.MergePatch), MonitorGroup, MonitorVersion, monitorNamespace ?? @namespace, MonitorPlural, monitor,
                fieldManager: Component, cancellationToken: cancellationToken)).ConfigureAwait(false);
            return;
        }

        var annotations = StatusAnnotations(status);
        var existing = await NullIfNotFound(() => client.AppsV1.ReadNamespacedDeploymentAsync(deployment, @namespace, cancellationToken: cancellationToken)).ConfigureAwait(false);
        if (existing is null || SameStatus(annotations, existing.Metadata.Annotations))
        {
            return;
        }

        var deploymentPatch = new JsonObject { ["metadata"] = new JsonObject { ["annotations"] = annotations } };
        await NullIfNotFound(() => client.AppsV1.PatchNamespacedDeploymentAsync(
            new V1Patch(deploymentPatch.ToJsonString(), V1Patch.PatchType.MergePatch), deployment, @namespace, fieldManager: Component, cancellationToken: cancellationToken)).ConfigureAwait(false);
    }

    private static JsonNode? StatusTime(DateTimeOffset? value) => value is { } at ? at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture) : null;

    private static JsonObject MonitorStatus(WorkloadStatus status) => new()
    {
        ["verdict"] = status.Verdict,
        ["activeConnections"] = status.ActiveConnections,
        ["idleSince"] = StatusTime(status.IdleSince),
        ["lastCheck"] = StatusTime(status.LastCheck),
        ["lastTeardown"] = StatusTime(status.LastTeardown),
        ["message"] = status.Message.Length > 1024 ? status.Message[..1024] : status.Message,
    };

    private static JsonObject StatusAnnotations(WorkloadStatus status) => new()
    {
        [VerdictAnnotation] = status.Verdict,
        [ActiveConnectionsAnnotation] = status.ActiveConnections?.ToString(System.Globalization.CultureInfo.InvariantCulture),
        [IdleSinceAnnotation] = StatusTime(status.IdleSince),
        [LastCheckAnnotation] = StatusTime(status.LastCheck),
        [LastTeardownAnnotation] = StatusTime(status.LastTeardown),
        [MessageAnnotation] = status.Message.Length > 512 ? status.Message[..512] : status.Message,
    };

    /// <summary>Every field but the last check's time as it would be written (null: absent) equals what is there.</summary>
    private static bool SameStatus(JsonObject written, JsonObject? current) =>
        written.Where(field => field.Key is not "lastCheck")
            .All(field => JsonNode.DeepEquals(field.Value, current?[field.Key]));

    private static bool SameStatus(JsonObject annotations, IDictionary<string, string>? current) =>
        annotations.Where(annotation => annotation.Key is not LastCheckAnnotation)
            .All(annotation => annotation.Value?.GetValue<string>() == (current is not null && current.TryGetValue(annotation.Key, out var value) ? value : null));

    /// <summary>
    /// Records an Event the way kubectl users expect: the same reason and message on the same object is one Event whose
    /// count and lastTimestamp grow, not a new Event each time. The name is derived from them, so instances agree.
    /// </summary>
    public async Task RecordAsync(ClusterEvent clusterEvent, CancellationToken cancellationToken)
    {
        using var lowPriority = clusterEvent.MayLag ? ApiWritePriorityScope.Low($"{clusterEvent.Namespace}/{clusterEvent.Name}") : (ApiWritePriorityScope.Scope?)null;
        try
        {
            await RecordEventAsync(clusterEvent, cancellationToken).ConfigureAwait(false);
        }
        catch (ApiWriteBudgetException exception) when (exception.Priority == ApiWritePriority.Low)
        {
            throw new ClusterWriteDroppedException(exception.Message, exception);
        }
    }

    private async Task RecordEventAsync(ClusterEvent clusterEvent, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var message = clusterEvent.Message.Length > 1024 ? clusterEvent.Message[..1024] : clusterEvent.Message;
        var key = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(
            System.Text.Encoding.UTF8.GetBytes($"{clusterEvent.Uid}\n{clusterEvent.Reason}\n{message}")))[..12];
        var eventName = $"{(clusterEvent.Name.Length > 200 ? clusterEvent.Name[..200] : clusterEvent.Name)}.{key}";
        var apiVersion = clusterEvent.InvolvedKind switch
        {
            ResourceKind.Deployment => "apps/v1",
            ResourceKind.Ingress => "networking.k8s.io/v1",
            _ => "v1",
        };
        var body = new Corev1Event
        {
            Metadata = new V1ObjectMeta
            {
                Name = eventName,
                NamespaceProperty = clusterEvent.Namespace,
            },
            InvolvedObject = new V1ObjectReference
            {
                ApiVersion = apiVersion,
                Kind = clusterEvent.InvolvedKind.ToString(),
                Name = clusterEvent.Name,
                NamespaceProperty = clusterEvent.Namespace,
                Uid = clusterEvent.Uid,
            },
            Reason = clusterEvent.Reason,
            Message = message,
            Type = clusterEvent.Warning ? "Warning" : "Normal",
            Count = 1,
            FirstTimestamp = now,
            LastTimestamp = now,
            Source = new V1EventSource { Component = Component },
            ReportingComponent = Component,
            ReportingInstance = Environment.MachineName,
        };
        try
        {
            await client.CoreV1.CreateNamespacedEventAsync(body, clusterEvent.Namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException exception) when (exception.Response.StatusCode == HttpStatusCode.Conflict)
        {
            var existing = await client.CoreV1.ReadNamespacedEventAsync(eventName, clusterEvent.Namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
            var patch = new JsonObject
            {
                ["metadata"] = new JsonObject { ["resourceVersion"] = existing.Metadata.ResourceVersion },
                ["count"] = (existing.Count ?? 1) + 1,
                ["lastTimestamp"] = now.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture),
            };
            await client.CoreV1.PatchNamespacedEventAsync(new V1Patch(patch.ToJsonString(), V1Patch.PatchType.MergePatch), eventName, clusterEvent.Namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task<T?> NullIfNotFound<T>(Func<Task<T>> read)
        where T : class
    {
        try
        {
            return await read().ConfigureAwait(false);
        }
        catch (HttpOperationException exception) when (exception.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private static ClusterObject ToClusterObject(ResourceKind kind, object item)
    {
        var manifest = JsonNode.Parse(KubernetesJson.Serialize(item))!.AsObject();
        var (apiVersion, kindName) = kind switch
        {
            ResourceKind.Deployment => ("apps/v1", "Deployment"),
            ResourceKind.Service => ("v1", "Service"),
            ResourceKind.Ingress => ("networking.k8s.io/v1", "Ingress"),
            ResourceKind.ConfigMap => ("v1", "ConfigMap"),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
        };
        manifest["apiVersion"] = apiVersion; // List items come without them; a snapshot must be applicable as it is.
        manifest["kind"] = kindName;
        var metadata = manifest["metadata"];
        return new ClusterObject(
            kind,
            metadata?["namespace"]?.GetValue<string>() ?? string.Empty,
            metadata?["name"]?.GetValue<string>() ?? string.Empty,
            metadata?["uid"]?.GetValue<string>() ?? string.Empty,
            metadata?["resourceVersion"]?.GetValue<string>() ?? string.Empty,
            manifest);
    }

    internal static DeploymentInfo ToInfo(V1Deployment deployment)
    {
        var selector = deployment.Spec?.Selector;
        return new DeploymentInfo(
            deployment.Metadata.NamespaceProperty,
            deployment.Metadata.Name,
            deployment.Metadata.Uid,
            deployment.Metadata.ResourceVersion ?? string.Empty,
            deployment.Metadata.CreationTimestamp is { } created ? new DateTimeOffset(DateTime.SpecifyKind(created, DateTimeKind.Utc)) : DateTimeOffset.MinValue,
            deployment.Spec?.Replicas,
            ReadOnly(deployment.Metadata.Labels),
            ReadOnly(deployment.Metadata.Annotations),
            new LabelSelector(
                ReadOnly(selector?.MatchLabels),
                selector?.MatchExpressions?.Select(expression => new LabelRequirement(expression.Key, expression.OperatorProperty, expression.Values?.ToList() ?? [])).ToList() ?? []),
            ReadOnly(deployment.Spec?.Template?.Metadata?.Labels));
    }

    internal static PodInfo ToInfo(V1Pod pod)
    {
        var ready = pod.Status?.Phase == "Running"
            && pod.Status.Conditions?.Any(condition => condition.Type == "Ready" && condition.Status == "True") == true;
        var owner = pod.Metadata.OwnerReferences?.FirstOrDefault(reference => reference.Controller == true && reference.Kind == "ReplicaSet");
        var containers = (pod.Spec?.Containers ?? []).Select(container => container.Name)
            .Concat((pod.Spec?.InitContainers ?? []).Select(container => container.Name))
            .ToList();
        return new PodInfo(
            pod.Metadata.NamespaceProperty,
            pod.Metadata.Name,
            pod.Metadata.Uid,
            pod.Status?.PodIP,
            ready,
            pod.Metadata.DeletionTimestamp is not null,
            ReadOnly(pod.Metadata.Labels),
            owner?.Name,
            containers,
            pod.Status?.Phase,
            Restarts(pod.Status));
    }

    private static ContainerRestarts? Restarts(V1PodStatus? status) => ContainerRestarts.Of(
        (status?.ContainerStatuses ?? []).Concat(status?.InitContainerStatuses ?? [])
            .Select(container => (container.RestartCount, container.State?.Running?.StartedAt is { } startedAt
                ? (DateTimeOffset?)new DateTimeOffset(DateTime.SpecifyKind(startedAt, DateTimeKind.Utc))
                : null))
            .ToList());

    private static MonitorInfo ToMonitor(JsonObject item)
    {
        var metadata = item["metadata"];
        var spec = item["spec"] as JsonObject ?? [];
        string? Text(string name) => spec[name] is JsonValue value && value.GetValueKind() == JsonValueKind.String ? value.GetValue<string>() : spec[name]?.ToJsonString();
        return new MonitorInfo(
            metadata?["namespace"]?.GetValue<string>() ?? string.Empty,
            metadata?["name"]?.GetValue<string>() ?? string.Empty,
            metadata?["uid"]?.GetValue<string>() ?? string.Empty,
            Text("deploymentName"),
            Text("namespace"),
            Text("serviceName"),
            Text("ingressName"),
            Text("checkInterval"),
            spec["minConnections"]?.DeepClone(),
            Text("idleTimeout"),
            Text("action"),
            spec["statsPort"]?.DeepClone(),
            Text("statsPath"),
            spec["listeners"]?.DeepClone(),
            spec["wake"]?.DeepClone(),
            spec["wakeHold"]?.DeepClone());
    }

    private static IReadOnlyDictionary<string, string> ReadOnly(IDictionary<string, string>? source) =>
        source is null ? new Dictionary<string, string>() : new Dictionary<string, string>(source);
}
