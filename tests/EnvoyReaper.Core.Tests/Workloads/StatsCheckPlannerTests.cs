using System.Text;
using EnvoyReaper.Cluster;
using EnvoyReaper.Messaging;
using EnvoyReaper.Workloads;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Core.Tests.Workloads;

public sealed class StatsCheckPlannerTests
{
    private static readonly DateTimeOffset T0 = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly Dictionary<string, string> TemplateLabels = new() { ["app"] = "web" };
    private static readonly WorkloadSettings Settings = new(1, TimeSpan.FromMinutes(10), ReaperAction.Delete, 15090, "/stats", null, null, null, null);

    /// <summary>What a queue message may hold: 64 KiB after Base64.</summary>
    private const int QueueMessageLimit = 64 * 1024;

    private readonly ReaperOptions options = new() { StatsCheckBatchSize = 10 };

    private static MonitoredWorkload Workload(string @namespace, string name, int pods, WorkloadSettings? settings = null)
    {
        var deployment = new DeploymentInfo(
            @namespace, name, Guid.NewGuid().ToString(), "42", T0.AddDays(-3), pods,
            new Dictionary<string, string> { ["envoy-reaper/enabled"] = "true" }, new Dictionary<string, string>(),
            LabelSelector.FromLabels(TemplateLabels), TemplateLabels);
        var podInfos = Enumerable.Range(0, pods).Select(i => new PodInfo(
            @namespace, $"{name}-5d8f9c7b6d-{i:x5}", Guid.NewGuid().ToString(), $"10.{i / 65536 % 256}.{i / 256 % 256}.{i % 256}", true, false,
            new Dictionary<string, string>(TemplateLabels) { ["pod-template-hash"] = "5d8f9c7b6d" }, $"{name}-5d8f9c7b6d", ["web", "envoy"], "Running",
            new ContainerRestarts(1, T0.AddHours(-1)))).ToList();
        return new MonitoredWorkload(deployment, OptInSource.Label, null, new SettingsResult(settings ?? Settings, []), podInfos);
    }

    private IReadOnlyList<ScheduledCheck> Plan(IEnumerable<MonitoredWorkload> workloads, List<DiscoveryProblem>? problems = null) =>
        new StatsCheckPlanner(Options.Create(options)).Plan(new DiscoveryResult(workloads.ToList(), []), T0, TimeSpan.FromMinutes(1), problems ?? []);

    private static int Base64Bytes(StatsCheckBatchMessage message) => (Encoding.UTF8.GetByteCount(ReaperJson.Serialize(message)) + 2) / 3 * 4;

    [Fact]
    public void A_message_carries_workloads_of_one_namespace_and_at_most_the_batch_size()
    {
        var workloads = Enumerable.Range(0, 25).Select(i => Workload("team-a", $"web-{i}", 3))
            .Concat(Enumerable.Range(0, 3).Select(i => Workload("team-b", $"api-{i}", 3)));

        var checks = Plan(workloads);

        Assert.Equal([10, 10, 5, 3], checks.Select(check => check.Message.Workloads.Count));
        Assert.Equal(["team-a", "team-a", "team-a", "team-b"], checks.Select(check => check.Message.Namespace));
        Assert.All(checks, check => Assert.Equal(StatsCheckBatchMessage.CurrentVersion, check.Message.Version));
        Assert.Equal(28, checks.SelectMany(check => check.Message.Workloads).Select(workload => workload.Deployment).Distinct().Count());
        Assert.Equal(4, checks.Select(check => check.Message.Id).Distinct().Count());
    }

    [Fact]
    public void Workloads_with_large_pod_lists_are_cut_into_more_messages_each_within_the_queue_limit_after_Base64()
    {
        options.StatsCheckBatchSize = 100;
        var workloads = Enumerable.Range(0, 40).Select(i => Workload("team-a", $"big-{i}", 60)).ToList();

        var checks = Plan(workloads);

        Assert.True(checks.Count > 1, "60 pods a workload: 100 of them cannot share one message");
        Assert.All(checks, check =>
        {
            Assert.True(Encoding.UTF8.GetByteCount(ReaperJson.Serialize(check.Message)) <= StatsCheckPlanner.MaxMessageJsonBytes);
            Assert.True(Base64Bytes(check.Message) <= QueueMessageLimit);
            Assert.True(MessageReader.TryReadStatsCheck(ReaperJson.Serialize(check.Message), out _, out var error), error);
        });
        Assert.Equal(workloads.Select(workload => workload.Deployment.Name), checks.SelectMany(check => check.Message.Workloads).Select(workload => workload.Deployment));
    }

    [Fact]
    public void A_workload_too_large_for_a_message_of_its_own_is_reported_and_its_namespace_neighbours_still_checked()
    {
        var problems = new List<DiscoveryProblem>();

        var checks = Plan([Workload("team-a", "small-1", 1), Workload("team-a", "huge", 600), Workload("team-a", "small-2", 1)], problems);

        var check = Assert.Single(checks);
        Assert.Equal(["small-1", "small-2"], check.Message.Workloads.Select(workload => workload.Deployment));
        Assert.Contains("do not fit", Assert.Single(problems).Message);
    }

    [Fact]
    public void Checks_spread_over_the_period_are_batched_by_the_moment_they_are_due()
    {
        var every20s = Settings with { CheckInterval = TimeSpan.FromSeconds(20) };

        var checks = Plan([Workload("team-a", "fast-1", 1, every20s), Workload("team-a", "fast-2", 1, every20s), Workload("team-a", "slow", 1)]);

        Assert.Equal([TimeSpan.Zero, TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(40)], checks.Select(check => check.Delay));
        Assert.Equal(3, checks[0].Message.Workloads.Count);
        Assert.All(checks.Skip(1), check => Assert.Equal(["fast-1", "fast-2"], check.Message.Workloads.Select(workload => workload.Deployment)));
        Assert.All(checks, check => Assert.Equal(T0 + check.Delay, check.Message.DueAt));
    }
}
