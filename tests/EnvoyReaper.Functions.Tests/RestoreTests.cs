using System.Text.Json.Nodes;
using EnvoyReaper.Functions.Tests.Support;
using EnvoyReaper.TestSupport.Envoy;
using EnvoyReaper.TestSupport.Kubernetes;
using EnvoyReaper.TestSupport.Storage;
using k8s;
using k8s.Models;

namespace EnvoyReaper.Functions.Tests;

/// <summary>Reap, then POST /api/restore: what comes back equals what was there, but for what the server sets.</summary>
[Collection(AzuriteStorage.CollectionName)]
public sealed class RestoreTests : IAsyncLifetime
{
    private ReaperTestHost host = null!;
    private FakeEnvoyFleet envoys = null!;

    public async Task InitializeAsync()
    {
        host = await ReaperTestHost.StartAsync();
        envoys = await FakeEnvoyFleet.StartAsync(1);
        envoys.Pods[0].SetListener("0.0.0.0_15001", active: 0, total: 3);
    }

    public async Task DisposeAsync()
    {
        await envoys.DisposeAsync();
        await host.DisposeAsync();
    }

    private void Seed(string action = "delete") => host.Api.SeedWorkload("previews", "pr-7", [envoys.Pods[0].Ip],
        new Dictionary<string, string>
        {
            ["envoy-reaper/stats-port"] = envoys.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["envoy-reaper/action"] = action,
        },
        createdAt: host.Time.GetUtcNow().UtcDateTime.AddHours(-1));

    private Task ReapAsync() => host.RunCyclesAsync(13, envoys);

    private async Task<(int Status, JsonNode Body)> RestoreAsync(string json)
    {
        var context = HttpResults.Request("POST", json);
        var (status, body, _) = await HttpResults.ExecuteAsync(context, await host.Create<RestoreWorkload>().Run(context.Request, CancellationToken.None));
        return (status, body);
    }

    private static JsonObject WithoutServerFields(JsonObject manifest)
    {
        var copy = manifest.DeepClone().AsObject();
        copy.Remove("status");
        var metadata = copy["metadata"]!.AsObject();
        foreach (var field in new[] { "uid", "resourceVersion", "creationTimestamp", "generation", "managedFields" })
        {
            metadata.Remove(field);
        }

        if (metadata["annotations"] is JsonObject annotations)
        {
            foreach (var key in annotations.Select(pair => pair.Key).Where(key => key.StartsWith("envoy-reaper/", StringComparison.Ordinal) && key is "envoy-reaper/verdict" or "envoy-reaper/restored-from" or "envoy-reaper/idle-since" or "envoy-reaper/last-check" or "envoy-reaper/active-connections" or "envoy-reaper/last-teardown" or "envoy-reaper/message").ToList())
            {
                annotations.Remove(key);
            }

            if (annotations.Count == 0)
            {
                metadata.Remove("annotations");
            }
        }

        copy["spec"]?.AsObject().Remove("clusterIP");
        copy["spec"]?.AsObject().Remove("clusterIPs");
        return copy;
    }

    [Fact]
    public async Task A_deleted_workload_comes_back_equal_to_the_original_but_for_server_set_fields()
    {
        Seed();
        var originals = new[]
        {
            host.Api.Get("apps", "v1", "deployments", "previews", "pr-7")!,
            host.Api.Get("", "v1", "services", "previews", "pr-7-service")!,
            host.Api.Get("networking.k8s.io", "v1", "ingresses", "previews", "pr-7-ingress")!,
        };
        await ReapAsync();
        Assert.False(host.Api.Exists<V1Deployment>("previews", "pr-7"));

        var (status, body) = await RestoreAsync("""{"namespace":"previews","deployment":"pr-7"}""");

        Assert.Equal(200, status);
        Assert.Equal("Restored", body["status"]!.GetValue<string>());
        Assert.Equal(3, body["restored"]!.AsArray().Count);
        var restored = new[]
        {
            host.Api.Get("apps", "v1", "deployments", "previews", "pr-7")!,
            host.Api.Get("", "v1", "services", "previews", "pr-7-service")!,
            host.Api.Get("networking.k8s.io", "v1", "ingresses", "previews", "pr-7-ingress")!,
        };
        for (var i = 0; i < originals.Length; i++)
        {
            // Equal as JSON objects: the order of members is not part of an object (the server's defaults come in another order).
            Assert.True(JsonNode.DeepEquals(WithoutServerFields(originals[i]), WithoutServerFields(restored[i])),
                $"{WithoutServerFields(originals[i]).ToJsonString()}\n{WithoutServerFields(restored[i]).ToJsonString()}");
        }

        Assert.NotEqual(originals[0]["metadata"]!["uid"]!.GetValue<string>(), restored[0]["metadata"]!["uid"]!.GetValue<string>());
        Assert.Contains(host.Api.List("", "v1", "events", "previews"), item => item["reason"]!.GetValue<string>() == "Restored");
    }

    [Fact]
    public async Task Restoring_over_a_Deployment_not_created_from_the_snapshot_is_409_and_creates_nothing()
    {
        Seed();
        var original = host.Api.Get("apps", "v1", "deployments", "previews", "pr-7")!;
        await ReapAsync();
        SeedByHand(original);

        var (status, body) = await RestoreAsync("""{"namespace":"previews","deployment":"pr-7"}""");

        Assert.Equal(409, status);
        Assert.Contains("not created from snapshot", body["detail"]!.GetValue<string>());
        Assert.False(host.Api.Exists<V1Service>("previews", "pr-7-service"));
    }

    [Fact]
    public async Task Restoring_twice_creates_nothing_the_second_time()
    {
        Seed();
        await ReapAsync();
        await RestoreAsync("""{"namespace":"previews","deployment":"pr-7"}""");
        var uid = host.Api.Get<V1Deployment>("previews", "pr-7")!.Metadata.Uid;

        var (status, body) = await RestoreAsync("""{"namespace":"previews","deployment":"pr-7"}""");

        Assert.Equal(200, status);
        Assert.Empty(body["restored"]!.AsArray());
        Assert.Equal(uid, host.Api.Get<V1Deployment>("previews", "pr-7")!.Metadata.Uid);
    }

    // ---------------------------------------------------------------- An interrupted restore can be finished (issue 9, item 8)

    [Fact]
    public async Task An_interrupted_restore_is_finished_by_running_it_again()
    {
        Seed();
        await ReapAsync();
        host.Api.FailNext("POST", "/namespaces/previews/services", 500, "InternalError"); // a webhook, a quota

        await Assert.ThrowsAnyAsync<Exception>(() => RestoreAsync("""{"namespace":"previews","deployment":"pr-7"}"""));
        Assert.True(host.Api.Exists<V1Deployment>("previews", "pr-7"));
        var uid = host.Api.Get<V1Deployment>("previews", "pr-7")!.Metadata.Uid;
        Assert.False(host.Api.Exists<V1Service>("previews", "pr-7-service"));

        var (status, body) = await RestoreAsync("""{"namespace":"previews","deployment":"pr-7"}""");

        Assert.Equal(200, status);
        Assert.Equal(["Service pr-7-service", "Ingress pr-7-ingress"], body["restored"]!.AsArray().Select(item => item!.GetValue<string>()));
        Assert.Equal(uid, host.Api.Get<V1Deployment>("previews", "pr-7")!.Metadata.Uid);
        Assert.True(host.Api.Exists<V1Service>("previews", "pr-7-service"));
        Assert.True(host.Api.Exists<V1Ingress>("previews", "pr-7-ingress"));
    }

    [Fact]
    public async Task A_nodePort_taken_since_the_teardown_is_dropped_and_the_restore_says_so()
    {
        Seed();
        await PatchServiceAsync("""{"spec":{"type":"NodePort","ports":[{"port":80,"targetPort":8080,"nodePort":30080}]}}""");
        await ReapAsync();
        host.Api.Seed(new V1Service
        {
            Metadata = new V1ObjectMeta { Name = "squatter", NamespaceProperty = "elsewhere" },
            Spec = new V1ServiceSpec { Type = "NodePort", Ports = [new V1ServicePort { Port = 80, NodePort = 30080 }] },
        });

        var (status, body) = await RestoreAsync("""{"namespace":"previews","deployment":"pr-7"}""");

        Assert.Equal(200, status);
        Assert.Contains("30080", body["detail"]!.GetValue<string>());
        Assert.Contains("dropped", body["detail"]!.GetValue<string>());
        var service = host.Api.Get<V1Service>("previews", "pr-7-service")!;
        Assert.NotEqual(30080, service.Spec.Ports[0].NodePort);
        Assert.NotNull(service.Spec.Ports[0].NodePort);
    }

    [Fact]
    public async Task A_LoadBalancer_Service_is_restored_with_a_warning_that_its_external_address_changes()
    {
        Seed();
        await PatchServiceAsync("""{"spec":{"type":"LoadBalancer"}}""");
        await ReapAsync();

        var (status, body) = await RestoreAsync("""{"namespace":"previews","deployment":"pr-7"}""");

        Assert.Equal(200, status);
        Assert.Contains("external address", body["detail"]!.GetValue<string>());
    }

    // ---------------------------------------------------------------- Scale back only what the teardown parked (item 9)

    [Fact]
    public async Task A_scale_to_zero_restore_leaves_a_Deployment_someone_scaled_since_and_is_409()
    {
        Seed("scale-to-zero");
        await ReapAsync();
        await ScaleAsync(5);

        var (status, body) = await RestoreAsync("""{"namespace":"previews","deployment":"pr-7"}""");

        Assert.Equal(409, status);
        Assert.Contains("5 replica", body["detail"]!.GetValue<string>());
        Assert.Equal(5, host.Api.Get<V1Deployment>("previews", "pr-7")!.Spec.Replicas);
    }

    [Fact]
    public async Task A_scale_to_zero_restore_leaves_a_Deployment_recreated_under_the_same_name_and_is_409()
    {
        Seed("scale-to-zero");
        await ReapAsync();
        var parked = host.Api.Get("apps", "v1", "deployments", "previews", "pr-7")!;
        var client = new k8s.Kubernetes(host.Api.ClientConfiguration());
        await client.AppsV1.DeleteNamespacedDeploymentAsync("pr-7", "previews");
        SeedByHand(parked); // recreated with 0 replicas: the same count the teardown left, but not the object it parked

        var (status, body) = await RestoreAsync("""{"namespace":"previews","deployment":"pr-7"}""");

        Assert.Equal(409, status);
        Assert.Contains("recreated", body["detail"]!.GetValue<string>());
        Assert.Equal(0, host.Api.Get<V1Deployment>("previews", "pr-7")!.Spec.Replicas);
    }

    private void SeedByHand(JsonObject original)
    {
        var copy = original.DeepClone().AsObject();
        copy["metadata"]!.AsObject().Remove("uid");
        copy["metadata"]!.AsObject().Remove("resourceVersion");
        host.Api.SeedJson("apps", "v1", "deployments", copy);
    }

    private async Task PatchServiceAsync(string patch)
    {
        var client = new k8s.Kubernetes(host.Api.ClientConfiguration());
        await client.CoreV1.PatchNamespacedServiceAsync(new V1Patch(patch, V1Patch.PatchType.MergePatch), "pr-7-service", "previews");
    }

    private async Task ScaleAsync(int replicas)
    {
        var client = new k8s.Kubernetes(host.Api.ClientConfiguration());
        await client.AppsV1.PatchNamespacedDeploymentAsync(
            new V1Patch($"{{\"spec\":{{\"replicas\":{replicas}}}}}", V1Patch.PatchType.MergePatch), "pr-7", "previews");
    }

    [Fact]
    public async Task Without_a_snapshot_there_is_nothing_to_restore()
    {
        var (status, body) = await RestoreAsync("""{"namespace":"previews","deployment":"never-reaped"}""");

        Assert.Equal(404, status);
        Assert.Contains("no snapshot", body["detail"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_scaled_to_zero_workload_is_scaled_back_to_its_recorded_replicas()
    {
        Seed("scale-to-zero");
        await ReapAsync();
        Assert.Equal(0, host.Api.Get<V1Deployment>("previews", "pr-7")!.Spec.Replicas);

        var (status, body) = await RestoreAsync("""{"namespace":"previews","deployment":"pr-7"}""");

        Assert.Equal(200, status);
        Assert.Equal("ScaledBack", body["status"]!.GetValue<string>());
        var deployment = host.Api.Get<V1Deployment>("previews", "pr-7")!;
        Assert.Equal(1, deployment.Spec.Replicas);
        Assert.False(deployment.Metadata.Annotations.ContainsKey("envoy-reaper/replicas-before-teardown"));
        Assert.False(deployment.Metadata.Annotations.ContainsKey("envoy-reaper/scaled-to-zero-by"));
    }

    [Fact]
    public async Task A_restore_into_a_namespace_outside_the_allowed_ones_is_403_and_creates_nothing()
    {
        await host.DisposeAsync();
        host = await ReaperTestHost.StartAsync(new Dictionary<string, string?> { ["Injection:AllowedNamespaces:0"] = "team-a" });
        Seed();
        await ReapAsync();
        Assert.Null(host.Api.Get<V1Deployment>("previews", "pr-7"));
        var writesBefore = host.Api.Requests.Count(request => request.Method != "GET");

        var (status, body) = await RestoreAsync("""{"namespace":"previews","deployment":"pr-7"}""");

        Assert.Equal(403, status);
        Assert.Contains("Injection__AllowedNamespaces", body["detail"]!.GetValue<string>());
        Assert.Null(host.Api.Get<V1Deployment>("previews", "pr-7"));
        Assert.Equal(writesBefore, host.Api.Requests.Count(request => request.Method != "GET"));
    }

    [Fact]
    public async Task Invalid_names_are_400()
    {
        var (status, body) = await RestoreAsync("""{"namespace":"Bad Name","deployment":"pr-7"}""");

        Assert.Equal(400, status);
        Assert.NotNull(body["errors"]!["namespace"]);
    }
}
