using Azure.Data.Tables;
using EnvoyReaper.Waking;

namespace EnvoyReaper.Storage;

/// <summary>Wake records as rows of the state table ("~wakes", row key "namespace.service"), like <see cref="TableRolloutStore"/>.</summary>
public sealed class TableWakeStore(TableClient table) : IWakeStore
{
    public const string PartitionKey = "~wakes";
    private const string RecordColumn = "Wake";
    private readonly JsonRecordRows<WakeRecord> rows = new(table, PartitionKey, RecordColumn);

    public static string RowKey(string @namespace, string service) => $"{@namespace}.{service}";

    public async Task<StoredWake?> GetAsync(string @namespace, string service, CancellationToken cancellationToken) =>
        await rows.GetAsync(RowKey(@namespace, service), cancellationToken).ConfigureAwait(false) is { } row ? new StoredWake(row.Record, row.ETag) : null;

    public Task<string?> TryWriteAsync(WakeRecord record, string? expectedETag, CancellationToken cancellationToken) =>
        rows.TryWriteAsync(RowKey(record.Namespace, record.Service), record, record.Phase.ToString(), record.Detail, expectedETag, cancellationToken);
}
