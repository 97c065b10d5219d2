using System.Text.Json.Nodes;
using EnvoyReaper.Messaging;
using EnvoyReaper.Workloads;

namespace EnvoyReaper.Core.Tests.Messaging;

public sealed class StatsCheckBatchMessageTests
{
    private static readonly DateTimeOffset DueAt = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly WorkloadSettings Settings = new(1, TimeSpan.FromMinutes(10), ReaperAction.Delete, 15090, "/stats", null, null, null, null);

    private static WorkloadCheck Workload(string name) => new(
        name, Guid.NewGuid().ToString(), DueAt.AddDays(-3), OptInSource.Label, null, Settings, null,
        [new PodTarget($"{name}-5d8f-abcde", Guid.NewGuid().ToString(), "10.0.0.7", false)], 0);

    private static StatsCheckBatchMessage Batch(params WorkloadCheck[] workloads) =>
        new(StatsCheckBatchMessage.CurrentVersion, "0f8e3c", DueAt, "team-a", workloads);

    [Fact]
    public void A_batch_round_trips_with_every_workload()
    {
        var batch = Batch(Workload("web"), Workload("api"));

        Assert.True(MessageReader.TryReadStatsCheck(ReaperJson.Serialize(batch), out var read, out var error), error);

        Assert.Equal(2, read.Version);
        Assert.Equal(batch.Namespace, read.Namespace);
        Assert.Equal(batch.DueAt, read.DueAt);
        Assert.Equal(["web", "api"], read.Workloads.Select(workload => workload.Deployment));
        Assert.Equal(batch.Workloads[1].Pods, read.Workloads[1].Pods);
    }

    [Fact]
    public void A_version_1_message_queued_before_an_upgrade_is_read_as_a_batch_of_one()
    {
        var single = new StatsCheckMessage(StatsCheckMessage.Version1, "1a2b3c", DueAt, "team-a", "web", Guid.NewGuid().ToString(), DueAt.AddDays(-3),
            OptInSource.Monitor, "web-monitor", Settings, null, [new PodTarget("web-5d8f-abcde", Guid.NewGuid().ToString(), "10.0.0.7", true)], 1, "platform");

        Assert.True(MessageReader.TryReadStatsCheck(ReaperJson.Serialize(single), out var read, out var error), error);

        Assert.Equal(("1a2b3c", DueAt, "team-a"), (read.Id, read.DueAt, read.Namespace));
        var workload = Assert.Single(read.Workloads);
        Assert.Equal(("web", single.DeploymentUid, OptInSource.Monitor, "web-monitor", "platform", 1), (workload.Deployment, workload.DeploymentUid, workload.Source, workload.Monitor, workload.MonitorNamespace, workload.NotReadyPods));
        Assert.Equal(single.Pods, workload.Pods);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(99)]
    public void A_stats_check_of_an_unknown_version_is_refused(int version)
    {
        var node = JsonNode.Parse(ReaperJson.Serialize(Batch(Workload("web"))))!;
        node["version"] = version;

        Assert.False(MessageReader.TryReadStatsCheck(node.ToJsonString(), out var read, out var error));
        Assert.Null(read);
        Assert.Contains("version", error);
    }

    [Fact]
    public void A_version_2_body_labelled_version_1_is_refused()
    {
        var node = JsonNode.Parse(ReaperJson.Serialize(Batch(Workload("web"))))!;
        node["version"] = 1;

        Assert.False(MessageReader.TryReadStatsCheck(node.ToJsonString(), out _, out _));
    }

    public static TheoryData<string, string, string> BadBatches => new()
    {
        { "a deployment that is no name", "workloads[1].deployment", "../kube-system" },
        { "a pod IP that is no IP", "workloads[1].pods[0].ip", "10.0.0.7/metrics?x=" },
        { "a service that is no name", "workloads[1].settings.serviceName", "../dns" },
        { "a uid that is no uid", "workloads[1].deploymentUid", "a/b" },
    };

    [Theory]
    [MemberData(nameof(BadBatches))]
    public void One_invalid_field_in_one_workload_refuses_the_whole_message(string description, string field, string value)
    {
        var node = JsonNode.Parse(ReaperJson.Serialize(Batch(Workload("web"), Workload("api"), Workload("db"))))!;
        var path = field.Replace("[", ".", StringComparison.Ordinal).Replace("]", string.Empty, StringComparison.Ordinal).Split('.');
        var target = node;
        foreach (var step in path[..^1])
        {
            target = int.TryParse(step, out var index) ? target[index]! : target[step]!;
        }

        target[path[^1]] = value;

        Assert.False(MessageReader.TryReadStatsCheck(node.ToJsonString(), out var read, out var error), description);
        Assert.Null(read);
        Assert.Contains($"'{field}'", error);
    }

    [Fact]
    public void A_batch_without_workloads_is_refused()
    {
        Assert.False(MessageReader.TryReadStatsCheck(ReaperJson.Serialize(Batch()), out _, out var error));
        Assert.Contains("workloads", error);
    }

    [Fact]
    public void A_batch_naming_a_workload_twice_is_refused()
    {
        Assert.False(MessageReader.TryReadStatsCheck(ReaperJson.Serialize(Batch(Workload("web"), Workload("api"), Workload("web"))), out _, out var error));
        Assert.Contains("more than once", error);
    }

    [Fact]
    public void A_batch_whose_namespace_is_no_name_is_refused()
    {
        Assert.False(MessageReader.TryReadStatsCheck(ReaperJson.Serialize(Batch(Workload("web")) with { Namespace = "team-a/x" }), out _, out var error));
        Assert.Contains("'namespace'", error);
    }
}
