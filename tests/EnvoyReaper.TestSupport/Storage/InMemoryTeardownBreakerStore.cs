using System.Globalization;
using System.Text.Json;
using EnvoyReaper.Messaging;
using EnvoyReaper.Teardown;

namespace EnvoyReaper.TestSupport.Storage;

/// <summary>
/// The breaker row's contract in memory: a new ETag on every write, If-Match on replace, insert fails when the row
/// exists. Verdicts come from <paramref name="states"/>, as the Table store reads them from the state table.
/// </summary>
public sealed class InMemoryTeardownBreakerStore(InMemoryWorkloadStateStore? states = null) : ITeardownBreakerStore
{
    private readonly Lock gate = new();
    private (string Json, string ETag)? row;
    private long nextETag;

    public TeardownBreakerState? State
    {
        get
        {
            lock (gate)
            {
                return row is { } stored ? JsonSerializer.Deserialize<TeardownBreakerState>(stored.Json, ReaperJson.Options) : null;
            }
        }
    }

    /// <summary>Runs after a read, before its caller sees it: lets a test have another instance write in between.</summary>
    public Func<Task>? AfterRead { get; set; }

    public async Task<StoredBreakerState?> GetAsync(CancellationToken cancellationToken)
    {
        StoredBreakerState? read;
        lock (gate)
        {
            read = row is { } stored
                ? new StoredBreakerState(JsonSerializer.Deserialize<TeardownBreakerState>(stored.Json, ReaperJson.Options)!, stored.ETag)
                : null;
        }

        if (AfterRead is { } after)
        {
            AfterRead = null;
            await after();
        }

        return read;
    }

    public Task<string?> TryWriteAsync(TeardownBreakerState state, string? expectedETag, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            if (expectedETag is null ? row is not null : row?.ETag != expectedETag)
            {
                return Task.FromResult<string?>(null);
            }

            var etag = "W/\"" + (++nextETag).ToString(CultureInfo.InvariantCulture) + "\"";
            row = (JsonSerializer.Serialize(state, ReaperJson.Options), etag);
            return Task.FromResult<string?>(etag);
        }
    }

    public async Task<IReadOnlyDictionary<(string Namespace, string Deployment), VerdictRecord>> ListVerdictsAsync(CancellationToken cancellationToken)
    {
        if (states is null)
        {
            return new Dictionary<(string, string), VerdictRecord>();
        }

        var all = await states.ListAsync(cancellationToken);
        return all.ToDictionary(pair => pair.Key, pair => new VerdictRecord(pair.Value.DeploymentUid, pair.Value.Verdict, pair.Value.PriorVerdict, pair.Value.VerdictSince));
    }
}
