using System.Text.Json;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using EnvoyReaper.Messaging;
using EnvoyReaper.Teardown;

namespace EnvoyReaper.Storage;

/// <summary>
/// Snapshots as JSON blobs named "&lt;namespace&gt;/&lt;deployment&gt;/&lt;teardown request time&gt;-&lt;Deployment uid&gt;.json"
/// (names sort by time), each written once with If-None-Match: * and never overwritten.
/// </summary>
public sealed class BlobSnapshotStore(BlobContainerClient container) : ISnapshotStore
{
    private readonly CreateOnce created = new(() => container.CreateIfNotExistsAsync());

    public async Task<WorkloadSnapshot> SaveOnceAsync(string name, WorkloadSnapshot snapshot, CancellationToken cancellationToken)
    {
        await created.EnsureAsync().ConfigureAwait(false);
        var blob = container.GetBlobClient(name);
        try
        {
            await blob.UploadAsync(
                BinaryData.FromString(JsonSerializer.Serialize(snapshot, ReaperJson.Options)),
                new BlobUploadOptions
                {
                    HttpHeaders = new BlobHttpHeaders { ContentType = "application/json" },
                    Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All },
                },
                cancellationToken).ConfigureAwait(false);
            return snapshot;
        }
        catch (RequestFailedException exception) when (exception.Status is 409 or 412)
        {
            // The teardown's first attempt wrote it: that one holds everything the teardown removes.
            return await GetAsync(name, cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"Snapshot {name} exists but cannot be read", exception);
        }
    }

    /// <summary>Reads only (a reader's credential is enough): a container that does not exist holds no snapshot.</summary>
    public async Task<IReadOnlyList<string>> ListAsync(string @namespace, string deployment, CancellationToken cancellationToken)
    {
        var names = new List<string>();
        try
        {
            await foreach (var item in container.GetBlobsAsync(new GetBlobsOptions { Prefix = $"{@namespace}/{deployment}/" }, cancellationToken).ConfigureAwait(false))
            {
                names.Add(item.Name);
            }
        }
        catch (RequestFailedException exception) when (exception.Status == 404)
        {
            return [];
        }

        names.Sort(StringComparer.Ordinal);
        return names;
    }

    /// <summary>Reads only: null when the snapshot or its container does not exist.</summary>
    public async Task<WorkloadSnapshot?> GetAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            var content = await container.GetBlobClient(name).DownloadContentAsync(cancellationToken).ConfigureAwait(false);
            return content.Value.Content.ToObjectFromJson<WorkloadSnapshot>(ReaperJson.Options);
        }
        catch (RequestFailedException exception) when (exception.Status == 404)
        {
            return null;
        }
    }
}
