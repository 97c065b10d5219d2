using System.Text.Json.Nodes;
using EnvoyReaper.Functions.Tests.Support;
using EnvoyReaper.Messaging;
using EnvoyReaper.TestSupport.Envoy;
using EnvoyReaper.TestSupport.Kubernetes;
using EnvoyReaper.TestSupport.Storage;
using k8s;
using k8s.Models;

namespace EnvoyReaper.Functions.Tests;

/// <summary>
/// Timer → stats-check → teardown through Azurite, the real Kubernetes client against the fake API server, and fake
/// Envoys over HTTP. Every cycle is one minute of fake time; the idle timeout is 10 minutes.
/// </summary>
[Collection(AzuriteStorage.CollectionName)]
public sealed class PipelineEndToEndTests : IAsyncLifetime
{
    private const string Namespace = "games";
    private const string Name = "arena";
    private const string Listener = "0.0.0.0_15001";

    private ReaperTestHost host = null!;
    private FakeEnvoyFleet envoys = null!;

    public async Task InitializeAsync()
    {
        host = await ReaperTestHost.StartAsync();
        envoys = await FakeEnvoyFleet.StartAsync(2);
        foreach (var pod in envoys.Pods)
        {
            pod.ServedThroughStatsListener = true; // each poll is a connection on the stats listener: it must not count
            pod.SetListener(Listener, active: 0, total: 7);
        }
    }

    public async Task DisposeAsync()
    {
        await envoys.DisposeAsync();
        await host.DisposeAsync();
    }

    private SeededWorkload Seed(Dictionary<string, string>? annotations = null, bool withIngress = true)
    {
        var all = new Dictionary<string, string> { ["envoy-reaper/stats-port"] = envoys.Port.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        foreach (var (key, value) in annotations ?? [])
        {
            all[key] = value;
        }

        return host.Api.SeedWorkload(Namespace, Name, envoys.Pods.Select(pod => pod.Ip).ToList(), all, withIngress: withIngress, createdAt: AnHourAgo);
    }

    private DateTime AnHourAgo => host.Time.GetUtcNow().UtcDateTime.AddHours(-1);

    private bool DeploymentExists => host.Api.Exists<V1Deployment>(Namespace, Name);

    private Task CyclesAsync(int count) => host.RunCyclesAsync(count, envoys);

    private void Advance(TimeSpan by) => host.Advance(by, envoys);

    private IEnumerable<string> EventReasons() =>
        host.Api.List("", "v1", "events", Namespace).Select(item => item["reason"]!.GetValue<string>());

    [Fact]
    public async Task An_idle_workload_is_deleted_after_its_timeout_with_a_snapshot_of_what_was_deleted()
    {
        var seeded = Seed();

        // First sight at minute 0 records the baseline; nothing was open then and nothing moved after it, so the workload
        // is idle from minute 0 and its ten minutes are reached at minute 10, the eleventh cycle.
        await CyclesAsync(10);
        Assert.True(DeploymentExists, "torn down before the idle timeout");

        await CyclesAsync(1);

        Assert.False(DeploymentExists);
        Assert.False(host.Api.Exists<V1Service>(Namespace, seeded.Service!.Metadata.Name));
        Assert.False(host.Api.Exists<V1Ingress>(Namespace, seeded.Ingress!.Metadata.Name));
        var deletes = host.Api.Requests.Where(request => request.Method == "DELETE").ToList();
        Assert.Equal(3, deletes.Count);
        Assert.All(deletes, delete => Assert.Equal(36, JsonNode.Parse(delete.Body)!["preconditions"]!["uid"]!.GetValue<string>().Length));

        var container = AzuriteStorage.Blobs().GetBlobContainerClient(host.SnapshotContainer);
        var blobs = new List<string>();
        await foreach (var blob in container.GetBlobsAsync(new Azure.Storage.Blobs.Models.GetBlobsOptions { Prefix = $"{Namespace}/{Name}/" }))
        {
            blobs.Add(blob.Name);
        }

        var snapshot = JsonNode.Parse((await container.GetBlobClient(Assert.Single(blobs)).DownloadContentAsync()).Value.Content.ToString())!;
        var kinds = snapshot["objects"]!.AsArray().Select(item => item!["kind"]!.GetValue<string>()).Order().ToArray();
        Assert.Equal(["Deployment", "Ingress", "Service"], kinds);
        Assert.Equal(seeded.Deployment.Metadata.Uid, snapshot["deploymentUid"]!.GetValue<string>());
        Assert.Contains("TornDown", EventReasons());
        Assert.Contains("IdleDetected", EventReasons());
    }

    [Fact]
    public async Task A_pod_that_gets_a_user_midway_restarts_the_idle_clock_and_nothing_is_deleted()
    {
        Seed();
        await CyclesAsync(6);

        envoys.Pods[1].OpenConnection(Listener);
        await CyclesAsync(1);
        envoys.Pods[1].CloseConnection(Listener);

        await CyclesAsync(10); // idle again from here: ten minutes are not over until the eleventh
        Assert.True(DeploymentExists);
        Assert.Contains("ActivityResumed", EventReasons());

        await CyclesAsync(2);
        Assert.False(DeploymentExists); // and it is still reaped once the new streak is long enough
    }

    [Fact]
    public async Task A_short_connection_between_two_polls_counts_as_activity_and_the_teardown_follows_within_timeout_plus_one_interval()
    {
        Seed();
        await CyclesAsync(6);

        envoys.Pods[0].OpenConnection(Listener);
        envoys.Pods[0].CloseConnection(Listener); // opened and closed between polls (minutes 5 and 6): only the counter shows it
        await CyclesAsync(10);

        Assert.True(DeploymentExists);

        // Idle from minute 6, the check that saw the connection: reaped at minute 16, at most 11 minutes (the idle
        // timeout plus one check interval) after the connection closed.
        await CyclesAsync(1);
        Assert.False(DeploymentExists);
    }

    [Fact]
    public async Task A_pod_whose_Envoy_cannot_be_read_midway_is_Unknown_and_nothing_is_deleted()
    {
        Seed();
        await CyclesAsync(6);

        envoys.Pods[0].Fault = EnvoyFault.Refused;
        await CyclesAsync(2);
        envoys.Pods[0].Fault = EnvoyFault.None;

        await CyclesAsync(9);
        Assert.True(DeploymentExists);
        Assert.Contains("StatsUnreadable", EventReasons());
    }

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task No_fault_of_an_Envoy_ever_leads_to_a_teardown(string fault)
    {
        Seed();
        envoys.Pods[1].Fault = FaultNamed(fault);

        await CyclesAsync(14);

        Assert.True(DeploymentExists);
        Assert.DoesNotContain("TeardownRequested", EventReasons());
    }

    public static TheoryData<string> Faults() => ["refused", "503", "html", "truncated", "garbage", "slow"];

    private static EnvoyFault FaultNamed(string name) => name switch
    {
        "refused" => EnvoyFault.Refused,
        "503" => EnvoyFault.Status503,
        "html" => EnvoyFault.Html,
        "truncated" => EnvoyFault.TruncatedJson,
        "garbage" => EnvoyFault.Garbage,
        "slow" => EnvoyFault.Delay(TimeSpan.FromSeconds(3)),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    [Fact]
    public async Task Activity_between_the_teardown_request_and_the_teardown_aborts_it()
    {
        Seed();
        await CyclesAsync(10);
        Advance(TimeSpan.FromMinutes(1));
        await host.RunTimerAsync();
        await host.DeliverStatsChecksAsync();
        Assert.Contains("TeardownRequested", EventReasons());

        envoys.Pods[0].OpenConnection(Listener);
        envoys.Pods[0].CloseConnection(Listener);
        await host.DeliverTeardownsAsync();

        Assert.True(DeploymentExists);
        Assert.Contains(host.Logs, line => line.Contains("Aborted"));
        Assert.Empty(host.Api.Deletions);
    }

    [Fact]
    public async Task A_Deployment_recreated_under_the_same_name_before_the_teardown_is_not_deleted()
    {
        var seeded = Seed();
        await CyclesAsync(10);
        Advance(TimeSpan.FromMinutes(1));
        await host.RunTimerAsync();
        await host.DeliverStatsChecksAsync();

        var client = new k8s.Kubernetes(host.Api.ClientConfiguration());
        await client.AppsV1.DeleteNamespacedDeploymentAsync(Name, Namespace, propagationPolicy: "Orphan");
        var replacement = seeded.Deployment;
        replacement.Metadata.Uid = null;
        replacement.Metadata.ResourceVersion = null;
        await client.AppsV1.CreateNamespacedDeploymentAsync(replacement, Namespace);
        host.Api.ResetRecording();

        await host.DeliverTeardownsAsync();

        Assert.True(DeploymentExists);
        Assert.Empty(host.Api.Deletions);
    }

    [Fact]
    public async Task A_version_1_stats_check_queued_before_an_upgrade_still_checks_and_raises_the_teardown()
    {
        Seed();
        await CyclesAsync(10);
        Advance(TimeSpan.FromMinutes(1));
        await host.RunTimerAsync();
        // What the timer of the previous version would have queued for the same workload at the same moment.
        var batch = await TakeQueuedStatsCheckAsync();
        var workload = Assert.Single(batch.Workloads);
        var single = new StatsCheckMessage(StatsCheckMessage.Version1, "legacy-check", batch.DueAt, batch.Namespace, workload.Deployment, workload.DeploymentUid,
            workload.DeploymentCreatedAt, workload.Source, workload.Monitor, workload.Settings, workload.ConfigurationErrors, workload.Pods, workload.NotReadyPods);

        await host.Create<CheckStats>().Run(ReaperTestHost.Delivery("v1-delivery", ReaperJson.Serialize(single)), CancellationToken.None);

        Assert.Empty(await AzuriteStorage.PeekRawAsync(QueueNames.StatsCheck + "-poison"));
        Assert.Contains("TeardownRequested", EventReasons());
        Assert.Equal(1, await host.DeliverTeardownsAsync());
        Assert.False(DeploymentExists);
    }

    [Fact]
    public async Task A_workload_whose_stats_cannot_be_read_stays_Unknown_while_its_neighbour_in_the_same_message_is_torn_down()
    {
        Seed();
        await using var broken = await FakeEnvoyFleet.StartAsync(1);
        broken.Pods[0].Fault = EnvoyFault.Garbage;
        host.Api.SeedWorkload(Namespace, "broken", [broken.Pods[0].Ip],
            new Dictionary<string, string> { ["envoy-reaper/stats-port"] = broken.Port.ToString(System.Globalization.CultureInfo.InvariantCulture) }, createdAt: AnHourAgo);
        await CyclesAsync(10);
        Advance(TimeSpan.FromMinutes(1));
        await host.RunTimerAsync();
        var raw = Assert.Single(await AzuriteStorage.PeekRawAsync(QueueNames.StatsCheck));
        Assert.True(MessageReader.TryReadStatsCheck(System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(raw.Body.ToString())), out var batch, out var error), error);
        Assert.Equal(["arena", "broken"], batch.Workloads.Select(workload => workload.Deployment).Order());

        Assert.Equal(1, await host.DeliverStatsChecksAsync());
        await host.DeliverTeardownsAsync();

        Assert.False(DeploymentExists);
        Assert.True(host.Api.Exists<V1Deployment>(Namespace, "broken"));
        Assert.Empty(await AzuriteStorage.PeekRawAsync(QueueNames.StatsCheck + "-poison"));
        Assert.Contains(host.Logs, line => line.Contains($"{Namespace}/broken", StringComparison.Ordinal) && line.Contains("Unknown", StringComparison.Ordinal));
    }

    private static async Task<StatsCheckBatchMessage> TakeQueuedStatsCheckAsync()
    {
        var queue = AzuriteStorage.Queues(base64: false).GetQueueClient(QueueNames.StatsCheck);
        var received = Assert.Single((await queue.ReceiveMessagesAsync(32, TimeSpan.FromSeconds(30))).Value);
        await queue.DeleteMessageAsync(received.MessageId, received.PopReceipt);
        var body = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(received.Body.ToString()));
        Assert.True(MessageReader.TryReadStatsCheck(body, out var batch, out var error), error);
        return batch;
    }

    [Fact]
    public async Task A_teardown_message_delivered_twice_acts_once()
    {
        Seed();
        await CyclesAsync(10);
        Advance(TimeSpan.FromMinutes(1));
        await host.RunTimerAsync();
        await host.DeliverStatsChecksAsync();
        var raw = Assert.Single(await AzuriteStorage.PeekRawAsync(QueueNames.Teardown));
        var body = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(raw.Body.ToString()));

        await host.DeliverTeardownsAsync();
        var deletionsAfterFirst = host.Api.Deletions.Count;
        await host.Create<TearDown>().Run(ReaperTestHost.Delivery("redelivered", body), CancellationToken.None);

        Assert.False(DeploymentExists);
        Assert.Equal(deletionsAfterFirst, host.Api.Deletions.Count);
        Assert.Contains(host.Logs, line => line.Contains("redelivered") && line.Contains("AlreadyDone"));
    }

    [Fact]
    public async Task A_teardown_that_failed_midway_is_finished_by_its_retry_with_one_snapshot_that_restores_everything()
    {
        var seeded = Seed();
        await CyclesAsync(10);
        Advance(TimeSpan.FromMinutes(1));
        await host.RunTimerAsync();
        await host.DeliverStatsChecksAsync();
        var raw = Assert.Single(await AzuriteStorage.PeekRawAsync(QueueNames.Teardown));
        var body = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(raw.Body.ToString()));
        host.Api.ResetRecording();
        host.Api.FailNext("DELETE", "/ingresses/", 500, "InternalError");

        await Assert.ThrowsAnyAsync<Exception>(() => host.Create<TearDown>().Run(ReaperTestHost.Delivery("attempt-1", body), CancellationToken.None));
        Advance(TimeSpan.FromSeconds(30)); // the queue makes the message visible again
        await host.Create<TearDown>().Run(ReaperTestHost.Delivery("attempt-2", body, dequeueCount: 2), CancellationToken.None);

        Assert.False(DeploymentExists);
        Assert.False(host.Api.Exists<V1Service>(Namespace, seeded.Service!.Metadata.Name));
        Assert.False(host.Api.Exists<V1Ingress>(Namespace, seeded.Ingress!.Metadata.Name));
        var firstDelete = host.Api.Requests.First(request => request.Method == "DELETE");
        Assert.Contains("/deployments/", firstDelete.Path, StringComparison.Ordinal);
        var preconditions = JsonNode.Parse(firstDelete.Body)!["preconditions"]!;
        Assert.Equal(seeded.Deployment.Metadata.Uid, preconditions["uid"]!.GetValue<string>());
        Assert.False(string.IsNullOrEmpty(preconditions["resourceVersion"]?.GetValue<string>()));

        var container = AzuriteStorage.Blobs().GetBlobContainerClient(host.SnapshotContainer);
        var blobs = new List<string>();
        await foreach (var blob in container.GetBlobsAsync(new Azure.Storage.Blobs.Models.GetBlobsOptions { Prefix = $"{Namespace}/{Name}/" }))
        {
            blobs.Add(blob.Name);
        }

        Assert.Single(blobs);
        var request = HttpResults.Request("POST", $$"""{"namespace":"{{Namespace}}","deployment":"{{Name}}"}""");
        var (status, _, _) = await HttpResults.ExecuteAsync(request, await host.Create<RestoreWorkload>().Run(request.Request, CancellationToken.None));
        Assert.Equal(200, status);
        Assert.True(DeploymentExists);
        Assert.True(host.Api.Exists<V1Service>(Namespace, seeded.Service.Metadata.Name));
        Assert.True(host.Api.Exists<V1Ingress>(Namespace, seeded.Ingress.Metadata.Name));
    }

    [Fact]
    public async Task A_stale_teardown_message_does_nothing()
    {
        Seed();
        await CyclesAsync(10);
        Advance(TimeSpan.FromMinutes(1));
        await host.RunTimerAsync();
        await host.DeliverStatsChecksAsync();

        Advance(TimeSpan.FromMinutes(6)); // the message sat in the queue longer than Reaper:MessageMaxAge
        await host.DeliverTeardownsAsync();

        Assert.True(DeploymentExists);
        Assert.Contains(host.Logs, line => line.Contains("Stale"));
    }

    [Fact]
    public async Task Scale_to_zero_keeps_the_objects_and_records_the_replica_count()
    {
        Seed(new() { ["envoy-reaper/action"] = "scale-to-zero" });

        await CyclesAsync(13);

        var deployment = host.Api.Get<V1Deployment>(Namespace, Name)!;
        Assert.Equal(0, deployment.Spec.Replicas);
        Assert.Equal("2", deployment.Metadata.Annotations["envoy-reaper/replicas-before-teardown"]);
        Assert.True(host.Api.Exists<V1Service>(Namespace, $"{Name}-service"));
    }

    [Fact]
    public async Task Observe_only_records_a_WouldTearDown_event()
    {
        Seed(new() { ["envoy-reaper/action"] = "observe" });

        await CyclesAsync(14);

        Assert.True(DeploymentExists);
        Assert.Single(EventReasons(), reason => reason == "WouldTearDown");
    }

    [Fact]
    public async Task A_bad_annotation_is_reported_and_the_workload_is_never_torn_down()
    {
        Seed(new() { ["envoy-reaper/idle-timeout"] = "ten minutes" });

        await CyclesAsync(14);

        Assert.True(DeploymentExists);
        Assert.Contains("InvalidConfiguration", EventReasons());
        Assert.Contains(host.Logs, line => line.Contains("envoy-reaper/idle-timeout"));
    }

    [Fact]
    public async Task A_check_interval_below_the_floor_is_reported_and_the_workload_is_never_torn_down()
    {
        Seed(new() { ["envoy-reaper/check-interval"] = "1s" });

        await CyclesAsync(14);

        Assert.True(DeploymentExists);
        Assert.Contains("InvalidConfiguration", EventReasons());
        Assert.Contains(host.Logs, line => line.Contains("envoy-reaper/check-interval") && line.Contains("Reaper:MinCheckInterval"));
    }

    [Fact]
    public async Task A_Service_shared_with_another_Deployment_survives_the_teardown()
    {
        Seed(withIngress: false);
        var other = host.Api.SeedWorkload(Namespace, "lobby", [envoys.Pods[0].Ip], labelOptIn: false, withService: false, withIngress: false, createdAt: AnHourAgo);
        var client = new k8s.Kubernetes(host.Api.ClientConfiguration());
        await client.CoreV1.CreateNamespacedServiceAsync(new V1Service
        {
            Metadata = new V1ObjectMeta { Name = "shared" },
            Spec = new V1ServiceSpec { Selector = new Dictionary<string, string> { ["tier"] = "game" }, Ports = [new V1ServicePort { Port = 80 }] },
        }, Namespace);
        await PatchTemplateLabelAsync(client, Name);
        await PatchTemplateLabelAsync(client, other.Name);

        await CyclesAsync(13);

        Assert.False(DeploymentExists);
        Assert.True(host.Api.Exists<V1Service>(Namespace, "shared"));
        Assert.False(host.Api.Exists<V1Service>(Namespace, $"{Name}-service"));
    }

    private static Task PatchTemplateLabelAsync(k8s.Kubernetes client, string deployment) =>
        client.AppsV1.PatchNamespacedDeploymentAsync(
            new V1Patch("{\"spec\":{\"template\":{\"metadata\":{\"labels\":{\"tier\":\"game\"}}}}}", V1Patch.PatchType.MergePatch), deployment, Namespace);

    [Fact]
    public async Task The_seed_EnvoyMonitor_opts_a_Deployment_in_exactly_as_written()
    {
        host.Api.SeedWorkload(Namespace, Name, envoys.Pods.Select(pod => pod.Ip).ToList(), labelOptIn: false, createdAt: AnHourAgo);
        host.Api.SeedMonitor(Namespace, "arena-monitor", new JsonObject
        {
            ["deploymentName"] = Name,
            ["serviceName"] = $"{Name}-service",
            ["ingressName"] = $"{Name}-ingress",
            ["checkInterval"] = "1m",
            ["minConnections"] = 1,
            ["statsPort"] = envoys.Port,
        });

        await CyclesAsync(13);

        Assert.False(DeploymentExists);
        Assert.False(host.Api.Exists<V1Service>(Namespace, $"{Name}-service"));
        Assert.False(host.Api.Exists<V1Ingress>(Namespace, $"{Name}-ingress"));
    }

    [Fact]
    public async Task The_EnvoyMonitor_status_shows_the_verdict_and_is_written_on_transitions_only()
    {
        host.Api.SeedWorkload(Namespace, Name, envoys.Pods.Select(pod => pod.Ip).ToList(), labelOptIn: false, createdAt: AnHourAgo);
        host.Api.SeedMonitor(Namespace, "arena-monitor", new JsonObject { ["deploymentName"] = Name, ["statsPort"] = envoys.Port, ["idleTimeout"] = "30m" });

        await CyclesAsync(2); // first sight (Unknown), then Idle
        var status = host.Api.Get("monitoring.example.com", "v1alpha1", "envoymonitors", Namespace, "arena-monitor")!["status"]!;
        Assert.Equal("Idle", status["verdict"]!.GetValue<string>());
        Assert.Equal(0, status["activeConnections"]!.GetValue<int>());
        Assert.NotNull(status["idleSince"]);

        host.Api.ResetRecording();
        await CyclesAsync(10);
        Assert.Equal(0, host.Api.WriteCount);

        envoys.Pods[0].OpenConnection(Listener);
        await CyclesAsync(1);
        status = host.Api.Get("monitoring.example.com", "v1alpha1", "envoymonitors", Namespace, "arena-monitor")!["status"]!;
        Assert.Equal("Active", status["verdict"]!.GetValue<string>());
        Assert.Null(status["idleSince"]);
    }

    [Fact]
    public async Task The_first_sight_of_a_workload_writes_nothing_to_the_cluster()
    {
        Seed();
        host.Api.ResetRecording();

        await CyclesAsync(1);

        Assert.Equal(0, host.Api.WriteCount);
    }

    [Fact]
    public async Task Quiet_cycles_before_the_timeout_write_nothing_to_the_cluster_but_the_transition_event()
    {
        Seed();
        await CyclesAsync(2); // baseline, then the Idle transition (one IdleDetected event)
        host.Api.ResetRecording();

        await CyclesAsync(6);

        Assert.Equal(0, host.Api.WriteCount);
        Assert.DoesNotContain(host.Api.Requests, request => request.Method != "GET");
    }
}
