using Azure.Data.Tables;
using EnvoyReaper.Injection;

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
    private readonly JsonRecordRows<RolloutRecord> rows = new(table, PartitionKey, RecordColumn);

    public static string RowKey(string @namespace, string deployment) => $"{@namespace}.{deployment}";

    public async Task<StoredRollout?> GetAsync(string @namespace, string deployment, CancellationToken cancellationToken) =>
        await rows.GetAsync(RowKey(@namespace, deployment), cancellationToken).ConfigureAwait(false) is { } row ? new StoredRollout(row.Record, row.ETag) : null;

    public Task<string?> TryWriteAsync(RolloutRecord record, string? expectedETag, CancellationToken cancellationToken) =>
        rows.TryWriteAsync(RowKey(record.Namespace, record.Deployment), record, record.Phase.ToString(), record.Detail, expectedETag, cancellationToken);
}
