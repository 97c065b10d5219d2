using System.Net;
using System.Text.Json;
using Azure;
using Azure.Data.Tables;
using EnvoyReaper.Idleness;
using EnvoyReaper.Messaging;

namespace EnvoyReaper.Storage;

/// <summary>
/// Workload state in Azure Table Storage, one row per Deployment (partition = namespace, so the workloads of one
/// stats-check batch share a partition and can be written in one transaction), written with ETag preconditions so that
/// two instances checking the same workload cannot overwrite each other.
/// </summary>
public sealed class TableWorkloadStateStore(TableClient table) : IWorkloadStateStore
{
    public const string PriorVerdictColumn = "PriorVerdict";
    public const string VerdictSinceColumn = "VerdictSince";
    private const string StateColumn = "State";
    private readonly CreateOnce created = new(() => table.CreateIfNotExistsAsync());

    /// <summary>Reads only (a reader's credential is enough): a table that does not exist holds no state.</summary>
    public async Task<StoredState?> GetAsync(string @namespace, string deployment, CancellationToken cancellationToken)
    {
        NullableResponse<TableEntity> response;
        try
        {
            response = await table.GetEntityIfExistsAsync<TableEntity>(@namespace, deployment, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException exception) when (exception.Status == 404)
        {
            return null;
        }

        if (!response.HasValue || response.Value is null)
        {
            return null;
        }

        var entity = response.Value;
        var json = entity.GetString(StateColumn);
        var state = json is null ? null : JsonSerializer.Deserialize<WorkloadState>(json, ReaperJson.Options);
        return state is null ? null : new StoredState(state, entity.ETag.ToString());
    }

    /// <summary>
    /// One query of the partition's row range from the first to the last name (Table filters allow only 15 discrete
    /// comparisons, so not one per name); rows in that range that were not asked for are skipped. Reads only.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, StoredState>> GetManyAsync(string @namespace, IReadOnlyCollection<string> deployments, CancellationToken cancellationToken)
    {
        var states = new Dictionary<string, StoredState>(StringComparer.Ordinal);
        if (deployments.Count == 0)
        {
            return states;
        }

        if (deployments.Count == 1)
        {
            var name = deployments.First();
            if (await GetAsync(@namespace, name, cancellationToken).ConfigureAwait(false) is { } single)
            {
                states[name] = single;
            }

            return states;
        }

        var wanted = deployments.ToHashSet(StringComparer.Ordinal);
        var first = wanted.Min(StringComparer.Ordinal)!;
        var last = wanted.Max(StringComparer.Ordinal)!;
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {@namespace} and RowKey ge {first} and RowKey le {last}");
        try
        {
            await foreach (var entity in table.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken).ConfigureAwait(false))
            {
                if (wanted.Contains(entity.RowKey)
                    && entity.GetString(StateColumn) is { } json
                    && JsonSerializer.Deserialize<WorkloadState>(json, ReaperJson.Options) is { } state)
                {
                    states[entity.RowKey] = new StoredState(state, entity.ETag.ToString());
                }
            }
        }
        catch (RequestFailedException exception) when (exception.Status == 404)
        {
            return states;
        }

        return states;
    }

    /// <summary>Reads only: a table that does not exist holds no state.</summary>
    public async Task<IReadOnlyDictionary<(string Namespace, string Deployment), WorkloadState>> ListAsync(CancellationToken cancellationToken)
    {
        var states = new Dictionary<(string, string), WorkloadState>();
        try
        {
            await foreach (var entity in table.QueryAsync<TableEntity>(select: ["PartitionKey", "RowKey", StateColumn], cancellationToken: cancellationToken).ConfigureAwait(false))
            {
                if (entity.GetString(StateColumn) is { } json && JsonSerializer.Deserialize<WorkloadState>(json, ReaperJson.Options) is { } state)
                {
                    states[(entity.PartitionKey, entity.RowKey)] = state;
                }
            }
        }
        catch (RequestFailedException exception) when (exception.Status == 404)
        {
            return states;
        }

        return states;
    }

    /// <summary>Most entities in one Table transaction (entity group transaction).</summary>
    public const int MaxTransactionEntities = 100;

    public async Task<string?> TryWriteAsync(string @namespace, string deployment, WorkloadState state, string? expectedETag, CancellationToken cancellationToken)
    {
        await created.EnsureAsync().ConfigureAwait(false);
        var entity = Entity(@namespace, deployment, state);
        try
        {
            var response = expectedETag is null
                ? await table.AddEntityAsync(entity, cancellationToken).ConfigureAwait(false)
                : await table.UpdateEntityAsync(entity, new ETag(expectedETag), TableUpdateMode.Replace, cancellationToken).ConfigureAwait(false);
            return response.Headers.ETag?.ToString() ?? string.Empty;
        }
        catch (RequestFailedException exception) when (IsRefused(exception, expectedETag))
        {
            return null; // 404 on a replace: the row was deleted since it was read (by an operator, say)
        }
    }

    /// <summary>
    /// One transaction per 100 rows (they share the namespace's partition), each an insert or an If-Match replace. The
    /// service refuses a transaction whole when one of its rows is refused, so then every row of it is written on its
    /// own, and only the rows whose ETag no longer holds are refused.
    /// </summary>
    public async Task<IReadOnlyList<string?>> TryWriteManyAsync(string @namespace, IReadOnlyList<StateWrite> writes, CancellationToken cancellationToken)
    {
        if (writes.Count == 1)
        {
            return [await TryWriteAsync(@namespace, writes[0].Deployment, writes[0].State, writes[0].ExpectedETag, cancellationToken).ConfigureAwait(false)];
        }

        await created.EnsureAsync().ConfigureAwait(false);
        var etags = new string?[writes.Count];
        for (var start = 0; start < writes.Count; start += MaxTransactionEntities)
        {
            var chunk = writes.Skip(start).Take(MaxTransactionEntities).ToList();
            var actions = chunk.Select(write => write.ExpectedETag is null
                ? new TableTransactionAction(TableTransactionActionType.Add, Entity(@namespace, write.Deployment, write.State))
                : new TableTransactionAction(TableTransactionActionType.UpdateReplace, Entity(@namespace, write.Deployment, write.State), new ETag(write.ExpectedETag)));
            try
            {
                var responses = (await table.SubmitTransactionAsync(actions, cancellationToken).ConfigureAwait(false)).Value;
                for (var i = 0; i < chunk.Count; i++)
                {
                    etags[start + i] = responses[i].Headers.ETag?.ToString() ?? string.Empty;
                }
            }
            catch (TableTransactionFailedException exception) when (exception.Status is (int)HttpStatusCode.PreconditionFailed or (int)HttpStatusCode.Conflict or (int)HttpStatusCode.NotFound)
            {
                var single = await Task.WhenAll(chunk.Select(write => TryWriteAsync(@namespace, write.Deployment, write.State, write.ExpectedETag, cancellationToken))).ConfigureAwait(false);
                single.CopyTo(etags, start);
            }
        }

        return etags;
    }

    private static bool IsRefused(RequestFailedException exception, string? expectedETag) =>
        exception.Status is (int)HttpStatusCode.PreconditionFailed or (int)HttpStatusCode.Conflict
        || (exception.Status == (int)HttpStatusCode.NotFound && expectedETag is not null && exception.ErrorCode == "ResourceNotFound");

    private static TableEntity Entity(string @namespace, string deployment, WorkloadState state) =>
        new(@namespace, deployment)
        {
            // The whole state as one JSON column keeps timestamps exact; the others are for people querying the table.
            [StateColumn] = JsonSerializer.Serialize(state, ReaperJson.Options),
            ["DeploymentUid"] = state.DeploymentUid,
            ["Verdict"] = state.Verdict.ToString(),
            ["Reason"] = state.Reason,
            ["IdleSince"] = state.IdleSince,

            // Read on their own by the teardown breaker's measure, one scan of a few columns per discovery cycle.
            [PriorVerdictColumn] = state.PriorVerdict?.ToString(),
            [VerdictSinceColumn] = state.VerdictSince,
        };
}
