using System.Net;
using System.Text.Json;
using Azure;
using Azure.Data.Tables;
using EnvoyReaper.Injection;
using EnvoyReaper.Messaging;

namespace EnvoyReaper.Storage;

/// <summary>
/// Injection rollouts as rows of the state table, in a partition no namespace can have ("~" is not a DNS-1123
/// character) and beyond the breaker's, so neither the workload states nor the breaker's measure ever read them. The row
/// key is "namespace.deployment": a namespace has no '.', so the first one separates them.
/// </summary>
public sealed class TableRolloutStore(TableClient table) : IRolloutStore
{
    public const string PartitionKey = "~rollouts";
    private const string RecordColumn = "Rollout";
    private readonly CreateOnce created = new(() => table.CreateIfNotExistsAsync());

    public static string RowKey(string @namespace, string deployment) => $"{@namespace}.{deployment}";

    public async Task<StoredRollout?> GetAsync(string @namespace, string deployment, CancellationToken cancellationToken)
    {
        await created.EnsureAsync().ConfigureAwait(false);
        var response = await table.GetEntityIfExistsAsync<TableEntity>(PartitionKey, RowKey(@namespace, deployment), cancellationToken: cancellationToken).ConfigureAwait(false);
        if (!response.HasValue || response.Value is not { } entity || entity.GetString(RecordColumn) is not { } json)
        {
            return null;
        }

        var record = JsonSerializer.Deserialize<RolloutRecord>(json, ReaperJson.Options);
        return record is null ? null : new StoredRollout(record, entity.ETag.ToString());
    }

    public async Task<string?> TryWriteAsync(RolloutRecord record, string? expectedETag, CancellationToken cancellationToken)
    {
        await created.EnsureAsync().ConfigureAwait(false);
        var entity = new TableEntity(PartitionKey, RowKey(record.Namespace, record.Deployment))
        {
            [RecordColumn] = JsonSerializer.Serialize(record, ReaperJson.Options),
            ["Phase"] = record.Phase.ToString(),
            ["Detail"] = record.Detail,
        };
        try
        {
            var response = expectedETag is null
                ? await table.AddEntityAsync(entity, cancellationToken).ConfigureAwait(false)
                : await table.UpdateEntityAsync(entity, new ETag(expectedETag), TableUpdateMode.Replace, cancellationToken).ConfigureAwait(false);
            return response.Headers.ETag?.ToString() ?? string.Empty;
        }
        catch (RequestFailedException exception) when (exception.Status is (int)HttpStatusCode.PreconditionFailed or (int)HttpStatusCode.Conflict
            || (exception.Status == (int)HttpStatusCode.NotFound && expectedETag is not null && exception.ErrorCode == "ResourceNotFound"))
        {
            return null;
        }
    }
}
