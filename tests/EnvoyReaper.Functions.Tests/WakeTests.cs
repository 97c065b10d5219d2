using System.Globalization;
using System.Text.Json.Nodes;
using EnvoyReaper.Functions.Tests.Support;
using EnvoyReaper.Messaging;
using EnvoyReaper.TestSupport.Envoy;
using EnvoyReaper.TestSupport.Kubernetes;
using EnvoyReaper.TestSupport.Storage;
using EnvoyReaper.Waking;
using k8s;
using k8s.Models;
using Microsoft.Extensions.DependencyInjection;

namespace EnvoyReaper.Functions.Tests;

/// <summary>
/// Wake on traffic (issue 13), the reaper's side: a torn-down workload that opted in is parked (its Service kept, the
/// selector saved and removed, an EndpointSlice to the waker), a wake message brings the Deployment back, and once it is
/// available the Service is unparked. The waker itself is another component; here its wake messages are sent by hand.
/// </summary>
[Collection(AzuriteStorage.CollectionName)]
public sealed class WakeTests : IAsyncLifetime
{
    private const string Namespace = "previews";
    private const string Service = "pr-7-service";
    private const string WakerAddress = "10.9.0.7";

    private ReaperTestHost host = null!;
    private FakeEnvoyFleet envoys = null!;

    public async Task InitializeAsync()
    {
        host = await ReaperTestHost.StartAsync(new Dictionary<string, string?> { ["Waker:ReadyTimeout"] = "00:02:00" });
        envoys = await FakeEnvoyFleet.StartAsync(1);
        envoys.Pods[0].SetListener("0.0.0.0_15001", active: 0, total: 3);
        SeedWakerEndpoints(WakerAddress);
    }

    public async Task DisposeAsync()
    {
        await envoys.DisposeAsync();
        await host.DisposeAsync();
    }

    /// <summary>The slice the EndpointSlice controller keeps for the waker's own Service (it has a selector).</summary>
    private void SeedWakerEndpoints(params string[] addresses) => host.Api.SeedJson("discovery.k8s.io", "v1", "endpointslices", new JsonObject
    {
        ["metadata"] = new JsonObject
        {
            ["name"] = "envoy-reaper-waker-x7k2p",
            ["namespace"] = "envoy-reaper",
            ["labels"] = new JsonObject { ["kubernetes.io/service-name"] = "envoy-reaper-waker", ["endpointslice.kubernetes.io/managed-by"] = "endpointslice-controller.k8s.io" },
        },
        ["addressType"] = "IPv4",
        ["ports"] = new JsonArray(new JsonObject { ["name"] = "http", ["port"] = 8080, ["protocol"] = "TCP" }),
        ["endpoints"] = new JsonArray(addresses.Select(address => (JsonNode)new JsonObject { ["addresses"] = new JsonArray(address), ["conditions"] = new JsonObject { ["ready"] = true } }).ToArray()),
    });

    private void Seed(string action, bool wake = true) => host.Api.SeedWorkload(Namespace, "pr-7", [envoys.Pods[0].Ip],
        new Dictionary<string, string>
        {
            ["envoy-reaper/stats-port"] = envoys.Port.ToString(CultureInfo.InvariantCulture),
            ["envoy-reaper/action"] = action,
            ["envoy-reaper/wake"] = wake ? "true" : "false",
        },
        createdAt: host.Time.GetUtcNow().UtcDateTime.AddHours(-1));

    private Task ReapAsync() => host.RunCyclesAsync(13, envoys);

    private static string WakeJson(string service = Service, string id = "wake-1") =>
        ReaperJson.Serialize(new WakeMessage(WakeMessage.CurrentVersion, id, new DateTimeOffset(2026, 11, 25, 12, 13, 0, TimeSpan.Zero), Namespace, service));

    private Task SendWakeAsync(string? body = null, string messageId = "m-1") =>
        host.Create<Wake>().Run(ReaperTestHost.Delivery(messageId, body ?? WakeJson()), CancellationToken.None);

    private JsonObject ServiceObject() => host.Api.Get("", "v1", "services", Namespace, Service)!;

    private IReadOnlyList<JsonObject> Events(string reason) =>
        host.Api.List("", "v1", "events", Namespace).Where(item => item["reason"]!.GetValue<string>() == reason).ToList();

    private JsonObject? ParkedSlice() => host.Api.Get("discovery.k8s.io", "v1", "endpointslices", Namespace, ParkingContract.EndpointSliceName(Service));

    private void AssertParked()
    {
        var service = ServiceObject();
        Assert.Null(service["spec"]!["selector"]);
        Assert.Equal("true", service["metadata"]!["labels"]![ParkingContract.ParkedLabel]!.GetValue<string>());
        var annotations = service["metadata"]!["annotations"]!;
        Assert.Equal("""{"app":"pr-7"}""", annotations[ParkingContract.SelectorAnnotation]!.GetValue<string>());
        Assert.Equal("pr-7", annotations[ParkingContract.DeploymentAnnotation]!.GetValue<string>());
        Assert.Equal("""[{"port":80,"name":"http","wakerPort":20000}]""", annotations[ParkingContract.WakerPortsAnnotation]!.GetValue<string>());
        Assert.Equal("""["pr-7.example.com"]""", annotations[ParkingContract.HostsAnnotation]!.GetValue<string>());
        Assert.True(host.Api.Exists<V1Ingress>(Namespace, "pr-7-ingress"));
        var slice = ParkedSlice();
        Assert.NotNull(slice);
        Assert.Equal("envoy-reaper", slice!["metadata"]!["labels"]!["endpointslice.kubernetes.io/managed-by"]!.GetValue<string>());
        Assert.Equal(Service, slice["metadata"]!["labels"]!["kubernetes.io/service-name"]!.GetValue<string>());
        // kube-proxy's view: the Service's one port goes to the waker, on the port allocated to it, and nowhere else.
        var routes = host.Api.RoutedEndpoints(Namespace, Service);
        Assert.Equal([$"{WakerAddress}:20000"], routes["http"]);
    }

    private void AssertParkedAnnotationsKept()
    {
        var service = ServiceObject();
        Assert.Null(service["spec"]!["selector"]);
        Assert.Equal("""{"app":"pr-7"}""", service["metadata"]!["annotations"]![ParkingContract.SelectorAnnotation]!.GetValue<string>());
    }

    private void AssertUnparked()
    {
        var service = ServiceObject();
        Assert.Equal("pr-7", service["spec"]!["selector"]?["app"]?.GetValue<string>());
        Assert.Null(service["metadata"]!["labels"]?[ParkingContract.ParkedLabel]);
        Assert.DoesNotContain((service["metadata"]!["annotations"] as JsonObject ?? []).Select(pair => pair.Key), key => key.StartsWith("envoy-reaper/parked", StringComparison.Ordinal) || key == ParkingContract.WakerPortsAnnotation);
        Assert.Null(ParkedSlice());
        Assert.DoesNotContain(host.Api.RoutedEndpoints(Namespace, Service).SelectMany(pair => pair.Value), route => route.StartsWith(WakerAddress, StringComparison.Ordinal));
    }

    private async Task<int> WakerPortRowsAsync()
    {
        var rows = 0;
        await foreach (var _ in AzuriteStorage.Tables().GetTableClient(host.StateTable).QueryAsync<Azure.Data.Tables.TableEntity>(filter: "PartitionKey eq '~waker-ports'"))
        {
            rows++;
        }

        return rows;
    }

    // ---------------------------------------------------------------- Park, wake, unpark (items 2 and 3)

    [Fact]
    public async Task A_scaled_to_zero_workload_is_parked_then_scaled_back_by_a_wake_and_unparked_once_available()
    {
        Seed("scale-to-zero");

        await ReapAsync();

        Assert.Equal(0, host.Api.Get<V1Deployment>(Namespace, "pr-7")!.Spec.Replicas);
        AssertParked();
        Assert.Equal(1, await WakerPortRowsAsync());

        await SendWakeAsync();

        Assert.Equal(1, host.Api.Get<V1Deployment>(Namespace, "pr-7")!.Spec.Replicas);
        Assert.Single(Events("WakeRequested"));
        AssertParked(); // not before the Deployment is available

        Assert.NotNull(await host.DeliverNextWakeAsync()); // the controller has not reported the new generation yet
        AssertParked();

        host.Api.ReportRollout(Namespace, "pr-7", DeploymentRollout.Complete);
        Assert.NotNull(await host.DeliverNextWakeAsync());

        AssertUnparked();
        Assert.Equal(0, await WakerPortRowsAsync());
        // Its idle state starts over, and the startup grace counts from the wake.
        var state = (await host.Services.GetRequiredService<Idleness.IWorkloadStateStore>().GetAsync(Namespace, "pr-7", CancellationToken.None))!.State;
        Assert.Equal(host.Time.GetUtcNow(), state.WokenAt);
        Assert.Null(state.TeardownCompletedAt);
        var woken = Assert.Single(Events("Woken"));
        Assert.Contains("after the first request", woken["message"]!.GetValue<string>());
        Assert.Null(await host.DeliverNextWakeAsync()); // no check left behind
    }

    [Fact]
    public async Task Unparking_gives_the_selector_back_and_removes_the_EndpointSlice_before_the_parked_label_goes()
    {
        // The waker forwards held requests to the Service once the label is gone: by then kube-proxy must route to the
        // pods only, never to a waker endpoint still listed next to them.
        Seed("scale-to-zero");
        await ReapAsync();
        await SendWakeAsync();
        host.Api.ReportRollout(Namespace, "pr-7", DeploymentRollout.Complete);
        host.Api.ResetRecording();

        Assert.NotNull(await host.DeliverNextWakeAsync());

        AssertUnparked();
        var writes = host.Api.Requests.Where(request => request.Method is "PATCH" or "PUT" or "DELETE").ToList();
        var selectorRestored = writes.FindIndex(request => request.Method == "PATCH" && request.Path.EndsWith("/services/" + Service, StringComparison.Ordinal)
            && request.Body.Contains("\"selector\":{\"app\":\"pr-7\"}", StringComparison.Ordinal));
        var sliceDeleted = writes.FindIndex(request => request.Method == "DELETE" && request.Path.EndsWith("/endpointslices/" + ParkingContract.EndpointSliceName(Service), StringComparison.Ordinal));
        var labelRemoved = writes.FindIndex(request => request.Method == "PATCH" && request.Path.EndsWith("/services/" + Service, StringComparison.Ordinal)
            && request.Body.Contains($"\"{ParkingContract.ParkedLabel}\":null", StringComparison.Ordinal));
        Assert.True(selectorRestored >= 0 && sliceDeleted > selectorRestored && labelRemoved > sliceDeleted,
            $"selector restored at {selectorRestored}, slice deleted at {sliceDeleted}, label removed at {labelRemoved}: {string.Join(" | ", writes.Select(request => $"{request.Method} {request.Path} {request.Body}"))}");
    }

    [Fact]
    public async Task A_deleted_workload_keeps_its_Service_parked_and_is_restored_from_its_snapshot_on_wake()
    {
        Seed("delete");
        var serviceUid = ServiceObject()["metadata"]!["uid"]!.GetValue<string>();

        await ReapAsync();

        Assert.False(host.Api.Exists<V1Deployment>(Namespace, "pr-7"));
        Assert.Equal(serviceUid, ServiceObject()["metadata"]!["uid"]!.GetValue<string>()); // kept, not recreated
        AssertParked();

        await SendWakeAsync();

        var restored = host.Api.Get<V1Deployment>(Namespace, "pr-7")!;
        Assert.StartsWith("previews/pr-7/", restored.Metadata.Annotations["envoy-reaper/restored-from"]);
        Assert.Equal(serviceUid, ServiceObject()["metadata"]!["uid"]!.GetValue<string>());

        host.Api.ReportRollout(Namespace, "pr-7", DeploymentRollout.Complete);
        Assert.NotNull(await host.DeliverNextWakeAsync());

        AssertUnparked();
        Assert.Single(Events("Woken"));
    }

    [Fact]
    public async Task A_hundred_duplicate_wake_messages_give_one_restore()
    {
        Seed("delete");
        await ReapAsync();
        host.Api.ResetRecording();

        await Task.WhenAll(Enumerable.Range(0, 100).Select(i => SendWakeAsync(WakeJson(id: $"wake-{i}"), $"m-{i}")));

        Assert.Single(host.Api.Requests, request => request is { Method: "POST" } && request.Path.EndsWith("/deployments", StringComparison.Ordinal));
        var requested = Assert.Single(Events("WakeRequested"));
        Assert.Equal(1, requested["count"]!.GetValue<int>());
    }

    // ---------------------------------------------------------------- Only what opted in and was parked by us wakes

    [Fact]
    public async Task A_workload_without_the_opt_in_is_not_parked_and_a_forged_wake_for_its_Service_does_nothing()
    {
        Seed("scale-to-zero", wake: false);
        await ReapAsync();
        Assert.Equal("pr-7", ServiceObject()["spec"]!["selector"]!["app"]!.GetValue<string>());
        Assert.Null(ParkedSlice());
        host.Api.ResetRecording();

        await SendWakeAsync();

        Assert.Equal(0, host.Api.Get<V1Deployment>(Namespace, "pr-7")!.Spec.Replicas);
        Assert.Equal(0, host.Api.WriteCount);
        Assert.Empty(Events("WakeRequested"));
    }

    [Fact]
    public async Task Parking_annotations_written_by_hand_on_another_Service_wake_nothing()
    {
        Seed("scale-to-zero");
        await ReapAsync();
        var parked = ServiceObject();
        host.Api.Seed(new V1Service
        {
            Metadata = new V1ObjectMeta
            {
                Name = "forged",
                NamespaceProperty = Namespace,
                Labels = new Dictionary<string, string> { [ParkingContract.ParkedLabel] = "true" },
                Annotations = ((JsonObject)parked["metadata"]!["annotations"]!).ToDictionary(pair => pair.Key, pair => pair.Value!.GetValue<string>()),
            },
            Spec = new V1ServiceSpec { Ports = [new V1ServicePort { Name = "http", Port = 80 }] },
        });
        host.Api.ResetRecording();

        await SendWakeAsync(WakeJson(service: "forged"));

        Assert.Equal(0, host.Api.Get<V1Deployment>(Namespace, "pr-7")!.Spec.Replicas);
        Assert.Equal(0, host.Api.WriteCount);
    }

    [Theory]
    [InlineData("""{"version":1,"id":"w1","firstRequestAt":"2026-11-25T12:13:00Z","namespace":"previews","service":"../kube-system/x"}""")]
    [InlineData("""{"version":2,"id":"w1","firstRequestAt":"2026-11-25T12:13:00Z","namespace":"previews","service":"pr-7-service"}""")]
    [InlineData("""{"version":1,"id":"w1","namespace":"previews","service":"pr-7-service"}""")]
    public async Task A_malformed_wake_message_goes_to_the_poison_queue_without_any_cluster_request(string body)
    {
        Seed("scale-to-zero");
        await ReapAsync();
        host.Api.ResetRecording();

        await SendWakeAsync(body, "msg-wake");

        Assert.Empty(host.Api.Requests);
        var poisoned = Assert.Single(await AzuriteStorage.PeekRawAsync(QueueNames.Wake + "-poison"));
        Assert.Equal(body, System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(poisoned.Body.ToString())));
        Assert.Contains(host.Logs, line => line.Contains("msg-wake", StringComparison.Ordinal) && line.Contains("poison", StringComparison.Ordinal));
    }

    // ---------------------------------------------------------------- A failed wake leaves it parked and says why

    [Fact]
    public async Task A_refused_restore_leaves_the_workload_parked_with_a_WakeFailed_Event()
    {
        // Scaled to zero, then deleted by a person: there is nothing to scale back, and nothing runs to unpark onto.
        Seed("scale-to-zero");
        await ReapAsync();
        await new k8s.Kubernetes(host.Api.ClientConfiguration()).AppsV1.DeleteNamespacedDeploymentAsync("pr-7", Namespace);

        await SendWakeAsync();

        AssertParked();
        var failed = Assert.Single(Events("WakeFailed"));
        Assert.Equal("Warning", failed["type"]!.GetValue<string>());
        Assert.Contains("no longer exists", failed["message"]!.GetValue<string>());
        Assert.Contains("stays parked", failed["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_Deployment_never_available_within_the_bound_leaves_the_workload_parked_with_a_WakeFailed_Event()
    {
        Seed("scale-to-zero");
        await ReapAsync();
        await SendWakeAsync();
        host.Advance(TimeSpan.FromMinutes(3)); // past Waker:ReadyTimeout (2 minutes)

        Assert.NotNull(await host.DeliverNextWakeAsync());

        AssertParked();
        Assert.Contains("not available by", Assert.Single(Events("WakeFailed"))["message"]!.GetValue<string>());
        Assert.Null(await host.DeliverNextWakeAsync());
    }

    // ---------------------------------------------------------------- Opt-in refused for what cannot be woken (item 1)

    [Fact]
    public async Task A_TCP_only_workload_that_opts_in_is_refused_with_a_clear_reason_and_not_torn_down()
    {
        Seed("delete");
        var client = new k8s.Kubernetes(host.Api.ClientConfiguration());
        await client.CoreV1.PatchNamespacedServiceAsync(
            new V1Patch("""{"spec":{"ports":[{"name":"postgres","port":5432,"targetPort":15001}]}}""", V1Patch.PatchType.MergePatch), Service, Namespace);

        await ReapAsync();

        Assert.True(host.Api.Exists<V1Deployment>(Namespace, "pr-7"));
        var refused = Events("WakeRefused");
        Assert.NotEmpty(refused);
        Assert.Equal("Warning", refused[0]["type"]!.GetValue<string>());
        Assert.Contains("port postgres is not HTTP", refused[0]["message"]!.GetValue<string>());
        Assert.Empty(Events("TornDown"));
    }

    [Theory]
    [InlineData("""{"name":"dns","port":53,"protocol":"UDP","targetPort":15001}""", "is UDP")]
    [InlineData("""{"name":"api","port":80,"appProtocol":"grpc","targetPort":15001}""", "is not HTTP")]
    [InlineData("""{"name":"grpc-orders","port":8080,"targetPort":15001}""", "is not HTTP")]
    [InlineData("""{"name":"web","port":80,"appProtocol":"kubernetes.io/h2c","targetPort":15001}""", "is not HTTP")]
    public async Task A_UDP_or_gRPC_port_that_opts_in_is_refused_with_a_clear_reason_and_not_torn_down(string port, string reason)
    {
        Seed("scale-to-zero");
        var client = new k8s.Kubernetes(host.Api.ClientConfiguration());
        await client.CoreV1.PatchNamespacedServiceAsync(new V1Patch("{\"spec\":{\"ports\":[" + port + "]}}", V1Patch.PatchType.MergePatch), Service, Namespace);

        await ReapAsync();

        Assert.Equal(1, host.Api.Get<V1Deployment>(Namespace, "pr-7")!.Spec.Replicas);
        var refused = Events("WakeRefused");
        Assert.NotEmpty(refused);
        Assert.Contains(reason, refused[0]["message"]!.GetValue<string>());
        Assert.Empty(Events("TornDown"));
        Assert.Null(ParkedSlice());
    }

    // ---------------------------------------------------------------- The timer follows the waker's pods (item 2)

    [Fact]
    public async Task The_timer_points_parked_EndpointSlices_at_the_wakers_new_endpoints_with_a_bounded_number_of_requests()
    {
        Seed("scale-to-zero");
        await ReapAsync();
        AssertParked();
        var waker = host.Api.Get("discovery.k8s.io", "v1", "endpointslices", "envoy-reaper", "envoy-reaper-waker-x7k2p")!;
        waker["endpoints"] = new JsonArray(new JsonObject { ["addresses"] = new JsonArray("10.9.0.8"), ["conditions"] = new JsonObject { ["ready"] = true } });
        var client = new k8s.Kubernetes(host.Api.ClientConfiguration());
        await client.DiscoveryV1.ReplaceNamespacedEndpointSliceAsync(k8s.KubernetesJson.Deserialize<V1EndpointSlice>(waker.ToJsonString()), "envoy-reaper-waker-x7k2p", "envoy-reaper");
        host.Api.ResetRecording();

        await host.RunTimerAsync();

        // The timer only reads (two lists, whatever the number of parked slices) and asks the Park function to write.
        var sliceRequests = host.Api.Requests.Where(request => request.Path.Contains("/endpointslices", StringComparison.Ordinal)).ToList();
        Assert.Equal(["GET", "GET"], sliceRequests.Select(request => request.Method));
        Assert.Equal(1, await host.DeliverParksAsync());
        Assert.Equal(["10.9.0.8:20000"], host.Api.RoutedEndpoints(Namespace, Service)["http"]);
        AssertParkedAnnotationsKept();

        host.Api.ResetRecording();
        await host.RunTimerAsync();
        Assert.Equal(2, host.Api.Requests.Count(request => request.Path.Contains("/endpointslices", StringComparison.Ordinal)));
        Assert.Equal(0, await host.DeliverParksAsync()); // nothing changed: nothing asked for
    }

    // ---------------------------------------------------------------- Adversarial: parking never cuts a live workload off

    /// <summary>The teardown and its park request, without the Park function running yet (the window between them).</summary>
    private async Task<string> TearDownWithoutParkingAsync()
    {
        for (var i = 0; i < 13; i++)
        {
            await host.RunTimerAsync();
            await host.DeliverStatsChecksAsync();
            await host.DeliverTeardownsAsync();
            host.Advance(TimeSpan.FromMinutes(1), envoys);
        }

        var park = Assert.Single(await AzuriteStorage.PeekRawAsync(QueueNames.Park));
        return System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(park.Body.ToString()));
    }

    private Task SendParkAsync(string body, string messageId = "p-again") =>
        host.Create<Park>().Run(ReaperTestHost.Delivery(messageId, body), CancellationToken.None);

    private Task PatchServiceAsync(string mergePatch) =>
        new k8s.Kubernetes(host.Api.ClientConfiguration()).CoreV1.PatchNamespacedServiceAsync(new V1Patch(mergePatch, V1Patch.PatchType.MergePatch), Service, Namespace);

    private void AssertNotParked(string app)
    {
        var service = ServiceObject();
        Assert.Equal(app, service["spec"]!["selector"]?["app"]?.GetValue<string>());
        Assert.Null(service["metadata"]!["labels"]?[ParkingContract.ParkedLabel]);
        Assert.Null(ParkedSlice());
    }

    [Fact]
    public async Task Parking_leaves_a_Service_whose_selector_a_person_changed_after_the_teardown_as_it_is()
    {
        Seed("scale-to-zero");
        await TearDownWithoutParkingAsync();
        await PatchServiceAsync("""{"spec":{"selector":{"app":"pr-7-v2"}}}""");

        Assert.Equal(1, await host.DeliverParksAsync());

        AssertNotParked("pr-7-v2");
    }

    [Fact]
    public async Task Parking_leaves_a_Service_that_now_also_selects_another_Deployments_pods_as_it_is()
    {
        Seed("delete");
        await TearDownWithoutParkingAsync();
        var canaryLabels = new Dictionary<string, string> { ["app"] = "pr-7", ["track"] = "canary" };
        host.Api.Seed(new V1Deployment
        {
            ApiVersion = "apps/v1",
            Kind = "Deployment",
            Metadata = new V1ObjectMeta { Name = "pr-7-canary", NamespaceProperty = Namespace, Labels = canaryLabels },
            Spec = new V1DeploymentSpec
            {
                Replicas = 1,
                Selector = new V1LabelSelector { MatchLabels = canaryLabels },
                Template = new V1PodTemplateSpec { Metadata = new V1ObjectMeta { Labels = canaryLabels }, Spec = new V1PodSpec { Containers = [new V1Container { Name = "app", Image = "app:2" }] } },
            },
        });

        Assert.Equal(1, await host.DeliverParksAsync());

        AssertNotParked("pr-7");
    }

    [Fact]
    public async Task Unparking_keeps_a_selector_a_person_set_on_the_parked_Service_since()
    {
        Seed("scale-to-zero");
        await ReapAsync();
        AssertParked();
        await PatchServiceAsync("""{"spec":{"selector":{"app":"pr-7-v2"}}}""");

        await SendWakeAsync();
        host.Api.ReportRollout(Namespace, "pr-7", DeploymentRollout.Complete);
        Assert.NotNull(await host.DeliverNextWakeAsync());

        AssertNotParked("pr-7-v2");
        Assert.DoesNotContain((ServiceObject()["metadata"]!["annotations"] as JsonObject ?? []).Select(pair => pair.Key), key => key.StartsWith("envoy-reaper/parked", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_Deployment_recreated_by_hand_while_parked_is_not_restored_over_and_gets_its_Service_back_once_available()
    {
        Seed("delete");
        var original = host.Api.Get("apps", "v1", "deployments", Namespace, "pr-7")!;
        await ReapAsync();
        var byHand = original.DeepClone().AsObject();
        byHand["metadata"]!.AsObject().Remove("uid");
        byHand["metadata"]!.AsObject().Remove("resourceVersion");
        byHand["spec"]!["template"]!["spec"]!["containers"]![0]!["image"] = "app:by-hand";
        var recreatedUid = host.Api.SeedJson("apps", "v1", "deployments", byHand)["metadata"]!["uid"]!.GetValue<string>();

        await SendWakeAsync();
        host.Api.ReportRollout(Namespace, "pr-7", DeploymentRollout.Complete);
        Assert.NotNull(await host.DeliverNextWakeAsync());

        var live = host.Api.Get<V1Deployment>(Namespace, "pr-7")!;
        Assert.Equal(recreatedUid, live.Metadata.Uid);
        Assert.Equal("app:by-hand", live.Spec.Template.Spec.Containers[0].Image);
        AssertUnparked();
        Assert.Empty(Events("WakeFailed"));
    }

    [Fact]
    public async Task A_park_message_delivered_again_after_the_wake_does_not_park_the_Service_again()
    {
        // At-least-once delivery: the teardown's park request comes back after the wake, and a person has deleted the
        // Deployment since. Parking again would have the next request resurrect what the person deleted.
        Seed("delete");
        var park = await TearDownWithoutParkingAsync();
        await ParkWakeAndUnparkAsync();
        await new k8s.Kubernetes(host.Api.ClientConfiguration()).AppsV1.DeleteNamespacedDeploymentAsync("pr-7", Namespace);

        await SendParkAsync(park);

        AssertNotParked("pr-7");
    }

    [Fact]
    public async Task A_park_message_of_an_older_teardown_does_not_replace_the_snapshot_of_the_newer_parking()
    {
        Seed("scale-to-zero");
        var older = await TearDownWithoutParkingAsync();
        await ParkWakeAndUnparkAsync();

        // A newer teardown of the same Deployment: its snapshot and its parking.
        var olderPark = System.Text.Json.JsonSerializer.Deserialize<ParkMessage>(older, ReaperJson.Options)!;
        var snapshots = host.Services.GetRequiredService<Teardown.ISnapshotStore>();
        var olderSnapshot = (await snapshots.GetAsync(olderPark.Snapshot, CancellationToken.None))!;
        var newerName = Teardown.WorkloadSnapshot.NameFor(Namespace, "pr-7", olderSnapshot.DeploymentUid, host.Time.GetUtcNow());
        await snapshots.SaveOnceAsync(newerName, olderSnapshot with { TakenAt = host.Time.GetUtcNow() }, CancellationToken.None);
        var client = new k8s.Kubernetes(host.Api.ClientConfiguration());
        await client.AppsV1.PatchNamespacedDeploymentScaleAsync(new V1Patch("""{"spec":{"replicas":0}}""", V1Patch.PatchType.MergePatch), "pr-7", Namespace);
        await SendParkAsync(ReaperJson.Serialize(olderPark with { Id = "newer", Snapshot = newerName }), "p-newer");
        Assert.Equal(newerName, ServiceObject()["metadata"]!["annotations"]![ParkingContract.SnapshotAnnotation]!.GetValue<string>());

        await SendParkAsync(older);

        Assert.Equal(newerName, ServiceObject()["metadata"]!["annotations"]![ParkingContract.SnapshotAnnotation]!.GetValue<string>());
    }

    [Fact]
    public async Task A_wake_retried_after_the_restore_failed_part_way_restores_the_workload()
    {
        // The record that deduplicates wakes is written before the restore: the queue's retry of that very message must
        // not be taken for a second wake and left waiting on a restore that never happened.
        Seed("delete");
        await ReapAsync();
        host.Api.FailNext("POST", "/apis/apps/v1/namespaces/previews/deployments", 500, "InternalError");

        await Assert.ThrowsAnyAsync<Exception>(() => SendWakeAsync());
        Assert.False(host.Api.Exists<V1Deployment>(Namespace, "pr-7"));
        await SendWakeAsync(); // the queue delivers the same message again

        Assert.True(host.Api.Exists<V1Deployment>(Namespace, "pr-7"));
        host.Api.ReportRollout(Namespace, "pr-7", DeploymentRollout.Complete);
        for (var check = 0; check < 3 && ParkedSlice() is not null; check++)
        {
            Assert.NotNull(await host.DeliverNextWakeAsync());
        }

        AssertUnparked();
    }

    [Fact]
    public async Task A_Deployment_scaled_up_by_a_person_while_Park_runs_gets_its_Service_back()
    {
        Seed("scale-to-zero");
        await TearDownWithoutParkingAsync();
        var client = new k8s.Kubernetes(host.Api.ClientConfiguration());
        // After Park found the Deployment at zero, before its write of the Service.
        host.Api.BeforeNext("PATCH", "/services/" + Service, () =>
            client.AppsV1.PatchNamespacedDeploymentScaleAsync(new V1Patch("""{"spec":{"replicas":1}}""", V1Patch.PatchType.MergePatch), "pr-7", Namespace));

        Assert.Equal(1, await host.DeliverParksAsync());

        Assert.Equal(1, host.Api.Get<V1Deployment>(Namespace, "pr-7")!.Spec.Replicas);
        AssertUnparked();
        Assert.Equal(0, await WakerPortRowsAsync());
    }

    [Fact]
    public async Task A_teardown_retried_after_its_Deployment_was_deleted_finishes_with_the_Service_kept_and_parked()
    {
        // The first attempt deletes the Deployment and fails on the sidecar ConfigMap; the queue's retry takes the finish
        // path (the Deployment is gone) and must keep and park the Service as the first attempt would have.
        Seed("delete");
        host.Api.Seed(new V1ConfigMap
        {
            Metadata = new V1ObjectMeta { Name = "pr-7-envoy", NamespaceProperty = Namespace, Labels = new Dictionary<string, string> { ["app.kubernetes.io/managed-by"] = "envoy-reaper" } },
            Data = new Dictionary<string, string> { ["envoy.yaml"] = "static_resources: {}" },
        });
        var serviceUid = ServiceObject()["metadata"]!["uid"]!.GetValue<string>();
        string? teardown = null;
        for (var cycle = 0; cycle < 20 && teardown is null; cycle++)
        {
            await host.RunTimerAsync();
            await host.DeliverStatsChecksAsync();
            teardown = (await AzuriteStorage.PeekRawAsync(QueueNames.Teardown)).Select(message => System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(message.Body.ToString()))).FirstOrDefault();
            host.Advance(TimeSpan.FromMinutes(1), envoys);
        }

        Assert.NotNull(teardown);
        host.Api.FailNext("DELETE", "/configmaps/pr-7-envoy", 500, "InternalError");
        await Assert.ThrowsAnyAsync<Exception>(() => host.Create<TearDown>().Run(ReaperTestHost.Delivery("t-1", teardown), CancellationToken.None));
        Assert.False(host.Api.Exists<V1Deployment>(Namespace, "pr-7"));
        Assert.Empty(await AzuriteStorage.PeekRawAsync(QueueNames.Park));

        await host.Create<TearDown>().Run(ReaperTestHost.Delivery("t-1", teardown, dequeueCount: 2), CancellationToken.None);

        Assert.False(host.Api.Exists<V1ConfigMap>(Namespace, "pr-7-envoy"));
        Assert.Equal(serviceUid, ServiceObject()["metadata"]!["uid"]!.GetValue<string>());
        Assert.Equal(1, await host.DeliverParksAsync());
        AssertParked();
        Assert.Single(Events("TornDown"));

        await SendWakeAsync();
        Assert.StartsWith("previews/pr-7/", host.Api.Get<V1Deployment>(Namespace, "pr-7")!.Metadata.Annotations["envoy-reaper/restored-from"]);
        host.Api.ReportRollout(Namespace, "pr-7", DeploymentRollout.Complete);
        Assert.NotNull(await host.DeliverNextWakeAsync());
        AssertUnparked();
    }

    /// <param name="retryAfterMinutes">0: the queue's next delivery; 6: an outage outlasted Reaper:MessageMaxAge (5 min).</param>
    [Theory]
    [InlineData(0)]
    [InlineData(6)]
    public async Task A_scale_to_zero_retried_after_the_scale_was_applied_but_its_answer_lost_finishes_and_parks(int retryAfterMinutes)
    {
        // The API server applied the scale and the answer never arrived (or the worker died right after): the retry
        // finds the Deployment at zero, its pods going, and must still finish the teardown and ask for parking.
        Seed("scale-to-zero");
        var teardown = await NextTeardownRequestAsync();
        var writer = host.Services.GetRequiredService<Cluster.IClusterWriter>();
        host.Api.BeforeNext("PATCH", "/deployments/pr-7", async () =>
        {
            var current = host.Api.Get<V1Deployment>(Namespace, "pr-7")!;
            await writer.ScaleToZeroAsync(Namespace, "pr-7", current.Metadata.ResourceVersion, 1, EnvoyReaper.Teardown.WorkloadSnapshot.NameFor(Namespace, "pr-7", current.Metadata.Uid, System.Text.Json.JsonSerializer.Deserialize<TeardownMessage>(teardown, ReaperJson.Options)!.RequestedAt), CancellationToken.None);
            host.Api.FailNext("PATCH", "/deployments/pr-7", 500, "InternalError");
        });
        await Assert.ThrowsAnyAsync<Exception>(() => host.Create<TearDown>().Run(ReaperTestHost.Delivery("t-1", teardown), CancellationToken.None));
        Assert.Equal(0, host.Api.Get<V1Deployment>(Namespace, "pr-7")!.Spec.Replicas);
        Assert.Empty(await AzuriteStorage.PeekRawAsync(QueueNames.Park));

        host.Time.Advance(TimeSpan.FromMinutes(retryAfterMinutes));
        await host.Create<TearDown>().Run(ReaperTestHost.Delivery("t-1", teardown, dequeueCount: 2), CancellationToken.None);

        Assert.Equal(1, await host.DeliverParksAsync());
        AssertParked();
        Assert.Single(Events("TornDown"));
    }

    [Fact]
    public async Task A_retry_does_not_take_a_persons_scale_to_zero_over_a_leftover_annotation_for_its_own()
    {
        // An older scale-to-zero teardown left replicas-before-teardown behind (a person scaled it back up by hand). This
        // teardown's scale fails; then a person scales the Deployment to zero. Its retry must not finish and park: the
        // zero is the person's, not this teardown's.
        Seed("scale-to-zero");
        await new k8s.Kubernetes(host.Api.ClientConfiguration()).AppsV1.PatchNamespacedDeploymentAsync(
            new V1Patch("""{"metadata":{"annotations":{"envoy-reaper/replicas-before-teardown":"3"}}}""", V1Patch.PatchType.MergePatch), "pr-7", Namespace);
        var teardown = await NextTeardownRequestAsync();
        host.Api.FailNext("PATCH", "/deployments/pr-7", 500, "InternalError");
        await Assert.ThrowsAnyAsync<Exception>(() => host.Create<TearDown>().Run(ReaperTestHost.Delivery("t-1", teardown), CancellationToken.None));
        await new k8s.Kubernetes(host.Api.ClientConfiguration()).AppsV1.PatchNamespacedDeploymentAsync(
            new V1Patch("""{"spec":{"replicas":0}}""", V1Patch.PatchType.MergePatch), "pr-7", Namespace);

        await host.Create<TearDown>().Run(ReaperTestHost.Delivery("t-1", teardown, dequeueCount: 2), CancellationToken.None);

        Assert.Empty(await AzuriteStorage.PeekRawAsync(QueueNames.Park));
        Assert.Empty(Events("TornDown"));
    }

    /// <summary>Delivers the queued park request, then a wake; the Deployment comes back and the Service is unparked.</summary>
    private async Task ParkWakeAndUnparkAsync()
    {
        Assert.Equal(1, await host.DeliverParksAsync());
        await SendWakeAsync();
        host.Api.ReportRollout(Namespace, "pr-7", DeploymentRollout.Complete);
        Assert.NotNull(await host.DeliverNextWakeAsync());
        AssertUnparked();
    }

    /// <summary>Runs cycles until the workload's teardown is requested; returns that message's body, left in the queue.</summary>
    private async Task<string> NextTeardownRequestAsync()
    {
        string? teardown = null;
        for (var cycle = 0; cycle < 20 && teardown is null; cycle++)
        {
            await host.RunTimerAsync();
            await host.DeliverStatsChecksAsync();
            teardown = (await AzuriteStorage.PeekRawAsync(QueueNames.Teardown)).Select(message => System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(message.Body.ToString()))).FirstOrDefault();
            host.Advance(TimeSpan.FromMinutes(1), envoys);
        }

        Assert.NotNull(teardown);
        return teardown;
    }

    [Fact]
    public async Task A_workload_whose_wake_opt_in_was_removed_after_parking_is_not_woken_and_its_Service_is_unparked()
    {
        Seed("scale-to-zero");
        await ReapAsync();
        AssertParked();
        await new k8s.Kubernetes(host.Api.ClientConfiguration()).AppsV1.PatchNamespacedDeploymentAsync(
            new V1Patch("""{"metadata":{"annotations":{"envoy-reaper/wake":"false"}}}""", V1Patch.PatchType.MergePatch), "pr-7", Namespace);

        await SendWakeAsync();

        Assert.Equal(0, host.Api.Get<V1Deployment>(Namespace, "pr-7")!.Spec.Replicas);
        AssertUnparked();
        Assert.Equal(0, await WakerPortRowsAsync());
        Assert.Empty(Events("WakeRequested"));
        Assert.Contains("envoy-reaper/wake", Assert.Single(Events("WakeRefused"))["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_wake_check_retried_after_the_idle_state_could_not_be_restarted_still_gives_the_startup_grace()
    {
        Seed("scale-to-zero");
        await ReapAsync();
        await SendWakeAsync();
        host.Api.ReportRollout(Namespace, "pr-7", DeploymentRollout.Complete);
        var states = host.Services.GetRequiredService<Idleness.IWorkloadStateStore>();
        var unavailableOnce = ActivatorUtilities.CreateInstance<WakeProcessor>(host.Services, new StateStoreFailingOnce(states));
        var queue = AzuriteStorage.Queues(base64: false).GetQueueClient(QueueNames.Wake);
        Azure.Storage.Queues.Models.QueueMessage? check = null;
        for (var attempt = 0; attempt < 50 && check is null; attempt++)
        {
            check = ((Azure.Storage.Queues.Models.QueueMessage[])(await queue.ReceiveMessagesAsync(1, TimeSpan.FromSeconds(30))).Value).FirstOrDefault();
            if (check is null)
            {
                await Task.Delay(100);
            }
        }

        var message = System.Text.Json.JsonSerializer.Deserialize<WakeMessage>(Convert.FromBase64String(check!.Body.ToString()), ReaperJson.Options)!;

        await Assert.ThrowsAsync<InvalidOperationException>(() => unavailableOnce.ProcessAsync(message, check.MessageId, CancellationToken.None));
        var retried = await host.Create<WakeProcessor>().ProcessAsync(message, check.MessageId, CancellationToken.None); // the queue's retry

        Assert.Equal(WakeOutcome.Woken, retried.Outcome);
        AssertUnparked();
        Assert.Equal(host.Time.GetUtcNow(), (await states.GetAsync(Namespace, "pr-7", CancellationToken.None))!.State.WokenAt);
    }

    private sealed class StateStoreFailingOnce(Idleness.IWorkloadStateStore inner) : Idleness.IWorkloadStateStore
    {
        private int failed;

        public Task<Idleness.StoredState?> GetAsync(string @namespace, string deployment, CancellationToken cancellationToken) =>
            Interlocked.Exchange(ref failed, 1) == 0 ? throw new InvalidOperationException("the state table is unavailable") : inner.GetAsync(@namespace, deployment, cancellationToken);

        public Task<IReadOnlyDictionary<string, Idleness.StoredState>> GetManyAsync(string @namespace, IReadOnlyCollection<string> deployments, CancellationToken cancellationToken) =>
            inner.GetManyAsync(@namespace, deployments, cancellationToken);

        public Task<IReadOnlyDictionary<(string Namespace, string Deployment), Idleness.WorkloadState>> ListAsync(CancellationToken cancellationToken) => inner.ListAsync(cancellationToken);

        public Task<string?> TryWriteAsync(string @namespace, string deployment, Idleness.WorkloadState state, string? expectedETag, CancellationToken cancellationToken) =>
            inner.TryWriteAsync(@namespace, deployment, state, expectedETag, cancellationToken);

        public Task<IReadOnlyList<string?>> TryWriteManyAsync(string @namespace, IReadOnlyList<Idleness.StateWrite> writes, CancellationToken cancellationToken) =>
            inner.TryWriteManyAsync(@namespace, writes, cancellationToken);
    }

    [Fact]
    public async Task A_parked_Service_deleted_by_a_person_takes_its_waker_EndpointSlice_with_it()
    {
        // kube-proxy merges every slice labelled with a Service's name: a slice left behind would send part of the traffic
        // of a Service recreated under that name to waker ports nobody listens on any more.
        Seed("scale-to-zero");
        await ReapAsync();
        AssertParked();
        var client = new k8s.Kubernetes(host.Api.ClientConfiguration());
        await client.CoreV1.DeleteNamespacedServiceAsync(Service, Namespace);
        await client.CoreV1.CreateNamespacedServiceAsync(new V1Service
        {
            Metadata = new V1ObjectMeta { Name = Service, NamespaceProperty = Namespace },
            Spec = new V1ServiceSpec { Selector = new Dictionary<string, string> { ["app"] = "pr-7" }, Ports = [new V1ServicePort { Name = "http", Port = 80 }] },
        }, Namespace);

        Assert.Null(ParkedSlice());
        Assert.DoesNotContain(host.Api.RoutedEndpoints(Namespace, Service).SelectMany(pair => pair.Value), route => route.StartsWith(WakerAddress, StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_IPv6_Service_in_a_dual_stack_cluster_is_parked_on_an_IPv6_EndpointSlice()
    {
        // kube-proxy routes a Service only to slices of its own IP family: an IPv4 slice would leave an IPv6 Service
        // with no endpoint at all, so its requests would never reach the waker.
        host.Api.SeedJson("discovery.k8s.io", "v1", "endpointslices", new JsonObject
        {
            ["metadata"] = new JsonObject
            {
                ["name"] = "envoy-reaper-waker-v6q9z",
                ["namespace"] = "envoy-reaper",
                ["labels"] = new JsonObject { ["kubernetes.io/service-name"] = "envoy-reaper-waker", ["endpointslice.kubernetes.io/managed-by"] = "endpointslice-controller.k8s.io" },
            },
            ["addressType"] = "IPv6",
            ["ports"] = new JsonArray(new JsonObject { ["name"] = "http", ["port"] = 8080, ["protocol"] = "TCP" }),
            ["endpoints"] = new JsonArray(new JsonObject { ["addresses"] = new JsonArray("fd00::7"), ["conditions"] = new JsonObject { ["ready"] = true } }),
        });
        Seed("scale-to-zero");
        await PatchServiceAsync("""{"spec":{"ipFamilies":["IPv6"],"ipFamilyPolicy":"SingleStack"}}""");

        await ReapAsync();

        var slice = ParkedSlice()!;
        Assert.Equal("IPv6", slice["addressType"]!.GetValue<string>());
        Assert.Equal("fd00::7", slice["endpoints"]![0]!["addresses"]![0]!.GetValue<string>());
        host.Api.ResetRecording();
        await host.RunTimerAsync();
        Assert.Equal(0, await host.DeliverParksAsync()); // the timer sees it pointing at the waker: nothing to ask for
    }
}
