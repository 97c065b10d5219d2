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

    public int Reads => Volatile.Read(ref reads);

    public int Writes => Volatile.Read(ref writes);

    public Task<StoredState?> GetAsync(string @namespace, string deployment, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref reads);
        return Task.FromResult(rows.TryGetValue((@namespace, deployment), out var row)
            ? new StoredState(JsonSerializer.Deserialize<WorkloadState>(row.Json, ReaperJson.Options)!, row.ETag)
            : null);
    }

    public Task<IReadOnlyDictionary<(string Namespace, string Deployment), WorkloadState>> ListAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyDictionary<(string Namespace, string Deployment), WorkloadState>>(
            rows.ToDictionary(row => row.Key, row => JsonSerializer.Deserialize<WorkloadState>(row.Value.Json, ReaperJson.Options)!));

    public Task<string?> TryWriteAsync(string @namespace, string deployment, WorkloadState state, string? expectedETag, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref writes);
        var key = (@namespace, deployment);
        var written = (JsonSerializer.Serialize(state, ReaperJson.Options), "W/\"" + Interlocked.Increment(ref nextETag).ToString(CultureInfo.InvariantCulture) + "\"");
        if (expectedETag is null)
        {
            return Task.FromResult(rows.TryAdd(key, written) ? written.Item2 : null);
        }

        return Task.FromResult(rows.TryGetValue(key, out var row) && row.ETag == expectedETag && rows.TryUpdate(key, written, row) ? written.Item2 : null);
    }
}
