using System.Text.Json.Nodes;
using EnvoyReaper.Cluster;
using EnvoyReaper.Functions.Tests.Support;
using EnvoyReaper.TestSupport.Envoy;
using EnvoyReaper.TestSupport.Kubernetes;
using EnvoyReaper.TestSupport.Kubernetes.Authorization;
using EnvoyReaper.TestSupport.Storage;
using k8s;
using k8s.Models;
using Microsoft.Extensions.DependencyInjection;

namespace EnvoyReaper.Functions.Tests;

/// <summary>
/// Every request each function makes to the API server, recorded on the fake while the real functions run through
/// their DI wiring, must be allowed by the RBAC of the service account(s) of the Deployment(s) that run that function in
/// the manifests a user applies: infra/k8s/rbac.yaml, infra/k8s/app/ and the opt-in injection with its per-namespace
/// RoleBinding example. The manifests can then never drift from the code.
/// </summary>
[Collection(AzuriteStorage.CollectionName)]
public sealed class RbacCoverageTests : IAsyncLifetime
{
    // The namespace the per-namespace injector RoleBinding example (infra/k8s/injection) is written for.
    private const string Namespace = "default";
    private const string OtherNamespace = "unbound";

    private readonly Dictionary<string, List<RecordedRequest>> requestsByFunction = new(StringComparer.Ordinal);
    private ReaperTestHost host = null!;
    private FakeEnvoyFleet envoys = null!;

    public async Task InitializeAsync()
    {
        host = await ReaperTestHost.StartAsync();
        envoys = await FakeEnvoyFleet.StartAsync(4);
        envoys.Pods[0].SetListener("0.0.0.0_15001", active: 0, total: 3);
        envoys.Pods[1].SetListener("0.0.0.0_15001", active: 0, total: 3);
        envoys.Pods[2].SetListener("0.0.0.0_15001", active: 2, total: 9);
        envoys.Pods[3].SetListener("0.0.0.0_15001", active: 0, total: 3);
    }

    public async Task DisposeAsync()
    {
        await envoys.DisposeAsync();
        await host.DisposeAsync();
    }

    private static string Root()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Functions.sln")))
        {
            directory = directory.Parent;
        }

        Assert.NotNull(directory);
        return directory.FullName;
    }

    /// <summary>What the README applies by default, plus the opt-in injector with its per-namespace RoleBinding example.</summary>
    private static FunctionAppManifests DefaultPlusNamespacedInjection()
    {
        var k8s = Path.Combine(Root(), "infra", "k8s");
        var files = new List<string> { Path.Combine(k8s, "rbac.yaml") };
        files.AddRange(Directory.GetFiles(Path.Combine(k8s, "app"), "*.yaml"));
        var injection = Path.Combine(k8s, "injector");
        if (Directory.Exists(injection))
        {
            files.Add(Path.Combine(injection, "injector.yaml"));
            files.Add(Path.Combine(injection, "injector-namespace-binding.yaml"));
        }

        return FunctionAppManifests.Load(files);
    }

    private async Task RunAsync(string function, Func<Task> invocation)
    {
        var before = host.Api.Requests.Count;
        await invocation();
        var made = host.Api.Requests.Skip(before).ToList();
        if (!requestsByFunction.TryGetValue(function, out var list))
        {
            requestsByFunction[function] = list = [];
        }

        list.AddRange(made);
    }

    private Dictionary<string, string> Annotations(string action) => new()
    {
        ["envoy-reaper/stats-port"] = envoys.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["envoy-reaper/action"] = action,
    };

    private void SeedSidecarConfigMap(string @namespace, string deployment) => host.Api.Seed(new V1ConfigMap
    {
        ApiVersion = "v1",
        Kind = "ConfigMap",
        Metadata = new V1ObjectMeta
        {
            Name = $"{deployment}-envoy",
            NamespaceProperty = @namespace,
            Labels = new Dictionary<string, string> { ["app.kubernetes.io/managed-by"] = "envoy-reaper" },
        },
        Data = new Dictionary<string, string> { ["envoy.yaml"] = "admin: {}" },
    });

    private void SeedPlainApp(string @namespace, string name)
    {
        var labels = new Dictionary<string, string> { ["app"] = name };
        host.Api.Seed(new V1Deployment
        {
            ApiVersion = "apps/v1",
            Kind = "Deployment",
            Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = @namespace },
            Spec = new V1DeploymentSpec
            {
                Replicas = 1,
                Selector = new V1LabelSelector { MatchLabels = labels },
                Template = new V1PodTemplateSpec
                {
                    Metadata = new V1ObjectMeta { Labels = labels },
                    Spec = new V1PodSpec { Containers = [new V1Container { Name = "app", Image = "registry.example.com/web:1", Ports = [new V1ContainerPort { ContainerPort = 8080 }] }] },
                },
            },
        });
        host.Api.Seed(new V1Service
        {
            ApiVersion = "v1",
            Kind = "Service",
            Metadata = new V1ObjectMeta { Name = $"{name}-svc", NamespaceProperty = @namespace },
            Spec = new V1ServiceSpec { Selector = labels, Ports = [new V1ServicePort { Name = "http", Port = 80, TargetPort = 8080 }] },
        });
    }

    private async Task<int> HttpAsync<TFunction>(string method, string? json, Func<TFunction, Microsoft.AspNetCore.Http.HttpRequest, Task<Microsoft.AspNetCore.Mvc.IActionResult>> run)
        where TFunction : class
    {
        var context = HttpResults.Request(method, json);
        var result = await HttpResults.ExecuteAsync(context, await run(host.Create<TFunction>(), context.Request));
        return result.Status;
    }

    private Task<int> InjectAsync(string @namespace, string deployment) => HttpAsync<InjectSidecar>("POST",
        $$"""{"namespace":"{{@namespace}}","deployment":"{{deployment}}","appPort":8080,"protocol":"http"}""", (function, request) => function.Run(request, CancellationToken.None));

    private Task<int> RemoveAsync(string @namespace, string deployment) => HttpAsync<RemoveSidecar>("DELETE", null,
        (function, request) => function.Run(request, @namespace, deployment, CancellationToken.None));

    private Task<int> RestoreAsync(string deployment) => HttpAsync<RestoreWorkload>("POST",
        $$"""{"namespace":"{{Namespace}}","deployment":"{{deployment}}"}""", (function, request) => function.Run(request, CancellationToken.None));

    /// <summary>Wake on traffic: parking at teardown (both actions), the timer following the waker, a wake of each, unparking.</summary>
    private async Task RunWakePathsAsync()
    {
        JsonObject WakerSlice(string address) => new()
        {
            ["metadata"] = new JsonObject
            {
                ["name"] = "envoy-reaper-waker-x7k2p",
                ["namespace"] = "envoy-reaper",
                ["labels"] = new JsonObject { ["kubernetes.io/service-name"] = "envoy-reaper-waker", ["endpointslice.kubernetes.io/managed-by"] = "endpointslice-controller.k8s.io" },
            },
            ["addressType"] = "IPv4",
            ["endpoints"] = new JsonArray(new JsonObject { ["addresses"] = new JsonArray(address) }),
        };
        host.Api.SeedJson("discovery.k8s.io", "v1", "endpointslices", WakerSlice("10.9.0.7"));
        await using var fleet = await FakeEnvoyFleet.StartAsync(2);
        fleet.Pods[0].SetListener("0.0.0.0_15001", active: 0, total: 3);
        fleet.Pods[1].SetListener("0.0.0.0_15001", active: 0, total: 3);
        var createdAt = host.Time.GetUtcNow().UtcDateTime.AddHours(-1);
        Dictionary<string, string> Wakes(string action) => new()
        {
            ["envoy-reaper/stats-port"] = fleet.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["envoy-reaper/action"] = action,
            ["envoy-reaper/wake"] = "true",
        };
        host.Api.SeedWorkload(Namespace, "sleepy", [fleet.Pods[0].Ip], Wakes("scale-to-zero"), createdAt: createdAt);
        host.Api.SeedWorkload(Namespace, "gone", [fleet.Pods[1].Ip], Wakes("delete"), createdAt: createdAt);
        for (var cycle = 0; cycle < 13; cycle++)
        {
            await RunAsync(nameof(DiscoverWorkloads), () => host.RunTimerAsync());
            await RunAsync(nameof(CheckStats), () => host.DeliverStatsChecksAsync());
            await RunAsync(nameof(TearDown), () => host.DeliverTeardownsAsync());
            await RunAsync(nameof(Park), () => host.DeliverParksAsync());
            host.Advance(TimeSpan.FromMinutes(1), fleet);
        }

        Assert.NotNull(host.Api.Get("discovery.k8s.io", "v1", "endpointslices", Namespace, "gone-service-envoy-waker"));
        var client = new k8s.Kubernetes(host.Api.ClientConfiguration());
        var moved = WakerSlice("10.9.0.8");
        moved["metadata"]!["resourceVersion"] = host.Api.Get("discovery.k8s.io", "v1", "endpointslices", "envoy-reaper", "envoy-reaper-waker-x7k2p")!["metadata"]!["resourceVersion"]!.GetValue<string>();
        await client.DiscoveryV1.ReplaceNamespacedEndpointSliceAsync(k8s.KubernetesJson.Deserialize<V1EndpointSlice>(moved.ToJsonString()), "envoy-reaper-waker-x7k2p", "envoy-reaper");
        await RunAsync(nameof(DiscoverWorkloads), () => host.RunTimerAsync());
        await RunAsync(nameof(Park), async () => Assert.Equal(2, await host.DeliverParksAsync()));

        foreach (var deployment in new[] { "sleepy", "gone" })
        {
            var body = Messaging.ReaperJson.Serialize(new Waking.WakeMessage(1, $"wake-{deployment}", host.Time.GetUtcNow(), Namespace, $"{deployment}-service"));
            await RunAsync(nameof(Wake), () => host.Create<Wake>().Run(ReaperTestHost.Delivery($"m-{deployment}", body), CancellationToken.None));
            host.Api.ReportRollout(Namespace, deployment, DeploymentRollout.Complete);
        }

        for (var check = 0; check < 2; check++)
        {
            await RunAsync(nameof(Wake), async () => Assert.NotNull(await host.DeliverNextWakeAsync()));
        }

        Assert.Null(host.Api.Get("discovery.k8s.io", "v1", "endpointslices", Namespace, "gone-service-envoy-waker"));
        Assert.Null(host.Api.Get("discovery.k8s.io", "v1", "endpointslices", Namespace, "sleepy-service-envoy-waker"));
    }

    /// <summary>Every path that talks to the API server: discovery, checks with both status writes, teardown by delete
    /// and by scale-to-zero, restore of both, a repeated Event, injection and removal, the workloads overview.</summary>
    private async Task RunEveryPathAsync()
    {
        var createdAt = host.Time.GetUtcNow().UtcDateTime.AddHours(-1);
        host.Api.SeedWorkload(Namespace, "web", [envoys.Pods[0].Ip], Annotations("delete"), createdAt: createdAt);
        SeedSidecarConfigMap(Namespace, "web");
        host.Api.SeedWorkload(Namespace, "parked", [envoys.Pods[1].Ip], Annotations("scale-to-zero"), createdAt: createdAt);
        host.Api.SeedWorkload(Namespace, "busy", [envoys.Pods[2].Ip], labelOptIn: false, createdAt: createdAt);
        host.Api.SeedMonitor(Namespace, "busy-monitor", new JsonObject { ["deploymentName"] = "busy", ["statsPort"] = envoys.Port });
        host.Api.SeedWorkload(Namespace, "quiet", [envoys.Pods[3].Ip], labelOptIn: false, createdAt: createdAt);
        host.Api.SeedMonitor(Namespace, "quiet-monitor", new JsonObject { ["deploymentName"] = "quiet", ["statsPort"] = envoys.Port });

        for (var cycle = 0; cycle < 13; cycle++)
        {
            await RunAsync(nameof(DiscoverWorkloads), () => host.RunTimerAsync());
            await RunAsync(nameof(CheckStats), () => host.DeliverStatsChecksAsync());
            await RunAsync(nameof(TearDown), () => host.DeliverTeardownsAsync());
            host.Advance(TimeSpan.FromMinutes(1), envoys);
        }

        Assert.False(host.Api.Exists<V1Deployment>(Namespace, "web"));
        Assert.False(host.Api.Exists<V1Deployment>(Namespace, "quiet"));
        Assert.Equal(0, host.Api.Get<V1Deployment>(Namespace, "parked")!.Spec.Replicas);

        // The same Event twice: the second create conflicts and the recorder counts up the existing one. Every
        // function that records Events does it with the same recorder.
        var recorder = host.Services.GetRequiredService<IEventRecorder>();
        var repeated = new ClusterEvent(ResourceKind.Deployment, Namespace, "busy", "uid-busy", "RbacCheck", "the same message twice", Warning: false);
        foreach (var function in new[] { nameof(CheckStats), nameof(TearDown), nameof(RestoreWorkload) })
        {
            await RunAsync(function, async () =>
            {
                await recorder.RecordAsync(repeated, CancellationToken.None);
                await recorder.RecordAsync(repeated, CancellationToken.None);
            });
        }

        await RunWakePathsAsync();
        await RunAsync(nameof(RestoreWorkload), async () => Assert.Equal(200, await RestoreAsync("web")));
        await RunAsync(nameof(RestoreWorkload), async () => Assert.Equal(200, await RestoreAsync("parked")));
        Assert.True(host.Api.Exists<V1ConfigMap>(Namespace, "web-envoy"));

        SeedPlainApp(Namespace, "plain");
        await RunAsync(nameof(InjectSidecar), async () => Assert.Equal(202, await InjectAsync(Namespace, "plain")));
        host.Api.ReportRollout(Namespace, "plain", DeploymentRollout.Complete);
        await RunAsync(nameof(FinishInjectionRollout), async () => Assert.NotNull(await host.DeliverNextRolloutCheckAsync()));
        await RunAsync(nameof(RemoveSidecar), async () => Assert.Equal(202, await RemoveAsync(Namespace, "plain")));
        host.Api.ReportRollout(Namespace, "plain", DeploymentRollout.Complete);
        await RunAsync(nameof(FinishInjectionRollout), async () => Assert.NotNull(await host.DeliverNextRolloutCheckAsync()));
        Assert.False(host.Api.Exists<V1ConfigMap>(Namespace, "plain-envoy"));
        await RunAsync(nameof(ListWorkloads), async () => Assert.Equal(200, await HttpAsync<ListWorkloads>("GET", null, (function, request) => function.Run(request, CancellationToken.None))));
    }

    [Fact]
    public async Task Every_API_request_of_every_function_is_allowed_by_the_RBAC_of_the_service_account_that_runs_it()
    {
        var manifests = DefaultPlusNamespacedInjection();
        var policy = manifests.Policy();

        await RunEveryPathAsync();

        // The scenario reached what it claims to check, so that a silent path cannot make the test pass.
        (string Function, string Verb, string Resource)[] expected =
        [
            (nameof(DiscoverWorkloads), "list", "deployments"), (nameof(DiscoverWorkloads), "list", "envoymonitors"), (nameof(DiscoverWorkloads), "list", "pods"),
            (nameof(CheckStats), "patch", "envoymonitors/status"), (nameof(CheckStats), "patch", "deployments"),
            (nameof(CheckStats), "create", "events"), (nameof(CheckStats), "get", "events"), (nameof(CheckStats), "patch", "events"),
            (nameof(TearDown), "delete", "deployments"), (nameof(TearDown), "patch", "deployments"), (nameof(TearDown), "delete", "services"),
            (nameof(TearDown), "delete", "ingresses"), (nameof(TearDown), "delete", "configmaps"), (nameof(TearDown), "get", "envoymonitors"),
            (nameof(RestoreWorkload), "create", "deployments"), (nameof(RestoreWorkload), "create", "services"), (nameof(RestoreWorkload), "create", "ingresses"),
            (nameof(RestoreWorkload), "create", "configmaps"), (nameof(RestoreWorkload), "patch", "deployments"), (nameof(RestoreWorkload), "create", "events"),
            (nameof(InjectSidecar), "update", "deployments"), (nameof(InjectSidecar), "create", "configmaps"),
            (nameof(FinishInjectionRollout), "get", "deployments"), (nameof(FinishInjectionRollout), "update", "services"), (nameof(FinishInjectionRollout), "delete", "configmaps"),
            (nameof(RemoveSidecar), "update", "deployments"), (nameof(RemoveSidecar), "update", "services"),
            (nameof(Park), "get", "services"), (nameof(Park), "patch", "services"), (nameof(Park), "list", "endpointslices"), (nameof(Park), "create", "endpointslices"),
            (nameof(Park), "update", "endpointslices"), (nameof(DiscoverWorkloads), "list", "endpointslices"),
            (nameof(Wake), "get", "services"), (nameof(Wake), "patch", "services"), (nameof(Wake), "delete", "endpointslices"),
            (nameof(Wake), "create", "deployments"), (nameof(Wake), "patch", "deployments"), (nameof(Wake), "create", "events"),
        ];
        var seen = requestsByFunction.SelectMany(pair => pair.Value.Select(request => RequestAttributes.From(request)).Select(attributes => (pair.Key, attributes.Verb, attributes.ResourceWithSubresource))).ToHashSet();
        Assert.All(expected, operation => Assert.Contains(operation, seen));

        var denied = new List<string>();
        foreach (var (function, requests) in requestsByFunction)
        {
            var identities = manifests.IdentitiesRunning(function);
            Assert.True(identities.Count > 0, $"no Deployment in the manifests runs {function}");
            foreach (var identity in identities)
            {
                foreach (var request in requests)
                {
                    var decision = policy.Authorize(identity, RequestAttributes.From(request));
                    if (!decision.Allowed)
                    {
                        denied.Add($"{function}: {decision.Reason}");
                    }
                }
            }
        }

        Assert.True(denied.Count == 0, "requests the RBAC does not allow:\n" + string.Join("\n", denied.Distinct()));
    }

    [Fact]
    public async Task Injection_and_restore_are_allowed_only_in_a_namespace_with_the_injector_RoleBinding()
    {
        var manifests = DefaultPlusNamespacedInjection();
        var policy = manifests.Policy();
        SeedPlainApp(OtherNamespace, "plain");

        await RunAsync(nameof(InjectSidecar), async () => Assert.Equal(202, await InjectAsync(OtherNamespace, "plain")));

        var writes = requestsByFunction[nameof(InjectSidecar)].Select(RequestAttributes.From).Where(request => request.Verb is "create" or "update").ToList();
        Assert.NotEmpty(writes);
        var identities = manifests.IdentitiesRunning(nameof(InjectSidecar));
        Assert.NotEmpty(identities);
        Assert.All(identities, identity => Assert.All(writes, write => Assert.False(policy.Authorize(identity, write).Allowed, $"{identity} may {write}")));
        foreach (var function in new[] { nameof(RestoreWorkload), nameof(RemoveSidecar) })
        {
            Assert.All(manifests.IdentitiesRunning(function), identity =>
                Assert.False(policy.Authorize(identity, RequestAttributes.Parse("POST", $"/apis/apps/v1/namespaces/{OtherNamespace}/deployments", "")).Allowed));
        }
    }
}
