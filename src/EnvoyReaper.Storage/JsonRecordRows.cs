using System.Net;
using System.Text.Json;
using Azure;
using Azure.Data.Tables;
using EnvoyReaper.Messaging;

namespace EnvoyReaper.Storage;

/// <summary>
/// Records kept as JSON in one column of rows of one partition of the state table, each write guarded by the ETag its
/// writer read (none: the row must not exist yet). Phase and detail go into columns of their own for a reader with a
/// storage browser.
/// </summary>
internal sealed class JsonRecordRows<T>(TableClient table, string partitionKey, string recordColumn)
    where T : class
{
    private readonly CreateOnce created = new(() => table.CreateIfNotExistsAsync());

    public async Task<(T Record, string ETag)?> GetAsync(string rowKey, CancellationToken cancellationToken)
    {
        await created.EnsureAsync().ConfigureAwait(false);
        var response = await table.GetEntityIfExistsAsync<TableEntity>(partitionKey, rowKey, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (!response.HasValue || response.Value is not { } entity || entity.GetString(recordColumn) is not { } json)
        {
            return null;
        }

        return JsonSerializer.Deserialize<T>(json, ReaperJson.Options) is { } record ? (record, entity.ETag.ToString()) : null;
    }

    /// <returns>The new ETag; null when the row changed (or appeared, or went) since <paramref name="expectedETag"/>.</returns>
    public async Task<string?> TryWriteAsync(string rowKey, T record, string phase, string? detail, string? expectedETag, CancellationToken cancellationToken)
    {
        await created.EnsureAsync().ConfigureAwait(false);
        var entity = new TableEntity(partitionKey, rowKey)
        {
            [recordColumn] = JsonSerializer.Serialize(record, ReaperJson.Options),
            ["Phase"] = phase,
            ["Detail"] = detail,
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
