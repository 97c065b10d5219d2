using System.Text.Json.Nodes;
using EnvoyReaper.Cluster;
using EnvoyReaper.Envoy;
using EnvoyReaper.Idleness;
using EnvoyReaper.Messaging;
using EnvoyReaper.Teardown;
using EnvoyReaper.TestSupport.Storage;
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
    private readonly InMemoryTeardownBreakerStore breakerStore = new();
    private readonly TeardownBreakerOptions breakerOptions = new();

    public TeardownProcessorTests()
    {
        collector = new PodStatsCollector(statsReader, Options.Create(options));

        // Like the table: a read after a write sees that write and the ETag the write returned.
        stateStore.GetAsync(Namespace, Name, Arg.Any<CancellationToken>()).Returns(_ => written.Count == 0 ? new StoredState(IdleState(), "etag-1") : new StoredState(written[^1], "etag-2"));
        stateStore.TryWriteAsync(Namespace, Name, Arg.Do<WorkloadState>(written.Add), Arg.Any<string?>(), Arg.Any<CancellationToken>()).Returns("etag-2");

        DeploymentIs(DeploymentUid);
        reader.ListPodsAsync(Namespace, null, Arg.Any<CancellationToken>()).Returns(_ => new[] { Pod("pod-a") }.ToAsyncEnumerable());
        reader.ListDeploymentsAsync(Namespace, null, Arg.Any<CancellationToken>()).Returns(_ => new[] { Deployment(DeploymentUid) }.ToAsyncEnumerable());
        writer.ListObjectsAsync(ResourceKind.Service, Namespace, Arg.Any<CancellationToken>()).Returns(new[] { ServiceObject("web", "svc-uid") });
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
        writer.WhenForAnyArgs(w => w.ScaleToZeroAsync(default!, default!, default!, default, default!, default)).Do(_ => actions.Add("scale"));

        EnvoyReports(total: 100);
        breakerStore.TryWriteAsync(new TeardownBreakerState([], MonitoredWorkloads: 1000), null, CancellationToken.None).GetAwaiter().GetResult();
    }

    public void Dispose() => collector.Dispose();

    private TeardownProcessor Processor(IWorkloadStateStore? store = null, ISnapshotStore? snapshotStore = null) => new(
        reader, writer, collector, new IdlePolicy(options), store ?? stateStore, snapshotStore ?? snapshots, events, Substitute.For<IWorkloadStatusWriter>(), clock,
        Options.Create(options), NullLogger<TeardownProcessor>.Instance,
        new TeardownBreaker(breakerStore, clock, Options.Create(breakerOptions), Options.Create(options), NullLogger<TeardownBreaker>.Instance));

    private static ClusterObject ServiceObject(string name, string uid) =>
        new(ResourceKind.Service, Namespace, name, uid, "5", new JsonObject
        {
            ["kind"] = "Service",
            ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = Namespace, ["uid"] = uid },
            ["spec"] = new JsonObject { ["selector"] = new JsonObject { ["app"] = "web" } },
        });

    private static ClusterObject IngressObject(string name, string uid, params string[] backends) =>
        new(ResourceKind.Ingress, Namespace, name, uid, "6", new JsonObject
        {
            ["kind"] = "Ingress",
            ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = Namespace, ["uid"] = uid },
            ["spec"] = new JsonObject
            {
                ["rules"] = new JsonArray(new JsonObject
                {
                    ["http"] = new JsonObject
                    {
                        ["paths"] = new JsonArray(backends.Select(backend => (JsonNode)new JsonObject
                        {
                            ["path"] = "/",
                            ["backend"] = new JsonObject { ["service"] = new JsonObject { ["name"] = backend } },
                        }).ToArray()),
                    },
                }),
            },
        });

    private static ClusterObject ManagedConfigMap() =>
        new(ResourceKind.ConfigMap, Namespace, $"{Name}-envoy", "cm-uid", "7", new JsonObject
        {
            ["kind"] = "ConfigMap",
            ["metadata"] = new JsonObject
            {
                ["name"] = $"{Name}-envoy",
                ["namespace"] = Namespace,
                ["uid"] = "cm-uid",
                ["labels"] = new JsonObject { ["app.kubernetes.io/managed-by"] = "envoy-reaper" },
            },
        });

    /// <summary>A Service, an Ingress to it and the reaper's sidecar ConfigMap next to the Deployment.</summary>
    private void WholeWorkload()
    {
        writer.ListObjectsAsync(ResourceKind.Service, Namespace, Arg.Any<CancellationToken>()).Returns(new[] { ServiceObject("web", "svc-uid") });
        writer.ListObjectsAsync(ResourceKind.Ingress, Namespace, Arg.Any<CancellationToken>()).Returns(new[] { IngressObject("web", "ing-uid", "web") });
        writer.GetObjectAsync(ResourceKind.ConfigMap, Namespace, $"{Name}-envoy", Arg.Any<CancellationToken>()).Returns(ManagedConfigMap());
        writer.GetObjectAsync(ResourceKind.Deployment, Namespace, Name, Arg.Any<CancellationToken>())
            .Returns(new ClusterObject(ResourceKind.Deployment, Namespace, Name, DeploymentUid, "42", new JsonObject
            {
                ["kind"] = "Deployment",
                ["metadata"] = new JsonObject { ["name"] = Name, ["namespace"] = Namespace, ["uid"] = DeploymentUid, ["resourceVersion"] = "42" },
                ["spec"] = new JsonObject
                {
                    ["selector"] = new JsonObject { ["matchLabels"] = new JsonObject { ["app"] = "web" } },
                    ["template"] = new JsonObject { ["metadata"] = new JsonObject { ["labels"] = new JsonObject { ["app"] = "web" } } },
                },
            }));
    }

    /// <summary>What the cluster looks like after the Deployment (and its pods) went away.</summary>
    private void DeploymentGone()
    {
        reader.GetDeploymentAsync(Namespace, Name, Arg.Any<CancellationToken>()).Returns((DeploymentInfo?)null);
        writer.GetObjectAsync(ResourceKind.Deployment, Namespace, Name, Arg.Any<CancellationToken>()).Returns((ClusterObject?)null);
        reader.ListPodsAsync(Namespace, null, Arg.Any<CancellationToken>()).Returns(_ => Array.Empty<PodInfo>().ToAsyncEnumerable());
        reader.ListDeploymentsAsync(Namespace, null, Arg.Any<CancellationToken>()).Returns(_ => Array.Empty<DeploymentInfo>().ToAsyncEnumerable());
    }

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
        await writer.DidNotReceiveWithAnyArgs().ScaleToZeroAsync(default!, default!, default!, default, default!, default);
    }

    [Fact]
    public async Task An_idle_workload_confirmed_on_fresh_data_is_snapshotted_then_deleted_Deployment_first()
    {
        var result = await Processor().ProcessAsync(Message(), "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.Deleted, result.Outcome);
        Assert.Equal(new[] { "snapshot", "delete Deployment web", "delete Service web" }, actions);
        Assert.Equal(WorkloadSnapshot.NameFor(Namespace, Name, DeploymentUid, RequestedAt), result.Snapshot);
        Assert.NotNull(written[^1].TeardownCompletedAt);
    }

    [Fact]
    public async Task Scale_to_zero_snapshots_first_and_deletes_nothing()
    {
        reader.GetDeploymentAsync(Namespace, Name, Arg.Any<CancellationToken>()).Returns(Deployment(DeploymentUid, "scale-to-zero"));

        var result = await Processor().ProcessAsync(Message(ReaperAction.ScaleToZero), "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.ScaledToZero, result.Outcome);
        Assert.Equal(new[] { "snapshot", "scale" }, actions);
        await writer.Received(1).ScaleToZeroAsync(Namespace, Name, "42", 2, Arg.Any<string>(), Arg.Any<CancellationToken>());
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

    // ---------------------------------------------------------------- The claim holds until the first irreversible step (issue 9, item 4)

    [Fact]
    public async Task A_check_that_stores_Active_while_the_snapshot_uploads_aborts_the_teardown_with_a_TeardownAborted_event()
    {
        var store = new InMemoryWorkloadStateStore();
        Assert.NotNull(await store.TryWriteAsync(Namespace, Name, IdleState(), null, CancellationToken.None));
        snapshots.SaveOnceAsync(Arg.Any<string>(), Arg.Any<WorkloadSnapshot>(), Arg.Any<CancellationToken>()).Returns(async call =>
        {
            // A regular check sees a user connect while the snapshot is uploaded, and stores Active with the ETag it read.
            var seen = (await store.GetAsync(Namespace, Name, CancellationToken.None))!;
            var active = seen.State with { Verdict = Verdict.Active, Reason = "1 active connection(s)", ActiveConnections = 1, IdleSince = null, TeardownRequestedAt = null };
            Assert.NotNull(await store.TryWriteAsync(Namespace, Name, active, seen.ETag, CancellationToken.None));
            actions.Add("snapshot");
            return call.ArgAt<WorkloadSnapshot>(1);
        });

        var result = await Processor(store).ProcessAsync(Message(), "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.Aborted, result.Outcome);
        Assert.Equal(new[] { "snapshot" }, actions);
        await writer.DidNotReceiveWithAnyArgs().DeleteAsync(default, default!, default!, default!, default, default);
        await events.Received(1).RecordAsync(
            Arg.Is<ClusterEvent>(recorded => recorded.Reason == "TeardownAborted" && recorded.Message.Contains("state", StringComparison.Ordinal)),
            Arg.Any<CancellationToken>());
        Assert.Equal(Verdict.Active, (await store.GetAsync(Namespace, Name, CancellationToken.None))!.State.Verdict);
    }

    [Fact]
    public async Task A_check_that_stores_Active_while_the_snapshot_uploads_stops_a_scale_to_zero_too()
    {
        reader.GetDeploymentAsync(Namespace, Name, Arg.Any<CancellationToken>()).Returns(Deployment(DeploymentUid, "scale-to-zero"));
        var store = new InMemoryWorkloadStateStore();
        Assert.NotNull(await store.TryWriteAsync(Namespace, Name, IdleState(), null, CancellationToken.None));
        snapshots.SaveOnceAsync(Arg.Any<string>(), Arg.Any<WorkloadSnapshot>(), Arg.Any<CancellationToken>()).Returns(async call =>
        {
            var seen = (await store.GetAsync(Namespace, Name, CancellationToken.None))!;
            Assert.NotNull(await store.TryWriteAsync(Namespace, Name, seen.State with { Verdict = Verdict.Active, IdleSince = null, TeardownRequestedAt = null }, seen.ETag, CancellationToken.None));
            return call.ArgAt<WorkloadSnapshot>(1);
        });

        var result = await Processor(store).ProcessAsync(Message(ReaperAction.ScaleToZero), "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.Aborted, result.Outcome);
        await writer.DidNotReceiveWithAnyArgs().ScaleToZeroAsync(default!, default!, default!, default, default!, default);
    }

    // ---------------------------------------------------------------- Order and preconditions of the deletes (item 6)

    [Fact]
    public async Task The_Deployment_is_deleted_first_with_uid_and_resourceVersion_then_the_Service_the_Ingress_and_the_managed_ConfigMap_with_their_uids()
    {
        WholeWorkload();

        var result = await Processor().ProcessAsync(Message(), "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.Deleted, result.Outcome);
        Assert.Equal(new[] { "snapshot", "delete Deployment web", "delete Service web", "delete Ingress web", "delete ConfigMap web-envoy" }, actions);
        await writer.Received(1).DeleteAsync(ResourceKind.Deployment, Namespace, Name, DeploymentUid, "42", Arg.Any<CancellationToken>());
        await writer.Received(1).DeleteAsync(ResourceKind.Service, Namespace, "web", "svc-uid", null, Arg.Any<CancellationToken>());
        await writer.Received(1).DeleteAsync(ResourceKind.Ingress, Namespace, "web", "ing-uid", null, Arg.Any<CancellationToken>());
        await writer.Received(1).DeleteAsync(ResourceKind.ConfigMap, Namespace, $"{Name}-envoy", "cm-uid", null, Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task A_Deployment_that_changed_before_its_delete_aborts_the_teardown_and_nothing_else_is_deleted()
    {
        WholeWorkload();
        writer.DeleteAsync(ResourceKind.Deployment, Namespace, Name, DeploymentUid, Arg.Any<string?>(), Arg.Any<CancellationToken>()).Returns(call =>
        {
            actions.Add("delete Deployment web");
            return DeleteOutcome.PreconditionFailed; // 409 Conflict: the uid or resourceVersion precondition failed
        });

        var result = await Processor().ProcessAsync(Message(), "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.Aborted, result.Outcome);
        Assert.Equal(new[] { "snapshot", "delete Deployment web" }, actions);
        await events.Received(1).RecordAsync(Arg.Is<ClusterEvent>(recorded => recorded.Reason == "TeardownAborted"), Arg.Any<CancellationToken>());
        Assert.All(written, state => Assert.Null(state.TeardownCompletedAt));
    }

    /// <param name="retryAfterSeconds">30: the queue's visibility timeout; 360: an API server outage outlasted MessageMaxAge (5 min).</param>
    [Theory]
    [InlineData(30)]
    [InlineData(360)]
    public async Task A_retry_after_a_failed_Service_delete_deletes_the_Service_and_Ingress_of_the_same_teardown_though_the_Deployment_is_gone(int retryAfterSeconds)
    {
        WholeWorkload();
        var store = new InMemoryWorkloadStateStore();
        Assert.NotNull(await store.TryWriteAsync(Namespace, Name, IdleState(), null, CancellationToken.None));
        var snapshotStore = new InMemorySnapshotStore();
        writer.DeleteAsync(ResourceKind.Service, Namespace, "web", "svc-uid", Arg.Any<string?>(), Arg.Any<CancellationToken>())
            .Returns<DeleteOutcome>(_ => throw new HttpRequestException("500 Internal Server Error"), _ =>
            {
                actions.Add("delete Service web");
                return DeleteOutcome.Deleted;
            });

        await Assert.ThrowsAsync<HttpRequestException>(() => Processor(store, snapshotStore).ProcessAsync(Message(), "m-1", CancellationToken.None));
        DeploymentGone();
        clock.Advance(TimeSpan.FromSeconds(retryAfterSeconds));
        actions.Clear();

        var result = await Processor(store, snapshotStore).ProcessAsync(Message(), "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.Deleted, result.Outcome);
        Assert.Equal(new[] { "delete Service web", "delete Ingress web", "delete ConfigMap web-envoy" }, actions);
        await writer.Received(1).DeleteAsync(ResourceKind.Deployment, Namespace, Name, DeploymentUid, "42", Arg.Any<CancellationToken>());
        Assert.Equal(snapshotStore.Names.Single(), result.Snapshot);
        Assert.NotNull((await store.GetAsync(Namespace, Name, CancellationToken.None))!.State.TeardownCompletedAt);
    }

    [Fact]
    public async Task A_stale_request_whose_Deployment_is_gone_without_a_snapshot_of_it_deletes_nothing()
    {
        WholeWorkload();
        var store = new InMemoryWorkloadStateStore();
        Assert.NotNull(await store.TryWriteAsync(Namespace, Name, IdleState(), null, CancellationToken.None));
        DeploymentGone();
        clock.Advance(options.MessageMaxAge + TimeSpan.FromMinutes(1));

        var result = await Processor(store, new InMemorySnapshotStore()).ProcessAsync(Message(), "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.Stale, result.Outcome);
        await writer.DidNotReceiveWithAnyArgs().DeleteAsync(default, default!, default!, default!, default, default);
    }

    [Fact]
    public async Task A_retry_keeps_an_object_of_the_snapshot_that_was_recreated_since()
    {
        WholeWorkload();
        var store = new InMemoryWorkloadStateStore();
        Assert.NotNull(await store.TryWriteAsync(Namespace, Name, IdleState(), null, CancellationToken.None));
        var snapshotStore = new InMemorySnapshotStore();
        writer.DeleteAsync(ResourceKind.Service, Namespace, "web", "svc-uid", Arg.Any<string?>(), Arg.Any<CancellationToken>())
            .Returns<DeleteOutcome>(_ => throw new HttpRequestException("500 Internal Server Error"));
        await Assert.ThrowsAsync<HttpRequestException>(() => Processor(store, snapshotStore).ProcessAsync(Message(), "m-1", CancellationToken.None));
        DeploymentGone();
        writer.ListObjectsAsync(ResourceKind.Service, Namespace, Arg.Any<CancellationToken>()).Returns(new[] { ServiceObject("web", "svc-uid-2") });
        writer.ClearReceivedCalls();

        await Processor(store, snapshotStore).ProcessAsync(Message(), "m-1", CancellationToken.None);

        await writer.DidNotReceive().DeleteAsync(ResourceKind.Service, Namespace, "web", "svc-uid-2", Arg.Any<string?>(), Arg.Any<CancellationToken>());
        await writer.DidNotReceive().DeleteAsync(ResourceKind.Deployment, Arg.Any<string>(), Arg.Any<string>(), Arg.Any<string>(), Arg.Any<string?>(), Arg.Any<CancellationToken>());
    }

    // ---------------------------------------------------------------- One teardown, one snapshot (item 7)

    [Fact]
    public async Task A_retried_teardown_reuses_the_snapshot_its_first_attempt_wrote()
    {
        WholeWorkload();
        var store = new InMemoryWorkloadStateStore();
        Assert.NotNull(await store.TryWriteAsync(Namespace, Name, IdleState(), null, CancellationToken.None));
        var snapshotStore = new InMemorySnapshotStore();
        writer.DeleteAsync(ResourceKind.Deployment, Namespace, Name, DeploymentUid, Arg.Any<string?>(), Arg.Any<CancellationToken>())
            .Returns<DeleteOutcome>(_ => throw new HttpRequestException("500 Internal Server Error"), _ => DeleteOutcome.Deleted);

        await Assert.ThrowsAsync<HttpRequestException>(() => Processor(store, snapshotStore).ProcessAsync(Message(), "m-1", CancellationToken.None));
        clock.Advance(TimeSpan.FromSeconds(30));
        var result = await Processor(store, snapshotStore).ProcessAsync(Message(), "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.Deleted, result.Outcome);
        Assert.Equal(1, snapshotStore.Writes);
        Assert.Equal(WorkloadSnapshot.NameFor(Namespace, Name, DeploymentUid, RequestedAt), Assert.Single(snapshotStore.Names));
        var snapshot = (await snapshotStore.GetAsync(result.Snapshot!, CancellationToken.None))!;
        Assert.Equal(["ConfigMap", "Deployment", "Ingress", "Service"], snapshot.Objects.Select(item => item["kind"]!.GetValue<string>()).Order());
    }

    [Fact]
    public async Task A_retry_does_not_delete_a_Deployment_edited_since_the_snapshot_its_first_attempt_wrote()
    {
        WholeWorkload();
        var store = new InMemoryWorkloadStateStore();
        Assert.NotNull(await store.TryWriteAsync(Namespace, Name, IdleState(), null, CancellationToken.None));
        var snapshotStore = new InMemorySnapshotStore();
        reader.GetDeploymentAsync(Namespace, Name, Arg.Any<CancellationToken>())
            .Returns<DeploymentInfo?>(_ => Deployment(DeploymentUid), _ => throw new HttpRequestException("503 Service Unavailable"));
        await Assert.ThrowsAsync<HttpRequestException>(() => Processor(store, snapshotStore).ProcessAsync(Message(), "m-1", CancellationToken.None));

        // Before the queue delivers the message again, someone edits the Deployment (an annotation: the pods stay).
        var edited = Deployment(DeploymentUid, resourceVersion: "43");
        reader.GetDeploymentAsync(Namespace, Name, Arg.Any<CancellationToken>()).Returns(edited);
        writer.GetObjectAsync(ResourceKind.Deployment, Namespace, Name, Arg.Any<CancellationToken>())
            .Returns(new ClusterObject(ResourceKind.Deployment, Namespace, Name, DeploymentUid, "43", new JsonObject
            {
                ["kind"] = "Deployment",
                ["metadata"] = new JsonObject
                {
                    ["name"] = Name, ["namespace"] = Namespace, ["uid"] = DeploymentUid, ["resourceVersion"] = "43",
                    ["annotations"] = new JsonObject { ["team-a/owner"] = "new-owner" },
                },
                ["spec"] = new JsonObject
                {
                    ["selector"] = new JsonObject { ["matchLabels"] = new JsonObject { ["app"] = "web" } },
                    ["template"] = new JsonObject { ["metadata"] = new JsonObject { ["labels"] = new JsonObject { ["app"] = "web" } } },
                },
            }));
        clock.Advance(TimeSpan.FromSeconds(30));

        var result = await Processor(store, snapshotStore).ProcessAsync(Message(), "m-1", CancellationToken.None);

        // The snapshot holds version 42: deleting version 43 would lose the edit for good (a restore brings back 42).
        var snapshot = (await snapshotStore.GetAsync(Assert.Single(snapshotStore.Names), CancellationToken.None))!;
        Assert.Equal("42", snapshot.Objects.Single(item => item["kind"]!.GetValue<string>() == "Deployment")["metadata"]!["resourceVersion"]!.GetValue<string>());
        Assert.Equal(TeardownOutcome.Aborted, result.Outcome);
        await writer.DidNotReceiveWithAnyArgs().DeleteAsync(default, default!, default!, default!, default, default);
        Assert.Null((await store.GetAsync(Namespace, Name, CancellationToken.None))!.State.TeardownCompletedAt);
    }

    // ---------------------------------------------------------------- Named objects follow the sharing rule (item 5)

    [Fact]
    public async Task A_named_Service_shared_with_another_Deployment_is_kept_and_the_TornDown_event_says_why()
    {
        var lobby = Deployment(DeploymentUid) with { Name = "lobby", Uid = "lobby-uid" };
        reader.ListDeploymentsAsync(Namespace, null, Arg.Any<CancellationToken>()).Returns(_ => new[] { Deployment(DeploymentUid), lobby }.ToAsyncEnumerable());
        writer.ListObjectsAsync(ResourceKind.Service, Namespace, Arg.Any<CancellationToken>()).Returns(new[] { ServiceObject("shared", "shared-uid") });
        reader.GetDeploymentAsync(Namespace, Name, Arg.Any<CancellationToken>()).Returns(Deployment(DeploymentUid) with
        {
            Annotations = new Dictionary<string, string> { ["envoy-reaper/idle-timeout"] = "10m", ["envoy-reaper/action"] = "delete", ["envoy-reaper/service"] = "shared" },
        });
        var message = Message() with { Settings = Settings() with { ServiceName = "shared" } };

        var result = await Processor().ProcessAsync(message, "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.Deleted, result.Outcome);
        Assert.DoesNotContain("delete Service shared", actions);
        await events.Received(1).RecordAsync(
            Arg.Is<ClusterEvent>(recorded => recorded.Reason == "TornDown" && recorded.Message.Contains("Service shared", StringComparison.Ordinal) && recorded.Message.Contains("kept", StringComparison.Ordinal)),
            Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task A_teardown_past_the_hourly_limit_is_deferred_with_an_Event_and_nothing_is_snapshotted_or_deleted()
    {
        breakerOptions.MaxTeardownsPerHour = 1;
        await breakerStore.TryWriteAsync(new TeardownBreakerState([new TeardownSlot("another", clock.GetUtcNow())], 1000), "W/\"1\"", CancellationToken.None);

        var result = await Processor().ProcessAsync(Message(), "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.Deferred, result.Outcome);
        await AssertNothingTornDown();
        await events.Received(1).RecordAsync(Arg.Is<ClusterEvent>(e => e.Reason == "TeardownDeferred" && e.Message.Contains("MaxTeardownsPerHour")), Arg.Any<CancellationToken>());
        Assert.Null(written[^1].TeardownCompletedAt);
        Assert.Equal(RequestedAt, written[^1].TeardownRequestedAt); // the request stays: the stats check asks again after MessageMaxAge
        Assert.Equal(Verdict.Idle, written[^1].Verdict);
    }

    [Fact]
    public async Task An_open_breaker_defers_the_teardown()
    {
        await breakerStore.TryWriteAsync(new TeardownBreakerState([], 1000, OpenedAt: RequestedAt, OpenedBecause: "mass flip"), "W/\"1\"", CancellationToken.None);

        var result = await Processor().ProcessAsync(Message(), "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.Deferred, result.Outcome);
        Assert.Contains("open", result.Detail);
        await AssertNothingTornDown();
    }

    [Fact]
    public async Task Observe_and_dry_run_teardowns_take_no_slot_of_the_breaker()
    {
        options.DryRun = true;
        Assert.Equal(TeardownOutcome.Observed, (await Processor().ProcessAsync(Message(), "m-1", CancellationToken.None)).Outcome);

        Assert.Empty(breakerStore.State!.Slots);
    }

    [Fact]
    public async Task An_admitted_teardown_takes_one_slot_and_its_retry_keeps_it()
    {
        Assert.Equal(TeardownOutcome.Deleted, (await Processor().ProcessAsync(Message(), "m-1", CancellationToken.None)).Outcome);

        Assert.Equal("td-1", Assert.Single(breakerStore.State!.Slots).Request);
    }

    // ----- the fresh re-read: evicted pods and container restarts -----

    [Fact]
    public async Task An_evicted_pod_of_the_workload_does_not_stop_the_teardown()
    {
        var evicted = Pod("pod-evicted", ready: false) with { Ip = null, Phase = "Failed" };
        reader.ListPodsAsync(Namespace, null, Arg.Any<CancellationToken>()).Returns(_ => new[] { Pod("pod-a"), evicted }.ToAsyncEnumerable());

        var result = await Processor().ProcessAsync(Message(), "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.Deleted, result.Outcome);
    }

    [Fact]
    public async Task A_container_restart_since_the_idle_verdict_aborts_the_teardown()
    {
        var started = RequestedAt.AddHours(-2);
        var idle = IdleState() with { Pods = [new PodBaseline("pod-a", EnvoyStart, new Dictionary<string, ulong> { [Listener] = 100 }, Restarts: new ContainerRestarts(0, started))] };
        stateStore.GetAsync(Namespace, Name, Arg.Any<CancellationToken>()).Returns(new StoredState(idle, "etag-1"));
        var restarted = Pod("pod-a") with { Restarts = new ContainerRestarts(1, started) };
        reader.ListPodsAsync(Namespace, null, Arg.Any<CancellationToken>()).Returns(_ => new[] { restarted }.ToAsyncEnumerable());

        var result = await Processor().ProcessAsync(Message(), "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.Aborted, result.Outcome);
        Assert.Contains("restarted", result.Detail, StringComparison.Ordinal);
        await AssertNothingTornDown();
    }

    [Fact]
    public async Task An_Envoy_restart_seen_only_in_its_uptime_aborts_the_teardown()
    {
        var idle = IdleState() with { Pods = [new PodBaseline("pod-a", RequestedAt.AddSeconds(-50), new Dictionary<string, ulong> { [Listener] = 100 }, Uptime: 50, SampledAt: RequestedAt)] };
        stateStore.GetAsync(Namespace, Name, Arg.Any<CancellationToken>()).Returns(new StoredState(idle, "etag-1"));
        statsReader.ReadAsync(Arg.Any<StatsEndpoint>(), Arg.Any<CancellationToken>()).Returns(_ => new StatsReadResult.Success(
            new EnvoyStats(new Dictionary<string, ListenerStats> { [Listener] = new(0, 100) }, 5), 1000));

        var result = await Processor().ProcessAsync(Message(), "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.Aborted, result.Outcome);
        await AssertNothingTornDown();
    }

    [Fact]
    public async Task A_request_that_reaches_its_max_age_during_the_fresh_read_keeps_its_claim_and_is_marked_done()
    {
        clock.SetUtcNow(RequestedAt + options.MessageMaxAge - TimeSpan.FromSeconds(1));
        statsReader.ReadAsync(Arg.Any<StatsEndpoint>(), Arg.Any<CancellationToken>()).Returns(_ =>
        {
            clock.Advance(TimeSpan.FromSeconds(2)); // a slow read carries the request past Reaper:MessageMaxAge
            return new StatsReadResult.Success(
                new EnvoyStats(new Dictionary<string, ListenerStats> { [Listener] = new(0, 100) }, (ulong)(clock.GetUtcNow() - EnvoyStart).TotalSeconds), 1000);
        });

        var result = await Processor().ProcessAsync(Message(), "m-1", CancellationToken.None);

        Assert.Equal(TeardownOutcome.Deleted, result.Outcome);
        Assert.All(written, state => Assert.Equal(RequestedAt, state.TeardownRequestedAt));
        Assert.NotNull(written[^1].TeardownCompletedAt);
    }
}
