using EnvoyReaper.Cluster;
using EnvoyReaper.Messaging;
using EnvoyReaper.Workloads;

namespace EnvoyReaper.Core.Tests.Workloads;

public sealed class MonitoredWorkloadTests
{
    private static readonly DateTimeOffset T0 = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly Dictionary<string, string> TemplateLabels = new() { ["app"] = "web" };

    private static readonly DeploymentInfo Deployment = new(
        "team-a", "web", "dep-uid", "42", T0.AddDays(-3), 2,
        new Dictionary<string, string> { ["envoy-reaper/enabled"] = "true" }, new Dictionary<string, string>(),
        LabelSelector.FromLabels(TemplateLabels), TemplateLabels);

    private static readonly WorkloadSettings Settings = new(1, TimeSpan.FromMinutes(10), ReaperAction.Delete, 15090, "/stats", null, null, null, null);

    private static PodInfo Pod(string uid, string phase = "Running", bool ready = true, string? ip = "10.0.0.7", ContainerRestarts? restarts = null) => new(
        "team-a", $"web-5d8f-{uid}", uid, ip, ready, false,
        new Dictionary<string, string>(TemplateLabels) { ["pod-template-hash"] = "5d8f" }, "web-5d8f", ["web", "envoy"], phase, restarts);

    private static MonitoredWorkload Workload(params PodInfo[] pods) =>
        new(Deployment, OptInSource.Label, null, new SettingsResult(Settings, []), pods);

    [Theory]
    [InlineData("Failed")]
    [InlineData("Succeeded")]
    public void Finished_pods_are_neither_ready_nor_counted_as_not_ready(string phase)
    {
        // An evicted pod: phase Failed, reason Evicted, its IP gone, Ready False; Kubernetes keeps it until GC.
        var workload = Workload(Pod("pod-a"), Pod("pod-evicted", phase, ready: false, ip: null), Pod("pod-done", phase, ready: true));

        Assert.Equal(["pod-a"], workload.ReadyPods.Select(pod => pod.Uid));
        Assert.Equal(0, workload.NotReadyPods);
    }

    [Fact]
    public void Pending_and_terminating_pods_still_count_as_not_ready()
    {
        var terminating = Pod("pod-t") with { Terminating = true };
        var workload = Workload(Pod("pod-a"), Pod("pod-p", "Pending", ready: false, ip: null), terminating);

        Assert.Equal(["pod-a"], workload.ReadyPods.Select(pod => pod.Uid));
        Assert.Equal(2, workload.NotReadyPods);
    }

    [Fact]
    public void A_stats_check_message_leaves_evicted_pods_out_and_carries_the_container_restarts()
    {
        var restarts = new ContainerRestarts(2, T0.AddMinutes(-7));
        var workload = Workload(Pod("pod-a", restarts: restarts), Pod("pod-evicted", "Failed", ready: false, ip: null));

        var message = StatsCheckPlanner.ToCheck(workload);

        var target = Assert.Single(message.Pods);
        Assert.Equal("pod-a", target.Uid);
        Assert.Equal(restarts, target.Restarts);
        Assert.Equal(0, message.NotReadyPods);
    }

    [Fact]
    public void A_stats_check_message_round_trips_the_container_restarts_and_reads_older_messages_without_them()
    {
        var restarts = new ContainerRestarts(1, T0.AddMinutes(-1));
        var check = StatsCheckPlanner.ToCheck(Workload(Pod("pod-a", restarts: restarts)));
        var message = new StatsCheckBatchMessage(StatsCheckBatchMessage.CurrentVersion, "c1", T0, "team-a", [check]);

        Assert.True(MessageReader.TryReadStatsCheck(ReaperJson.Serialize(message), out var read, out var error), error);
        Assert.Equal(restarts, Assert.Single(Assert.Single(read.Workloads).Pods).Restarts);

        var older = ReaperJson.Serialize(message with { Workloads = [check with { Pods = [] }] }).Replace("\"pods\":[]",
            "\"pods\":[{\"name\":\"web-5d8f-pod-a\",\"uid\":\"pod-a\",\"ip\":\"10.0.0.7\",\"istioProxy\":false}]", StringComparison.Ordinal);
        Assert.True(MessageReader.TryReadStatsCheck(older, out var oldRead, out error), error);
        var oldPods = Assert.Single(oldRead.Workloads).Pods;
        Assert.Null(Assert.Single(oldPods).Restarts);
    }
}
