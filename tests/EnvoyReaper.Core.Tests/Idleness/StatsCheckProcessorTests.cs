using EnvoyReaper.Cluster;
using EnvoyReaper.Envoy;
using EnvoyReaper.Idleness;
using EnvoyReaper.Messaging;
using EnvoyReaper.Workloads;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using NSubstitute;

namespace EnvoyReaper.Core.Tests.Idleness;

public sealed class StatsCheckProcessorTests : IDisposable
{
    private const string Namespace = "team-a";
    private const string Name = "web";
    private const string DeploymentUid = "dep-uid";

    private static readonly DateTimeOffset T0 = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset EnvoyStart = T0.AddHours(-2);

    private static readonly WorkloadSettings Settings = new(1, TimeSpan.FromMinutes(10), ReaperAction.Delete, 15090, "/stats", null, null, null, null);

    private readonly ReaperOptions options = new() { StartupGrace = TimeSpan.FromMinutes(5), MessageMaxAge = TimeSpan.FromMinutes(5) };
    private readonly FakeTimeProvider clock = new(T0);
    private readonly IEnvoyStatsReader statsReader = Substitute.For<IEnvoyStatsReader>();
    private readonly IWorkloadStateStore stateStore = Substitute.For<IWorkloadStateStore>();
    private readonly IWorkQueue queue = Substitute.For<IWorkQueue>();
    private readonly IEventRecorder events = Substitute.For<IEventRecorder>();
    private readonly PodStatsCollector collector;
    private readonly StatsCheckProcessor processor;
    private readonly List<WorkloadState> written = [];

    public StatsCheckProcessorTests()
    {
        collector = new PodStatsCollector(statsReader, Options.Create(options));
        processor = new StatsCheckProcessor(collector, new IdlePolicy(options), stateStore, new WorkloadStateCache(clock, Options.Create(options)), queue, events, Substitute.For<IWorkloadStatusWriter>(), clock, Options.Create(options),
            NullLogger<StatsCheckProcessor>.Instance);
        stateStore.TryWriteAsync(Namespace, Name, Arg.Do<WorkloadState>(written.Add), Arg.Any<string?>(), Arg.Any<CancellationToken>())
            .Returns("etag-2");
        EnvoyReports(total: 100);
    }

    public void Dispose() => collector.Dispose();

    private void EnvoyReports(ulong total, ulong active = 0) =>
        statsReader.ReadAsync(Arg.Any<StatsEndpoint>(), Arg.Any<CancellationToken>()).Returns(_ => new StatsReadResult.Success(
            new EnvoyStats(new Dictionary<string, ListenerStats> { ["0.0.0.0_8080"] = new(active, total) }, (ulong)(clock.GetUtcNow() - EnvoyStart).TotalSeconds),
            1000));

    private void Stored(WorkloadState? state) =>
        stateStore.GetAsync(Namespace, Name, Arg.Any<CancellationToken>()).Returns(state is null ? null : new StoredState(state, "etag-1"));

    private static WorkloadState IdleSince(DateTimeOffset since, DateTimeOffset? teardownRequestedAt = null) => new(
        DeploymentUid, Verdict.Idle, "idle", 0, since, since,
        [new PodBaseline("pod-a", EnvoyStart, new Dictionary<string, ulong> { ["0.0.0.0_8080"] = 100 })],
        teardownRequestedAt, null, null);

    private StatsCheckMessage Message(DateTimeOffset dueAt, WorkloadSettings? settings = null) => new(
        StatsCheckMessage.Version1, "check-1", dueAt, Namespace, Name, DeploymentUid, T0.AddDays(-3), OptInSource.Label, null,
        settings ?? Settings, null, [new PodTarget("web-5d8f-abcde", "pod-a", "10.0.0.7", false)], 0);

    [Fact]
    public async Task A_stale_message_is_dropped_without_reading_deciding_or_writing()
    {
        Stored(IdleSince(T0.AddHours(-1)));
        var message = Message(T0 - options.MessageMaxAge - TimeSpan.FromSeconds(1));

        var result = await processor.ProcessAsync(message, "m-1", CancellationToken.None);

        Assert.Equal(CheckOutcome.Stale, result.Outcome);
        Assert.Null(result.Evaluation);
        await statsReader.DidNotReceiveWithAnyArgs().ReadAsync(default!, default);
        await stateStore.DidNotReceiveWithAnyArgs().TryWriteAsync(default!, default!, default!, default, default);
        await queue.DidNotReceiveWithAnyArgs().EnqueueTeardownAsync(default!, default, default);
    }

    [Fact]
    public async Task A_workload_idle_for_its_timeout_gets_one_teardown_request_carrying_its_idle_start()
    {
        Stored(IdleSince(T0.AddMinutes(-10)));

        var result = await processor.ProcessAsync(Message(T0.AddSeconds(-5)), "m-1", CancellationToken.None);

        Assert.Equal(CheckOutcome.Evaluated, result.Outcome);
        Assert.True(result.Evaluation!.TeardownDue);
        Assert.Equal(T0, Assert.Single(written).TeardownRequestedAt);
        await queue.Received(1).EnqueueTeardownAsync(
            Arg.Is<TeardownMessage>(m => m.DeploymentUid == DeploymentUid && m.IdleSince == T0.AddMinutes(-10) && m.RequestedAt == T0
                && m.Version == TeardownMessage.CurrentVersion),
            options.MessageMaxAge,
            Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task An_unreadable_pod_never_leads_to_a_teardown_request_and_resets_the_streak()
    {
        Stored(IdleSince(T0.AddHours(-1)));
        statsReader.ReadAsync(Arg.Any<StatsEndpoint>(), Arg.Any<CancellationToken>()).Returns(new StatsReadResult.Failure("connection refused"));

        var result = await processor.ProcessAsync(Message(T0), "m-1", CancellationToken.None);

        Assert.Equal(Verdict.Unknown, result.Evaluation!.Verdict);
        Assert.Null(Assert.Single(written).IdleSince);
        await queue.DidNotReceiveWithAnyArgs().EnqueueTeardownAsync(default!, default, default);
    }

    [Fact]
    public async Task A_message_without_settings_reads_nothing_and_is_Unknown()
    {
        Stored(IdleSince(T0.AddHours(-1)));
        var message = Message(T0) with { Settings = null, ConfigurationErrors = ["envoy-reaper/action: 'destroy' is not one of delete, scale-to-zero, observe"] };

        var result = await processor.ProcessAsync(message, "m-1", CancellationToken.None);

        Assert.Equal(Verdict.Unknown, result.Evaluation!.Verdict);
        await statsReader.DidNotReceiveWithAnyArgs().ReadAsync(default!, default);
        await queue.DidNotReceiveWithAnyArgs().EnqueueTeardownAsync(default!, default, default);
    }

    [Fact]
    public async Task A_second_check_of_an_unchanged_idle_workload_writes_nothing()
    {
        var initial = new StoredState(IdleSince(T0.AddMinutes(-3)), "etag-0");
        stateStore.GetAsync(Namespace, Name, Arg.Any<CancellationToken>())
            .Returns(_ => written.Count == 0 ? initial : new StoredState(written[^1], $"etag-{written.Count}"));

        var first = await processor.ProcessAsync(Message(T0), "m-1", CancellationToken.None);
        clock.Advance(TimeSpan.FromMinutes(1));
        var second = await processor.ProcessAsync(Message(clock.GetUtcNow()), "m-2", CancellationToken.None);

        Assert.Equal(Verdict.Idle, first.Evaluation!.Verdict);
        Assert.Equal(Verdict.Idle, second.Evaluation!.Verdict);
        Assert.False(second.Evaluation.StateChanged);
        Assert.Single(written); // only the first check, which replaced the seeded reason, wrote
    }

    [Fact]
    public async Task Losing_every_write_race_requests_no_teardown()
    {
        Stored(IdleSince(T0.AddMinutes(-10)));
        stateStore.TryWriteAsync(default!, default!, default!, default, default).ReturnsForAnyArgs((string?)null);

        var result = await processor.ProcessAsync(Message(T0), "m-1", CancellationToken.None);

        Assert.Equal(CheckOutcome.LostRace, result.Outcome);
        await queue.DidNotReceiveWithAnyArgs().EnqueueTeardownAsync(default!, default, default);
    }

    [Fact]
    public async Task A_failing_event_recorder_does_not_undo_the_decision()
    {
        Stored(IdleSince(T0.AddMinutes(-10)) with { Verdict = Verdict.Unknown, IdleSince = null });
        events.RecordAsync(default!, default).ReturnsForAnyArgs(Task.FromException(new InvalidOperationException("API down")));

        var result = await processor.ProcessAsync(Message(T0), "m-1", CancellationToken.None);

        Assert.Equal(Verdict.Idle, result.Evaluation!.Verdict);
        Assert.Single(written);
        await events.ReceivedWithAnyArgs().RecordAsync(default!, default);
    }

    [Fact]
    public async Task A_slow_state_read_does_not_make_the_Envoy_look_restarted()
    {
        // Envoy's uptime is read first; three minutes pass before the state arrives (a throttled or retried table read).
        stateStore.GetAsync(Namespace, Name, Arg.Any<CancellationToken>()).Returns(_ =>
        {
            clock.Advance(TimeSpan.FromMinutes(3));
            return new StoredState(IdleSince(T0.AddMinutes(-3)), "etag-1");
        });

        var result = await processor.ProcessAsync(Message(T0), "m-1", CancellationToken.None);

        Assert.Equal(Verdict.Idle, result.Evaluation!.Verdict); // judged "now minus uptime" at T0+3: a restart, Unknown
        Assert.Equal(T0.AddMinutes(-3), result.Evaluation.State.IdleSince);
    }

    [Fact]
    public async Task A_sample_older_than_the_stored_state_is_dropped_without_a_write()
    {
        // Another instance checked the same workload (a duplicate message) and stored a sample taken after ours, after
        // two more connections came and went.
        EnvoyReports(total: 98);
        Stored(IdleSince(T0.AddMinutes(-10)) with { LastChange = T0.AddSeconds(10) });

        var result = await processor.ProcessAsync(Message(T0), "m-1", CancellationToken.None);

        Assert.Equal(CheckOutcome.Superseded, result.Outcome);
        Assert.Empty(written);
        await queue.DidNotReceiveWithAnyArgs().EnqueueTeardownAsync(default!, default, default);
    }

    [Fact]
    public async Task An_idle_timeout_ending_before_the_next_check_gets_one_more_check_at_that_moment()
    {
        Stored(IdleSince(T0.AddMinutes(-9).AddSeconds(-30)));
        var checks = new List<ScheduledCheck>();
        await queue.EnqueueStatsChecksAsync(Arg.Do<IReadOnlyList<ScheduledCheck>>(checks.AddRange), Arg.Any<CancellationToken>());

        var result = await processor.ProcessAsync(Message(T0), "m-1", CancellationToken.None);

        Assert.False(result.Evaluation!.TeardownDue);
        var check = Assert.Single(checks);
        Assert.Equal(TimeSpan.FromSeconds(30) + StatsCheckProcessor.TimeoutCheckMargin, check.Delay);
        Assert.Equal(T0 + check.Delay, check.Message.DueAt);
        Assert.Equal(check.Delay + options.MessageMaxAge, check.TimeToLive);
        Assert.Equal(StatsCheckBatchMessage.CurrentVersion, check.Message.Version);
        var workload = Assert.Single(check.Message.Workloads);
        Assert.Equal((Namespace, Name, DeploymentUid), (check.Message.Namespace, workload.Deployment, workload.DeploymentUid));
        Assert.NotEqual("check-1", check.Message.Id);

        // That check, when it comes, finds the timeout reached and asks for the teardown itself: nothing more is queued.
        clock.Advance(check.Delay);
        Stored(result.Evaluation.State);
        var atTimeout = Assert.Single(await processor.ProcessAsync(check.Message, "m-2", CancellationToken.None));
        Assert.True(atTimeout.Evaluation!.TeardownDue);
        Assert.Single(checks);
    }

    [Theory]
    [InlineData(-8)] // two minutes left: the next regular check comes first
    [InlineData(-10)] // due now: the teardown is requested by this check
    public async Task No_extra_check_when_the_timeout_is_not_between_this_check_and_the_next(int idleMinutes)
    {
        Stored(IdleSince(T0.AddMinutes(idleMinutes)));

        await processor.ProcessAsync(Message(T0), "m-1", CancellationToken.None);

        await queue.DidNotReceiveWithAnyArgs().EnqueueStatsChecksAsync(default!, default);
    }

    [Fact]
    public async Task No_extra_check_for_a_workload_that_is_not_idle()
    {
        Stored(IdleSince(T0.AddMinutes(-9).AddSeconds(-30)));
        EnvoyReports(total: 100, active: 1);

        await processor.ProcessAsync(Message(T0), "m-1", CancellationToken.None);

        await queue.DidNotReceiveWithAnyArgs().EnqueueStatsChecksAsync(default!, default);
    }

    [Fact]
    public async Task The_extra_check_waits_for_a_startup_grace_that_ends_after_the_timeout()
    {
        Stored(IdleSince(T0.AddMinutes(-9).AddSeconds(-30)));
        var checks = new List<ScheduledCheck>();
        await queue.EnqueueStatsChecksAsync(Arg.Do<IReadOnlyList<ScheduledCheck>>(checks.AddRange), Arg.Any<CancellationToken>());
        var young = Message(T0) with { DeploymentCreatedAt = T0 - options.StartupGrace + TimeSpan.FromSeconds(50) };

        await processor.ProcessAsync(young, "m-1", CancellationToken.None);

        Assert.Equal(TimeSpan.FromSeconds(50) + StatsCheckProcessor.TimeoutCheckMargin, Assert.Single(checks).Delay);
    }

    [Fact]
    public async Task A_check_interval_shorter_than_the_time_left_brings_no_extra_check()
    {
        Stored(IdleSince(T0.AddMinutes(-9).AddSeconds(-15))); // 45 s left, checks every 30 s: a regular one comes first

        await processor.ProcessAsync(Message(T0, Settings with { CheckInterval = TimeSpan.FromSeconds(30) }), "m-1", CancellationToken.None);

        await queue.DidNotReceiveWithAnyArgs().EnqueueStatsChecksAsync(default!, default);
    }

    [Fact]
    public async Task A_failure_to_queue_the_extra_check_does_not_undo_the_check()
    {
        Stored(IdleSince(T0.AddMinutes(-9).AddSeconds(-30)));
        queue.EnqueueStatsChecksAsync(default!, default).ReturnsForAnyArgs(Task.FromException(new InvalidOperationException("queue down")));

        var result = await processor.ProcessAsync(Message(T0), "m-1", CancellationToken.None);

        Assert.Equal(CheckOutcome.Evaluated, result.Outcome);
        Assert.Equal(Verdict.Idle, result.Evaluation!.Verdict);
        Assert.Single(written);
    }
}
