using EnvoyReaper.Functions.Tests.Support;
using EnvoyReaper.Messaging;
using EnvoyReaper.TestSupport.Envoy;
using EnvoyReaper.TestSupport.Kubernetes;
using EnvoyReaper.TestSupport.Storage;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Azure.Functions.Worker;

namespace EnvoyReaper.Functions.Tests;

[Collection(AzuriteStorage.CollectionName)]
public sealed class DiscoveryTests
{
    [Fact]
    public async Task The_timer_costs_API_requests_per_page_not_per_workload()
    {
        await using var host = await ReaperTestHost.StartAsync(new() { ["Reaper:ListPageSize"] = "10", ["Reaper:PodListPageSize"] = "10" });
        await using var envoys = await FakeEnvoyFleet.StartAsync(2);
        var ips = envoys.Pods.Select(pod => pod.Ip).ToList();
        foreach (var ns in new[] { "team-a", "team-b", "team-c" })
        {
            for (var i = 0; i < 10; i++)
            {
                host.Api.SeedWorkload(ns, $"game-{i}", ips);
            }

            host.Api.SeedWorkload(ns, "not-monitored", ips, labelOptIn: false);
        }

        host.Api.ResetRecording();
        await host.RunTimerAsync();

        var requests = host.Api.Requests;
        Assert.All(requests, request => Assert.Equal("GET", request.Method));
        Assert.All(requests, request => Assert.Contains("limit=10", request.Query));
        // 30 labelled Deployments: 3 pages; EnvoyMonitors: 1; 22 pods in each of 3 namespaces: 3 pages each.
        Assert.Equal(3, requests.Count(request => request.Path == "/apis/apps/v1/deployments"));
        Assert.Equal(1, requests.Count(request => request.Path.EndsWith("/envoymonitors", StringComparison.Ordinal)));
        Assert.Equal(9, requests.Count(request => request.Path.EndsWith("/pods", StringComparison.Ordinal)));
        // Wake on traffic: the parked EndpointSlices, one list per cycle (none parked here: not the waker's too).
        Assert.Equal(1, requests.Count(request => request.Path == "/apis/discovery.k8s.io/v1/endpointslices"));
        Assert.Equal(14, requests.Count);

        // One message per namespace (10 workloads each, within the default batch size), each naming its own workloads.
        var batches = (await AzuriteStorage.PeekRawAsync(QueueNames.StatsCheck))
            .Select(raw => MessageReader.TryReadStatsCheck(System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(raw.Body.ToString())), out var batch, out _) ? batch : null)
            .ToList();
        Assert.Equal(3, batches.Count);
        Assert.Equal(["team-a", "team-b", "team-c"], batches.Select(batch => batch!.Namespace).Order());
        Assert.All(batches, batch => Assert.Equal(10, batch!.Workloads.Count));
    }

    [Fact]
    public async Task A_namespaces_checks_are_queued_while_the_next_namespace_is_listed()
    {
        await using var host = await ReaperTestHost.StartAsync();
        await using var envoys = await FakeEnvoyFleet.StartAsync(1);
        foreach (var ns in new[] { "team-a", "team-b", "team-c" })
        {
            host.Api.SeedWorkload(ns, "game", [envoys.Pods[0].Ip]);
        }

        var queuedBeforeTheLastList = -1;
        host.Api.BeforeNext("GET", "/namespaces/team-c/pods", async () => queuedBeforeTheLastList = (await AzuriteStorage.PeekRawAsync(QueueNames.StatsCheck)).Count);

        await host.RunTimerAsync();

        Assert.True(queuedBeforeTheLastList >= 1, $"{queuedBeforeTheLastList} stats-check messages were queued before team-c's pods were listed");
        Assert.Equal(3, (await AzuriteStorage.PeekRawAsync(QueueNames.StatsCheck)).Count);
    }

    [Fact]
    public async Task A_pod_list_that_fails_part_way_fails_the_cycle_and_leaves_the_namespaces_listed_before_it_queued()
    {
        await using var host = await ReaperTestHost.StartAsync();
        await using var envoys = await FakeEnvoyFleet.StartAsync(1);
        foreach (var ns in new[] { "team-a", "team-b", "team-c" })
        {
            host.Api.SeedWorkload(ns, "game", [envoys.Pods[0].Ip]);
        }

        host.Api.FailNext("GET", "/namespaces/team-c/pods", 500, "InternalError");

        await Assert.ThrowsAnyAsync<Exception>(() => host.RunTimerAsync());

        var namespaces = (await AzuriteStorage.PeekRawAsync(QueueNames.StatsCheck))
            .Select(raw => MessageReader.TryReadStatsCheck(System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(raw.Body.ToString())), out var batch, out _) ? batch.Namespace : null)
            .Order();
        Assert.Equal(["team-a", "team-b"], namespaces);
    }

    [Fact]
    public async Task The_batch_size_setting_caps_the_workloads_in_one_message()
    {
        await using var host = await ReaperTestHost.StartAsync(new() { ["Reaper:StatsCheckBatchSize"] = "4" });
        await using var envoys = await FakeEnvoyFleet.StartAsync(1);
        for (var i = 0; i < 10; i++)
        {
            host.Api.SeedWorkload("team-a", $"game-{i}", [envoys.Pods[0].Ip]);
        }

        await host.RunTimerAsync();

        var sizes = (await AzuriteStorage.PeekRawAsync(QueueNames.StatsCheck))
            .Select(raw => MessageReader.TryReadStatsCheck(System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(raw.Body.ToString())), out var batch, out _) ? batch.Workloads.Count : 0)
            .Order();
        Assert.Equal([2, 4, 4], sizes);
    }

    [Fact]
    public async Task A_check_interval_shorter_than_the_timer_period_queues_delayed_checks_across_the_period()
    {
        await using var host = await ReaperTestHost.StartAsync();
        await using var envoys = await FakeEnvoyFleet.StartAsync(1);
        host.Api.SeedWorkload("default", "my-app", [envoys.Pods[0].Ip], labelOptIn: false);
        host.Api.SeedMonitor("default", "my-app-monitor", new JsonObject
        {
            ["deploymentName"] = "my-app",
            ["serviceName"] = "my-app-service",
            ["ingressName"] = "my-app-ingress",
            ["checkInterval"] = "10s",
            ["minConnections"] = 1,
        });

        await host.RunTimerAsync();

        var queue = AzuriteStorage.Queues().GetQueueClient(QueueNames.StatsCheck);
        Assert.Equal(6, (await queue.GetPropertiesAsync()).Value.ApproximateMessagesCount); // 0s, 10s, ... 50s
        Assert.Single(await AzuriteStorage.PeekRawAsync(QueueNames.StatsCheck)); // only the first is visible now
    }

    [Fact]
    public async Task The_period_since_the_last_run_is_measured_from_the_hosts_local_time_with_its_offset()
    {
        await using var host = await ReaperTestHost.StartAsync();
        await using var envoys = await FakeEnvoyFleet.StartAsync(1);
        host.Api.SeedWorkload("default", "my-app", [envoys.Pods[0].Ip], new Dictionary<string, string> { ["envoy-reaper/check-interval"] = "30s" });
        // The host serializes ScheduleStatus with its local offset (host clock 12:00Z; last run two minutes earlier),
        // and the worker reads it back as a local DateTime: the process runs in the host's zone, here not UTC.
        const string hostPayload = """
            {"Schedule":{"AdjustForDST":true},"ScheduleStatus":{"Last":"2026-11-25T12:58:00.0046343+01:00","Next":"2026-11-25T13:00:00+01:00","LastUpdated":"2026-11-25T12:58:00.0046343+01:00"},"IsPastDue":false}
            """;
        TimerInfo timer;
        using (LocalTimeZone.Set("Europe/Berlin"))
        {
            timer = JsonSerializer.Deserialize<TimerInfo>(hostPayload, new JsonSerializerOptions { PropertyNameCaseInsensitive = true })!;
            Assert.Equal(DateTimeKind.Local, timer.ScheduleStatus!.Last.Kind);
            Assert.Equal(12, timer.ScheduleStatus.Last.Hour);

            await host.RunTimerAsync(timer);
        }

        var queue = AzuriteStorage.Queues().GetQueueClient(QueueNames.StatsCheck);
        Assert.Equal(4, (await queue.GetPropertiesAsync()).Value.ApproximateMessagesCount); // 0s, 30s, 60s, 90s across the measured two minutes
    }

    [Fact]
    public async Task A_throttled_deployment_list_delays_the_cycle_instead_of_losing_it()
    {
        await using var host = await ReaperTestHost.StartAsync();
        await using var envoys = await FakeEnvoyFleet.StartAsync(1);
        host.Api.SeedWorkload("default", "my-app", [envoys.Pods[0].Ip]);
        host.Api.FailNext("GET", "deployments", 429, "TooManyRequests", times: 2, retryAfter: TimeSpan.FromSeconds(2));

        await WhileTheClockMovesAsync(host, host.RunTimerAsync());

        var queue = AzuriteStorage.Queues().GetQueueClient(QueueNames.StatsCheck);
        Assert.Equal(1, (await queue.GetPropertiesAsync()).Value.ApproximateMessagesCount);
        Assert.Equal([429, 429, 200], host.Api.Requests.Where(request => request.Path.EndsWith("/deployments", StringComparison.Ordinal)).Select(request => request.StatusCode));
        Assert.Equal(2, host.Logs.Count(line => line.Contains("throttled (429)", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task An_API_server_that_keeps_throttling_fails_the_cycle_after_the_bound_with_a_clear_log_line()
    {
        await using var host = await ReaperTestHost.StartAsync(new() { ["Kubernetes:ThrottleRetries"] = "2" });
        await using var envoys = await FakeEnvoyFleet.StartAsync(1);
        host.Api.SeedWorkload("default", "my-app", [envoys.Pods[0].Ip]);
        host.Api.FailNext("GET", "deployments", 429, "TooManyRequests", times: 50, retryAfter: TimeSpan.FromSeconds(1));

        await Assert.ThrowsAsync<k8s.Autorest.HttpOperationException>(() => WhileTheClockMovesAsync(host, host.RunTimerAsync()));

        Assert.Empty(await AzuriteStorage.PeekRawAsync(QueueNames.StatsCheck));
        Assert.Equal(3, host.Api.Requests.Count(request => request.Path.EndsWith("/deployments", StringComparison.Ordinal)));
        Assert.Contains(host.Logs, line => line.StartsWith("Warning", StringComparison.Ordinal) && line.Contains("still throttled (429) after 2 retries", StringComparison.Ordinal) && line.Contains("/apis/apps/v1/deployments", StringComparison.Ordinal));
    }

    /// <summary>Moves the fake clock a second at a time while <paramref name="work"/> waits on it (bounded).</summary>
    private static async Task WhileTheClockMovesAsync(ReaperTestHost host, Task work)
    {
        for (var step = 0; step < 200 && !work.IsCompleted; step++)
        {
            await Task.Delay(10);
            host.Time.Advance(TimeSpan.FromSeconds(1));
        }

        await work.WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task An_EnvoyMonitor_naming_a_missing_Deployment_is_logged_and_queues_nothing()
    {
        await using var host = await ReaperTestHost.StartAsync();
        host.Api.SeedMonitor("default", "orphan", new JsonObject { ["deploymentName"] = "gone" });

        await host.RunTimerAsync();

        Assert.Empty(await AzuriteStorage.PeekRawAsync(QueueNames.StatsCheck));
        Assert.Contains(host.Logs, line => line.Contains("orphan") && line.Contains("gone") && line.Contains("not found"));
    }

    [Fact]
    public async Task A_Deployment_scaled_to_zero_is_not_checked()
    {
        await using var host = await ReaperTestHost.StartAsync();
        host.Api.SeedWorkload("default", "parked", []);

        await host.RunTimerAsync();

        Assert.Empty(await AzuriteStorage.PeekRawAsync(QueueNames.StatsCheck));
    }

    [Fact]
    public async Task An_EnvoyMonitor_naming_another_namespace_is_refused_unless_allowed()
    {
        await using var host = await ReaperTestHost.StartAsync();
        await using var envoys = await FakeEnvoyFleet.StartAsync(1);
        host.Api.SeedWorkload("victim", "prod-db", [envoys.Pods[0].Ip], labelOptIn: false);
        host.Api.SeedMonitor("attacker", "reach-over", new JsonObject { ["deploymentName"] = "prod-db", ["namespace"] = "victim" });

        await host.RunTimerAsync();

        Assert.Empty(await AzuriteStorage.PeekRawAsync(QueueNames.StatsCheck));
        Assert.Contains(host.Logs, line => line.Contains("reach-over") && line.Contains("AllowCrossNamespaceMonitors"));
    }

    [Fact]
    public async Task A_cross_namespace_EnvoyMonitor_works_when_the_operator_allows_it()
    {
        await using var host = await ReaperTestHost.StartAsync(new() { ["Reaper:AllowCrossNamespaceMonitors"] = "true" });
        await using var envoys = await FakeEnvoyFleet.StartAsync(1);
        host.Api.SeedWorkload("games", "arena", [envoys.Pods[0].Ip], labelOptIn: false);
        host.Api.SeedMonitor("platform", "arena-monitor", new JsonObject { ["deploymentName"] = "arena", ["namespace"] = "games" });

        await host.RunTimerAsync();

        Assert.Single(await AzuriteStorage.PeekRawAsync(QueueNames.StatsCheck));
    }

    [Fact]
    public async Task A_workload_too_large_for_one_message_is_reported_and_the_others_are_still_checked()
    {
        await using var host = await ReaperTestHost.StartAsync();
        var manyIps = Enumerable.Range(0, 600).Select(i => $"10.1.{i / 250}.{(i % 250) + 1}").ToList();
        host.Api.SeedWorkload("games", "huge", manyIps);
        host.Api.SeedWorkload("games", "small", ["10.2.0.1"]);

        await host.RunTimerAsync();

        var queued = await AzuriteStorage.PeekRawAsync(QueueNames.StatsCheck);
        Assert.Single(queued);
        Assert.Contains(host.Logs, line => line.Contains("huge") && line.Contains("do not fit"));
    }
}
