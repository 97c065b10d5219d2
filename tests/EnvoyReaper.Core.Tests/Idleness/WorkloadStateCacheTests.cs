using EnvoyReaper.Cluster;
using EnvoyReaper.Envoy;
using EnvoyReaper.Idleness;
using EnvoyReaper.Messaging;
using EnvoyReaper.TestSupport.Storage;
using EnvoyReaper.Workloads;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using NSubstitute;
using NSubstitute.ExceptionExtensions;

namespace EnvoyReaper.Core.Tests.Idleness;

/// <summary>
/// Checks that decide on the state copy an instance keeps, against a store with the Table store's ETag rules, with two
/// instances (each its own cache) checking the same workload as queue messages land on either.
/// </summary>
public sealed class WorkloadStateCacheTests : IDisposable
{
    private const string Namespace = "team-a";
    private const string Name = "web";
    private const string Listener = "0.0.0.0_8080";

    private static readonly DateTimeOffset T0 = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly WorkloadSettings Settings = new(1, TimeSpan.FromMinutes(10), ReaperAction.Delete, 15090, "/stats", null, null, null, null);

    private readonly ReaperOptions options = new() { StartupGrace = TimeSpan.FromMinutes(5), MessageMaxAge = TimeSpan.FromMinutes(5) };
    private readonly FakeTimeProvider clock = new(T0);
    private readonly IEnvoyStatsReader envoy = Substitute.For<IEnvoyStatsReader>();
    private readonly InMemoryWorkloadStateStore store = new();
    private readonly Instance a;
    private readonly Instance b;
    private ulong total = 100;
    private ulong active;

    public WorkloadStateCacheTests()
    {
        envoy.ReadAsync(Arg.Any<StatsEndpoint>(), Arg.Any<CancellationToken>()).Returns(_ => new StatsReadResult.Success(
            new EnvoyStats(new Dictionary<string, ListenerStats> { [Listener] = new(active, total) }, (ulong)(clock.GetUtcNow() - T0.AddHours(-2)).TotalSeconds),
            1000));
        a = new Instance(this, store);
        b = new Instance(this, store);
    }

    public void Dispose()
    {
        a.Dispose();
        b.Dispose();
    }

    private sealed class Instance : IDisposable
    {
        private readonly PodStatsCollector collector;

        public Instance(WorkloadStateCacheTests test, IWorkloadStateStore store)
        {
            var options = Options.Create(test.options);
            collector = new PodStatsCollector(test.envoy, options);
            Cache = new WorkloadStateCache(test.clock, options);
            Processor = new StatsCheckProcessor(collector, new IdlePolicy(test.options), store, Cache, Queue, Substitute.For<IEventRecorder>(),
                Substitute.For<IWorkloadStatusWriter>(), test.clock, options, NullLogger<StatsCheckProcessor>.Instance);
        }

        public WorkloadStateCache Cache { get; }

        public StatsCheckProcessor Processor { get; }

        public IWorkQueue Queue { get; } = Substitute.For<IWorkQueue>();

        public int TeardownsRequested => Queue.ReceivedCalls().Count(call => call.GetMethodInfo().Name == nameof(IWorkQueue.EnqueueTeardownAsync));

        public void Dispose() => collector.Dispose();
    }

    private async Task<Evaluation> CheckOn(Instance instance)
    {
        var message = new StatsCheckMessage(StatsCheckMessage.Version1, Guid.NewGuid().ToString("n"), clock.GetUtcNow(), Namespace, Name, "dep-uid",
            T0.AddDays(-3), OptInSource.Label, null, Settings, null, [new PodTarget("web-5d8f-abcde", "pod-a", "10.0.0.7", false)], 0);
        var result = await instance.Processor.ProcessAsync(message, "m-" + message.Id, CancellationToken.None);
        Assert.Equal(CheckOutcome.Evaluated, result.Outcome);
        return result.Evaluation!;
    }

    private async Task MinuteLater()
    {
        clock.Advance(TimeSpan.FromMinutes(1));
        await Task.CompletedTask;
    }

    [Fact]
    public async Task Checks_of_a_workload_that_did_not_change_read_the_table_once()
    {
        for (var minute = 0; minute < 6; minute++)
        {
            await CheckOn(a);
            await MinuteLater();
        }

        Assert.Equal(1, store.Reads); // the first sight; then the copy written or read last
        Assert.Equal(2, store.Writes); // first sight (Unknown), then Idle
        Assert.Equal(Verdict.Idle, (await store.GetAsync(Namespace, Name, CancellationToken.None))!.State.Verdict);
    }

    [Fact]
    public async Task A_copy_outdated_by_another_instance_costs_one_refused_write_and_the_decision_is_taken_again_on_the_fresh_state()
    {
        await CheckOn(a);
        await MinuteLater();
        Assert.Equal(Verdict.Idle, (await CheckOn(a)).Verdict);
        await MinuteLater();

        total += 5; // users came and went; instance B sees it
        Assert.Equal(Verdict.Active, (await CheckOn(b)).Verdict);
        await MinuteLater();

        var onStaleCopy = await CheckOn(a);

        // A's copy still said Idle since minute 0 with older counters: the counters moved against them, its write of
        // "Active" was refused, and on the fresh state nothing moved since B's check: a new streak from B's check.
        Assert.Equal(1, store.Refused);
        Assert.Equal(Verdict.Idle, onStaleCopy.Verdict);
        Assert.Equal(T0.AddMinutes(2), onStaleCopy.State.IdleSince);
        Assert.Equal(T0.AddMinutes(2), (await store.GetAsync(Namespace, Name, CancellationToken.None))!.State.IdleSince);
    }

    [Fact]
    public async Task A_stale_copy_never_requests_a_second_teardown_after_another_instance_requested_one()
    {
        options.StateCacheTimeToLive = TimeSpan.FromHours(1); // A's copy, written at minute 1, is still in use at minute 11
        for (var minute = 0; minute <= 9; minute++)
        {
            await CheckOn(a);
            await MinuteLater();
        }

        Assert.True((await CheckOn(b)).TeardownDue); // minute 10 on B: idle since minute 0
        await MinuteLater();

        var onStaleCopy = await CheckOn(a); // A's copy has no teardown request: it would ask again

        Assert.Equal(1, store.Refused); // the copy did decide on a teardown; its write was refused
        Assert.False(onStaleCopy.TeardownDue);
        Assert.Equal(0, a.TeardownsRequested);
        Assert.Equal(1, b.TeardownsRequested);
    }

    [Fact]
    public async Task A_stale_idle_copy_never_requests_a_teardown_for_a_workload_another_instance_saw_busy()
    {
        for (var minute = 0; minute <= 8; minute++)
        {
            await CheckOn(a);
            await MinuteLater();
        }

        active = 1; // minute 9: a user is connected, and B checks
        Assert.Equal(Verdict.Active, (await CheckOn(b)).Verdict);
        await MinuteLater();

        // Minute 10: the user left. A's copy says idle since minute 0, ten minutes ago, and the total did not move (kept
        // so on purpose: the ETag is then the only thing between the stale copy and a teardown).
        active = 0;
        var onStaleCopy = await CheckOn(a);

        Assert.Equal(1, store.Refused);
        Assert.False(onStaleCopy.TeardownDue);
        Assert.Equal(0, a.TeardownsRequested + b.TeardownsRequested);
        Assert.Equal(T0.AddMinutes(10), (await store.GetAsync(Namespace, Name, CancellationToken.None))!.State.IdleSince);
    }

    [Fact]
    public async Task Only_the_decision_that_stands_is_logged_not_the_one_drawn_from_a_stale_copy()
    {
        var logger = new ListLogger();
        using var collector = new PodStatsCollector(envoy, Options.Create(options));
        var processor = new StatsCheckProcessor(collector, new IdlePolicy(options), store, a.Cache, Substitute.For<IWorkQueue>(),
            Substitute.For<IEventRecorder>(), Substitute.For<IWorkloadStatusWriter>(), clock, Options.Create(options), logger);
        await CheckOn(a);
        await MinuteLater();
        await CheckOn(a);
        await MinuteLater();
        total += 5;
        await CheckOn(b);
        await MinuteLater();

        await processor.ProcessAsync(new StatsCheckMessage(StatsCheckMessage.Version1, "c", clock.GetUtcNow(), Namespace, Name, "dep-uid",
            T0.AddDays(-3), OptInSource.Label, null, Settings, null, [new PodTarget("web-5d8f-abcde", "pod-a", "10.0.0.7", false)], 0), "m-stale", CancellationToken.None);

        Assert.Equal(1, store.Refused); // A's copy said Active (counters moved against its old baseline)
        var verdicts = logger.Lines.Where(line => line.Message.Contains("m-stale", StringComparison.Ordinal)).ToList();
        Assert.DoesNotContain(verdicts, line => line.Message.Contains("Active", StringComparison.Ordinal));
        Assert.Contains(verdicts, line => line.Level == LogLevel.Information && line.Message.Contains("is Idle", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_row_deleted_behind_the_copy_is_created_again_without_an_error()
    {
        await CheckOn(a);
        await MinuteLater();
        store.Delete(Namespace, Name);

        var evaluation = await CheckOn(a);

        Assert.Equal(1, store.Refused); // the copy's ETag matched no row
        var stored = (await store.GetAsync(Namespace, Name, CancellationToken.None))!.State;
        Assert.Equal((evaluation.Verdict, evaluation.State.LastChange), (stored.Verdict, stored.LastChange));
    }

    [Fact]
    public async Task A_Deployment_recreated_under_the_same_name_starts_from_nothing_even_with_a_copy_of_the_old_one()
    {
        for (var minute = 0; minute <= 9; minute++)
        {
            await CheckOn(a);
            await MinuteLater();
        }

        var message = new StatsCheckMessage(StatsCheckMessage.Version1, "c", clock.GetUtcNow(), Namespace, Name, "dep-uid-2",
            T0.AddDays(-3), OptInSource.Label, null, Settings, null, [new PodTarget("web-77f9-zzzzz", "pod-z", "10.0.0.9", false)], 0);
        var result = await a.Processor.ProcessAsync(message, "m-new", CancellationToken.None);

        Assert.Equal(Verdict.Unknown, result.Evaluation!.Verdict); // first sight of the new Deployment's pod
        Assert.False(result.Evaluation.TeardownDue);
        Assert.Equal("dep-uid-2", (await store.GetAsync(Namespace, Name, CancellationToken.None))!.State.DeploymentUid);
        Assert.Equal(0, a.TeardownsRequested);
    }

    private sealed class ListLogger : ILogger<StatsCheckProcessor>
    {
        public List<(LogLevel Level, string Message)> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add((logLevel, formatter(state, exception)));
    }

    [Fact]
    public async Task The_copy_is_read_again_after_its_time_to_live()
    {
        options.StateCacheTimeToLive = TimeSpan.FromMinutes(3);
        for (var minute = 0; minute <= 8; minute++)
        {
            await CheckOn(a);
            await MinuteLater();
        }

        // Written at minutes 0 and 1 (cached until 4), read again at 4 and 7.
        Assert.Equal(3, store.Reads);
    }

    [Fact]
    public async Task A_time_to_live_of_zero_reads_the_table_at_every_check()
    {
        options.StateCacheTimeToLive = TimeSpan.Zero;
        for (var minute = 0; minute < 5; minute++)
        {
            await CheckOn(a);
            await MinuteLater();
        }

        Assert.Equal(5, store.Reads);
        Assert.Equal(0, a.Cache.Count);
    }

    [Fact]
    public async Task A_write_that_failed_leaves_no_copy_behind()
    {
        var failing = Substitute.For<IWorkloadStateStore>();
        failing.GetAsync(default!, default!, default).ReturnsForAnyArgs(_ => store.GetAsync(Namespace, Name, CancellationToken.None));
        failing.TryWriteAsync(default!, default!, default!, default, default).ThrowsAsyncForAnyArgs(new TimeoutException("table service timed out"));
        using var instance = new Instance(this, failing);
        await store.TryWriteAsync(Namespace, Name, new WorkloadState("dep-uid", Verdict.Active, "earlier", 1, null, T0, [], null, null, null), null, CancellationToken.None);

        // The workload fails alone (a batch's other workloads complete), and is Unknown this time.
        var message = new StatsCheckMessage(StatsCheckMessage.Version1, "c", clock.GetUtcNow(), Namespace, Name, "dep-uid",
            T0.AddDays(-3), OptInSource.Label, null, Settings, null, [new PodTarget("web-5d8f-abcde", "pod-a", "10.0.0.7", false)], 0);
        Assert.Equal(CheckOutcome.Failed, (await instance.Processor.ProcessAsync(message, "m-1", CancellationToken.None)).Outcome);

        Assert.Equal(0, instance.Cache.Count);
    }

    [Fact]
    public async Task Turning_the_cache_off_takes_effect_at_once_for_copies_already_kept()
    {
        await CheckOn(a);
        await MinuteLater();
        await CheckOn(a);
        Assert.Equal(1, store.Reads);

        options.StateCacheTimeToLive = TimeSpan.Zero;
        await MinuteLater();
        await CheckOn(a);

        Assert.Equal(2, store.Reads);
    }

    [Fact]
    public void A_full_cache_makes_room_only_from_expired_copies()
    {
        options.StateCacheEntries = 2;
        var cache = new WorkloadStateCache(clock, Options.Create(options));
        var stored = new StoredState(new WorkloadState("uid", Verdict.Idle, null, 0, T0, T0, [], null, null, null), "e1");

        cache.Set("ns", "one", stored);
        clock.Advance(TimeSpan.FromMinutes(6));
        cache.Set("ns", "two", stored);
        cache.Set("ns", "three", stored); // full of live copies: not kept
        Assert.False(cache.TryGet("ns", "three", out _));

        clock.Advance(TimeSpan.FromMinutes(5)); // "one" expires (10 min), "two" still lives
        cache.Set("ns", "three", stored);

        Assert.True(cache.TryGet("ns", "two", out _));
        Assert.True(cache.TryGet("ns", "three", out _));
        Assert.False(cache.TryGet("ns", "one", out _));
        Assert.Equal(2, cache.Count);
    }
}
