using System.Collections.Concurrent;
using EnvoyReaper.Workloads;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Idleness;

/// <summary>
/// The state this instance last read or wrote for each workload, so that a check of a workload that did not change costs
/// no table read. An out-of-date copy is safe to decide on: every write carries the ETag of the copy it was decided on,
/// so a decision drawn from a stale copy fails its write and is taken again on a fresh read, and a decision that writes
/// nothing has no effect. A stale copy also holds older counters, which can only show more traffic than the stored ones.
/// </summary>
public sealed class WorkloadStateCache(TimeProvider time, IOptions<ReaperOptions> options)
{
    private readonly ConcurrentDictionary<(string Namespace, string Deployment), Entry> entries = new();
    private long nextSweepTicks;

    public int Count => entries.Count;

    private TimeSpan TimeToLive => options.Value.StateCacheTimeToLive;

    public bool TryGet(string @namespace, string deployment, out StoredState stored)
    {
        stored = null!;
        if (TimeToLive <= TimeSpan.Zero || !entries.TryGetValue((@namespace, deployment), out var entry))
        {
            return false;
        }

        if (time.GetUtcNow() >= entry.ExpiresAt)
        {
            entries.TryRemove(new KeyValuePair<(string, string), Entry>((@namespace, deployment), entry));
            return false;
        }

        stored = entry.Stored;
        return true;
    }

    public void Set(string @namespace, string deployment, StoredState stored)
    {
        if (TimeToLive <= TimeSpan.Zero)
        {
            return;
        }

        var now = time.GetUtcNow();
        var key = (@namespace, deployment);
        if (entries.Count >= options.Value.StateCacheEntries && !entries.ContainsKey(key))
        {
            // A sweep walks every entry: at most one per tenth of the time to live, not one per check of a full cache.
            var nextSweep = Interlocked.Read(ref nextSweepTicks);
            if (now.UtcTicks >= nextSweep
                && Interlocked.CompareExchange(ref nextSweepTicks, (now + TimeToLive / 10).UtcTicks, nextSweep) == nextSweep)
            {
                RemoveExpired(now);
            }

            if (entries.Count >= options.Value.StateCacheEntries)
            {
                return; // Full of live entries: this workload is read from the table, as without a cache.
            }
        }

        entries[key] = new Entry(stored, now + TimeToLive);
    }

    public void Forget(string @namespace, string deployment) => entries.TryRemove((@namespace, deployment), out _);

    private void RemoveExpired(DateTimeOffset now)
    {
        foreach (var (key, entry) in entries)
        {
            if (now >= entry.ExpiresAt)
            {
                entries.TryRemove(new KeyValuePair<(string, string), Entry>(key, entry));
            }
        }
    }

    private sealed record Entry(StoredState Stored, DateTimeOffset ExpiresAt);
}
