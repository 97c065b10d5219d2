using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using EnvoyReaper.Cluster;
using k8s;
using k8s.Autorest;

namespace EnvoyReaper.Kubernetes;

/// <summary>One page of a pod list: its pods, and the token of the next page (null: the last page).</summary>
internal sealed record PodListPage(IReadOnlyList<PodInfo> Items, string? Continue, string? ResourceVersion);

/// <summary>
/// Lists pods reading only what <see cref="PodInfo"/> holds. A realistic pod is about 9 KB of JSON (managedFields, the
/// defaulted spec, the kubelet's status), of which the reaper needs a few hundred bytes; the typed client builds every
/// object of it. The request goes through the client's own <see cref="IKubernetes.HttpClient"/> (TLS, gzip, the throttle
/// retries and the write budget are handlers there) with its credentials applied, as the typed client does.
/// </summary>
internal sealed class PodListReader(k8s.Kubernetes client)
{
    /// <summary>One page of the pods of <paramref name="namespace"/>.</summary>
    /// <exception cref="HttpOperationException">
    /// The API server answered with an error (its Status body in <c>Response.Content</c>, as from the typed client:
    /// 410 Gone when <paramref name="continueToken"/> expired), or with a body that is not a pod list.
    /// </exception>
    public async Task<PodListPage> ReadPageAsync(string @namespace, string? labelSelector, int limit, string? continueToken, CancellationToken cancellationToken)
    {
        var query = new StringBuilder("limit=").Append(limit.ToString(CultureInfo.InvariantCulture));
        if (!string.IsNullOrEmpty(labelSelector))
        {
            query.Append("&labelSelector=").Append(Uri.EscapeDataString(labelSelector));
        }

        if (!string.IsNullOrEmpty(continueToken))
        {
            query.Append("&continue=").Append(Uri.EscapeDataString(continueToken));
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(client.BaseUri, $"api/v1/namespaces/{Uri.EscapeDataString(@namespace)}/pods?{query}"));
        request.Headers.Accept.Add(new System.Net.Http.Headers.MediaTypeWithQualityHeaderValue("application/json"));
        if (client.Credentials is { } credentials)
        {
            await credentials.ProcessHttpRequestAsync(request, cancellationToken).ConfigureAwait(false);
        }

        // The whole body is read within the client's request timeout (Kubernetes:RequestTimeoutSeconds), as the typed client does.
        using var response = await client.HttpClient.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            var status = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            var message = response.StatusCode == HttpStatusCode.Gone && continueToken is not null
                ? $"The pod list of namespace {@namespace} cannot be continued: its continue token expired (410 Gone); the list must start again"
                : $"Operation returned an invalid status code '{response.StatusCode}'";
            throw new HttpOperationException(message)
            {
                Request = new HttpRequestMessageWrapper(request, null),
                Response = new HttpResponseMessageWrapper(response, status),
            };
        }

        var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            try
            {
                return await PodListJson.ReadAsync(stream, cancellationToken).ConfigureAwait(false);
            }
            catch (JsonException exception)
            {
                throw new HttpOperationException($"The pod list of namespace {@namespace} from the API server could not be read: {exception.Message}", exception)
                {
                    Request = new HttpRequestMessageWrapper(request, null),
                    Response = new HttpResponseMessageWrapper(response, string.Empty),
                };
            }
        }
    }
}

/// <summary>A pod list's JSON to <see cref="PodInfo"/>s, every member the reaper does not read skipped unparsed.</summary>
internal static class PodListJson
{
    /// <exception cref="JsonException">Not valid JSON, or not a list with <c>items</c>.</exception>
    public static PodListPage Parse(ReadOnlySpan<byte> utf8) =>
        ToPage(JsonSerializer.Deserialize(utf8, LeanPodJsonContext.Default.LeanPodList));

    /// <exception cref="JsonException">Not valid JSON, or not a list with <c>items</c>.</exception>
    public static async Task<PodListPage> ReadAsync(Stream utf8, CancellationToken cancellationToken) =>
        ToPage(await JsonSerializer.DeserializeAsync(utf8, LeanPodJsonContext.Default.LeanPodList, cancellationToken).ConfigureAwait(false));

    private static PodListPage ToPage(LeanPodList? list)
    {
        // A list always has items, [] when empty: without them this is not a list, and no pod of it may be taken as absent.
        if (list?.Items is not { } items)
        {
            throw new JsonException("The body is not a pod list: it has no items.");
        }

        var pods = new List<PodInfo>(items.Count);
        foreach (var pod in items)
        {
            pods.Add(ToInfo(pod ?? throw new JsonException("The pod list holds a null item.")));
        }

        return new PodListPage(pods, list.Metadata?.Continue, list.Metadata?.ResourceVersion);
    }

    /// <summary>What <see cref="KubernetesCluster.ToInfo(k8s.Models.V1Pod)"/> makes of the same pod.</summary>
    private static PodInfo ToInfo(LeanPod pod)
    {
        var metadata = pod.Metadata ?? new LeanObjectMeta();
        var status = pod.Status;
        var ready = status?.Phase == "Running"
            && status.Conditions?.Any(condition => condition.Type == "Ready" && condition.Status == "True") == true;
        var owner = metadata.OwnerReferences?.FirstOrDefault(reference => reference.Controller == true && reference.Kind == "ReplicaSet");
        var containers = (pod.Spec?.Containers ?? []).Select(container => container.Name!)
            .Concat((pod.Spec?.InitContainers ?? []).Select(container => container.Name!))
            .ToList();
        return new PodInfo(
            metadata.Namespace!,
            metadata.Name!,
            metadata.Uid!,
            status?.PodIP,
            ready,
            metadata.DeletionTimestamp is not null,
            metadata.Labels is null ? new Dictionary<string, string>() : new Dictionary<string, string>(metadata.Labels),
            owner?.Name,
            containers,
            status?.Phase,
            Restarts(status));
    }

    private static ContainerRestarts? Restarts(LeanPodStatus? status) => ContainerRestarts.Of(
        (status?.ContainerStatuses ?? []).Concat(status?.InitContainerStatuses ?? [])
            .Select(container => (container.RestartCount, container.State?.Running?.StartedAt?.ToUniversalTime()))
            .ToList());
}

internal sealed class LeanPodList
{
    public LeanListMeta? Metadata { get; init; }

    public List<LeanPod?>? Items { get; init; }
}

internal sealed class LeanListMeta
{
    [JsonPropertyName("continue")]
    public string? Continue { get; init; }

    public string? ResourceVersion { get; init; }
}

internal sealed class LeanPod
{
    public LeanObjectMeta? Metadata { get; init; }

    public LeanPodSpec? Spec { get; init; }

    public LeanPodStatus? Status { get; init; }
}

internal sealed class LeanObjectMeta
{
    [JsonPropertyName("namespace")]
    public string? Namespace { get; init; }

    public string? Name { get; init; }

    public string? Uid { get; init; }

    public Dictionary<string, string>? Labels { get; init; }

    /// <summary>Only whether it is there matters: kept as the JSON it is.</summary>
    public JsonElement? DeletionTimestamp { get; init; }

    public List<LeanOwnerReference>? OwnerReferences { get; init; }
}

internal sealed class LeanOwnerReference
{
    public string? Kind { get; init; }

    public string? Name { get; init; }

    public bool? Controller { get; init; }
}

internal sealed class LeanPodSpec
{
    public List<LeanContainer>? Containers { get; init; }

    public List<LeanContainer>? InitContainers { get; init; }
}

internal sealed class LeanContainer
{
    public string? Name { get; init; }
}

internal sealed class LeanPodStatus
{
    public string? Phase { get; init; }

    [JsonPropertyName("podIP")]
    public string? PodIP { get; init; }

    public List<LeanPodCondition>? Conditions { get; init; }

    public List<LeanContainerStatus>? ContainerStatuses { get; init; }

    public List<LeanContainerStatus>? InitContainerStatuses { get; init; }
}

internal sealed class LeanPodCondition
{
    public string? Type { get; init; }

    public string? Status { get; init; }
}

internal sealed class LeanContainerStatus
{
    public int RestartCount { get; init; }

    public LeanContainerState? State { get; init; }
}

internal sealed class LeanContainerState
{
    public LeanRunningState? Running { get; init; }
}

internal sealed class LeanRunningState
{
    public DateTimeOffset? StartedAt { get; init; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(LeanPodList))]
internal sealed partial class LeanPodJsonContext : JsonSerializerContext;
