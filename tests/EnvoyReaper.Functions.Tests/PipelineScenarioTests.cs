using EnvoyReaper.Functions.Tests.Support;
using EnvoyReaper.TestSupport.Envoy;
using EnvoyReaper.TestSupport.Kubernetes;
using EnvoyReaper.TestSupport.Storage;
using k8s.Models;

namespace EnvoyReaper.Functions.Tests;

/// <summary>Sidecar layouts and Envoy lifecycles seen in real clusters, through the whole pipeline.</summary>
[Collection(AzuriteStorage.CollectionName)]
public sealed class PipelineScenarioTests : IAsyncLifetime
{
    private ReaperTestHost host = null!;
    private FakeEnvoyFleet envoys = null!;

    public async Task InitializeAsync()
    {
        host = await ReaperTestHost.StartAsync();
        envoys = await FakeEnvoyFleet.StartAsync(1);
    }

    public async Task DisposeAsync()
    {
        await envoys.DisposeAsync();
        await host.DisposeAsync();
    }

    private FakeEnvoy Pod => envoys.Pods[0];

    private void Seed(bool istio = false) => host.Api.SeedWorkload(
        "sandbox", "box", [Pod.Ip],
        new Dictionary<string, string> { ["envoy-reaper/stats-port"] = envoys.Port.ToString(System.Globalization.CultureInfo.InvariantCulture) },
        createdAt: host.Time.GetUtcNow().UtcDateTime.AddHours(-1),
        istio: istio);

    private bool Exists => host.Api.Exists<V1Deployment>("sandbox", "box");

    private Task CyclesAsync(int count) => host.RunCyclesAsync(count, envoys);

    [Fact]
    public async Task In_an_Istio_pod_the_app_own_outbound_connections_do_not_keep_it_alive()
    {
        Pod.IstioMode = true;
        Pod.SetListener(FakeEnvoy.IstioOutboundListener, active: 4, total: 4); // e.g. the app's database pool
        Pod.SetListener(FakeEnvoy.IstioInboundListener, active: 0, total: 9);
        Seed(istio: true);

        await CyclesAsync(13);

        Assert.False(Exists);
        Assert.True(Pod.RequestCount > 0);
    }

    [Fact]
    public async Task In_an_Istio_pod_an_inbound_user_keeps_it_alive()
    {
        Pod.IstioMode = true;
        Pod.SetListener(FakeEnvoy.IstioInboundListener, active: 1, total: 1);
        Seed(istio: true);

        await CyclesAsync(14);

        Assert.True(Exists);
    }

    [Fact]
    public async Task An_Istio_proxy_whose_stats_matcher_drops_the_active_gauge_is_Unknown_and_never_reaped()
    {
        Pod.IstioMode = true;
        Pod.OmitActiveGauges = true;
        Seed(istio: true);

        await CyclesAsync(14);

        Assert.True(Exists);
        Assert.Contains(host.Logs, line => line.Contains("Unknown") && line.Contains("downstream_cx_active"));
    }

    [Fact]
    public async Task An_Envoy_restart_is_neither_activity_nor_idleness_and_restarts_the_idle_clock()
    {
        Pod.ServedThroughStatsListener = true;
        Pod.SetListener("0.0.0.0_15001", active: 0, total: 40);
        Seed();
        await CyclesAsync(6);

        Pod.Restart(); // counters and uptime back to zero, as after a crash: lower totals must not read as idle or active
        Pod.SetListener("0.0.0.0_15001", active: 0, total: 0);
        await CyclesAsync(10); // Unknown at minute 6, idle from that first sample of the new Envoy: due at minute 16
        Assert.True(Exists);
        Assert.Contains(host.Logs, line => line.Contains("restarted"));

        await CyclesAsync(2);
        Assert.False(Exists);
    }

    [Fact]
    public async Task A_pod_that_is_not_ready_makes_the_workload_Unknown()
    {
        Pod.SetListener("0.0.0.0_15001", active: 0, total: 1);
        host.Api.SeedWorkload("sandbox", "box", [Pod.Ip],
            new Dictionary<string, string> { ["envoy-reaper/stats-port"] = envoys.Port.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            createdAt: host.Time.GetUtcNow().UtcDateTime.AddHours(-1), podsReady: false);

        await CyclesAsync(14);

        Assert.True(Exists);
        Assert.Equal(0, Pod.RequestCount);
    }

    [Fact]
    public async Task A_young_Deployment_is_not_torn_down_within_its_startup_grace()
    {
        Pod.SetListener("0.0.0.0_15001", active: 0, total: 0);
        host.Api.SeedWorkload("sandbox", "box", [Pod.Ip],
            new Dictionary<string, string>
            {
                ["envoy-reaper/stats-port"] = envoys.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["envoy-reaper/idle-timeout"] = "2m",
            },
            createdAt: host.Time.GetUtcNow().UtcDateTime);

        await CyclesAsync(5); // idle for 3 minutes already, but only 4 minutes old: the grace is 5
        Assert.True(Exists);

        await CyclesAsync(2);
        Assert.False(Exists);
    }
}
