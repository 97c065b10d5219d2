using System.Collections.Concurrent;
using System.Text.Json;
using EnvoyReaper.Messaging;
using EnvoyReaper.Teardown;

namespace EnvoyReaper.TestSupport.Storage;

/// <summary>
/// The Blob store's contract in memory: a write with If-None-Match * that keeps an existing blob, names listed in
/// ordinal order under a workload's prefix, and snapshots round-tripping through the same JSON.
/// </summary>
public sealed class InMemorySnapshotStore : ISnapshotStore
{
    private readonly ConcurrentDictionary<string, string> blobs = new(StringComparer.Ordinal);
    private int writes;

    /// <summary>Writes that stored a blob; a write refused because the name exists is not counted.</summary>
    public int Writes => Volatile.Read(ref writes);

    public IReadOnlyCollection<string> Names => blobs.Keys.Order(StringComparer.Ordinal).ToList();

    public Task<WorkloadSnapshot> SaveOnceAsync(string name, WorkloadSnapshot snapshot, CancellationToken cancellationToken)
    {
        var json = JsonSerializer.Serialize(snapshot, ReaperJson.Options);
        if (blobs.TryAdd(name, json))
        {
            Interlocked.Increment(ref writes);
        }

        return Task.FromResult(JsonSerializer.Deserialize<WorkloadSnapshot>(blobs[name], ReaperJson.Options)!);
    }

    public Task<IReadOnlyList<string>> ListAsync(string @namespace, string deployment, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<string>>(blobs.Keys.Where(name => name.StartsWith($"{@namespace}/{deployment}/", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList());

    public Task<WorkloadSnapshot?> GetAsync(string name, CancellationToken cancellationToken) =>
        Task.FromResult(blobs.TryGetValue(name, out var json) ? JsonSerializer.Deserialize<WorkloadSnapshot>(json, ReaperJson.Options) : null);
}
