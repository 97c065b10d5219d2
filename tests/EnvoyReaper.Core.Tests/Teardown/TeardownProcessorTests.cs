using System.Text.Json.Nodes;
using EnvoyReaper.Cluster;
using EnvoyReaper.Envoy;
using EnvoyReaper.Idleness;
using EnvoyReaper.Messaging;
using EnvoyReaper.Teardown;
using EnvoyReaper.Workloads;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using NSubstitute;

namespace EnvoyReaper.Core.Tests.Teardown;

public sealed class TeardownProcessorTests : IDisposable
{
    private const string Namespace = "team-a";
    private const string Name = "web";
    private const string DeploymentUid = "dep-uid";
    private const string Listener = "0.0.0.0_8080";

    private static readonly DateTimeOffset RequestedAt = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset EnvoyStart = RequestedAt.AddHours(-2);
    private static readonly Dictionary<string, string> TemplateLabels = new() { ["app"] = "web" };

    private readonly ReaperOptions options = new() { StartupGrace = TimeSpan.FromMinutes(5), MessageMaxAge = TimeSpan.FromMinutes(5) };
    private readonly FakeTimeProvider clock = new(RequestedAt.AddSeconds(20));
    private readonly IClusterReader reader = Substitute.For<IClusterReader>();
    private readonly IClusterWriter writer = Substitute.For<IClusterWriter>();
    private readonly IEnvoyStatsReader statsReader = Substitute.For<IEnvoyStatsReader>();
    private readonly IWorkloadStateStore stateStore = Substitute.For<IWorkloadStateStore>();
    private readonly ISnapshotStore snapshots = Substitute.For<ISnapshotStore>();
    private readonly IEventRecorder events = Substitute.For<IEventRecorder>();
    private readonly PodStatsCollector collector;
    private readonly List<string> actions = [];
    private readonly List<WorkloadState> written = [];

    public TeardownProcessorTests()
    {
        collector = new PodStatsCollector(statsReader, Options.Create(options));

        stateStore.GetAsync(Namespace, Name, Arg.Any<CancellationToken>()).Returns(new StoredState(IdleState(), "etag-1"));
        stateStore.TryWriteAsync(Namespace, Name, Arg.Do<WorkloadState>(written.Add), Arg.Any<string?>(), Arg.Any<CancellationToken>()).Returns("etag-2");

        DeploymentIs(DeploymentUid);
        reader.ListPodsAsync(Namespace, null, Arg.Any<CancellationToken>()).Returns(_ => new[] { Pod("pod-a") }.ToAsyncEnumerable());
        reader.ListDeploymentsAsync(Namespace, null, Arg.Any<CancellationToken>()).Returns(_ => new[] { Deployment(DeploymentUid) }.ToAsyncEnumerable());
        writer.ListObjectsAsync(ResourceKind.Service, Namespace, Arg.Any<CancellationToken>()).Returns(
            new[] { new ClusterObject(ResourceKind.Service, Namespace, "web", "svc-uid", "5", new JsonObject { ["spec"] = new JsonObject { ["selector"] = new JsonObject { ["app"] = "web" } } }) });
        writer.ListObjectsAsync(ResourceKind.Ingress, Namespace, Arg.Any<CancellationToken>()).Returns(Array.Empty<ClusterObject>());
        writer.GetObjectAsync(ResourceKind.ConfigMap, Namespace, Arg.Any<string>(), Arg.Any<CancellationToken>()).Returns((ClusterObject?)null);

        snapshots.SaveOnceAsync(Arg.Any<string>(), Arg.Any<WorkloadSnapshot>(), Arg.Any<CancellationToken>()).Returns(call =>
        {
            actions.Add("snapshot");
            return call.ArgAt<WorkloadSnapshot>(1);
        });
        writer.DeleteAsync(default, default!, default!, default!, default, default).ReturnsForAnyArgs(call =>
        {
            actions.Add($"delete {call.ArgAt<ResourceKind>(0)} {call.ArgAt<string>(2)}");
            return DeleteOutcome.Deleted;
        });
        writer.WhenForAnyArgs(w => w.ScaleToZeroAsync(default!, default!, default!, default, default)).Do(_ => actions.Add("scale"));

        EnvoyReports(total: 100);
    }

    public void Dispose() => collector.Dispose();

    private TeardownProcessor Processor() => new(reader, writer, collector, new IdlePolicy(options), stateStore, snapshots, events, Substitute.For<IWorkloadStatusWriter>(), clock,
        Options.Create(options), NullLogger<TeardownProcessor>.Instance);

    private static WorkloadSettings Settings(ReaperAction action = ReaperAction.Delete) =>
        new(1, TimeSpan.FromMinutes(10), action, 15090, "/stats", null, null, null, null);

    private static TeardownMessage Message(ReaperAction action = ReaperAction.Delete) => new(
        TeardownMessage.CurrentVersion, "td-1", RequestedAt, Namespace, Name, DeploymentUid, OptInSource.Label, null, Settings(action),
        RequestedAt.AddMinutes(-10));

    private static WorkloadState IdleState() => new(
        DeploymentUid, Verdict.Idle, "idle", 0, RequestedAt.AddMinutes(-10), RequestedAt,
        [new PodBaseline("pod-a", EnvoyStart, new Dictionary<string, ulong> { [Listener] = 100 })],
        RequestedAt, null, null);

    private static DeploymentInfo Deployment(string uid, string action = "delete", string resourceVersion = "42", bool optedIn = true) => new(
        Namespace, Name, uid, resourceVersion, RequestedAt.AddDays(-3), 2,
        optedIn ? new Dictionary<string, string> { ["envoy-reaper/enabled"] = "true" } : new Dictionary<string, string>(),
        new Dictionary<string, string> { ["envoy-reaper/idle-timeout"] = "10m", ["envoy-reaper/action"] = action },
        LabelSelector.FromLabels(TemplateLabels), TemplateLabels);

    private static PodInfo Pod(string uid, bool ready = true) => new(
        Namespace, $"web-5d8f-{uid}", uid, "10.0.0.7", ready, false,
        new Dictionary<string, string>(TemplateLabels) { ["pod-template-hash"] = "5d8f" }, "web-5d8f", ["app"]);

    private void DeploymentIs(string uid)
    {
        reader.GetDeploymentAsync(Namespace, Name, Arg.Any<CancellationToken>()).Returns(Deployment(uid));
        writer.GetObjectAsync(ResourceKind.Deployment, Namespace, Name, Arg.Any<CancellationToken>())
            .Returns(new ClusterObject(ResourceKind.Deployment, Namespace, Name, uid, "42", new JsonObject()));
    }

    private void EnvoyReports(ulong total, ulong active = 0) =>
        statsReader.ReadAsync(Arg.Any<StatsEndpoint>(), Arg.Any<CancellationToken>()).Returns(_ => new StatsReadResult.Success(
            new EnvoyStats(new Dictionary<string, ListenerStats> { [Listener] = new(active, total) }, (ulong)(clock.GetUtcNow() - EnvoyStart).TotalSeconds),
            1000));

    private async Task AssertNothingTornDown()
    {
        Assert.Empty(actions);
        await writer.DidNotReceiveWithAnyArgs().DeleteAsync(default, default!, default!, default!, default, default);
        await writer.DidNotReceiveWithAnyArgs().ScaleToZeroAsync(default!, default!, default!, default, default);
    }

    [Fact]
    public async Task An_idle_workload_confirmed_on_fresh_data_is_snapshotted_then_deleted_front_door_first()
    {
        var result = await Processor().ProcessAsync(Message(), "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.Deleted, result.Outcome);
        Assert.Equal(new[] { "snapshot", "delete Service web", "delete Deployment web" }, actions);
        Assert.StartsWith($"{Namespace}/{Name}/", result.Snapshot, StringComparison.Ordinal);
        Assert.NotNull(written[^1].TeardownCompletedAt);
    }

    [Fact]
    public async Task Scale_to_zero_snapshots_first_and_deletes_nothing()
    {
        reader.GetDeploymentAsync(Namespace, Name, Arg.Any<CancellationToken>()).Returns(Deployment(DeploymentUid, "scale-to-zero"));

        var result = await Processor().ProcessAsync(Message(ReaperAction.ScaleToZero), "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.ScaledToZero, result.Outcome);
        Assert.Equal(new[] { "snapshot", "scale" }, actions);
        await writer.Received(1).ScaleToZeroAsync(Namespace, Name, "42", 2, Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task Dry_run_only_observes()
    {
        options.DryRun = true;

        var result = await Processor().ProcessAsync(Message(), "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.Observed, result.Outcome);
        await AssertNothingTornDown();
    }

    [Fact]
    public async Task A_stale_request_is_not_acted_on()
    {
        clock.Advance(options.MessageMaxAge);

        var result = await Processor().ProcessAsync(Message(), "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.Stale, result.Outcome);
        await AssertNothingTornDown();
        await statsReader.DidNotReceiveWithAnyArgs().ReadAsync(default!, default);
    }

    [Fact]
    public async Task A_request_the_stored_state_no_longer_holds_is_superseded()
    {
        stateStore.GetAsync(Namespace, Name, Arg.Any<CancellationToken>())
            .Returns(new StoredState(IdleState() with { TeardownRequestedAt = RequestedAt.AddMinutes(-7) }, "etag-2"));

        var result = await Processor().ProcessAsync(Message(), "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.Superseded, result.Outcome);
        await AssertNothingTornDown();
    }

    [Fact]
    public async Task A_workload_no_longer_idle_in_the_stored_state_is_not_torn_down()
    {
        stateStore.GetAsync(Namespace, Name, Arg.Any<CancellationToken>())
            .Returns(new StoredState(IdleState() with { Verdict = Verdict.Unknown }, "etag-2"));

        var result = await Processor().ProcessAsync(Message(), "m-1", CancellationToken.None);

        Assert.NotEqual(TeardownOutcome.Deleted, result.Outcome);
        await AssertNothingTornDown();
    }

    [Fact]
    public async Task A_recreated_deployment_is_not_torn_down()
    {
        DeploymentIs("new-uid");

        var result = await Processor().ProcessAsync(Message(), "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.Superseded, result.Outcome);
        await AssertNothingTornDown();
    }

    [Fact]
    public async Task Changed_pods_abort_the_teardown()
    {
        reader.ListPodsAsync(Namespace, null, Arg.Any<CancellationToken>()).Returns(_ => new[] { Pod("pod-a"), Pod("pod-b") }.ToAsyncEnumerable());

        var result = await Processor().ProcessAsync(Message(), "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.Aborted, result.Outcome);
        await AssertNothingTornDown();
    }

    [Fact]
    public async Task A_not_ready_pod_aborts_the_teardown()
    {
        reader.ListPodsAsync(Namespace, null, Arg.Any<CancellationToken>()).Returns(_ => new[] { Pod("pod-a"), Pod("pod-c", ready: false) }.ToAsyncEnumerable());

        var result = await Processor().ProcessAsync(Message(), "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.Aborted, result.Outcome);
        await AssertNothingTornDown();
    }

    [Fact]
    public async Task Connections_accepted_since_the_last_check_abort_the_teardown_and_restart_the_streak()
    {
        EnvoyReports(total: 101);

        var result = await Processor().ProcessAsync(Message(), "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.Aborted, result.Outcome);
        await AssertNothingTornDown();
        var state = Assert.Single(written);
        Assert.Equal(Verdict.Active, state.Verdict);
        Assert.Null(state.IdleSince);
        Assert.Null(state.TeardownRequestedAt);
    }

    [Fact]
    public async Task An_unreadable_envoy_on_the_fresh_read_aborts_the_teardown()
    {
        statsReader.ReadAsync(Arg.Any<StatsEndpoint>(), Arg.Any<CancellationToken>()).Returns(new StatsReadResult.Failure("timed out after 2s"));

        var result = await Processor().ProcessAsync(Message(), "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.Aborted, result.Outcome);
        await AssertNothingTornDown();
    }

    [Fact]
    public async Task A_deployment_replaced_during_the_deletes_is_not_deleted_and_the_teardown_is_not_completed()
    {
        writer.DeleteAsync(ResourceKind.Deployment, Namespace, Name, DeploymentUid, Arg.Any<string?>(), Arg.Any<CancellationToken>()).Returns(DeleteOutcome.PreconditionFailed);

        var result = await Processor().ProcessAsync(Message(), "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.Aborted, result.Outcome);
        Assert.All(written, state => Assert.Null(state.TeardownCompletedAt));
    }

    [Fact]
    public async Task A_Deployment_that_lost_its_opt_in_label_is_not_torn_down()
    {
        reader.GetDeploymentAsync(Namespace, Name, Arg.Any<CancellationToken>()).Returns(Deployment(DeploymentUid, optedIn: false));

        var result = await Processor().ProcessAsync(Message(), "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.Superseded, result.Outcome);
        await AssertNothingTornDown();
    }

    [Fact]
    public async Task Settings_changed_since_the_request_cancel_it()
    {
        reader.GetDeploymentAsync(Namespace, Name, Arg.Any<CancellationToken>()).Returns(Deployment(DeploymentUid, "observe"));

        var result = await Processor().ProcessAsync(Message(), "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.Superseded, result.Outcome);
        Assert.Contains("settings changed", result.Detail);
        await AssertNothingTornDown();
    }

    [Fact]
    public async Task A_Deployment_edited_while_the_snapshot_was_taken_is_not_deleted()
    {
        reader.GetDeploymentAsync(Namespace, Name, Arg.Any<CancellationToken>()).Returns(Deployment(DeploymentUid), Deployment(DeploymentUid, resourceVersion: "43"));

        var result = await Processor().ProcessAsync(Message(), "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.Aborted, result.Outcome);
        Assert.Equal(new[] { "snapshot" }, actions);
        await writer.DidNotReceiveWithAnyArgs().DeleteAsync(default, default!, default!, default!, default, default);
    }

    [Fact]
    public async Task A_stats_check_that_wrote_state_during_the_teardown_makes_it_stop()
    {
        stateStore.TryWriteAsync(Namespace, Name, Arg.Any<WorkloadState>(), "etag-1", Arg.Any<CancellationToken>()).Returns((string?)null);

        var result = await Processor().ProcessAsync(Message(), "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.Aborted, result.Outcome);
        await AssertNothingTornDown();
    }
}
