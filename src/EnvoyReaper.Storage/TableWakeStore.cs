using System.Net;
using System.Text.Json;
using Azure;
using Azure.Data.Tables;
using EnvoyReaper.Messaging;
using EnvoyReaper.Waking;

namespace EnvoyReaper.Storage;

/// <summary>Wake records as rows of the state table ("~wakes", row key "namespace.service"), like <see cref="TableRolloutStore"/>.</summary>
public sealed class TableWakeStore(TableClient table) : IWakeStore
{
    public const string PartitionKey = "~wakes";
    private const string RecordColumn = "Wake";
    private readonly CreateOnce created = new(() => table.CreateIfNotExistsAsync());

    public static string RowKey(string @namespace, string service) => $"{@namespace}.{service}";

    public async Task<StoredWake?> GetAsync(string @namespace, string service, CancellationToken cancellationToken)
    {
        await created.EnsureAsync().ConfigureAwait(false);
        var response = await table.GetEntityIfExistsAsync<TableEntity>(PartitionKey, RowKey(@namespace, service), cancellationToken: cancellationToken).ConfigureAwait(false);
        if (!response.HasValue || response.Value is not { } entity || entity.GetString(RecordColumn) is not { } json)
        {
            return null;
        }

        var record = JsonSerializer.Deserialize<WakeRecord>(json, ReaperJson.Options);
        return record is null ? null : new StoredWake(record, entity.ETag.ToString());
    }

    public async Task<string?> TryWriteAsync(WakeRecord record, string? expectedETag, CancellationToken cancellationToken)
    {
        await created.EnsureAsync().ConfigureAwait(false);
        var entity = new TableEntity(PartitionKey, RowKey(record.Namespace, record.Service))
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
