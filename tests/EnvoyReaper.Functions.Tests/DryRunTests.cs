using EnvoyReaper.Functions.Tests.Support;
using EnvoyReaper.TestSupport.Envoy;
using EnvoyReaper.TestSupport.Kubernetes;
using EnvoyReaper.TestSupport.Storage;
using k8s.Models;

namespace EnvoyReaper.Functions.Tests;

[Collection(AzuriteStorage.CollectionName)]
public sealed class DryRunTests
{
    [Fact]
    public async Task With_Reaper_DryRun_a_delete_becomes_a_WouldTearDown_event_and_nothing_is_written_but_events()
    {
        await using var host = await ReaperTestHost.StartAsync(new() { ["Reaper:DryRun"] = "true" });
        await using var envoys = await FakeEnvoyFleet.StartAsync(1);
        envoys.Pods[0].SetListener("0.0.0.0_15001", active: 0, total: 3);
        host.Api.SeedWorkload("preview", "pr-42", [envoys.Pods[0].Ip],
            new Dictionary<string, string> { ["envoy-reaper/stats-port"] = envoys.Port.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            createdAt: host.Time.GetUtcNow().UtcDateTime.AddHours(-1));
        host.Api.ResetRecording();

        await host.RunCyclesAsync(14, envoys);

        Assert.True(host.Api.Exists<V1Deployment>("preview", "pr-42"));
        Assert.True(host.Api.Exists<V1Service>("preview", "pr-42-service"));
        // Besides Events, only the status annotations on transitions: never the spec, never a delete.
        Assert.All(host.Api.Requests.Where(request => request.Method != "GET"), request =>
        {
            if (request.Path.Contains("/events", StringComparison.Ordinal))
            {
                return;
            }

            Assert.Equal("PATCH", request.Method);
            var patch = System.Text.Json.Nodes.JsonNode.Parse(request.Body)!.AsObject();
            Assert.Equal(["metadata"], patch.Select(pair => pair.Key));
            Assert.All(patch["metadata"]!["annotations"]!.AsObject(), pair => Assert.StartsWith("envoy-reaper/", pair.Key));
        });
        var annotations = host.Api.Get<V1Deployment>("preview", "pr-42")!.Metadata.Annotations;
        Assert.Equal("Idle", annotations["envoy-reaper/verdict"]);
        Assert.False(string.IsNullOrEmpty(annotations["envoy-reaper/idle-since"]));
        var events = host.Api.List("", "v1", "events", "preview");
        var would = Assert.Single(events, item => item["reason"]!.GetValue<string>() == "WouldTearDown");
        Assert.Contains("DryRun", would["message"]!.GetValue<string>());
        Assert.Contains("delete", would["message"]!.GetValue<string>());
    }
}
