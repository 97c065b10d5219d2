using System.Text.Json.Nodes;
using EnvoyReaper.Cluster;
using EnvoyReaper.TestSupport.Kubernetes;
using EnvoyReaper.Workloads;
using k8s;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace EnvoyReaper.Kubernetes.Tests;

/// <summary>
/// The client the app builds (AddReaperKubernetes) against the fake API server, counting the requests that reach it:
/// gzip-compressed lists, the write budget, and the status writes that are skipped when the same status is already there.
/// </summary>
public sealed class ReaperClientTests : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private readonly CancellationTokenSource timeout = new(Bound);
    private readonly FakeTimeProvider time = new(new DateTimeOffset(2026, 12, 3, 12, 0, 0, TimeSpan.Zero));
    private readonly string directory = Directory.CreateTempSubdirectory("envoy-reaper-budget-").FullName;
    private readonly List<ServiceProvider> providers = [];
    private FakeKubernetesApiServer server = null!;

    private CancellationToken Ct => timeout.Token;

    public async Task InitializeAsync() => server = await FakeKubernetesApiServer.StartAsync(TimeProvider.System);

    public async Task DisposeAsync()
    {
        foreach (var provider in providers)
        {
            await provider.DisposeAsync();
        }

        Directory.Delete(directory, recursive: true);
        timeout.Dispose();
        await server.DisposeAsync();
    }

    private ApiWriteBudget budget = null!;

    private KubernetesCluster Cluster(int perSecond = 20, int burst = 40, int lowWaitSeconds = 1)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Kubernetes:Mode"] = "KubeConfig",
            ["Kubernetes:KubeConfigPath"] = server.WriteKubeConfig(directory),
            ["Kubernetes:ApiWritesPerSecond"] = perSecond.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Kubernetes:ApiWriteBurst"] = burst.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Kubernetes:ApiLowPriorityWriteMaxWaitSeconds"] = lowWaitSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
        }).Build();
        var services = new ServiceCollection()
            .AddLogging()
            .AddSingleton<TimeProvider>(time)
            .AddReaperKubernetes(configuration);
        services.AddOptions<ReaperOptions>();
        var provider = services.BuildServiceProvider();
        providers.Add(provider);
        budget = provider.GetRequiredService<ApiWriteBudget>();
        return provider.GetRequiredService<KubernetesCluster>();
    }

    private int Writes(string pathContains) =>
        server.Requests.Count(request => request.Method is not "GET" && request.Path.Contains(pathContains, StringComparison.Ordinal));

    /// <summary>Until the budget has these writes waiting (they travel over real HTTP first), within the bound.</summary>
    private async Task WaitingAsync(int high, int low)
    {
        for (var attempt = 0; attempt < 200 && budget.Waiting != (high, low); attempt++)
        {
            await Task.Delay(25, Ct);
        }

        Assert.Equal((high, low), budget.Waiting);
    }

    private static WorkloadStatus Status(string verdict = "Idle", string message = "no connection for 10m", DateTimeOffset? lastCheck = null) =>
        new(verdict, 0, new DateTimeOffset(2026, 12, 3, 11, 50, 0, TimeSpan.Zero), lastCheck ?? new DateTimeOffset(2026, 12, 3, 12, 0, 0, TimeSpan.Zero), null, message);

    [Fact]
    public async Task Large_pod_lists_come_gzip_compressed_and_every_pod_is_read_as_before()
    {
        var seeded = Enumerable.Range(0, 30).Select(i => server.SeedWorkload("retail", $"shop-{i:D2}", [$"10.0.1.{i + 1}"], podShape: PodShape.Realistic)).ToList();

        var pods = new List<PodInfo>();
        await foreach (var pod in Cluster().ListPodsAsync("retail", null, Ct))
        {
            pods.Add(pod);
        }

        Assert.Equal(seeded.Select(workload => workload.Pods[0].Metadata.Uid).Order(), pods.Select(pod => pod.Uid).Order());
        Assert.All(pods, pod => Assert.True(pod.Ready && pod.Ip is not null && pod.Restarts is not null));
        var list = Assert.Single(server.Requests, request => request.Path == "/api/v1/namespaces/retail/pods");
        Assert.True(list.Compressed);
        Assert.True(list.ResponseBytes * 5 < list.ContentBytes, $"{list.ResponseBytes} bytes on the wire for {list.ContentBytes} of JSON");
    }

    [Fact]
    public async Task Teardown_writes_beyond_the_burst_wait_for_the_budget_and_reads_do_not()
    {
        var workloads = Enumerable.Range(0, 3).Select(i => server.SeedWorkload("retail", $"shop-{i}", [$"10.0.0.{i + 1}"])).ToList();
        var cluster = Cluster(perSecond: 1, burst: 2);

        var scales = workloads.Select(workload => cluster.ScaleToZeroAsync(workload.Namespace, workload.Name, workload.Deployment.Metadata.ResourceVersion, 1, "snapshot.json", Ct)).ToList();
        await Task.WhenAll(scales.Take(2)).WaitAsync(Bound, Ct);
        await WaitingAsync(high: 1, low: 0);

        Assert.False(scales[2].IsCompleted);
        Assert.Equal(2, Writes("/deployments/"));
        Assert.NotNull(await cluster.GetDeploymentAsync("retail", "shop-0", Ct).WaitAsync(Bound, Ct));

        time.Advance(TimeSpan.FromSeconds(1));
        await scales[2].WaitAsync(Bound, Ct);
        Assert.Equal(3, Writes("/deployments/"));
    }

    [Fact]
    public async Task Status_writes_and_Events_wait_behind_teardown_writes_and_are_dropped_past_their_wait()
    {
        var shop = server.SeedWorkload("retail", "shop", ["10.0.0.1"]);
        var other = server.SeedWorkload("retail", "other", ["10.0.0.2"]);
        var cluster = Cluster(perSecond: 1, burst: 1, lowWaitSeconds: 1);
        await cluster.DeleteAsync(ResourceKind.Service, "retail", "shop-service", shop.Service!.Metadata.Uid, null, Ct);

        // A status write waits for the next token; a teardown write that comes after it takes that token first.
        var status = cluster.WriteAsync("retail", "shop", null, null, Status(), Ct);
        await WaitingAsync(high: 0, low: 1);
        var teardown = cluster.DeleteAsync(ResourceKind.Service, "retail", "other-service", other.Service!.Metadata.Uid, null, Ct);
        await WaitingAsync(high: 1, low: 1);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(DeleteOutcome.Deleted, await teardown.WaitAsync(Bound, Ct));

        var dropped = await Assert.ThrowsAsync<ClusterWriteDroppedException>(() => status.WaitAsync(Bound, Ct));
        Assert.Equal(ApiWritePriority.Low, Assert.IsType<ApiWriteBudgetException>(dropped.InnerException).Priority);
        var recording = cluster.RecordAsync(
            new ClusterEvent(ResourceKind.Deployment, "retail", "shop", shop.Deployment.Metadata.Uid, "IdleDetected", "idle", Warning: false, MayLag: true), Ct);
        await WaitingAsync(high: 0, low: 1);
        var secondTeardown = cluster.DeleteAsync(ResourceKind.Ingress, "retail", "shop-ingress", shop.Ingress!.Metadata.Uid, null, Ct);
        await WaitingAsync(high: 1, low: 1);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(DeleteOutcome.Deleted, await secondTeardown.WaitAsync(Bound, Ct));
        var eventDropped = await Assert.ThrowsAsync<ClusterWriteDroppedException>(() => recording.WaitAsync(Bound, Ct));
        Assert.Equal(ApiWritePriority.Low, Assert.IsType<ApiWriteBudgetException>(eventDropped.InnerException).Priority);
        Assert.Equal(0, Writes("/deployments/shop"));
        Assert.Equal(0, Writes("/events"));
        Assert.Equal(2, Writes("/services/"));
    }

    [Fact]
    public async Task The_Event_that_records_a_teardown_waits_with_the_teardown_writes_and_is_not_dropped()
    {
        var shop = server.SeedWorkload("retail", "shop", ["10.0.0.1"]);
        var other = server.SeedWorkload("retail", "other", ["10.0.0.2"]);
        var cluster = Cluster(perSecond: 1, burst: 1, lowWaitSeconds: 1);
        await cluster.DeleteAsync(ResourceKind.Service, "retail", "shop-service", shop.Service!.Metadata.Uid, null, Ct);

        // The only record users have of a deletion: it may wait for a token, never be dropped like a verdict's Event.
        var recording = cluster.RecordAsync(
            new ClusterEvent(ResourceKind.Deployment, "retail", "shop", shop.Deployment.Metadata.Uid, "TornDown", "deleted", Warning: false), Ct);
        await WaitingAsync(high: 1, low: 0);
        var teardown = cluster.DeleteAsync(ResourceKind.Service, "retail", "other-service", other.Service!.Metadata.Uid, null, Ct);
        await WaitingAsync(high: 2, low: 0);
        time.Advance(TimeSpan.FromSeconds(1));
        await recording.WaitAsync(Bound, Ct);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(DeleteOutcome.Deleted, await teardown.WaitAsync(Bound, Ct));
        Assert.Equal(1, Writes("/events"));
    }

    [Fact]
    public async Task A_repeated_identical_status_on_a_Deployment_makes_no_write_request_and_a_changed_one_writes()
    {
        server.SeedWorkload("retail", "shop", ["10.0.0.1"]);
        var cluster = Cluster();
        await cluster.WriteAsync("retail", "shop", null, null, Status(), Ct);
        Assert.Equal(1, Writes("/deployments/shop"));

        await cluster.WriteAsync("retail", "shop", null, null, Status(), Ct);
        await cluster.WriteAsync("retail", "shop", null, null, Status(lastCheck: new DateTimeOffset(2026, 12, 3, 12, 1, 0, TimeSpan.Zero)), Ct);
        Assert.Equal(1, Writes("/deployments/shop"));

        await cluster.WriteAsync("retail", "shop", null, null, Status("Active", "2 connections"), Ct);
        Assert.Equal(2, Writes("/deployments/shop"));
        var annotations = server.Get<k8s.Models.V1Deployment>("retail", "shop")!.Metadata.Annotations;
        Assert.Equal("Active", annotations[KubernetesCluster.VerdictAnnotation]);
        Assert.Equal("2 connections", annotations[KubernetesCluster.MessageAnnotation]);
    }

    [Fact]
    public async Task A_repeated_identical_status_on_an_EnvoyMonitor_makes_no_write_request_and_a_changed_one_writes()
    {
        server.SeedWorkload("retail", "shop", ["10.0.0.1"], labelOptIn: false);
        server.SeedMonitor("monitoring", "shop-monitor", new JsonObject { ["deploymentName"] = "shop", ["namespace"] = "retail" });
        var cluster = Cluster();
        await cluster.WriteAsync("retail", "shop", "monitoring", "shop-monitor", Status(), Ct);
        Assert.Equal(1, Writes("/envoymonitors/shop-monitor/status"));

        await cluster.WriteAsync("retail", "shop", "monitoring", "shop-monitor", Status(), Ct);
        Assert.Equal(1, Writes("/envoymonitors/shop-monitor/status"));

        await cluster.WriteAsync("retail", "shop", "monitoring", "shop-monitor", Status("Unknown", "stats unreadable"), Ct);
        Assert.Equal(2, Writes("/envoymonitors/shop-monitor/status"));
        var status = server.Get("monitoring.example.com", "v1alpha1", "envoymonitors", "monitoring", "shop-monitor")!["status"]!;
        Assert.Equal("Unknown", status["verdict"]!.GetValue<string>());
        Assert.Equal("stats unreadable", status["message"]!.GetValue<string>());
        Assert.Equal(0, Writes("/deployments/"));
    }
}
