using System.Text.Json.Nodes;
using EnvoyReaper.Cluster;

namespace EnvoyReaper.Waking;

/// <summary>The API requests of parking and waking: the Service's selector and annotations, and EnvoyReaper's EndpointSlices.</summary>
public interface IParkingCluster
{
    /// <summary>
    /// A JSON merge patch of the Service; one that carries metadata.resourceVersion is refused when the Service changed
    /// since: <see cref="ClusterConflictException"/>. Null when the Service does not exist.
    /// </summary>
    Task<ClusterObject?> PatchServiceAsync(string @namespace, string name, JsonObject mergePatch, CancellationToken cancellationToken);

    /// <summary>EndpointSlices (discovery.k8s.io/v1) by label selector, of one namespace or (null) all, paginated.</summary>
    Task<IReadOnlyList<JsonObject>> ListEndpointSlicesAsync(string? @namespace, string labelSelector, CancellationToken cancellationToken);

    /// <summary>Creates the EndpointSlice; null when one of that name exists.</summary>
    Task<JsonObject?> CreateEndpointSliceAsync(string @namespace, JsonObject manifest, CancellationToken cancellationToken);

    /// <summary>Replaces the EndpointSlice under the resourceVersion it carries: <see cref="ClusterConflictException"/> when it changed.</summary>
    Task ReplaceEndpointSliceAsync(string @namespace, JsonObject manifest, CancellationToken cancellationToken);

    Task<DeleteOutcome> DeleteEndpointSliceAsync(string @namespace, string name, CancellationToken cancellationToken);
}
