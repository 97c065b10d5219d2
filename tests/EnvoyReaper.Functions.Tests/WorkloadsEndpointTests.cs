using System.Text.Json.Nodes;
using EnvoyReaper.Functions.Tests.Support;
using EnvoyReaper.TestSupport.Envoy;
using EnvoyReaper.TestSupport.Kubernetes;
using EnvoyReaper.TestSupport.Storage;

namespace EnvoyReaper.Functions.Tests;

[Collection(AzuriteStorage.CollectionName)]
public sealed class WorkloadsEndpointTests
{
    [Fact]
    public async Task Lists_each_monitored_workload_with_its_verdict_streak_and_next_action()
    {
        await using var host = await ReaperTestHost.StartAsync();
        await using var envoys = await FakeEnvoyFleet.StartAsync(2);
        envoys.Pods[0].SetListener("0.0.0.0_15001", active: 0, total: 1);
        envoys.Pods[1].SetListener("0.0.0.0_15001", active: 2, total: 9);
        var port = new Dictionary<string, string> { ["envoy-reaper/stats-port"] = envoys.Port.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        var anHourAgo = host.Time.GetUtcNow().UtcDateTime.AddHours(-1);
        host.Api.SeedWorkload("games", "quiet", [envoys.Pods[0].Ip], port, createdAt: anHourAgo);
        host.Api.SeedWorkload("games", "busy", [envoys.Pods[1].Ip], port, createdAt: anHourAgo);
        host.Api.SeedWorkload("games", "bad", [envoys.Pods[1].Ip], new Dictionary<string, string> { ["envoy-reaper/action"] = "destroy" }, createdAt: anHourAgo);
        await host.RunCyclesAsync(4, envoys);

        var context = HttpResults.Request("GET");
        var (status, body, _) = await HttpResults.ExecuteAsync(context, await host.Create<ListWorkloads>().Run(context.Request, CancellationToken.None));

        Assert.Equal(200, status);
        var workloads = body["workloads"]!.AsArray().ToDictionary(item => item!["name"]!.GetValue<string>());
        Assert.Equal("Idle", workloads["quiet"]!["verdict"]!.GetValue<string>());
        Assert.Equal("4m", workloads["quiet"]!["idleFor"]!.GetValue<string>()); // idle since the first (quiet) sample
        Assert.StartsWith("delete at ", workloads["quiet"]!["nextAction"]!.GetValue<string>());
        Assert.Equal("Active", workloads["busy"]!["verdict"]!.GetValue<string>());
        Assert.Equal(2, workloads["busy"]!["activeConnections"]!.GetValue<int>());
        Assert.Equal("none", workloads["busy"]!["nextAction"]!.GetValue<string>());
        Assert.Contains("destroy", workloads["bad"]!["reason"]!.GetValue<string>());
        Assert.Equal("none: fix the configuration", workloads["bad"]!["nextAction"]!.GetValue<string>());
    }
}
