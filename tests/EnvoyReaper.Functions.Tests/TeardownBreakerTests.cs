using System.Globalization;
using System.Text.Json.Nodes;
using EnvoyReaper.Functions.Tests.Support;
using EnvoyReaper.TestSupport.Envoy;
using EnvoyReaper.TestSupport.Kubernetes;
using EnvoyReaper.TestSupport.Storage;
using k8s.Models;

namespace EnvoyReaper.Functions.Tests;

/// <summary>
/// The teardown breaker through the whole pipeline: timer, stats checks and teardowns through Azurite, the fake API
/// server and fake Envoys, with time driven by the fake clock. The idle timeout is two minutes to keep the fleets fast.
/// </summary>
[Collection(AzuriteStorage.CollectionName)]
public sealed class TeardownBreakerTests
{
    private const string Namespace = "fleet";
    private const string Listener = "0.0.0.0_15001";

    private static async Task<(ReaperTestHost Host, FakeEnvoyFleet Envoys, List<string> Names)> FleetAsync(int count, Dictionary<string, string?>? settings = null, ulong active = 0)
    {
        var all = new Dictionary<string, string?> { ["Reaper:DefaultIdleTimeout"] = "00:02:00" };
        foreach (var (key, value) in settings ?? [])
        {
            all[key] = value;
        }

        var host = await ReaperTestHost.StartAsync(all);
        var envoys = await FakeEnvoyFleet.StartAsync(count);
        var port = new Dictionary<string, string> { ["envoy-reaper/stats-port"] = envoys.Port.ToString(CultureInfo.InvariantCulture) };
        var names = new List<string>();
        for (var i = 0; i < count; i++)
        {
            var name = $"w{i:D3}";
            envoys.Pods[i].SetListener(Listener, active: 0, total: 7);
            for (var open = 0UL; open < active; open++)
            {
                envoys.Pods[i].OpenConnection(Listener);
            }

            host.Api.SeedWorkload(Namespace, name, [envoys.Pods[i].Ip], port, withIngress: false, createdAt: host.Time.GetUtcNow().UtcDateTime.AddHours(-1));
            names.Add(name);
        }

        return (host, envoys, names);
    }

    private static List<string> Remaining(ReaperTestHost host, IEnumerable<string> names) =>
        names.Where(name => host.Api.Exists<V1Deployment>(Namespace, name)).ToList();

    private static HashSet<string> WithEvent(ReaperTestHost host, string reason) =>
        host.Api.List("", "v1", "events", Namespace)
            .Where(item => item["reason"]!.GetValue<string>() == reason)
            .Select(item => item["involvedObject"]!["name"]!.GetValue<string>())
            .ToHashSet();

    private static async Task<JsonNode> WorkloadsAsync(ReaperTestHost host)
    {
        var context = HttpResults.Request("GET");
        var (status, body, _) = await HttpResults.ExecuteAsync(context, await host.Create<ListWorkloads>().Run(context.Request, CancellationToken.None));
        Assert.Equal(200, status);
        return body;
    }

    [Fact]
    public async Task A_hundred_workloads_going_idle_together_are_torn_down_at_the_allowed_rate_and_the_rest_wait_for_the_next_window()
    {
        var (host, envoys, names) = await FleetAsync(100);
        await using var _ = host;
        await using var __ = envoys;

        // Idle from the first quiet sample at minute 0; the two minutes are reached at minute 2, the third cycle.
        await host.RunCyclesAsync(3, envoys);

        // Defaults: 50 per hour, 0.2 of the 100 monitored workloads: 20.
        var remaining = Remaining(host, names);
        Assert.Equal(80, remaining.Count);
        Assert.Equal(remaining.ToHashSet(), WithEvent(host, "TeardownDeferred"));
        Assert.Empty(WithEvent(host, "TornDown").Intersect(remaining));
        var breaker = (await WorkloadsAsync(host))["breaker"]!;
        Assert.Equal(20, breaker["teardownsLastHour"]!.GetValue<int>());
        Assert.Equal(20, breaker["allowedPerHour"]!.GetValue<int>());
        Assert.False(breaker["open"]!.GetValue<bool>());

        // Later in the same hour the stats checks ask again (after Reaper:MessageMaxAge), and are deferred again.
        host.Advance(TimeSpan.FromMinutes(30), envoys);
        await host.RunCycleAsync();
        Assert.Equal(80, Remaining(host, names).Count);

        // One of the deferred workloads gets a user before the window opens: it must not be torn down.
        var busy = remaining[0];
        envoys.Pods[names.IndexOf(busy)].OpenConnection(Listener);

        // The next window: the first slots are an hour old. Now 80 are monitored, so 0.2 of them is 16.
        host.Advance(TimeSpan.FromMinutes(30), envoys);
        await host.RunCycleAsync();

        var left = Remaining(host, names);
        Assert.Equal(64, left.Count);
        Assert.Contains(busy, left);
        Assert.Equal(16, (await WorkloadsAsync(host))["breaker"]!["teardownsLastHour"]!.GetValue<int>());
    }

    [Fact]
    public async Task A_mass_flip_to_idle_opens_the_breaker_and_nothing_is_torn_down_until_a_person_resets_it()
    {
        var (host, envoys, names) = await FleetAsync(20, new() { ["Reaper:MaxTeardownFraction"] = "1" }, active: 1);
        await using var _ = host;
        await using var __ = envoys;
        await host.RunCyclesAsync(3, envoys);
        Assert.Equal("Active", (await WorkloadsAsync(host))["workloads"]![0]!["verdict"]!.GetValue<string>());

        // Something upstream stops the traffic through every Envoy at once.
        foreach (var pod in envoys.Pods)
        {
            pod.CloseConnection(Listener);
        }

        await host.RunCyclesAsync(8, envoys);

        Assert.Equal(20, Remaining(host, names).Count);
        Assert.Empty(host.Api.Deletions);
        Assert.Equal(names.ToHashSet(), WithEvent(host, "TeardownDeferred"));
        var overview = await WorkloadsAsync(host);
        Assert.True(overview["breaker"]!["open"]!.GetValue<bool>());
        Assert.Contains("20 of the 20 workloads Active", overview["breaker"]!["openedBecause"]!.GetValue<string>());
        Assert.All(overview["workloads"]!.AsArray(), item => Assert.StartsWith("delete deferred by the teardown breaker", item!["nextAction"]!.GetValue<string>()));

        var context = HttpResults.Request("POST");
        var (status, body, _) = await HttpResults.ExecuteAsync(context, await host.Create<ResetBreaker>().Run(context.Request, CancellationToken.None));
        Assert.Equal(200, status);
        Assert.False(body["breaker"]!["open"]!.GetValue<bool>());
        Assert.Equal("api", body["breaker"]!["closedBy"]!.GetValue<string>());

        // Still idle: the next request of each (after Reaper:MessageMaxAge) goes through.
        await host.RunCyclesAsync(6, envoys);
        Assert.Empty(Remaining(host, names));
        Assert.False((await WorkloadsAsync(host))["breaker"]!["open"]!.GetValue<bool>());
    }

    [Fact]
    public async Task Observe_workloads_going_idle_together_neither_open_the_breaker_nor_take_a_slot()
    {
        var (host, envoys, names) = await FleetAsync(12, new() { ["Reaper:DefaultAction"] = "Observe" }, active: 1);
        await using var _ = host;
        await using var __ = envoys;
        await host.RunCyclesAsync(3, envoys);
        foreach (var pod in envoys.Pods)
        {
            pod.CloseConnection(Listener);
        }

        await host.RunCyclesAsync(5, envoys);

        var breaker = (await WorkloadsAsync(host))["breaker"]!;
        Assert.False(breaker["open"]!.GetValue<bool>());
        Assert.Equal(0, breaker["teardownsLastHour"]!.GetValue<int>());
        Assert.Equal(0, breaker["monitoredWorkloads"]!.GetValue<int>());
        Assert.Equal(names.ToHashSet(), WithEvent(host, "WouldTearDown"));
        Assert.Empty(WithEvent(host, "TeardownDeferred"));
    }

    [Fact]
    public async Task Resetting_a_closed_breaker_is_harmless()
    {
        await using var host = await ReaperTestHost.StartAsync();

        var context = HttpResults.Request("POST");
        var (status, body, _) = await HttpResults.ExecuteAsync(context, await host.Create<ResetBreaker>().Run(context.Request, CancellationToken.None));

        Assert.Equal(200, status);
        Assert.False(body["breaker"]!["open"]!.GetValue<bool>());
    }
}
