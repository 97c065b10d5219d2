using System.Text;
using System.Text.Json.Nodes;
using EnvoyReaper.Functions.Tests.Support;
using EnvoyReaper.TestSupport.Envoy;
using EnvoyReaper.TestSupport.Kubernetes;
using EnvoyReaper.TestSupport.Storage;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Abstractions;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

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
        for (var i = 0; i < 4; i++)
        {
            await host.RunCycleAsync();
            host.Time.Advance(TimeSpan.FromMinutes(1));
            foreach (var pod in envoys.Pods)
            {
                pod.UptimeSeconds += 60;
            }
        }

        var services = new ServiceCollection().AddLogging().AddMvcCore().Services.BuildServiceProvider();
        var context = new DefaultHttpContext { RequestServices = services };
        context.Response.Body = new MemoryStream();
        var result = await host.Create<ListWorkloads>().Run(context.Request, CancellationToken.None);
        await result.ExecuteResultAsync(new ActionContext(context, new RouteData(), new ActionDescriptor()));

        Assert.Equal(200, context.Response.StatusCode);
        var body = JsonNode.Parse(Encoding.UTF8.GetString(((MemoryStream)context.Response.Body).ToArray()))!;
        var workloads = body["workloads"]!.AsArray().ToDictionary(item => item!["name"]!.GetValue<string>());
        Assert.Equal("Idle", workloads["quiet"]!["verdict"]!.GetValue<string>());
        Assert.Equal("3m", workloads["quiet"]!["idleFor"]!.GetValue<string>());
        Assert.StartsWith("delete at ", workloads["quiet"]!["nextAction"]!.GetValue<string>());
        Assert.Equal("Active", workloads["busy"]!["verdict"]!.GetValue<string>());
        Assert.Equal(2, workloads["busy"]!["activeConnections"]!.GetValue<int>());
        Assert.Equal("none", workloads["busy"]!["nextAction"]!.GetValue<string>());
        Assert.Contains("destroy", workloads["bad"]!["reason"]!.GetValue<string>());
        Assert.Equal("none: fix the configuration", workloads["bad"]!["nextAction"]!.GetValue<string>());
    }
}
