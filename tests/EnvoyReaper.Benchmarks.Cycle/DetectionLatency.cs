using System.Globalization;
using System.Text.Json;
using EnvoyReaper.Cluster;
using EnvoyReaper.Envoy;
using EnvoyReaper.Idleness;
using EnvoyReaper.Messaging;
using EnvoyReaper.TestSupport.Envoy;
using EnvoyReaper.TestSupport.Storage;
using EnvoyReaper.Workloads;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace EnvoyReaper.Benchmarks.Cycle;

public sealed record LatencyResult(
    string Scenario,
    TimeSpan Jitter,
    int Runs,
    int Reaped,
    IReadOnlyList<TimeSpan> Latencies,
    IReadOnlyList<TimeSpan> CloseToIdleSince,
    TimeSpan Bound)
{
    public int OverBound => Latencies.Count(latency => latency > Bound) + (Runs - Reaped);

    public TimeSpan Quantile(double q) => Quantile(Latencies, q);

    public static TimeSpan Quantile(IReadOnlyList<TimeSpan> values, double q)
    {
        if (values.Count == 0)
        {
            return TimeSpan.Zero;
        }

        var sorted = values.Order().ToList();
        var rank = (int)Math.Ceiling(q * sorted.Count) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Count - 1)];
    }
}

/// <summary>
/// Part 3 of issue 5, on a fake clock with the real Core classes: the stats check (StatsCheckProcessor, PodStatsCollector,
/// IdlePolicy, the JSON parser on the fake Envoy's filtered dump, a state store that round-trips the state through JSON
/// like the Table store, the check cadence of CheckSchedule). No HTTP, no storage.
/// </summary>
public static class DetectionLatency
{
    private const string Listener = "0.0.0.0_15001";

    public static LatencyResult Run(string scenario, BenchOptions options, TimeSpan jitter, int seed)
    {
        var random = new Random(seed);
        var latencies = new List<TimeSpan>();
        var idleSince = new List<TimeSpan>();
        var reaped = 0;
        for (var run = 0; run < options.LatencyRuns; run++)
        {
            var outcome = RunOnce(scenario, options, jitter, random);
            if (outcome is { } o)
            {
                reaped++;
                latencies.Add(o.Latency);
                idleSince.Add(o.CloseToIdleSince);
            }
        }

        return new LatencyResult(scenario, jitter, options.LatencyRuns, reaped, latencies, idleSince, options.IdleTimeout + options.CheckInterval);
    }

    private static (TimeSpan Latency, TimeSpan CloseToIdleSince)? RunOnce(string scenario, BenchOptions bench, TimeSpan jitter, Random random)
    {
        var start = new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);
        var time = new FakeTimeProvider(start);
        var reaper = new ReaperOptions { DefaultIdleTimeout = bench.IdleTimeout, DryRun = false };
        var options = Options.Create(reaper);
        var envoy = FakeEnvoy.CreateDetached();
        envoy.SetListener(Listener, 0, 0);
        var store = new InMemoryWorkloadStateStore();
        var queue = new CapturingQueue();
        var cluster = new NoClusterWrites();
        var collector = new PodStatsCollector(new RenderingReader(envoy), options);
        var processor = new StatsCheckProcessor(collector, new IdlePolicy(reaper), store, new WorkloadStateCache(time, options), queue, cluster, cluster, time, options, NullLogger<StatsCheckProcessor>.Instance);
        var annotations = new Dictionary<string, string>
        {
            [ReaperLabels.StatsPort] = "15090",
            [ReaperLabels.IdleTimeout] = Go(bench.IdleTimeout),
        };
        if (bench.CheckInterval != reaper.TimerPeriod)
        {
            annotations[ReaperLabels.CheckInterval] = Go(bench.CheckInterval);
        }

        var settings = new WorkloadSettingsParser(reaper).FromAnnotations(annotations).Settings
            ?? throw new InvalidOperationException("invalid simulated settings");

        // What the users do: connections open and close at random (uniform) times; the last one closes at `close`.
        var userEvents = new List<(TimeSpan At, Action Apply)>();
        var firstOpen = Seconds(random, 120, 180);
        TimeSpan close;
        if (scenario == "one session")
        {
            close = firstOpen + Seconds(random, 60, 360);
            userEvents.Add((firstOpen, () => envoy.OpenConnection(Listener)));
            userEvents.Add((close, () => envoy.CloseConnection(Listener)));
        }
        else
        {
            // Churn: B joins while A plays, A leaves, later B leaves last; the listener was never without a connection.
            var second = firstOpen + Seconds(random, 30, 90);
            var firstClose = second + Seconds(random, 10, 60);
            close = firstClose + Seconds(random, 30, 240);
            userEvents.Add((firstOpen, () => envoy.OpenConnection(Listener)));
            userEvents.Add((second, () => envoy.OpenConnection(Listener)));
            userEvents.Add((firstClose, () => envoy.CloseConnection(Listener)));
            userEvents.Add((close, () => envoy.CloseConnection(Listener)));
        }

        // The checks: the timer at every period boundary, its delayed checks (CheckSchedule), each run late by up to `jitter`.
        var horizon = close + bench.IdleTimeout + (10 * bench.CheckInterval) + reaper.TimerPeriod;
        var checks = new List<(TimeSpan Due, TimeSpan At)>();
        for (var timer = TimeSpan.Zero; timer < horizon; timer += reaper.TimerPeriod)
        {
            foreach (var delay in CheckSchedule.DelaysWithin(start + timer, reaper.TimerPeriod, settings.CheckInterval))
            {
                var due = timer + delay;
                checks.Add((due, due + TimeSpan.FromTicks((long)(random.NextDouble() * jitter.Ticks))));
            }
        }

        // One timeline; checks the reaper queues itself (at an idle timeout) join it when they fall due, as late as the rest.
        var timeline = new PriorityQueue<(TimeSpan At, TimeSpan? Check, Action Apply), (TimeSpan, int)>();
        foreach (var e in userEvents)
        {
            timeline.Enqueue((e.At, null, e.Apply), (e.At, 0));
        }

        foreach (var c in checks)
        {
            timeline.Enqueue((c.At, c.Due, () => { }), (c.At, 1));
        }

        const ulong uptimeAtStart = 3600;
        while (timeline.TryDequeue(out var next, out _) && next.At < horizon + horizon)
        {
            var (at, check, apply) = next;
            time.SetUtcNow(start + at);
            envoy.UptimeSeconds = uptimeAtStart + (ulong)at.TotalSeconds;
            if (check is not { } due)
            {
                apply();
                continue;
            }

            var message = new StatsCheckMessage(
                StatsCheckMessage.Version1,
                Guid.NewGuid().ToString("n"),
                start + due,
                "sim",
                "app",
                "deployment-uid",
                start - TimeSpan.FromHours(1),
                OptInSource.Label,
                null,
                settings,
                null,
                [new PodTarget("app-5d8f7c9b6-p0000", "pod-uid", "127.0.0.1", false)],
                0);
            processor.ProcessAsync(message.ToBatch(), message.Id, CancellationToken.None).GetAwaiter().GetResult();
            foreach (var queued in queue.TakeChecks())
            {
                var queuedDue = at + queued.Delay;
                var queuedAt = queuedDue + TimeSpan.FromTicks((long)(random.NextDouble() * jitter.Ticks));
                timeline.Enqueue((queuedAt, queuedDue, () => { }), (queuedAt, 1));
            }

            if (queue.Teardowns.Count > 0)
            {
                var teardown = queue.Teardowns[0];
                return (teardown.RequestedAt - (start + close), teardown.IdleSince - (start + close));
            }
        }

        return null;
    }

    private static TimeSpan Seconds(Random random, double min, double max) => TimeSpan.FromSeconds(min + (random.NextDouble() * (max - min)));

    private static string Go(TimeSpan span) => ((long)span.TotalSeconds).ToString(CultureInfo.InvariantCulture) + "s";

    /// <summary>The fake Envoy's filtered JSON dump, rendered and parsed as the reader would, without the socket.</summary>
    private sealed class RenderingReader(FakeEnvoy envoy) : IEnvoyStatsReader
    {
        public Task<StatsReadResult> ReadAsync(StatsEndpoint endpoint, CancellationToken cancellationToken)
        {
            var body = envoy.Render(StatsFormat.Json, EnvoyStatsQuery.Filter);
            return Task.FromResult<StatsReadResult>(new StatsReadResult.Success(EnvoyStatsParser.Parse(body, StatsFormat.Json), body.Length));
        }
    }

    private sealed class CapturingQueue : IWorkQueue
    {
        public List<TeardownMessage> Teardowns { get; } = [];

        private readonly List<ScheduledCheck> checks = [];

        public IReadOnlyList<ScheduledCheck> TakeChecks()
        {
            var taken = checks.ToList();
            checks.Clear();
            return taken;
        }

        public Task EnqueueStatsChecksAsync(IReadOnlyList<ScheduledCheck> scheduled, CancellationToken cancellationToken)
        {
            checks.AddRange(scheduled);
            return Task.CompletedTask;
        }

        public Task EnqueueTeardownAsync(TeardownMessage message, TimeSpan timeToLive, CancellationToken cancellationToken)
        {
            Teardowns.Add(message);
            return Task.CompletedTask;
        }

        public Task MoveToPoisonAsync(string queueName, string body, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private sealed class NoClusterWrites : IEventRecorder, IWorkloadStatusWriter
    {
        public Task RecordAsync(ClusterEvent clusterEvent, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task WriteAsync(string @namespace, string deployment, string? monitorNamespace, string? monitor, WorkloadStatus status, CancellationToken cancellationToken) =>
            Task.CompletedTask;
    }
}
