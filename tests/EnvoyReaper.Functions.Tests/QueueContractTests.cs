using System.Text;
using System.Text.Json.Nodes;
using EnvoyReaper.Functions.Tests.Support;
using EnvoyReaper.Messaging;
using EnvoyReaper.TestSupport.Envoy;
using EnvoyReaper.TestSupport.Kubernetes;
using EnvoyReaper.TestSupport.Storage;

namespace EnvoyReaper.Functions.Tests;

[Collection(AzuriteStorage.CollectionName)]
public sealed class QueueContractTests
{
    [Fact]
    public async Task What_the_timer_enqueues_is_Base64_JSON_that_the_queue_trigger_decoding_accepts()
    {
        await using var host = await ReaperTestHost.StartAsync();
        await using var envoys = await FakeEnvoyFleet.StartAsync(2);
        host.Api.SeedWorkload("games", "arena", envoys.Pods.Select(pod => pod.Ip).ToList(), new Dictionary<string, string> { ["envoy-reaper/stats-port"] = envoys.Port.ToString() });

        await host.RunTimerAsync();

        var raw = Assert.Single(await AzuriteStorage.PeekRawAsync(QueueNames.StatsCheck));
        var text = Encoding.UTF8.GetString(Convert.FromBase64String(raw.Body.ToString()));
        var json = JsonNode.Parse(text)!;
        Assert.Equal(2, json["version"]!.GetValue<int>());
        Assert.True(MessageReader.TryRead<StatsCheckBatchMessage>(text, StatsCheckBatchMessage.CurrentVersion, out var message, out var error), error);
        Assert.Equal("games", message.Namespace);
        var workload = Assert.Single(message.Workloads);
        Assert.Equal("arena", workload.Deployment);
        Assert.Equal(2, workload.Pods.Count);
        Assert.All(workload.Pods, pod => Assert.Contains(pod.Ip, envoys.Pods.Select(envoy => envoy.Ip)));
        Assert.True(raw.ExpiresOn - raw.InsertedOn <= TimeSpan.FromMinutes(6), "a check message must expire instead of piling up");
    }

    [Theory]
    [InlineData("not json at all")]
    [InlineData("{\"version\": 99, \"namespace\": \"games\"}")]
    [InlineData("{\"namespace\": \"games\", \"deployment\": \"arena\"}")]
    [InlineData("{\"version\": 1, \"namespace\": \"games\"}")]
    [InlineData("{\"version\": 3, \"id\": \"c1\", \"dueAt\": \"2026-11-25T12:00:00Z\", \"namespace\": \"games\", \"workloads\": []}")]
    [InlineData("{\"version\": 2, \"id\": \"c1\", \"dueAt\": \"2026-11-25T12:00:00Z\", \"namespace\": \"games\", \"workloads\": []}")]
    [InlineData("{\"version\": 2, \"namespace\": \"games\", \"deployment\": \"arena\"}")]
    [InlineData("")]
    public async Task A_malformed_stats_check_goes_to_the_poison_queue_with_its_id_logged_and_no_cluster_write(string body)
    {
        await using var host = await ReaperTestHost.StartAsync();
        host.Api.ResetRecording();

        await host.Create<CheckStats>().Run(ReaperTestHost.Delivery("msg-123", body), CancellationToken.None);

        var poisoned = Assert.Single(await AzuriteStorage.PeekRawAsync(QueueNames.StatsCheck + "-poison"));
        Assert.Equal(body, Encoding.UTF8.GetString(Convert.FromBase64String(poisoned.Body.ToString())));
        Assert.Contains(host.Logs, line => line.Contains("msg-123") && line.Contains("poison"));
        Assert.Equal(0, host.Api.WriteCount);
    }

    [Theory]
    [InlineData("{\"version\": 2, \"namespace\": \"games\", \"deployment\": \"arena\"}")]
    [InlineData("{\"version\": 1, \"namespace\": \"games\", \"deployment\": \"arena\", \"settings\": {\"action\": \"destroy\"}}")]
    [InlineData("[1,2,3]")]
    public async Task A_malformed_teardown_goes_to_the_poison_queue_and_deletes_nothing(string body)
    {
        await using var host = await ReaperTestHost.StartAsync();
        await using var envoys = await FakeEnvoyFleet.StartAsync(1);
        host.Api.SeedWorkload("games", "arena", [envoys.Pods[0].Ip]);
        host.Api.ResetRecording();

        await host.Create<TearDown>().Run(ReaperTestHost.Delivery("msg-456", body), CancellationToken.None);

        Assert.Single(await AzuriteStorage.PeekRawAsync(QueueNames.Teardown + "-poison"));
        Assert.Contains(host.Logs, line => line.Contains("msg-456"));
        Assert.Equal(0, host.Api.WriteCount);
        Assert.True(host.Api.Exists<k8s.Models.V1Deployment>("games", "arena"));
    }

    [Theory]
    [InlineData("games/arena")]
    [InlineData("games?x=1")]
    [InlineData("games#x")]
    public async Task A_stats_check_whose_namespace_is_no_Kubernetes_name_is_poisoned_at_once_before_any_storage_or_API_call(string @namespace)
    {
        await using var host = await ReaperTestHost.StartAsync();
        host.Api.ResetRecording();
        var body = ReaperJson.Serialize(new StatsCheckMessage(
            StatsCheckMessage.Version1, "c0ffee", host.Time.GetUtcNow(), @namespace, "arena", Guid.NewGuid().ToString(), host.Time.GetUtcNow().AddDays(-1),
            OptInSource.Label, null, null, ["a note"], [new PodTarget("arena-5d8f-abcde", Guid.NewGuid().ToString(), "127.0.0.1", false)], 0));

        await host.Create<CheckStats>().Run(ReaperTestHost.Delivery("msg-789", body), CancellationToken.None);

        var poisoned = Assert.Single(await AzuriteStorage.PeekRawAsync(QueueNames.StatsCheck + "-poison"));
        Assert.Equal(body, Encoding.UTF8.GetString(Convert.FromBase64String(poisoned.Body.ToString())));
        Assert.Contains(host.Logs, line => line.Contains("msg-789") && line.Contains("'namespace'") && line.Contains("DNS-1123"));
        Assert.Empty(host.Api.Requests);
        Assert.False(await TableExistsAsync(host.StateTable), "nothing may have been read or written in the state table");
    }

    [Fact]
    public async Task A_batch_with_one_workload_whose_name_is_no_Kubernetes_name_is_poisoned_whole_before_any_storage_or_API_call()
    {
        await using var host = await ReaperTestHost.StartAsync();
        await using var envoys = await FakeEnvoyFleet.StartAsync(1);
        host.Api.SeedWorkload("games", "arena", [envoys.Pods[0].Ip]);
        host.Api.ResetRecording();
        WorkloadCheck Check(string name) => new(name, Guid.NewGuid().ToString(), host.Time.GetUtcNow().AddDays(-1), OptInSource.Label, null,
            new Workloads.WorkloadSettings(0, TimeSpan.FromMinutes(1), Workloads.ReaperAction.Delete, envoys.Port, "/stats", null, null, null, null), null,
            [new PodTarget($"{name}-5d8f-abcde", Guid.NewGuid().ToString(), envoys.Pods[0].Ip, false)], 0);
        var body = ReaperJson.Serialize(new StatsCheckBatchMessage(
            StatsCheckBatchMessage.CurrentVersion, "c0ffee", host.Time.GetUtcNow(), "games", [Check("arena"), Check("arena/../../kube-system")]));

        await host.Create<CheckStats>().Run(ReaperTestHost.Delivery("msg-791", body), CancellationToken.None);

        Assert.Single(await AzuriteStorage.PeekRawAsync(QueueNames.StatsCheck + "-poison"));
        Assert.Contains(host.Logs, line => line.Contains("msg-791") && line.Contains("'workloads[1].deployment'"));
        Assert.Empty(host.Api.Requests);
        Assert.Equal(0, envoys.Pods[0].RequestCount);
        Assert.False(await TableExistsAsync(host.StateTable), "nothing may have been read or written in the state table");
        Assert.Empty(await AzuriteStorage.PeekRawAsync(QueueNames.Teardown));
    }

    [Fact]
    public async Task A_teardown_whose_names_are_no_Kubernetes_names_is_poisoned_at_once_before_any_storage_or_API_call()
    {
        await using var host = await ReaperTestHost.StartAsync();
        await using var envoys = await FakeEnvoyFleet.StartAsync(1);
        host.Api.SeedWorkload("games", "arena", [envoys.Pods[0].Ip]);
        host.Api.ResetRecording();
        var body = ReaperJson.Serialize(new TeardownMessage(
            TeardownMessage.CurrentVersion, "td-9", host.Time.GetUtcNow(), "games", "arena", Guid.NewGuid().ToString(), OptInSource.Label, null,
            new Workloads.WorkloadSettings(1, TimeSpan.FromMinutes(10), Workloads.ReaperAction.Delete, envoys.Port, "/stats", null, "../kube-system/dns", null, null),
            host.Time.GetUtcNow().AddMinutes(-15)));

        await host.Create<TearDown>().Run(ReaperTestHost.Delivery("msg-790", body), CancellationToken.None);

        Assert.Single(await AzuriteStorage.PeekRawAsync(QueueNames.Teardown + "-poison"));
        Assert.Contains(host.Logs, line => line.Contains("msg-790") && line.Contains("'settings.serviceName'"));
        Assert.Empty(host.Api.Requests);
        Assert.False(await TableExistsAsync(host.StateTable), "nothing may have been read or written in the state table");
        Assert.False(await AzuriteStorage.Blobs().GetBlobContainerClient(host.SnapshotContainer).ExistsAsync(), "no snapshot may have been written");
    }

    [Fact]
    public async Task A_refused_message_is_logged_with_the_queues_message_id_even_when_its_body_has_an_id_field()
    {
        await using var host = await ReaperTestHost.StartAsync();
        const string body = """{"version": 99, "ID": "forged-id", "namespace": "games"}""";
        await AzuriteStorage.Queues().GetQueueClient(QueueNames.StatsCheck).SendMessageAsync(body);

        Assert.Equal(1, await host.DeliverStatsChecksAsync());

        var line = Assert.Single(host.Logs, line => line.Contains("poison", StringComparison.Ordinal));
        Assert.DoesNotContain("forged-id", line, StringComparison.Ordinal);
        var queueId = line.Split(' ').Single(word => Guid.TryParse(word, out _));
        Assert.Contains($"Message {queueId} on stats-check", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_checked_workload_is_logged_with_the_queues_message_id_not_the_body_id()
    {
        await using var host = await ReaperTestHost.StartAsync();
        await using var envoys = await FakeEnvoyFleet.StartAsync(1);
        host.Api.SeedWorkload("games", "arena", [envoys.Pods[0].Ip], new Dictionary<string, string> { ["envoy-reaper/stats-port"] = envoys.Port.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        await host.RunTimerAsync();
        var raw = Assert.Single(await AzuriteStorage.PeekRawAsync(QueueNames.StatsCheck));
        var bodyId = JsonNode.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(raw.Body.ToString())))!["id"]!.GetValue<string>();

        Assert.Equal(1, await host.DeliverStatsChecksAsync());

        var verdict = Assert.Single(host.Logs, line => line.Contains("games/arena", StringComparison.Ordinal) && line.Contains(raw.MessageId, StringComparison.Ordinal));
        Assert.DoesNotContain(bodyId, verdict, StringComparison.Ordinal);
    }

    private static async Task<bool> TableExistsAsync(string name)
    {
        await foreach (var table in AzuriteStorage.Tables().QueryAsync(table => table.Name == name))
        {
            return true;
        }

        return false;
    }
}
