using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using EnvoyReaper.Idleness;
using EnvoyReaper.Messaging;

namespace EnvoyReaper.TestSupport.Storage;

/// <summary>
/// The Table store's contract in memory: a new ETag on every write, If-Match on replace, insert fails when the row
/// exists, and the state round-trips through the same JSON.
/// </summary>
public sealed class InMemoryWorkloadStateStore : IWorkloadStateStore
{
    private readonly ConcurrentDictionary<(string Namespace, string Deployment), (string Json, string ETag)> rows = new();
    private long nextETag;
    private int reads;
    private int writes;
    private int refused;

    public int Reads => Volatile.Read(ref reads);

    /// <summary>Write attempts, refused ones included.</summary>
    public int Writes => Volatile.Read(ref writes);

    /// <summary>Writes refused for a wrong or missing ETag, or an insert over an existing row.</summary>
    public int Refused => Volatile.Read(ref refused);

    /// <summary>Removes a row, as an operator clearing the table would.</summary>
    public void Delete(string @namespace, string deployment) => rows.TryRemove((@namespace, deployment), out _);

    public Task<StoredState?> GetAsync(string @namespace, string deployment, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref reads);
        return Task.FromResult(rows.TryGetValue((@namespace, deployment), out var row)
            ? new StoredState(JsonSerializer.Deserialize<WorkloadState>(row.Json, ReaperJson.Options)!, row.ETag)
            : null);
    }

    /// <summary>Queries of several rows asked for by <see cref="GetManyAsync"/> (each row read also counts in <see cref="Reads"/>).</summary>
    public int Queries => Volatile.Read(ref queries);

    private int queries;

    public async Task<IReadOnlyDictionary<string, StoredState>> GetManyAsync(string @namespace, IReadOnlyCollection<string> deployments, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref queries);
        var states = new Dictionary<string, StoredState>(StringComparer.Ordinal);
        foreach (var deployment in deployments)
        {
            if (await GetAsync(@namespace, deployment, cancellationToken) is { } stored)
            {
                states[deployment] = stored;
            }
        }

        return states;
    }

    public Task<IReadOnlyDictionary<(string Namespace, string Deployment), WorkloadState>> ListAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyDictionary<(string Namespace, string Deployment), WorkloadState>>(
            rows.ToDictionary(row => row.Key, row => JsonSerializer.Deserialize<WorkloadState>(row.Value.Json, ReaperJson.Options)!));

    public Task<string?> TryWriteAsync(string @namespace, string deployment, WorkloadState state, string? expectedETag, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref writes);
        var key = (@namespace, deployment);
        var written = (JsonSerializer.Serialize(state, ReaperJson.Options), "W/\"" + Interlocked.Increment(ref nextETag).ToString(CultureInfo.InvariantCulture) + "\"");
        var accepted = expectedETag is null
            ? rows.TryAdd(key, written)
            : rows.TryGetValue(key, out var row) && row.ETag == expectedETag && rows.TryUpdate(key, written, row);
        if (!accepted)
        {
            Interlocked.Increment(ref refused);
        }

        return Task.FromResult(accepted ? written.Item2 : null);
    }

    /// <summary>Transactions asked for by <see cref="TryWriteManyAsync"/>.</summary>
    public int Transactions => Volatile.Read(ref transactions);

    private int transactions;

    /// <summary>As the Table store's contract says: each write as on its own (a refused transaction falls back to that).</summary>
    public async Task<IReadOnlyList<string?>> TryWriteManyAsync(string @namespace, IReadOnlyList<StateWrite> writes, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref transactions);
        var etags = new string?[writes.Count];
        for (var i = 0; i < writes.Count; i++)
        {
            etags[i] = await TryWriteAsync(@namespace, writes[i].Deployment, writes[i].State, writes[i].ExpectedETag, cancellationToken);
        }

        return etags;
    }
}
