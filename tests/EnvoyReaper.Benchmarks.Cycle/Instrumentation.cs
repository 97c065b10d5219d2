using System.Diagnostics;
using EnvoyReaper.Cluster;
using EnvoyReaper.Envoy;
using EnvoyReaper.Idleness;
using EnvoyReaper.Messaging;
using EnvoyReaper.TestSupport.Storage;

namespace EnvoyReaper.Benchmarks.Cycle;

/// <summary>A count and the summed latency of one kind of call (thread-safe).</summary>
public sealed class CallStats
{
    private long count;
    private long ticks;
    private long maxTicks;
    private long failures;

    public long Count => Interlocked.Read(ref count);

    public long Failures => Interlocked.Read(ref failures);

    /// <summary>Summed latency of all calls (they overlap: this is busy time, not wall time).</summary>
    public TimeSpan Total => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref ticks));

    public TimeSpan Max => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref maxTicks));

    public double MeanMs => Count == 0 ? 0 : Total.TotalMilliseconds / Count;

    public void Add(long elapsedTicks, bool failed = false)
    {
        Interlocked.Increment(ref count);
        Interlocked.Add(ref ticks, elapsedTicks);
        if (failed)
        {
            Interlocked.Increment(ref failures);
        }

        long seen;
        while (elapsedTicks > (seen = Interlocked.Read(ref maxTicks)) && Interlocked.CompareExchange(ref maxTicks, elapsedTicks, seen) != seen)
        {
        }
    }

    public void Reset()
    {
        Interlocked.Exchange(ref count, 0);
        Interlocked.Exchange(ref ticks, 0);
        Interlocked.Exchange(ref maxTicks, 0);
        Interlocked.Exchange(ref failures, 0);
    }
}

/// <summary>What one CheckStats invocation spent where; flows to the decorators through an AsyncLocal.</summary>
public sealed class InvocationProbe
{
    private static readonly AsyncLocal<InvocationProbe?> CurrentSlot = new();
    private readonly Lock gate = new();
    private long firstReadStart = long.MaxValue;
    private long lastReadEnd;

    public static InvocationProbe? Current
    {
        get => CurrentSlot.Value;
        set => CurrentSlot.Value = value;
    }

    public long StateTicks { get; private set; }

    public long ApiWriteTicks { get; private set; }

    /// <summary>From the first pod read's start to the last one's end (the pod reads of a check run in parallel).</summary>
    public long ReadSpanTicks => lastReadEnd == 0 ? 0 : lastReadEnd - firstReadStart;

    public void AddRead(long start, long end)
    {
        lock (gate)
        {
            firstReadStart = Math.Min(firstReadStart, start);
            lastReadEnd = Math.Max(lastReadEnd, end);
        }
    }

    public void AddState(long ticks)
    {
        lock (gate)
        {
            StateTicks += ticks;
        }
    }

    public void AddApiWrite(long ticks)
    {
        lock (gate)
        {
            ApiWriteTicks += ticks;
        }
    }
}

/// <summary>Every counter of one phase of the run.</summary>
public sealed class Counters
{
    public CallStats StatsReads { get; } = new();

    public CallStats StateGets { get; } = new();

    public CallStats StateWrites { get; } = new();

    public CallStats QueueSendBatches { get; } = new();

    public CallStats TeardownSends { get; } = new();

    public CallStats QueueReceives { get; } = new();

    public CallStats QueueDeletes { get; } = new();

    public CallStats Invocations { get; } = new();

    public CallStats ApiWrites { get; } = new();

    /// <summary>Table transactions of several rows (each row is also counted in <see cref="StateWrites"/>).</summary>
    public CallStats StateTransactions { get; } = new();

    /// <summary>Reads of several state rows in one query.</summary>
    public CallStats StateQueries { get; } = new();

    /// <summary>Every request the storage SDK clients sent (the reaper's, and the drain's receives and deletes, as the host's).</summary>
    public StorageRequestCounter QueueRequests { get; } = new();

    public StorageRequestCounter TableRequests { get; } = new();

    public StorageRequestCounter BlobRequests { get; } = new();

    public long StorageRequests => QueueRequests.Total + TableRequests.Total + BlobRequests.Total;

    /// <summary>Receives that found no message: the trigger's polling, a cost per unit of time rather than per check.</summary>
    public long EmptyReceives;

    /// <summary>Workloads in the stats-check messages the timer queued.</summary>
    public long WorkloadsQueued;

    /// <summary>Workloads in the stats-check messages the function was handed.</summary>
    public long WorkloadChecks;

    public long BytesRead;

    /// <summary>The checks the last timer queued (for the storage floor, which sends the same messages).</summary>
    public IReadOnlyList<ScheduledCheck>? LastChecks { get; set; }

    public long MessagesSent;

    public long ReadSpanTicks;

    public long StateTicksInChecks;

    public long ApiWriteTicksInChecks;

    public void Reset()
    {
        foreach (var stats in new[] { StatsReads, StateGets, StateWrites, QueueSendBatches, TeardownSends, QueueReceives, QueueDeletes, Invocations, ApiWrites, StateTransactions, StateQueries })
        {
            stats.Reset();
        }

        ResetStorageRequests();
        Interlocked.Exchange(ref EmptyReceives, 0);
        Interlocked.Exchange(ref WorkloadsQueued, 0);
        Interlocked.Exchange(ref WorkloadChecks, 0);

        Interlocked.Exchange(ref BytesRead, 0);
        Interlocked.Exchange(ref MessagesSent, 0);
        Interlocked.Exchange(ref ReadSpanTicks, 0);
        Interlocked.Exchange(ref StateTicksInChecks, 0);
        Interlocked.Exchange(ref ApiWriteTicksInChecks, 0);
    }

    public void ResetStorageRequests()
    {
        QueueRequests.Reset();
        TableRequests.Reset();
        BlobRequests.Reset();
    }

    public void Absorb(InvocationProbe probe)
    {
        Interlocked.Add(ref ReadSpanTicks, probe.ReadSpanTicks);
        Interlocked.Add(ref StateTicksInChecks, probe.StateTicks);
        Interlocked.Add(ref ApiWriteTicksInChecks, probe.ApiWriteTicks);
    }
}

/// <summary>Times the real reader; counts bytes of the bodies it parsed.</summary>
public sealed class TimedStatsReader(IEnvoyStatsReader inner, Counters counters) : IEnvoyStatsReader
{
    public async Task<StatsReadResult> ReadAsync(StatsEndpoint endpoint, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        var result = await inner.ReadAsync(endpoint, cancellationToken).ConfigureAwait(false);
        var end = Stopwatch.GetTimestamp();
        counters.StatsReads.Add(end - start, failed: result is not StatsReadResult.Success);
        if (result is StatsReadResult.Success success)
        {
            Interlocked.Add(ref counters.BytesRead, success.BytesRead);
        }
        else if (result is StatsReadResult.Failure failure)
        {
            Failures.Note(failure.Reason);
        }

        InvocationProbe.Current?.AddRead(start, end);
        return result;
    }
}

/// <summary>Where the state lives: the real Table store, or (for the run without storage) memory.</summary>
public sealed class StateStoreSwitch
{
    public bool InMemory { get; set; }

    public InMemoryWorkloadStateStore Memory { get; } = new();
}

/// <summary>Times the real Table state store.</summary>
public sealed class TimedStateStore(IWorkloadStateStore table, Counters counters, StateStoreSwitch where) : IWorkloadStateStore
{
    private IWorkloadStateStore Inner => where.InMemory ? where.Memory : table;

    public async Task<StoredState?> GetAsync(string @namespace, string deployment, CancellationToken cancellationToken)
    {
        var inner = Inner;
        var start = Stopwatch.GetTimestamp();
        var state = await inner.GetAsync(@namespace, deployment, cancellationToken).ConfigureAwait(false);
        var elapsed = Stopwatch.GetTimestamp() - start;
        counters.StateGets.Add(elapsed);
        InvocationProbe.Current?.AddState(elapsed);
        return state;
    }

    public Task<IReadOnlyDictionary<(string Namespace, string Deployment), WorkloadState>> ListAsync(CancellationToken cancellationToken) =>
        Inner.ListAsync(cancellationToken);

    public async Task<IReadOnlyDictionary<string, StoredState>> GetManyAsync(string @namespace, IReadOnlyCollection<string> deployments, CancellationToken cancellationToken)
    {
        var inner = Inner;
        var start = Stopwatch.GetTimestamp();
        var states = await inner.GetManyAsync(@namespace, deployments, cancellationToken).ConfigureAwait(false);
        var elapsed = Stopwatch.GetTimestamp() - start;
        counters.StateQueries.Add(elapsed);
        InvocationProbe.Current?.AddState(elapsed);
        return states;
    }

    public async Task<string?> TryWriteAsync(string @namespace, string deployment, WorkloadState state, string? expectedETag, CancellationToken cancellationToken)
    {
        var inner = Inner;
        var start = Stopwatch.GetTimestamp();
        var written = await inner.TryWriteAsync(@namespace, deployment, state, expectedETag, cancellationToken).ConfigureAwait(false);
        var elapsed = Stopwatch.GetTimestamp() - start;
        counters.StateWrites.Add(elapsed, failed: written is null);
        InvocationProbe.Current?.AddState(elapsed);
        return written;
    }

    public async Task<IReadOnlyList<string?>> TryWriteManyAsync(string @namespace, IReadOnlyList<StateWrite> writes, CancellationToken cancellationToken)
    {
        var inner = Inner;
        var start = Stopwatch.GetTimestamp();
        var written = await inner.TryWriteManyAsync(@namespace, writes, cancellationToken).ConfigureAwait(false);
        var elapsed = Stopwatch.GetTimestamp() - start;
        counters.StateTransactions.Add(elapsed, failed: written.Any(etag => etag is null));
        foreach (var etag in written)
        {
            counters.StateWrites.Add(elapsed / Math.Max(1, written.Count), failed: etag is null);
        }

        InvocationProbe.Current?.AddState(elapsed);
        return written;
    }
}

/// <summary>Times the real queue sends (the timer's batch, and teardown requests).</summary>
public sealed class TimedWorkQueue(IWorkQueue inner, Counters counters) : IWorkQueue
{
    public async Task EnqueueStatsChecksAsync(IReadOnlyList<ScheduledCheck> checks, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        await inner.EnqueueStatsChecksAsync(checks, cancellationToken).ConfigureAwait(false);
        counters.QueueSendBatches.Add(Stopwatch.GetTimestamp() - start);
        Interlocked.Add(ref counters.MessagesSent, checks.Count);
        Interlocked.Add(ref counters.WorkloadsQueued, checks.Sum(check => check.Message.Workloads.Count));
        if (InvocationProbe.Current is null)
        {
            counters.LastChecks = checks; // the timer's, not a check's extra check at an idle timeout
        }
    }

    public async Task EnqueueTeardownAsync(TeardownMessage message, TimeSpan timeToLive, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        await inner.EnqueueTeardownAsync(message, timeToLive, cancellationToken).ConfigureAwait(false);
        counters.TeardownSends.Add(Stopwatch.GetTimestamp() - start);
    }

    public Task MoveToPoisonAsync(string queueName, string body, CancellationToken cancellationToken)
    {
        Failures.Note("poison: " + queueName);
        return inner.MoveToPoisonAsync(queueName, body, cancellationToken);
    }
}

/// <summary>Times the Events a check records.</summary>
public sealed class TimedEvents(IEventRecorder events, Counters counters) : IEventRecorder
{
    public async Task RecordAsync(ClusterEvent clusterEvent, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        await events.RecordAsync(clusterEvent, cancellationToken).ConfigureAwait(false);
        var elapsed = Stopwatch.GetTimestamp() - start;
        counters.ApiWrites.Add(elapsed);
        InvocationProbe.Current?.AddApiWrite(elapsed);
    }
}

/// <summary>Times the status (annotations or EnvoyMonitor status) a check writes.</summary>
public sealed class TimedStatus(IWorkloadStatusWriter status, Counters counters) : IWorkloadStatusWriter
{
    public async Task WriteAsync(string @namespace, string deployment, string? monitorNamespace, string? monitor, WorkloadStatus workloadStatus, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        await status.WriteAsync(@namespace, deployment, monitorNamespace, monitor, workloadStatus, cancellationToken).ConfigureAwait(false);
        var elapsed = Stopwatch.GetTimestamp() - start;
        counters.ApiWrites.Add(elapsed);
        InvocationProbe.Current?.AddApiWrite(elapsed);
    }
}

/// <summary>The first distinct failure reasons seen, so that a broken run says why.</summary>
public static class Failures
{
    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, int> Seen = new(StringComparer.Ordinal);

    public static void Note(string reason)
    {
        lock (Gate)
        {
            Seen[reason] = Seen.GetValueOrDefault(reason) + 1;
        }
    }

    public static IReadOnlyList<string> TakeAll()
    {
        lock (Gate)
        {
            var all = Seen.OrderByDescending(pair => pair.Value).Select(pair => $"{pair.Value} x {pair.Key}").ToList();
            Seen.Clear();
            return all;
        }
    }
}
