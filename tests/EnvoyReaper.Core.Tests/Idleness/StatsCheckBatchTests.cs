using EnvoyReaper.Cluster;
using EnvoyReaper.Envoy;
using EnvoyReaper.Idleness;
using EnvoyReaper.Messaging;
using EnvoyReaper.TestSupport.Storage;
using EnvoyReaper.Workloads;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using NSubstitute;

namespace EnvoyReaper.Core.Tests.Idleness;

/// <summary>One message, several workloads of one namespace: each is checked on its own and fails on its own.</summary>
public sealed class StatsCheckBatchTests : IDisposable
{
    private const string Namespace = "team-a";
    private static readonly DateTimeOffset T0 = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset EnvoyStart = T0.AddHours(-2);
    private static readonly WorkloadSettings Settings = new(1, TimeSpan.FromMinutes(10), ReaperAction.Delete, 15090, "/stats", null, null, null, null);

    private readonly ReaperOptions options = new() { StartupGrace = TimeSpan.FromMinutes(5), MessageMaxAge = TimeSpan.FromMinutes(5), StatsCheckBatchSize = 50 };
    private readonly FakeTimeProvider clock = new(T0);
    private readonly IEnvoyStatsReader statsReader = Substitute.For<IEnvoyStatsReader>();
    private readonly InMemoryWorkloadStateStore memory = new();
    private readonly InterferingStore store;
    private readonly IWorkQueue queue = Substitute.For<IWorkQueue>();
    private readonly List<TeardownMessage> teardowns = [];
    private readonly List<ScheduledCheck> extraChecks = [];
    private readonly ListLogger<StatsCheckProcessor> logger = new();
    private readonly IWorkloadStatusWriter statusWriter = Substitute.For<IWorkloadStatusWriter>();
    private readonly IEventRecorder events = Substitute.For<IEventRecorder>();
    private readonly PodStatsCollector collector;
    private readonly StatsCheckProcessor processor;

    public StatsCheckBatchTests()
    {
        store = new InterferingStore(memory);
        collector = new PodStatsCollector(statsReader, Options.Create(options));
        processor = new StatsCheckProcessor(collector, new IdlePolicy(options), store, new WorkloadStateCache(clock, Options.Create(options)), queue,
            events, statusWriter, clock, Options.Create(options), logger);
        queue.EnqueueTeardownAsync(Arg.Do<TeardownMessage>(teardowns.Add), Arg.Any<TimeSpan>(), Arg.Any<CancellationToken>()).Returns(Task.CompletedTask);
        queue.EnqueueStatsChecksAsync(Arg.Do<IReadOnlyList<ScheduledCheck>>(extraChecks.AddRange), Arg.Any<CancellationToken>()).Returns(Task.CompletedTask);
        statsReader.ReadAsync(Arg.Any<StatsEndpoint>(), Arg.Any<CancellationToken>()).Returns(_ => Quiet());
    }

    public void Dispose() => collector.Dispose();

    private StatsReadResult Quiet() => new StatsReadResult.Success(
        new EnvoyStats(new Dictionary<string, ListenerStats> { ["0.0.0.0_8080"] = new(0, 100) }, (ulong)(clock.GetUtcNow() - EnvoyStart).TotalSeconds), 1000);

    private static string Ip(int index) => $"10.0.0.{index + 1}";

    private static WorkloadCheck Workload(int index) => new(
        $"web-{index}", $"uid-{index}", T0.AddDays(-3), OptInSource.Label, null, Settings, null,
        [new PodTarget($"web-{index}-5d8f-abcde", $"pod-{index}", Ip(index), false)], 0);

    private StatsCheckBatchMessage Batch(int count) =>
        new(StatsCheckBatchMessage.CurrentVersion, "batch-1", clock.GetUtcNow(), Namespace, Enumerable.Range(0, count).Select(Workload).ToList());

    private async Task StoreIdleSinceAsync(int index, DateTimeOffset since) =>
        await memory.TryWriteAsync(Namespace, $"web-{index}", new WorkloadState(
            $"uid-{index}", Verdict.Idle, "idle", 0, since, since,
            [new PodBaseline($"pod-{index}", EnvoyStart, new Dictionary<string, ulong> { ["0.0.0.0_8080"] = 100 })],
            null, null, null), null, CancellationToken.None);

    [Fact]
    public async Task Every_workload_of_a_batch_is_checked_and_their_first_sights_are_written_in_one_call()
    {
        var results = await processor.ProcessAsync(Batch(20), "msg-1", CancellationToken.None);

        Assert.Equal(20, results.Count);
        Assert.All(results, result => Assert.Equal(CheckOutcome.Evaluated, result.Outcome));
        Assert.Equal(1, memory.Transactions);
        Assert.Equal(20, memory.Writes);
        Assert.Equal(20, (await memory.ListAsync(CancellationToken.None)).Count);
    }

    [Fact]
    public async Task Status_writes_and_Events_the_write_budget_dropped_log_no_warning_per_workload()
    {
        statusWriter.WriteAsync(default!, default!, default, default, default!, default)
            .ReturnsForAnyArgs<Task>(_ => throw new ClusterWriteDroppedException("dropped by the write budget"));
        events.RecordAsync(default!, default).ReturnsForAnyArgs<Task>(_ => throw new ClusterWriteDroppedException("dropped by the write budget"));
        await processor.ProcessAsync(Batch(20), "msg-1", CancellationToken.None);
        clock.Advance(TimeSpan.FromMinutes(1));

        var results = await processor.ProcessAsync(Batch(20), "msg-2", CancellationToken.None);

        Assert.All(results, result => Assert.Equal(Verdict.Idle, result.Evaluation!.Verdict));
        Assert.Equal(20, statusWriter.ReceivedCalls().Count());
        Assert.Equal(20, events.ReceivedCalls().Count());
        Assert.DoesNotContain(logger.Lines, line => line.StartsWith("Warning", StringComparison.Ordinal));
        Assert.Contains(logger.Lines, line => line.StartsWith("Debug", StringComparison.Ordinal) && line.Contains("team-a/web-3", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_states_a_batch_has_no_copy_of_are_read_in_one_query()
    {
        for (var i = 0; i < 10; i++)
        {
            await StoreIdleSinceAsync(i, T0.AddMinutes(-3));
        }

        var results = await processor.ProcessAsync(Batch(12), "msg-1", CancellationToken.None);

        Assert.Equal(1, memory.Queries);
        Assert.Equal(12, memory.Reads); // every row the query brought (or found missing), none read again on its own
        Assert.All(results.Take(10), result => Assert.Equal(Verdict.Idle, result.Evaluation!.Verdict));
        Assert.All(results.Skip(10), result => Assert.Equal(Verdict.Unknown, result.Evaluation!.Verdict)); // first sights
    }

    [Fact]
    public async Task A_batch_where_nothing_changed_writes_nothing()
    {
        for (var i = 0; i < 5; i++)
        {
            await StoreIdleSinceAsync(i, T0.AddMinutes(-3));
        }

        await processor.ProcessAsync(Batch(5), "msg-1", CancellationToken.None); // replaces the seeded reason
        var writes = (memory.Writes, memory.Transactions);
        clock.Advance(TimeSpan.FromMinutes(1));

        var results = await processor.ProcessAsync(Batch(5), "msg-2", CancellationToken.None);

        Assert.All(results, result => Assert.False(result.Evaluation!.StateChanged));
        Assert.Equal(writes, (memory.Writes, memory.Transactions));
    }

    [Fact]
    public async Task A_workload_whose_state_cannot_be_read_is_Unknown_and_logged_with_its_name_and_the_message_id_while_the_others_complete()
    {
        await StoreIdleSinceAsync(0, T0.AddMinutes(-10));
        await StoreIdleSinceAsync(2, T0.AddMinutes(-10));
        store.FailReadsOf = "web-1";

        var results = await processor.ProcessAsync(Batch(3), "msg-42", CancellationToken.None);

        Assert.Equal(CheckOutcome.Failed, results[1].Outcome);
        Assert.Null(results[1].Evaluation);
        Assert.All(new[] { results[0], results[2] }, result => Assert.True(result.Evaluation!.TeardownDue));
        Assert.Equal(["web-0", "web-2"], teardowns.Select(teardown => teardown.Deployment).Order());
        Assert.Contains(logger.Lines, line => line.Contains("msg-42") && line.Contains("team-a/web-1") && line.Contains("table read timed out") && line.Contains("Unknown"));
    }

    [Fact]
    public async Task A_stats_read_that_throws_makes_that_workload_Unknown_resets_its_streak_and_tears_down_nothing_of_it()
    {
        await StoreIdleSinceAsync(0, T0.AddMinutes(-10));
        await StoreIdleSinceAsync(1, T0.AddMinutes(-10));
        statsReader.ReadAsync(Arg.Is<StatsEndpoint>(endpoint => endpoint.PodIp == Ip(1)), Arg.Any<CancellationToken>())
            .Returns<StatsReadResult>(_ => throw new InvalidOperationException("handler broke"));

        var results = await processor.ProcessAsync(Batch(2), "msg-7", CancellationToken.None);

        Assert.True(results[0].Evaluation!.TeardownDue);
        Assert.Equal(Verdict.Unknown, results[1].Evaluation!.Verdict);
        Assert.Null((await memory.GetAsync(Namespace, "web-1", CancellationToken.None))!.State.IdleSince);
        Assert.Equal(["web-0"], teardowns.Select(teardown => teardown.Deployment));
        Assert.Contains(logger.Lines, line => line.Contains("msg-7") && line.Contains("team-a/web-1") && line.Contains("handler broke"));
    }

    [Fact]
    public async Task A_refused_batch_write_writes_the_others_once_and_decides_the_changed_one_again_on_a_fresh_read()
    {
        for (var i = 0; i < 4; i++)
        {
            await StoreIdleSinceAsync(i, T0.AddMinutes(-10));
        }

        // Between this check's read and its write, another instance saw a connection on web-2.
        store.BeforeBatch = async () =>
        {
            var theirs = (await memory.GetAsync(Namespace, "web-2", CancellationToken.None))!;
            await memory.TryWriteAsync(Namespace, "web-2", theirs.State with { Verdict = Verdict.Active, IdleSince = null, Reason = "1 active", LastChange = T0.AddSeconds(1) }, theirs.ETag, CancellationToken.None);
        };

        var results = await processor.ProcessAsync(Batch(4), "msg-1", CancellationToken.None);

        Assert.All(new[] { 0, 1, 3 }, i => Assert.True(results[i].Evaluation!.TeardownDue));
        Assert.Equal(CheckOutcome.Evaluated, results[2].Outcome);
        Assert.False(results[2].Evaluation!.TeardownDue); // the fresh read found the connection: its idle streak is gone
        Assert.Equal(["web-0", "web-1", "web-3"], teardowns.Select(teardown => teardown.Deployment).Order());
        Assert.Equal(1, memory.Refused);
        Assert.Single(teardowns, teardown => teardown.Deployment == "web-0");
    }

    [Fact]
    public async Task Teardowns_stay_one_message_per_workload()
    {
        for (var i = 0; i < 3; i++)
        {
            await StoreIdleSinceAsync(i, T0.AddMinutes(-10));
        }

        await processor.ProcessAsync(Batch(3), "msg-1", CancellationToken.None);

        Assert.Equal(3, teardowns.Count);
        Assert.Equal(3, teardowns.Select(teardown => teardown.Id).Distinct().Count());
        Assert.All(teardowns, teardown => Assert.Equal(TeardownMessage.CurrentVersion, teardown.Version));
        await queue.Received(3).EnqueueTeardownAsync(Arg.Any<TeardownMessage>(), options.MessageMaxAge, Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task A_stale_batch_is_dropped_whole_without_reading_or_writing()
    {
        var batch = Batch(3) with { DueAt = T0 - options.MessageMaxAge - TimeSpan.FromSeconds(1) };

        var results = await processor.ProcessAsync(batch, "msg-1", CancellationToken.None);

        Assert.All(results, result => Assert.Equal(CheckOutcome.Stale, result.Outcome));
        await statsReader.DidNotReceiveWithAnyArgs().ReadAsync(default!, default);
        Assert.Equal((0, 0), (memory.Reads, memory.Writes));
    }

    [Fact]
    public async Task The_checks_at_the_idle_timeout_of_a_batch_go_out_as_one_batch_for_the_workloads_due_at_the_same_moment()
    {
        await StoreIdleSinceAsync(0, T0.AddMinutes(-9).AddSeconds(-30));
        await StoreIdleSinceAsync(1, T0.AddMinutes(-9).AddSeconds(-30));
        await StoreIdleSinceAsync(2, T0.AddMinutes(-9).AddSeconds(-10));
        await StoreIdleSinceAsync(3, T0.AddMinutes(-3));

        await processor.ProcessAsync(Batch(4), "msg-1", CancellationToken.None);

        Assert.Equal(2, extraChecks.Count);
        var at30 = Assert.Single(extraChecks, check => check.Delay == TimeSpan.FromSeconds(30) + StatsCheckProcessor.TimeoutCheckMargin);
        Assert.Equal(["web-0", "web-1"], at30.Message.Workloads.Select(workload => workload.Deployment));
        Assert.Equal((Namespace, StatsCheckBatchMessage.CurrentVersion, T0 + at30.Delay), (at30.Message.Namespace, at30.Message.Version, at30.Message.DueAt));
        var at50 = Assert.Single(extraChecks, check => check.Delay == TimeSpan.FromSeconds(50) + StatsCheckProcessor.TimeoutCheckMargin);
        Assert.Equal(["web-2"], at50.Message.Workloads.Select(workload => workload.Deployment));
    }

    /// <summary>The in-memory store, with a failure or another instance's write where a test puts one.</summary>
    private sealed class InterferingStore(InMemoryWorkloadStateStore inner) : IWorkloadStateStore
    {
        public string? FailReadsOf { get; set; }

        public Func<Task>? BeforeBatch { get; set; }

        public Task<StoredState?> GetAsync(string @namespace, string deployment, CancellationToken cancellationToken) =>
            deployment == FailReadsOf
                ? Task.FromException<StoredState?>(new TimeoutException("table read timed out"))
                : inner.GetAsync(@namespace, deployment, cancellationToken);

        public Task<IReadOnlyDictionary<string, StoredState>> GetManyAsync(string @namespace, IReadOnlyCollection<string> deployments, CancellationToken cancellationToken) =>
            FailReadsOf is { } failing && deployments.Contains(failing)
                ? Task.FromException<IReadOnlyDictionary<string, StoredState>>(new TimeoutException("table read timed out"))
                : inner.GetManyAsync(@namespace, deployments, cancellationToken);

        public Task<IReadOnlyDictionary<(string Namespace, string Deployment), WorkloadState>> ListAsync(CancellationToken cancellationToken) => inner.ListAsync(cancellationToken);

        public Task<string?> TryWriteAsync(string @namespace, string deployment, WorkloadState state, string? expectedETag, CancellationToken cancellationToken) =>
            inner.TryWriteAsync(@namespace, deployment, state, expectedETag, cancellationToken);

        public async Task<IReadOnlyList<string?>> TryWriteManyAsync(string @namespace, IReadOnlyList<StateWrite> writes, CancellationToken cancellationToken)
        {
            if (BeforeBatch is { } interfere)
            {
                BeforeBatch = null;
                await interfere();
            }

            return await inner.TryWriteManyAsync(@namespace, writes, cancellationToken);
        }
    }

    private sealed class ListLogger<T> : ILogger<T>
    {
        private readonly List<string> lines = [];

        public IReadOnlyList<string> Lines
        {
            get
            {
                lock (lines)
                {
                    return lines.ToList();
                }
            }
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (lines)
            {
                lines.Add($"{logLevel}: {formatter(state, exception)}");
            }
        }
    }
}
