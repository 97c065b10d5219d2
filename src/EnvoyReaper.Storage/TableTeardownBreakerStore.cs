using System.Net;
using System.Text.Json;
using Azure;
using Azure.Data.Tables;
using EnvoyReaper.Idleness;
using EnvoyReaper.Messaging;
using EnvoyReaper.Teardown;

namespace EnvoyReaper.Storage;

/// <summary>
/// The teardown breaker as one row of the state table, in a partition no namespace can have ("~" is not a DNS-1123
/// character), written with ETag preconditions so that two instances cannot both take the hour's last slot. The mass-idle
/// measure reads only the verdict columns of the workload rows.
/// </summary>
public sealed class TableTeardownBreakerStore(TableClient table) : ITeardownBreakerStore
{
    public const string PartitionKey = "~breaker";
    public const string RowKey = "teardowns";
    private const string StateColumn = "Breaker";
    private readonly CreateOnce created = new(() => table.CreateIfNotExistsAsync());

    /// <summary>Reads only (a reader's credential is enough): a table that does not exist holds no breaker.</summary>
    public async Task<StoredBreakerState?> GetAsync(CancellationToken cancellationToken)
    {
        NullableResponse<TableEntity> response;
        try
        {
            response = await table.GetEntityIfExistsAsync<TableEntity>(PartitionKey, RowKey, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException exception) when (exception.Status == (int)HttpStatusCode.NotFound)
        {
            return null;
        }

        if (!response.HasValue || response.Value is not { } entity || entity.GetString(StateColumn) is not { } json)
        {
            return null;
        }

        var state = JsonSerializer.Deserialize<TeardownBreakerState>(json, ReaperJson.Options);
        return state is null ? null : new StoredBreakerState(state, entity.ETag.ToString());
    }

    public async Task<string?> TryWriteAsync(TeardownBreakerState state, string? expectedETag, CancellationToken cancellationToken)
    {
        await created.EnsureAsync().ConfigureAwait(false);
        var entity = new TableEntity(PartitionKey, RowKey)
        {
            [StateColumn] = JsonSerializer.Serialize(state, ReaperJson.Options),
            ["Open"] = state.IsOpen,
            ["OpenedBecause"] = state.OpenedBecause,
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

    /// <summary>Reads only: a table that does not exist holds no verdict.</summary>
    public async Task<IReadOnlyDictionary<(string Namespace, string Deployment), VerdictRecord>> ListVerdictsAsync(CancellationToken cancellationToken)
    {
        var verdicts = new Dictionary<(string, string), VerdictRecord>();
        var columns = new[] { "PartitionKey", "RowKey", "DeploymentUid", "Verdict", TableWorkloadStateStore.PriorVerdictColumn, TableWorkloadStateStore.VerdictSinceColumn };
        try
        {
            await foreach (var entity in table.QueryAsync<TableEntity>(filter: $"PartitionKey lt '{PartitionKey}'", select: columns, cancellationToken: cancellationToken).ConfigureAwait(false))
            {
                if (entity.GetString("DeploymentUid") is { } uid && Enum.TryParse<Verdict>(entity.GetString("Verdict"), out var verdict))
                {
                    Verdict? prior = Enum.TryParse<Verdict>(entity.GetString(TableWorkloadStateStore.PriorVerdictColumn), out var before) ? before : null;
                    verdicts[(entity.PartitionKey, entity.RowKey)] = new VerdictRecord(uid, verdict, prior, entity.GetDateTimeOffset(TableWorkloadStateStore.VerdictSinceColumn));
                }
            }
        }
        catch (RequestFailedException exception) when (exception.Status == (int)HttpStatusCode.NotFound)
        {
            return verdicts;
        }

        return verdicts;
    }
}
