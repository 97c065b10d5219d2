using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace EnvoyReaper.Kubernetes.Waking;

/// <summary>The metadata of one Service: what the waker reads of a parked Service (the parking is all in labels and annotations).</summary>
public sealed record ServiceMetadata(string Namespace, string Name, IReadOnlyDictionary<string, string> Labels, IReadOnlyDictionary<string, string> Annotations);

/// <param name="Truncated">More Services matched than the bound: <see cref="Services"/> holds the first ones only.</param>
/// <param name="ResourceVersion">The list's resourceVersion: every page of it is one consistent snapshot at that version.</param>
public sealed record ServiceListing(IReadOnlyList<ServiceMetadata> Services, bool Truncated, string? ResourceVersion);

/// <summary>
/// Read-only access to Services for the waker: lists by label selector (paged, bounded) and reads one Service. It
/// holds no write method on purpose: the waker's identity may only get, list and watch Services.
/// </summary>
public sealed class ServiceMetadataReader(IKubernetes client)
{
    /// <summary>
    /// The Services matching <paramref name="labelSelector"/> in <paramref name="namespace"/> (all namespaces when null),
    /// at most <paramref name="maxItems"/>. The pages of one list share the first page's snapshot; when the API server
    /// has compacted it (410 Gone on a continue token) the list starts again from a fresh snapshot, once.
    /// </summary>
    public async Task<ServiceListing> ListAsync(string? @namespace, string labelSelector, int pageSize, int maxItems, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxItems, 1);
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await ListOnceAsync(@namespace, labelSelector, pageSize, maxItems, cancellationToken).ConfigureAwait(false);
            }
            catch (ContinueTokenExpiredException) when (attempt == 0)
            {
            }
            catch (ContinueTokenExpiredException exception)
            {
                throw exception.InnerException!;
            }
        }
    }

    /// <summary>The Service, or null when it does not exist.</summary>
    public async Task<ServiceMetadata?> GetAsync(string @namespace, string name, CancellationToken cancellationToken)
    {
        try
        {
            var service = await client.CoreV1.ReadNamespacedServiceAsync(name, @namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
            return ToMetadata(service);
        }
        catch (HttpOperationException exception) when (exception.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private async Task<ServiceListing> ListOnceAsync(string? @namespace, string labelSelector, int pageSize, int maxItems, CancellationToken cancellationToken)
    {
        var services = new List<ServiceMetadata>();
        string? continueToken = null;
        string? resourceVersion = null;
        do
        {
            V1ServiceList page;
            try
            {
                var limit = Math.Min(pageSize, maxItems - services.Count + 1);
                page = @namespace is null
                    ? await client.CoreV1.ListServiceForAllNamespacesAsync(continueParameter: continueToken, labelSelector: labelSelector, limit: limit, cancellationToken: cancellationToken).ConfigureAwait(false)
                    : await client.CoreV1.ListNamespacedServiceAsync(@namespace, continueParameter: continueToken, labelSelector: labelSelector, limit: limit, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (HttpOperationException exception) when (exception.Response.StatusCode == HttpStatusCode.Gone && continueToken is not null)
            {
                throw new ContinueTokenExpiredException(exception);
            }

            resourceVersion ??= page.Metadata?.ResourceVersion;
            foreach (var service in page.Items)
            {
                if (services.Count == maxItems)
                {
                    return new ServiceListing(services, Truncated: true, resourceVersion);
                }

                services.Add(ToMetadata(service));
            }

            continueToken = page.Metadata?.ContinueProperty;
            if (!string.IsNullOrEmpty(continueToken) && services.Count == maxItems)
            {
                return new ServiceListing(services, Truncated: true, resourceVersion);
            }
        }
        while (!string.IsNullOrEmpty(continueToken));

        return new ServiceListing(services, Truncated: false, resourceVersion);
    }

    private static ServiceMetadata ToMetadata(V1Service service) => new(
        service.Metadata?.NamespaceProperty ?? string.Empty,
        service.Metadata?.Name ?? string.Empty,
        service.Metadata?.Labels is { } labels ? new Dictionary<string, string>(labels, StringComparer.Ordinal) : new Dictionary<string, string>(StringComparer.Ordinal),
        service.Metadata?.Annotations is { } annotations ? new Dictionary<string, string>(annotations, StringComparer.Ordinal) : new Dictionary<string, string>(StringComparer.Ordinal));

    private sealed class ContinueTokenExpiredException(HttpOperationException inner) : Exception("the continue token expired", inner);
}
