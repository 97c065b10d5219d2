using System.Text.Json.Nodes;
using EnvoyReaper.Functions.Tests.Support;
using EnvoyReaper.TestSupport.Envoy;
using EnvoyReaper.TestSupport.Kubernetes;
using EnvoyReaper.TestSupport.Storage;
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
            foreach (var key in annotations.Select(pair => pair.Key).Where(key => key.StartsWith("envoy-reaper/", StringComparison.Ordinal) && key is "envoy-reaper/verdict" or "envoy-reaper/idle-since" or "envoy-reaper/last-check" or "envoy-reaper/active-connections" or "envoy-reaper/last-teardown" or "envoy-reaper/message").ToList())
            {
                annotations.Remove(key);
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
            Assert.Equal(WithoutServerFields(originals[i]).ToJsonString(), WithoutServerFields(restored[i]).ToJsonString());
        }

        Assert.NotEqual(originals[0]["metadata"]!["uid"]!.GetValue<string>(), restored[0]["metadata"]!["uid"]!.GetValue<string>());
        Assert.Contains(host.Api.List("", "v1", "events", "previews"), item => item["reason"]!.GetValue<string>() == "Restored");
    }

    [Fact]
    public async Task Restoring_a_workload_that_exists_is_409()
    {
        Seed();
        await ReapAsync();
        await RestoreAsync("""{"namespace":"previews","deployment":"pr-7"}""");

        var (status, _) = await RestoreAsync("""{"namespace":"previews","deployment":"pr-7"}""");

        Assert.Equal(409, status);
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
    }

    [Fact]
    public async Task Invalid_names_are_400()
    {
        var (status, body) = await RestoreAsync("""{"namespace":"Bad Name","deployment":"pr-7"}""");

        Assert.Equal(400, status);
        Assert.NotNull(body["errors"]!["namespace"]);
    }
}
