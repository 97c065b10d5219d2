using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using EnvoyReaper.Cluster;
using EnvoyReaper.TestSupport.Kubernetes;
using EnvoyReaper.Workloads;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace EnvoyReaper.Kubernetes.Tests;

/// <summary>
/// The adapter through the real <see cref="k8s.Kubernetes"/> client against <see cref="FakeKubernetesApiServer"/> over HTTP:
/// what the reaper reads, what it writes and what it refuses to paper over.
/// </summary>
public sealed class KubernetesClusterTests : IAsyncLifetime
{
    private const string OptIn = ReaperLabels.EnabledSelector;
    private const string MonitorGroup = KubernetesCluster.MonitorGroup;
    private const string MonitorVersion = KubernetesCluster.MonitorVersion;
    private const string MonitorPlural = KubernetesCluster.MonitorPlural;

    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private readonly CancellationTokenSource timeout = new(Bound);
    private readonly List<k8s.Kubernetes> clients = [];
    private FakeKubernetesApiServer server = null!;

    private CancellationToken Ct => timeout.Token;

    public async Task InitializeAsync() => server = await FakeKubernetesApiServer.StartAsync(TimeProvider.System);

    public async Task DisposeAsync()
    {
        foreach (var client in clients)
        {
            client.Dispose();
        }

        timeout.Dispose();
        await server.DisposeAsync();
    }

    // ---------------------------------------------------------------- Deployments

    [Fact]
    public async Task ListDeployments_with_the_opt_in_selector_across_namespaces_returns_exactly_the_labelled_ones()
    {
        server.SeedWorkload("team-a", "alpha", ["10.0.0.1"]);
        server.SeedWorkload("team-b", "beta", ["10.0.1.1"]);
        server.SeedWorkload("team-b", "gamma", ["10.0.1.2"], labelOptIn: false);
        server.SeedWorkload("default", "delta", ["10.0.2.1"]);
        SeedDeployment("team-a", "off", labels: new() { ["app"] = "off", [ReaperLabels.Enabled] = "false" });

        var all = await ToListAsync(Cluster().ListDeploymentsAsync(null, OptIn, Ct));

        Assert.Equal(["default/delta", "team-a/alpha", "team-b/beta"], all.Select(d => d.Ref.ToString()).Order(StringComparer.Ordinal));
        var request = Assert.Single(ListRequests("deployments"));
        Assert.Equal("/apis/apps/v1/deployments", request.Path);
        Assert.Equal(OptIn, QueryValue(request, "labelSelector"));

        var inTeamB = await ToListAsync(Cluster().ListDeploymentsAsync("team-b", OptIn, Ct));

        Assert.Equal(["team-b/beta"], inTeamB.Select(d => d.Ref.ToString()));
        Assert.Equal("/apis/apps/v1/namespaces/team-b/deployments", ListRequests("deployments")[^1].Path);
    }

    [Fact]
    public async Task ListDeployments_pages_through_limit_and_continue_until_the_last_page()
    {
        for (var i = 0; i < 5; i++)
        {
            server.SeedWorkload($"ns-{i % 2}", $"app-{i}", ["10.0.0.1"], withService: false);
        }

        server.SeedWorkload("ns-0", "unlabelled", ["10.0.0.9"], labelOptIn: false, withService: false);
        server.ResetRecording();

        var listed = await ToListAsync(Cluster(pageSize: 2).ListDeploymentsAsync(null, OptIn, Ct));

        Assert.Equal(["app-0", "app-1", "app-2", "app-3", "app-4"], listed.Select(d => d.Name).Order(StringComparer.Ordinal));
        Assert.Equal(5, listed.Select(d => d.Uid).Distinct().Count());
        var lists = ListRequests("deployments");
        Assert.Equal(3, lists.Count);
        Assert.All(lists, request => Assert.Equal("2", QueryValue(request, "limit")));
        Assert.All(lists, request => Assert.Equal(OptIn, QueryValue(request, "labelSelector")));
        Assert.Null(QueryValue(lists[0], "continue"));
        Assert.All(lists.Skip(1), request => Assert.False(string.IsNullOrEmpty(QueryValue(request, "continue"))));
        Assert.Contains("continue=", lists[1].Query, StringComparison.Ordinal);
        Assert.NotEqual(QueryValue(lists[1], "continue"), QueryValue(lists[2], "continue"));
    }

    [Fact]
    public async Task DeploymentInfo_maps_uid_creation_replicas_labels_annotations_selector_and_template_labels()
    {
        var uid = Guid.NewGuid().ToString();
        var created = new DateTime(2025, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        var seeded = server.Seed(new V1Deployment
        {
            ApiVersion = "apps/v1",
            Kind = "Deployment",
            Metadata = new V1ObjectMeta
            {
                Name = "shop",
                NamespaceProperty = "retail",
                Uid = uid,
                CreationTimestamp = created,
                Labels = new Dictionary<string, string> { ["app"] = "shop", [ReaperLabels.Enabled] = "true", ["tier"] = "web" },
                Annotations = new Dictionary<string, string> { [ReaperLabels.IdleTimeout] = "30m", [ReaperLabels.MinConnections] = "2" },
            },
            Spec = new V1DeploymentSpec
            {
                Replicas = 3,
                Selector = new V1LabelSelector
                {
                    MatchLabels = new Dictionary<string, string> { ["app"] = "shop" },
                    MatchExpressions =
                    [
                        new V1LabelSelectorRequirement { Key = "track", OperatorProperty = "In", Values = ["stable", "canary"] },
                        new V1LabelSelectorRequirement { Key = "legacy", OperatorProperty = "DoesNotExist" },
                    ],
                },
                Template = new V1PodTemplateSpec
                {
                    Metadata = new V1ObjectMeta { Labels = new Dictionary<string, string> { ["app"] = "shop", ["track"] = "stable" } },
                    Spec = new V1PodSpec { Containers = [new V1Container { Name = "shop", Image = "shop:1" }] },
                },
            },
        });

        var listed = Assert.Single(await ToListAsync(Cluster().ListDeploymentsAsync(null, OptIn, Ct)));
        var read = await Cluster().GetDeploymentAsync("retail", "shop", Ct);

        foreach (var info in new[] { listed, read! })
        {
            Assert.NotNull(info);
            Assert.Equal("retail", info.Namespace);
            Assert.Equal("shop", info.Name);
            Assert.Equal(uid, info.Uid);
            Assert.Equal(seeded.Metadata.ResourceVersion, info.ResourceVersion);
            Assert.Equal(new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero), info.CreatedAt);
            Assert.Equal(TimeSpan.Zero, info.CreatedAt.Offset);
            Assert.Equal(3, info.Replicas);
            Assert.Equal(new Dictionary<string, string> { ["app"] = "shop", [ReaperLabels.Enabled] = "true", ["tier"] = "web" }, info.Labels);
            Assert.Equal(new Dictionary<string, string> { [ReaperLabels.IdleTimeout] = "30m", [ReaperLabels.MinConnections] = "2" }, info.Annotations);
            Assert.Equal(new Dictionary<string, string> { ["app"] = "shop" }, info.Selector.MatchLabels);
            Assert.Collection(
                info.Selector.MatchExpressions,
                expression =>
                {
                    Assert.Equal("track", expression.Key);
                    Assert.Equal("In", expression.Operator);
                    Assert.Equal(["stable", "canary"], expression.Values);
                },
                expression =>
                {
                    Assert.Equal("legacy", expression.Key);
                    Assert.Equal("DoesNotExist", expression.Operator);
                    Assert.Empty(expression.Values);
                });
            Assert.Equal(new Dictionary<string, string> { ["app"] = "shop", ["track"] = "stable" }, info.TemplateLabels);
            Assert.True(info.Selector.Matches(info.TemplateLabels));
            Assert.False(info.Selector.Matches(new Dictionary<string, string> { ["app"] = "shop", ["track"] = "stable", ["legacy"] = "1" }));
        }
    }

    [Fact]
    public async Task DeploymentInfo_without_replicas_annotations_or_expressions_maps_to_null_and_empty()
    {
        SeedDeployment("default", "bare", labels: new() { ["app"] = "bare" }, replicas: null);

        var info = await Cluster().GetDeploymentAsync("default", "bare", Ct);

        Assert.NotNull(info);
        Assert.Null(info.Replicas);
        Assert.Empty(info.Annotations);
        Assert.Empty(info.Selector.MatchExpressions);
        Assert.Equal(new Dictionary<string, string> { ["app"] = "bare" }, info.Selector.MatchLabels);
    }

    [Fact]
    public async Task An_expired_continue_token_mid_deployment_list_throws_410_instead_of_ending_the_list_short()
    {
        for (var i = 0; i < 5; i++)
        {
            server.SeedWorkload("default", $"app-{i}", ["10.0.0.1"], withService: false);
        }

        var seen = new List<string>();
        var exception = await Assert.ThrowsAsync<HttpOperationException>(async () =>
        {
            await foreach (var deployment in Cluster(pageSize: 2).ListDeploymentsAsync(null, OptIn, Ct))
            {
                seen.Add(deployment.Name);
                if (seen.Count == 2)
                {
                    server.ExpireContinueTokens(); // etcd compacted between the first and the second page
                }

                Assert.True(seen.Count <= 5, "the list never ends");
            }
        });

        Assert.Equal(HttpStatusCode.Gone, exception.Response.StatusCode);
        Assert.Equal(2, seen.Count);
        Assert.Equal(410, ListRequests("deployments")[^1].StatusCode);
    }

    [Fact]
    public async Task An_expired_continue_token_mid_pod_list_throws_410()
    {
        server.SeedWorkload("default", "shop", ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);

        await using var pods = Cluster(pageSize: 1).ListPodsAsync("default", "app=shop", Ct).GetAsyncEnumerator(Ct);
        Assert.True(await pods.MoveNextAsync());
        server.ExpireContinueTokens();

        var exception = await Assert.ThrowsAsync<HttpOperationException>(async () => await pods.MoveNextAsync());

        Assert.Equal(HttpStatusCode.Gone, exception.Response.StatusCode);
    }

    // ---------------------------------------------------------------- Monitors

    [Fact]
    public async Task ListMonitors_maps_every_spec_field_and_keeps_numbers_as_numbers()
    {
        var seeded = server.SeedMonitor("monitoring", "shop-monitor", new JsonObject
        {
            ["deploymentName"] = "shop",
            ["namespace"] = "retail",
            ["serviceName"] = "shop-service",
            ["ingressName"] = "shop-ingress",
            ["checkInterval"] = "2m",
            ["minConnections"] = 3,
            ["idleTimeout"] = "45m",
            ["action"] = "ScaleToZero",
            ["statsPort"] = 15000,
            ["statsPath"] = "/stats/prometheus",
            ["listeners"] = new JsonArray("ingress_http", "ingress_https"),
        });

        var monitor = Assert.Single(await ToListAsync(Cluster().ListMonitorsAsync(Ct)));

        Assert.Equal("monitoring", monitor.Namespace);
        Assert.Equal("shop-monitor", monitor.Name);
        Assert.Equal(seeded["metadata"]!["uid"]!.GetValue<string>(), monitor.Uid);
        Assert.Equal("shop", monitor.DeploymentName);
        Assert.Equal("retail", monitor.TargetNamespace);
        Assert.Equal("retail", monitor.EffectiveNamespace);
        Assert.Equal("shop-service", monitor.ServiceName);
        Assert.Equal("shop-ingress", monitor.IngressName);
        Assert.Equal("2m", monitor.CheckInterval);
        Assert.Equal(JsonValueKind.Number, monitor.MinConnections!.GetValueKind());
        Assert.Equal(3, monitor.MinConnections.GetValue<int>());
        Assert.Equal("45m", monitor.IdleTimeout);
        Assert.Equal("ScaleToZero", monitor.Action);
        Assert.Equal(JsonValueKind.Number, monitor.StatsPort!.GetValueKind());
        Assert.Equal(15000, monitor.StatsPort.GetValue<int>());
        Assert.Equal("/stats/prometheus", monitor.StatsPath);
        var listeners = Assert.IsType<JsonArray>(monitor.Listeners);
        Assert.Equal(["ingress_http", "ingress_https"], listeners.Select(listener => listener!.GetValue<string>()));
        Assert.Equal("/apis/monitoring.example.com/v1alpha1/envoymonitors", Assert.Single(ListRequests(MonitorPlural)).Path);
    }

    [Fact]
    public async Task ListMonitors_with_a_sparse_spec_leaves_the_rest_null_and_defaults_to_its_own_namespace()
    {
        server.SeedMonitor("retail", "minimal", new JsonObject { ["deploymentName"] = "shop", ["minConnections"] = "5" });

        var monitor = Assert.Single(await ToListAsync(Cluster().ListMonitorsAsync(Ct)));

        Assert.Equal("shop", monitor.DeploymentName);
        Assert.Null(monitor.TargetNamespace);
        Assert.Equal("retail", monitor.EffectiveNamespace);
        Assert.Null(monitor.ServiceName);
        Assert.Null(monitor.IngressName);
        Assert.Null(monitor.CheckInterval);
        Assert.Equal(JsonValueKind.String, monitor.MinConnections!.GetValueKind());
        Assert.Null(monitor.IdleTimeout);
        Assert.Null(monitor.Action);
        Assert.Null(monitor.StatsPort);
        Assert.Null(monitor.StatsPath);
        Assert.Null(monitor.Listeners);
    }

    [Fact]
    public async Task ListMonitors_pages_through_limit_and_continue()
    {
        for (var i = 0; i < 5; i++)
        {
            server.SeedMonitor($"ns-{i % 3}", $"monitor-{i}", new JsonObject { ["deploymentName"] = $"app-{i}" });
        }

        var monitors = await ToListAsync(Cluster(pageSize: 2).ListMonitorsAsync(Ct));

        Assert.Equal(["app-0", "app-1", "app-2", "app-3", "app-4"], monitors.Select(m => m.DeploymentName).Order(StringComparer.Ordinal));
        var lists = ListRequests(MonitorPlural);
        Assert.Equal(3, lists.Count);
        Assert.All(lists, request => Assert.Equal("2", QueryValue(request, "limit")));
        Assert.Null(QueryValue(lists[0], "continue"));
        Assert.All(lists.Skip(1), request => Assert.False(string.IsNullOrEmpty(QueryValue(request, "continue"))));
    }

    [Fact]
    public async Task ListMonitors_returns_empty_without_an_exception_when_the_EnvoyMonitor_CRD_is_not_installed()
    {
        server.SeedMonitor("default", "would-be-listed", new JsonObject { ["deploymentName"] = "shop" });
        server.FailNext("GET", MonitorPlural, 404, "NotFound");

        var monitors = await ToListAsync(Cluster().ListMonitorsAsync(Ct));

        Assert.Empty(monitors);
        Assert.Equal(404, Assert.Single(ListRequests(MonitorPlural)).StatusCode);
    }

    [Fact]
    public async Task ListMonitors_does_not_mistake_a_404_on_a_later_page_for_a_missing_CRD()
    {
        for (var i = 0; i < 3; i++)
        {
            server.SeedMonitor("default", $"monitor-{i}", new JsonObject { ["deploymentName"] = $"app-{i}" });
        }

        await using var monitors = Cluster(pageSize: 2).ListMonitorsAsync(Ct).GetAsyncEnumerator(Ct);
        Assert.True(await monitors.MoveNextAsync());
        Assert.True(await monitors.MoveNextAsync());
        server.FailNext("GET", MonitorPlural, 404, "NotFound");

        var exception = await Assert.ThrowsAsync<HttpOperationException>(async () => await monitors.MoveNextAsync());

        Assert.Equal(HttpStatusCode.NotFound, exception.Response.StatusCode);
    }

    [Fact]
    public async Task An_expired_continue_token_mid_monitor_list_throws_410()
    {
        for (var i = 0; i < 3; i++)
        {
            server.SeedMonitor("default", $"monitor-{i}", new JsonObject { ["deploymentName"] = $"app-{i}" });
        }

        await using var monitors = Cluster(pageSize: 2).ListMonitorsAsync(Ct).GetAsyncEnumerator(Ct);
        Assert.True(await monitors.MoveNextAsync());
        Assert.True(await monitors.MoveNextAsync());
        server.ExpireContinueTokens();

        var exception = await Assert.ThrowsAsync<HttpOperationException>(async () => await monitors.MoveNextAsync());

        Assert.Equal(HttpStatusCode.Gone, exception.Response.StatusCode);
    }

    [Theory]
    [InlineData(403, "Forbidden")]
    [InlineData(500, "InternalError")]
    public async Task ListMonitors_surfaces_other_failures_rather_than_reporting_no_monitors(int status, string reason)
    {
        server.SeedMonitor("default", "monitor", new JsonObject { ["deploymentName"] = "shop" });
        server.FailNext("GET", MonitorPlural, status, reason);

        var exception = await Assert.ThrowsAsync<HttpOperationException>(() => ToListAsync(Cluster().ListMonitorsAsync(Ct)));

        Assert.Equal((HttpStatusCode)status, exception.Response.StatusCode);
    }

    // ---------------------------------------------------------------- Pods

    [Fact]
    public async Task ListPods_maps_ip_readiness_owner_and_container_names_including_istio_proxy()
    {
        var shop = server.SeedWorkload("retail", "shop", ["10.1.0.1", "10.1.0.2"], istio: true);

        var pods = await ToListAsync(Cluster().ListPodsAsync("retail", "app=shop", Ct));

        Assert.Equal(2, pods.Count);
        Assert.Equal(["10.1.0.1", "10.1.0.2"], pods.OrderBy(p => p.Name, StringComparer.Ordinal).Select(p => p.Ip));
        Assert.All(pods, pod =>
        {
            Assert.Equal("retail", pod.Namespace);
            Assert.True(pod.Ready);
            Assert.False(pod.Terminating);
            Assert.Equal("shop-5d8f7c9b6", pod.OwnerReplicaSet);
            Assert.Equal(["shop", "istio-proxy"], pod.ContainerNames);
            Assert.True(pod.HasIstioProxy);
            Assert.Equal("5d8f7c9b6", pod.Labels[ReaperLabels.PodTemplateHashLabel]);
        });
        Assert.Equal(shop.Pods.Select(p => p.Metadata.Uid).Order(StringComparer.Ordinal), pods.Select(p => p.Uid).Order(StringComparer.Ordinal));
        var request = Assert.Single(ListRequests("pods"));
        Assert.Equal("/api/v1/namespaces/retail/pods", request.Path);
        Assert.Equal("app=shop", QueryValue(request, "labelSelector"));
    }

    [Fact]
    public async Task ListPods_without_istio_has_no_istio_proxy_and_unready_pods_are_not_Ready()
    {
        server.SeedWorkload("retail", "plain", ["10.1.0.5"], podsReady: false);

        var pod = Assert.Single(await ToListAsync(Cluster().ListPodsAsync("retail", null, Ct)));

        Assert.False(pod.Ready);
        Assert.False(pod.HasIstioProxy);
        Assert.Equal(["plain", "envoy"], pod.ContainerNames);
    }

    [Theory]
    [InlineData(true, 0)]
    [InlineData(false, 3)]
    public async Task ListPods_reads_from_a_realistic_pod_everything_it_reads_from_a_minimal_one(bool ready, int restarts)
    {
        var created = new DateTime(2026, 12, 1, 8, 0, 0, DateTimeKind.Utc);
        var workload = server.SeedWorkload("retail", "shop", ["10.1.0.5"], podsReady: ready, createdAt: created);
        var owner = server.Get<V1ReplicaSet>("retail", "shop-5d8f7c9b6")!;
        var labels = new Dictionary<string, string> { ["app"] = "shop" };
        server.SeedPod("retail", "minimal", "10.1.0.6", labels, "5d8f7c9b6", owner, ready, istio: false, created, restarts);
        server.SeedPod("retail", "realistic", "10.1.0.7", labels, "5d8f7c9b6", owner, ready, istio: false, created, restarts, PodShape.Realistic);

        var pods = (await ToListAsync(Cluster().ListPodsAsync("retail", null, Ct))).ToDictionary(pod => pod.Name);

        var minimal = pods["minimal"];
        var realistic = pods["realistic"];
        Assert.Equal(server.Get<V1Pod>("retail", "realistic")!.Metadata.Uid, realistic.Uid);
        Assert.Equal("10.1.0.7", realistic.Ip);
        Assert.Equal(ready, realistic.Ready);
        Assert.False(realistic.Terminating);
        Assert.Equal(restarts * 2, realistic.Restarts!.Count);
        Assert.Equal(minimal.Restarts, realistic.Restarts);
        Assert.Equal(minimal.Ready, realistic.Ready);
        Assert.Equal(minimal.Phase, realistic.Phase);
        Assert.Equal(minimal.OwnerReplicaSet, realistic.OwnerReplicaSet);
        Assert.Equal(minimal.ContainerNames, realistic.ContainerNames);
        Assert.Equal(minimal.Labels, realistic.Labels);
        Assert.True(realistic.BelongsTo((await Cluster().GetDeploymentAsync("retail", workload.Name, Ct))!));
    }

    [Fact]
    public async Task Pod_is_Ready_only_when_Running_with_a_Ready_condition_True()
    {
        SeedPod("running-ready", "Running", readyCondition: "True");
        SeedPod("running-unready", "Running", readyCondition: "False");
        SeedPod("running-unknown", "Running", readyCondition: "Unknown");
        SeedPod("running-no-conditions", "Running", readyCondition: null);
        SeedPod("pending-ready", "Pending", readyCondition: "True");
        SeedPod("succeeded-ready", "Succeeded", readyCondition: "True");
        SeedPod("no-status", phase: null, readyCondition: null);

        var pods = (await ToListAsync(Cluster().ListPodsAsync("default", null, Ct))).ToDictionary(p => p.Name);

        Assert.Equal(7, pods.Count);
        Assert.Equal(["running-ready"], pods.Values.Where(p => p.Ready).Select(p => p.Name));
        Assert.Null(pods["no-status"].Ip);
    }

    [Fact]
    public async Task Pod_with_a_deletionTimestamp_is_Terminating()
    {
        SeedPod("going", "Running", readyCondition: "True", deletionTimestamp: DateTime.UtcNow, finalizers: ["example.com/hold"]);
        SeedPod("staying", "Running", readyCondition: "True");

        var pods = (await ToListAsync(Cluster().ListPodsAsync("default", null, Ct))).ToDictionary(p => p.Name);

        Assert.True(pods["going"].Terminating);
        Assert.False(pods["staying"].Terminating);
    }

    [Fact]
    public async Task Pod_owner_is_the_controlling_ReplicaSet_only()
    {
        SeedPod("controlled", "Running", "True", owners: [Owner("ReplicaSet", "web-abc", controller: true)]);
        SeedPod("not-controller", "Running", "True", owners: [Owner("ReplicaSet", "web-abc", controller: false)]);
        SeedPod("job-pod", "Running", "True", owners: [Owner("Job", "batch-1", controller: true, apiVersion: "batch/v1")]);
        SeedPod("two-owners", "Running", "True", owners: [Owner("ReplicaSet", "adopted-x", controller: false), Owner("ReplicaSet", "web-def", controller: true)]);
        SeedPod("orphan", "Running", "True");

        var pods = (await ToListAsync(Cluster().ListPodsAsync("default", null, Ct))).ToDictionary(p => p.Name);

        Assert.Equal("web-abc", pods["controlled"].OwnerReplicaSet);
        Assert.Null(pods["not-controller"].OwnerReplicaSet);
        Assert.Null(pods["job-pod"].OwnerReplicaSet);
        Assert.Equal("web-def", pods["two-owners"].OwnerReplicaSet);
        Assert.Null(pods["orphan"].OwnerReplicaSet);
    }

    [Fact]
    public async Task ListPods_maps_the_phase_so_that_an_evicted_pod_is_Finished()
    {
        var shop = server.SeedWorkload("retail", "shop", ["10.1.0.1"]);
        server.SeedEvictedPod(shop, "shop-5d8f7c9b6-evict", "10.1.0.9");

        var pods = (await ToListAsync(Cluster().ListPodsAsync("retail", null, Ct))).ToDictionary(p => p.Name);

        Assert.Equal("Failed", pods["shop-5d8f7c9b6-evict"].Phase);
        Assert.True(pods["shop-5d8f7c9b6-evict"].Finished);
        Assert.False(pods["shop-5d8f7c9b6-evict"].Ready);
        Assert.Equal("Running", pods["shop-5d8f7c9b6-p0000"].Phase);
        Assert.False(pods["shop-5d8f7c9b6-p0000"].Finished);
    }

    [Fact]
    public async Task ListPods_maps_the_restarts_of_every_container_from_the_container_statuses()
    {
        var created = new DateTime(2025, 3, 1, 10, 0, 0, DateTimeKind.Utc);
        var shop = server.SeedWorkload("retail", "shop", ["10.1.0.1"], createdAt: created);
        var rs = server.Get<V1ReplicaSet>("retail", "shop-5d8f7c9b6")!;
        server.SeedPod("retail", "shop-5d8f7c9b6-crash", "10.1.0.2", new Dictionary<string, string> { ["app"] = "shop" }, "5d8f7c9b6", rs,
            ready: true, istio: false, created, restartCount: 2);

        var pods = (await ToListAsync(Cluster().ListPodsAsync("retail", null, Ct))).ToDictionary(p => p.Name);

        Assert.Equal(new ContainerRestarts(0, new DateTimeOffset(created.AddSeconds(2))), pods[shop.Pods[0].Metadata.Name].Restarts);
        Assert.Equal(new ContainerRestarts(4, new DateTimeOffset(created.AddMinutes(10))), pods["shop-5d8f7c9b6-crash"].Restarts);
    }

    [Fact]
    public async Task A_pod_without_container_statuses_has_no_restarts_to_compare()
    {
        SeedPod("no-statuses", "Running", readyCondition: "True");

        var pod = Assert.Single(await ToListAsync(Cluster().ListPodsAsync("default", null, Ct)));

        Assert.Null(pod.Restarts);
    }

    [Fact]
    public async Task Init_container_sidecars_count_as_containers()
    {
        server.Seed(new V1Pod
        {
            ApiVersion = "v1",
            Kind = "Pod",
            Metadata = new V1ObjectMeta { Name = "native-sidecar", NamespaceProperty = "default" },
            Spec = new V1PodSpec
            {
                Containers = [new V1Container { Name = "app", Image = "app:1" }],
                InitContainers = [new V1Container { Name = "istio-proxy", Image = "proxyv2:1", RestartPolicy = "Always" }],
            },
        });

        var pod = Assert.Single(await ToListAsync(Cluster().ListPodsAsync("default", null, Ct)));

        Assert.Equal(["app", "istio-proxy"], pod.ContainerNames);
        Assert.True(pod.HasIstioProxy);
    }

    [Fact]
    public async Task PodInfo_BelongsTo_its_Deployment_and_not_to_another_Deployment_with_the_same_app_label()
    {
        var shop = server.SeedWorkload("retail", "shop", ["10.2.0.1", "10.2.0.2"]);
        // A second Deployment whose selector also says app=shop, with its own ReplicaSet and pod.
        SeedDeployment("retail", "shop-v2", labels: new() { ["app"] = "shop" }, selector: new() { ["app"] = "shop" });
        var v2ReplicaSet = server.Seed(new V1ReplicaSet
        {
            ApiVersion = "apps/v1",
            Kind = "ReplicaSet",
            Metadata = new V1ObjectMeta { Name = "shop-v2-7f6e5d4c3", NamespaceProperty = "retail", Labels = new Dictionary<string, string> { ["app"] = "shop", ["pod-template-hash"] = "7f6e5d4c3" } },
            Spec = new V1ReplicaSetSpec { Selector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["app"] = "shop", ["pod-template-hash"] = "7f6e5d4c3" } } },
        });
        server.SeedPod("retail", "shop-v2-7f6e5d4c3-zz9", "10.2.0.9", new Dictionary<string, string> { ["app"] = "shop" }, "7f6e5d4c3", v2ReplicaSet, ready: true, istio: false, DateTime.UtcNow);
        // The same workload in another namespace.
        server.SeedWorkload("retail-staging", "shop", ["10.3.0.1"], withService: false);

        var cluster = Cluster();
        var shopInfo = (await cluster.GetDeploymentAsync("retail", "shop", Ct))!;
        var v2Info = (await cluster.GetDeploymentAsync("retail", "shop-v2", Ct))!;
        var stagingInfo = (await cluster.GetDeploymentAsync("retail-staging", "shop", Ct))!;
        var pods = await ToListAsync(cluster.ListPodsAsync("retail", "app=shop", Ct));
        var stagingPod = Assert.Single(await ToListAsync(cluster.ListPodsAsync("retail-staging", "app=shop", Ct)));

        Assert.Equal(3, pods.Count);
        Assert.Equal(
            shop.Pods.Select(p => p.Metadata.Name).Order(StringComparer.Ordinal),
            pods.Where(p => p.BelongsTo(shopInfo)).Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.Equal(["shop-v2-7f6e5d4c3-zz9"], pods.Where(p => p.BelongsTo(v2Info)).Select(p => p.Name));
        Assert.DoesNotContain(pods, p => p.BelongsTo(stagingInfo));
        Assert.True(stagingPod.BelongsTo(stagingInfo));
        Assert.False(stagingPod.BelongsTo(shopInfo));
    }

    // ---------------------------------------------------------------- Get / list objects

    [Fact]
    public async Task GetDeployment_returns_null_when_the_Deployment_does_not_exist()
    {
        Assert.Null(await Cluster().GetDeploymentAsync("default", "missing", Ct));
        Assert.Null(await Cluster().GetDeploymentAsync("no-such-namespace", "missing", Ct));
        Assert.All(server.Requests, request => Assert.Equal(404, request.StatusCode));
    }

    [Theory]
    [InlineData(ResourceKind.Deployment)]
    [InlineData(ResourceKind.Service)]
    [InlineData(ResourceKind.Ingress)]
    [InlineData(ResourceKind.ConfigMap)]
    public async Task GetObject_returns_null_when_the_object_does_not_exist(ResourceKind kind)
    {
        server.SeedWorkload("default", "other", ["10.0.0.1"]);

        Assert.Null(await Cluster().GetObjectAsync(kind, "default", "missing", Ct));
        Assert.Equal(404, Assert.Single(server.Requests).StatusCode);
    }

    [Theory]
    [InlineData(ResourceKind.Deployment, "apps/v1", "Deployment", "/apis/apps/v1/namespaces/retail/deployments/shop")]
    [InlineData(ResourceKind.Service, "v1", "Service", "/api/v1/namespaces/retail/services/shop-service")]
    [InlineData(ResourceKind.Ingress, "networking.k8s.io/v1", "Ingress", "/apis/networking.k8s.io/v1/namespaces/retail/ingresses/shop-ingress")]
    [InlineData(ResourceKind.ConfigMap, "v1", "ConfigMap", "/api/v1/namespaces/retail/configmaps/shop-config")]
    public async Task GetObject_returns_the_whole_manifest_with_apiVersion_kind_uid_and_resourceVersion(ResourceKind kind, string apiVersion, string kindName, string path)
    {
        SeedShop();
        var name = NameOf(kind, "shop");
        var stored = StoredMetadata(kind, "retail", name);
        server.ResetRecording();

        var found = await Cluster().GetObjectAsync(kind, "retail", name, Ct);

        Assert.NotNull(found);
        Assert.Equal(kind, found.Kind);
        Assert.Equal("retail", found.Namespace);
        Assert.Equal(name, found.Name);
        Assert.Equal(stored.Uid, found.Uid);
        Assert.Equal(stored.ResourceVersion, found.ResourceVersion);
        Assert.Equal(apiVersion, found.Manifest["apiVersion"]!.GetValue<string>());
        Assert.Equal(kindName, found.Manifest["kind"]!.GetValue<string>());
        Assert.Equal(stored.Uid, found.Manifest["metadata"]!["uid"]!.GetValue<string>());
        Assert.Equal(stored.ResourceVersion, found.Manifest["metadata"]!["resourceVersion"]!.GetValue<string>());
        Assert.Equal(name, found.Manifest["metadata"]!["name"]!.GetValue<string>());
        Assert.True(found.Manifest.ContainsKey(kind == ResourceKind.ConfigMap ? "data" : "spec"));
        Assert.Equal(path, Assert.Single(server.Requests).Path);
    }

    [Fact]
    public async Task GetObject_manifest_keeps_the_spec_whole()
    {
        var shop = server.SeedWorkload("retail", "shop", ["10.0.0.1", "10.0.0.2"]);

        var deployment = (await Cluster().GetObjectAsync(ResourceKind.Deployment, "retail", "shop", Ct))!;
        var ingress = (await Cluster().GetObjectAsync(ResourceKind.Ingress, "retail", "shop-ingress", Ct))!;

        Assert.Equal(2, deployment.Manifest["spec"]!["replicas"]!.GetValue<int>());
        Assert.Equal("shop", deployment.Manifest["spec"]!["selector"]!["matchLabels"]!["app"]!.GetValue<string>());
        Assert.Equal("true", deployment.Manifest["metadata"]!["labels"]![ReaperLabels.Enabled]!.GetValue<string>());
        Assert.Equal("shop.example.com", ingress.Manifest["spec"]!["rules"]![0]!["host"]!.GetValue<string>());
        Assert.Equal(shop.Service!.Metadata.Name, ingress.Manifest["spec"]!["rules"]![0]!["http"]!["paths"]![0]!["backend"]!["service"]!["name"]!.GetValue<string>());
    }

    [Theory]
    [InlineData(ResourceKind.Deployment, "apps/v1", "Deployment")]
    [InlineData(ResourceKind.Service, "v1", "Service")]
    [InlineData(ResourceKind.Ingress, "networking.k8s.io/v1", "Ingress")]
    [InlineData(ResourceKind.ConfigMap, "v1", "ConfigMap")]
    public async Task ListObjects_sets_apiVersion_and_kind_on_every_item_and_pages(ResourceKind kind, string apiVersion, string kindName)
    {
        SeedShop("retail", "a");
        SeedShop("retail", "b");
        SeedShop("retail", "c");
        SeedShop("elsewhere", "d");
        server.ResetRecording();

        var objects = await Cluster(pageSize: 2).ListObjectsAsync(kind, "retail", Ct);

        Assert.Equal(new[] { "a", "b", "c" }.Select(app => NameOf(kind, app)), objects.Select(o => o.Name).Order(StringComparer.Ordinal));
        Assert.All(objects, item =>
        {
            Assert.Equal(kind, item.Kind);
            Assert.Equal("retail", item.Namespace);
            Assert.Equal(apiVersion, item.Manifest["apiVersion"]!.GetValue<string>());
            Assert.Equal(kindName, item.Manifest["kind"]!.GetValue<string>());
            Assert.False(string.IsNullOrEmpty(item.Uid));
            Assert.False(string.IsNullOrEmpty(item.ResourceVersion));
            Assert.Equal(item.Uid, item.Manifest["metadata"]!["uid"]!.GetValue<string>());
        });
        Assert.Equal(3, objects.Select(o => o.Uid).Distinct().Count());
        var lists = server.Requests.Where(r => r.Method == "GET").ToList();
        Assert.Equal(2, lists.Count);
        Assert.All(lists, request => Assert.Equal("2", QueryValue(request, "limit")));
        Assert.False(string.IsNullOrEmpty(QueryValue(lists[1], "continue")));
    }

    [Fact]
    public async Task ListObjects_in_an_empty_namespace_is_empty()
    {
        Assert.Empty(await Cluster().ListObjectsAsync(ResourceKind.Service, "default", Ct));
    }

    // ---------------------------------------------------------------- Delete

    [Theory]
    [InlineData(ResourceKind.Deployment, "deployments")]
    [InlineData(ResourceKind.Service, "services")]
    [InlineData(ResourceKind.Ingress, "ingresses")]
    [InlineData(ResourceKind.ConfigMap, "configmaps")]
    public async Task Delete_sends_the_uid_precondition_and_reports_Deleted(ResourceKind kind, string plural)
    {
        SeedShop();
        var name = NameOf(kind, "shop");
        var uid = StoredMetadata(kind, "retail", name).Uid;
        server.ResetRecording();

        var outcome = await Cluster().DeleteAsync(kind, "retail", name, uid, null, Ct);

        Assert.Equal(DeleteOutcome.Deleted, outcome);
        Assert.Null(server.Get(GroupOf(kind), "v1", plural, "retail", name));
        var delete = Assert.Single(server.Requests);
        Assert.Equal("DELETE", delete.Method);
        Assert.EndsWith($"/namespaces/retail/{plural}/{name}", delete.Path, StringComparison.Ordinal);
        var body = JsonNode.Parse(delete.Body)!;
        Assert.Equal(uid, body["preconditions"]!["uid"]!.GetValue<string>());
        var deletion = Assert.Single(server.Deletions);
        Assert.Equal(plural, deletion.Plural);
        Assert.Equal("Background", deletion.PropagationPolicy);
        Assert.False(deletion.DryRun);
    }

    [Fact]
    public async Task Deleting_a_Deployment_cascades_to_its_ReplicaSet_and_pods()
    {
        var shop = server.SeedWorkload("retail", "shop", ["10.0.0.1", "10.0.0.2"]);

        Assert.Equal(DeleteOutcome.Deleted, await Cluster().DeleteAsync(ResourceKind.Deployment, "retail", "shop", shop.Deployment.Metadata.Uid, null, Ct));

        Assert.Empty(server.List("apps", "v1", "replicasets", "retail"));
        Assert.Empty(server.List("", "v1", "pods", "retail"));
        Assert.True(server.Exists<V1Service>("retail", "shop-service"));
    }

    [Theory]
    [InlineData(ResourceKind.Deployment)]
    [InlineData(ResourceKind.Service)]
    [InlineData(ResourceKind.Ingress)]
    [InlineData(ResourceKind.ConfigMap)]
    public async Task Delete_of_a_missing_object_reports_NotFound(ResourceKind kind)
    {
        var outcome = await Cluster().DeleteAsync(kind, "default", "missing", Guid.NewGuid().ToString(), null, Ct);

        Assert.Equal(DeleteOutcome.NotFound, outcome);
        Assert.Equal(0, server.WriteCount);
        Assert.Empty(server.Deletions);
    }

    [Theory]
    [InlineData(ResourceKind.Deployment, "deployments")]
    [InlineData(ResourceKind.Service, "services")]
    [InlineData(ResourceKind.Ingress, "ingresses")]
    [InlineData(ResourceKind.ConfigMap, "configmaps")]
    public async Task Delete_of_an_object_recreated_under_a_new_uid_reports_PreconditionFailed_and_deletes_nothing(ResourceKind kind, string plural)
    {
        SeedShop();
        var name = NameOf(kind, "shop");
        var oldUid = StoredMetadata(kind, "retail", name).Uid;
        // Someone deletes and recreates the object between the reaper's read and its delete.
        var recreated = server.Get(GroupOf(kind), "v1", plural, "retail", name)!;
        using (var http = new HttpClient { BaseAddress = server.BaseAddress })
        {
            var prefix = GroupOf(kind).Length == 0 ? "api/v1" : $"apis/{GroupOf(kind)}/v1";
            using var response = await http.DeleteAsync($"{prefix}/namespaces/retail/{plural}/{name}", Ct);
            response.EnsureSuccessStatusCode();
        }

        recreated["metadata"]!.AsObject().Remove("uid");
        server.SeedJson(GroupOf(kind), "v1", plural, recreated);
        var newUid = StoredMetadata(kind, "retail", name).Uid;
        Assert.NotEqual(oldUid, newUid);
        server.ResetRecording();

        var outcome = await Cluster().DeleteAsync(kind, "retail", name, oldUid, null, Ct);

        Assert.Equal(DeleteOutcome.PreconditionFailed, outcome);
        Assert.Equal(newUid, StoredMetadata(kind, "retail", name).Uid);
        Assert.Empty(server.Deletions);
        Assert.Equal(0, server.WriteCount);
        Assert.Equal(409, Assert.Single(server.Requests).StatusCode);
    }

    [Theory]
    [InlineData(500, "InternalError")]
    [InlineData(403, "Forbidden")]
    [InlineData(429, "TooManyRequests")]
    public async Task Delete_surfaces_server_errors_instead_of_reporting_an_outcome(int status, string reason)
    {
        var shop = server.SeedWorkload("retail", "shop", ["10.0.0.1"]);
        server.FailNext("DELETE", "deployments", status, reason);

        var exception = await Assert.ThrowsAsync<HttpOperationException>(
            () => Cluster().DeleteAsync(ResourceKind.Deployment, "retail", "shop", shop.Deployment.Metadata.Uid, null, Ct));

        Assert.Equal((HttpStatusCode)status, exception.Response.StatusCode);
        Assert.True(server.Exists<V1Deployment>("retail", "shop"));
    }

    // ---------------------------------------------------------------- Scale to zero

    [Fact]
    public async Task ScaleToZero_sets_replicas_0_and_records_the_previous_count_with_a_resourceVersion_merge_patch()
    {
        server.SeedWorkload("retail", "shop", ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
        var before = (await Cluster().GetDeploymentAsync("retail", "shop", Ct))!;
        server.ResetRecording();

        await Cluster().ScaleToZeroAsync("retail", "shop", before.ResourceVersion, 3, "previews/pr-7/snapshot.json", Ct);

        var after = server.Get<V1Deployment>("retail", "shop")!;
        Assert.Equal(0, after.Spec.Replicas);
        Assert.Equal("3", after.Metadata.Annotations[ReaperLabels.ReplicasBeforeTeardown]);
        Assert.Equal("previews/pr-7/snapshot.json", after.Metadata.Annotations[ReaperLabels.ScaledToZeroBy]);
        Assert.Equal(before.Uid, after.Metadata.Uid);
        Assert.Equal(before.Labels, after.Metadata.Labels.AsReadOnly());
        Assert.NotEqual(before.ResourceVersion, after.Metadata.ResourceVersion);
        var patch = Assert.Single(server.Requests);
        Assert.Equal("PATCH", patch.Method);
        Assert.Equal("/apis/apps/v1/namespaces/retail/deployments/shop", patch.Path);
        Assert.StartsWith("application/merge-patch+json", patch.ContentType, StringComparison.Ordinal);
        Assert.Equal(200, patch.StatusCode);
        var body = JsonNode.Parse(patch.Body)!;
        Assert.Equal(before.ResourceVersion, body["metadata"]!["resourceVersion"]!.GetValue<string>());
        Assert.Equal("3", body["metadata"]!["annotations"]![ReaperLabels.ReplicasBeforeTeardown]!.GetValue<string>());
        Assert.Equal(0, body["spec"]!["replicas"]!.GetValue<int>());
        Assert.Equal(1, server.WriteCount);
    }

    [Fact]
    public async Task ScaleToZero_keeps_existing_annotations()
    {
        server.SeedWorkload("retail", "shop", ["10.0.0.1", "10.0.0.2"], annotations: new Dictionary<string, string> { [ReaperLabels.IdleTimeout] = "10m" });
        var before = (await Cluster().GetDeploymentAsync("retail", "shop", Ct))!;

        await Cluster().ScaleToZeroAsync("retail", "shop", before.ResourceVersion, 2, "previews/pr-7/snapshot.json", Ct);

        var annotations = server.Get<V1Deployment>("retail", "shop")!.Metadata.Annotations;
        Assert.Equal("10m", annotations[ReaperLabels.IdleTimeout]);
        Assert.Equal("2", annotations[ReaperLabels.ReplicasBeforeTeardown]);
    }

    [Fact]
    public async Task ScaleToZero_with_a_stale_resourceVersion_throws_ClusterConflictException_and_changes_nothing()
    {
        server.SeedWorkload("retail", "shop", ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
        var stale = (await Cluster().GetDeploymentAsync("retail", "shop", Ct))!;
        // Someone scales the Deployment up after the reaper read it.
        await RawClient().AppsV1.PatchNamespacedDeploymentAsync(
            new V1Patch("""{"spec":{"replicas":5}}""", V1Patch.PatchType.MergePatch), "shop", "retail", cancellationToken: Ct);
        var current = server.Get<V1Deployment>("retail", "shop")!;
        server.ResetRecording();

        var exception = await Assert.ThrowsAsync<ClusterConflictException>(
            () => Cluster().ScaleToZeroAsync("retail", "shop", stale.ResourceVersion, 3, "previews/pr-7/snapshot.json", Ct));

        Assert.Contains("retail/shop", exception.Message, StringComparison.Ordinal);
        var inner = Assert.IsType<HttpOperationException>(exception.InnerException);
        Assert.Equal(HttpStatusCode.Conflict, inner.Response.StatusCode);
        var after = server.Get<V1Deployment>("retail", "shop")!;
        Assert.Equal(5, after.Spec.Replicas);
        Assert.Equal(current.Metadata.ResourceVersion, after.Metadata.ResourceVersion);
        Assert.False(after.Metadata.Annotations?.ContainsKey(ReaperLabels.ReplicasBeforeTeardown) ?? false);
        Assert.Equal(0, server.WriteCount);
    }

    [Fact]
    public async Task ScaleToZero_of_a_missing_Deployment_surfaces_404()
    {
        var exception = await Assert.ThrowsAsync<HttpOperationException>(() => Cluster().ScaleToZeroAsync("retail", "gone", "1", 2, "previews/pr-7/snapshot.json", Ct));

        Assert.Equal(HttpStatusCode.NotFound, exception.Response.StatusCode);
    }

    [Fact]
    public async Task Delete_of_a_Deployment_with_a_resourceVersion_sends_both_preconditions_and_one_changed_since_is_PreconditionFailed()
    {
        var shop = server.SeedWorkload("retail", "shop", ["10.0.0.1"]);
        var read = (await Cluster().GetDeploymentAsync("retail", "shop", Ct))!;
        await RawClient().AppsV1.PatchNamespacedDeploymentAsync(
            new V1Patch("""{"spec":{"replicas":3}}""", V1Patch.PatchType.MergePatch), "shop", "retail", cancellationToken: Ct);
        server.ResetRecording();

        var outcome = await Cluster().DeleteAsync(ResourceKind.Deployment, "retail", "shop", shop.Deployment.Metadata.Uid, read.ResourceVersion, Ct);

        Assert.Equal(DeleteOutcome.PreconditionFailed, outcome);
        Assert.True(server.Exists<V1Deployment>("retail", "shop"));
        var preconditions = JsonNode.Parse(Assert.Single(server.Requests).Body)!["preconditions"]!;
        Assert.Equal(shop.Deployment.Metadata.Uid, preconditions["uid"]!.GetValue<string>());
        Assert.Equal(read.ResourceVersion, preconditions["resourceVersion"]!.GetValue<string>());
    }

    [Fact]
    public async Task ScaleBack_with_a_stale_resourceVersion_throws_ClusterConflictException_and_changes_nothing()
    {
        server.SeedWorkload("retail", "shop", ["10.0.0.1"]);
        var parked = (await Cluster().GetDeploymentAsync("retail", "shop", Ct))!;
        await Cluster().ScaleToZeroAsync("retail", "shop", parked.ResourceVersion, 2, "previews/pr-7/snapshot.json", Ct);
        var stale = (await Cluster().GetDeploymentAsync("retail", "shop", Ct))!;
        await RawClient().AppsV1.PatchNamespacedDeploymentAsync(
            new V1Patch("""{"spec":{"replicas":5}}""", V1Patch.PatchType.MergePatch), "shop", "retail", cancellationToken: Ct);

        await Assert.ThrowsAsync<ClusterConflictException>(() => Cluster().ScaleBackAsync("retail", "shop", stale.ResourceVersion, 2, Ct));

        Assert.Equal(5, server.Get<V1Deployment>("retail", "shop")!.Spec.Replicas);
    }

    [Fact]
    public async Task Create_refused_as_Invalid_throws_ClusterInvalidException_naming_the_fields()
    {
        await RawClient().CoreV1.CreateNamespacedServiceAsync(new V1Service
        {
            Metadata = new V1ObjectMeta { Name = "holder" },
            Spec = new V1ServiceSpec { Type = "NodePort", Ports = [new V1ServicePort { Port = 80, NodePort = 30080 }] },
        }, "default", cancellationToken: Ct);
        var manifest = new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Service",
            ["metadata"] = new JsonObject { ["name"] = "shop" },
            ["spec"] = new JsonObject { ["type"] = "NodePort", ["ports"] = new JsonArray(new JsonObject { ["port"] = 80, ["nodePort"] = 30080 }) },
        };

        var exception = await Assert.ThrowsAsync<ClusterInvalidException>(() => Cluster().CreateAsync(ResourceKind.Service, "default", manifest, Ct));

        Assert.Contains("provided port is already allocated", exception.Message, StringComparison.Ordinal);
        Assert.Equal(["spec.ports[0].nodePort"], exception.Fields);
    }

    // ---------------------------------------------------------------- Events

    [Fact]
    public async Task RecordAsync_creates_a_core_v1_Event_on_the_Deployment()
    {
        var shop = server.SeedWorkload("retail", "shop", ["10.0.0.1"]);
        var now = new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
        server.ResetRecording();

        await Cluster(time: new FakeTimeProvider(now)).RecordAsync(
            new ClusterEvent(ResourceKind.Deployment, "retail", "shop", shop.Deployment.Metadata.Uid, "TornDown", "Idle for 15m: deleted", Warning: false),
            Ct);

        var post = Assert.Single(server.Requests);
        Assert.Equal("POST", post.Method);
        Assert.Equal("/api/v1/namespaces/retail/events", post.Path);
        Assert.Equal(201, post.StatusCode);
        var stored = Assert.Single(server.List("", "v1", "events", "retail"));
        var e = KubernetesJson.Deserialize<Corev1Event>(stored.ToJsonString());
        Assert.Equal("retail", e.Metadata.NamespaceProperty);
        Assert.StartsWith("shop.", e.Metadata.Name, StringComparison.Ordinal);
        Assert.Equal("apps/v1", e.InvolvedObject.ApiVersion);
        Assert.Equal("Deployment", e.InvolvedObject.Kind);
        Assert.Equal("shop", e.InvolvedObject.Name);
        Assert.Equal("retail", e.InvolvedObject.NamespaceProperty);
        Assert.Equal(shop.Deployment.Metadata.Uid, e.InvolvedObject.Uid);
        Assert.Equal("TornDown", e.Reason);
        Assert.Equal("Idle for 15m: deleted", e.Message);
        Assert.Equal("Normal", e.Type);
        Assert.Equal("envoy-reaper", e.Source.Component);
        Assert.Equal("envoy-reaper", e.ReportingComponent);
        Assert.Equal(1, e.Count);
        Assert.Equal(now.UtcDateTime, e.FirstTimestamp);
        Assert.Equal(now.UtcDateTime, e.LastTimestamp);
    }

    [Fact]
    public async Task Two_events_in_the_same_instant_do_not_collide_and_Warning_is_recorded_as_such()
    {
        var shop = server.SeedWorkload("retail", "shop", ["10.0.0.1"]);
        var cluster = Cluster(time: new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero)));

        await cluster.RecordAsync(new ClusterEvent(ResourceKind.Deployment, "retail", "shop", shop.Deployment.Metadata.Uid, "WouldTearDown", "dry run", Warning: false), Ct);
        await cluster.RecordAsync(new ClusterEvent(ResourceKind.Deployment, "retail", "shop", shop.Deployment.Metadata.Uid, "StatsUnreachable", "no stats", Warning: true), Ct);

        var events = server.List("", "v1", "events", "retail").Select(json => KubernetesJson.Deserialize<Corev1Event>(json.ToJsonString())).ToList();
        Assert.Equal(2, events.Count);
        Assert.Equal(2, events.Select(e => e.Metadata.Name).Distinct(StringComparer.Ordinal).Count());
        Assert.Equal("Normal", events.Single(e => e.Reason == "WouldTearDown").Type);
        Assert.Equal("Warning", events.Single(e => e.Reason == "StatsUnreachable").Type);
        Assert.All(server.Requests.Where(r => r.Method == "POST"), request => Assert.Equal(201, request.StatusCode));
    }

    [Fact]
    public async Task The_same_event_again_raises_its_count_and_lastTimestamp_instead_of_adding_one()
    {
        var shop = server.SeedWorkload("retail", "shop", ["10.0.0.1"]);
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
        var cluster = Cluster(time: clock);
        var idle = new ClusterEvent(ResourceKind.Deployment, "retail", "shop", shop.Deployment.Metadata.Uid, "IdleDetected", "0 active connection(s)", Warning: false);

        await cluster.RecordAsync(idle, Ct);
        clock.Advance(TimeSpan.FromMinutes(7));
        await cluster.RecordAsync(idle, Ct);
        clock.Advance(TimeSpan.FromMinutes(7));
        await cluster.RecordAsync(idle, Ct);

        var e = KubernetesJson.Deserialize<Corev1Event>(Assert.Single(server.List("", "v1", "events", "retail")).ToJsonString());
        Assert.Equal(3, e.Count);
        Assert.Equal(new DateTime(2026, 3, 1, 12, 0, 0, DateTimeKind.Utc), e.FirstTimestamp);
        Assert.Equal(new DateTime(2026, 3, 1, 12, 14, 0, DateTimeKind.Utc), e.LastTimestamp);
    }

    [Fact]
    public async Task RecordAsync_for_an_Ingress_names_its_api_group_and_truncates_long_messages()
    {
        server.SeedWorkload("retail", "shop", ["10.0.0.1"]);

        await Cluster().RecordAsync(new ClusterEvent(ResourceKind.Ingress, "retail", "shop-ingress", null, "Deleted", new string('x', 5000), Warning: true), Ct);

        var e = KubernetesJson.Deserialize<Corev1Event>(Assert.Single(server.List("", "v1", "events", "retail")).ToJsonString());
        Assert.Equal("networking.k8s.io/v1", e.InvolvedObject.ApiVersion);
        Assert.Equal("Ingress", e.InvolvedObject.Kind);
        Assert.Null(e.InvolvedObject.Uid);
        Assert.Equal(1024, e.Message.Length);
        Assert.Equal("Warning", e.Type);
    }

    [Fact]
    public async Task RecordAsync_surfaces_a_refused_event()
    {
        server.SeedWorkload("retail", "shop", ["10.0.0.1"]);
        server.FailNext("POST", "events", 403, "Forbidden");

        var exception = await Assert.ThrowsAsync<HttpOperationException>(() => Cluster().RecordAsync(
            new ClusterEvent(ResourceKind.Deployment, "retail", "shop", null, "TornDown", "m", Warning: false), Ct));

        Assert.Equal(HttpStatusCode.Forbidden, exception.Response.StatusCode);
    }

    // ---------------------------------------------------------------- ClusterAccess

    [Fact]
    public async Task BuildConfiguration_in_KubeConfig_mode_with_an_explicit_context_reaches_the_cluster()
    {
        using var directory = new TempDirectory();
        var path = server.WriteKubeConfig(directory.Path, "fake-ctx");

        var configuration = ClusterAccess.BuildConfiguration(new ClusterAccessOptions
        {
            Mode = ClusterAccessMode.KubeConfig,
            KubeConfigPath = path,
            Context = "fake-ctx",
            RequestTimeoutSeconds = 7,
        });

        Assert.Equal(server.BaseAddress.ToString().TrimEnd('/'), configuration.Host.TrimEnd('/'));
        Assert.Equal("fake-ctx", configuration.CurrentContext);
        Assert.Equal(TimeSpan.FromSeconds(7), configuration.HttpClientTimeout);
        using var client = new k8s.Kubernetes(configuration);
        var namespaces = await client.CoreV1.ListNamespaceAsync(cancellationToken: Ct);
        Assert.Contains(namespaces.Items, ns => ns.Metadata.Name == "default");
    }

    [Fact]
    public async Task BuildConfiguration_uses_the_named_context_not_the_current_one()
    {
        using var directory = new TempDirectory();
        var path = Path.Combine(directory.Path, "two-contexts.yaml");
        File.WriteAllText(path, $"""
            apiVersion: v1
            kind: Config
            clusters:
            - name: elsewhere
              cluster:
                server: 'http://127.0.0.1:9'
            - name: fake
              cluster:
                server: '{server.BaseAddress.ToString().TrimEnd('/')}'
            contexts:
            - name: elsewhere
              context:
                cluster: elsewhere
                user: u
            - name: fake
              context:
                cluster: fake
                user: u
            current-context: elsewhere
            users:
            - name: u
              user:
                token: fake-token
            """);

        var named = ClusterAccess.BuildConfiguration(new ClusterAccessOptions { Mode = ClusterAccessMode.KubeConfig, KubeConfigPath = path, Context = "fake" });
        var current = ClusterAccess.BuildConfiguration(new ClusterAccessOptions { Mode = ClusterAccessMode.KubeConfig, KubeConfigPath = path });

        Assert.Equal(server.BaseAddress.ToString().TrimEnd('/'), named.Host.TrimEnd('/'));
        Assert.Equal("http://127.0.0.1:9", current.Host.TrimEnd('/'));
        using var client = ClusterAccess.CreateClient(new ClusterAccessOptions { Mode = ClusterAccessMode.KubeConfig, KubeConfigPath = path, Context = "fake" });
        Assert.Equal("default", (await client.CoreV1.ReadNamespaceAsync("default", cancellationToken: Ct)).Metadata.Name);
    }

    [Fact]
    public void BuildConfiguration_with_a_missing_kubeconfig_names_the_path()
    {
        using var directory = new TempDirectory();
        var path = Path.Combine(directory.Path, "absent.yaml");

        var exception = Assert.Throws<InvalidOperationException>(
            () => ClusterAccess.BuildConfiguration(new ClusterAccessOptions { Mode = ClusterAccessMode.KubeConfig, KubeConfigPath = path }));

        Assert.Contains(path, exception.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("  ")]
    public void BuildConfiguration_in_KubeConfig_mode_without_a_path_is_refused(string? path)
    {
        var exception = Assert.Throws<InvalidOperationException>(
            () => ClusterAccess.BuildConfiguration(new ClusterAccessOptions { Mode = ClusterAccessMode.KubeConfig, KubeConfigPath = path }));

        Assert.Contains("KubeConfigPath", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BuildConfiguration_with_an_unknown_context_names_the_path_and_the_context()
    {
        using var directory = new TempDirectory();
        var path = server.WriteKubeConfig(directory.Path, "fake-ctx");

        var exception = Assert.Throws<InvalidOperationException>(() => ClusterAccess.BuildConfiguration(
            new ClusterAccessOptions { Mode = ClusterAccessMode.KubeConfig, KubeConfigPath = path, Context = "no-such-context" }));

        Assert.Contains(path, exception.Message, StringComparison.Ordinal);
        Assert.Contains("no-such-context", exception.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("clusters: [ {name: : :\n  - ]] not yaml {{")]
    [InlineData("clusters: 5\ncontexts: nope\n")]
    [InlineData("")]
    [InlineData("apiVersion: v1\nkind: Config\ncontexts:\n- name: c\n  context:\n    cluster: missing\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: t\n")]
    public void BuildConfiguration_with_a_malformed_kubeconfig_is_an_InvalidOperationException_naming_the_path(string content)
    {
        using var directory = new TempDirectory();
        var path = Path.Combine(directory.Path, "broken.yaml");
        File.WriteAllText(path, content);

        var exception = Assert.Throws<InvalidOperationException>(
            () => ClusterAccess.BuildConfiguration(new ClusterAccessOptions { Mode = ClusterAccessMode.KubeConfig, KubeConfigPath = path }));

        Assert.Contains(path, exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BuildConfiguration_in_InCluster_mode_outside_a_pod_says_so()
    {
        Assert.False(KubernetesClientConfiguration.IsInCluster(), "this test must run outside a Kubernetes pod");

        var exception = Assert.Throws<InvalidOperationException>(
            () => ClusterAccess.BuildConfiguration(new ClusterAccessOptions { Mode = ClusterAccessMode.InCluster }));

        Assert.Contains("not in a pod", exception.Message, StringComparison.Ordinal);
        Assert.Contains("InCluster", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BuildConfiguration_without_a_mode_is_refused_instead_of_falling_back_to_localhost()
    {
        var exception = Assert.Throws<InvalidOperationException>(() => ClusterAccess.BuildConfiguration(new ClusterAccessOptions { Mode = null }));

        Assert.Contains("Mode is required", exception.Message, StringComparison.Ordinal);
    }

    // ---------------------------------------------------------------- Server errors are never empty results

    [Fact]
    public async Task A_429_with_Retry_After_on_a_deployment_list_surfaces_as_an_exception()
    {
        server.SeedWorkload("default", "shop", ["10.0.0.1"]);
        server.FailNext("GET", "deployments", 429, "TooManyRequests", retryAfter: TimeSpan.FromSeconds(2));

        var exception = await Assert.ThrowsAsync<HttpOperationException>(() => ToListAsync(Cluster().ListDeploymentsAsync(null, OptIn, Ct)));

        Assert.Equal(HttpStatusCode.TooManyRequests, exception.Response.StatusCode);
        Assert.Equal(429, Assert.Single(server.Requests).StatusCode);
    }

    [Theory]
    [InlineData("deployments")]
    [InlineData("pods")]
    public async Task A_500_on_a_list_surfaces_as_an_exception(string plural)
    {
        server.SeedWorkload("default", "shop", ["10.0.0.1"]);
        server.FailNext("GET", plural, 500, "InternalError");
        var cluster = Cluster();

        var exception = await Assert.ThrowsAsync<HttpOperationException>(() => plural == "pods"
            ? ToListAsync(cluster.ListPodsAsync("default", null, Ct))
            : ToListAsync(cluster.ListDeploymentsAsync("default", null, Ct)));

        Assert.Equal(HttpStatusCode.InternalServerError, exception.Response.StatusCode);
    }

    [Fact]
    public async Task A_500_on_a_later_page_surfaces_as_an_exception()
    {
        for (var i = 0; i < 3; i++)
        {
            server.SeedWorkload("default", $"app-{i}", ["10.0.0.1"], withService: false);
        }

        await using var deployments = Cluster(pageSize: 2).ListDeploymentsAsync(null, OptIn, Ct).GetAsyncEnumerator(Ct);
        Assert.True(await deployments.MoveNextAsync());
        Assert.True(await deployments.MoveNextAsync());
        server.FailNext("GET", "deployments", 500, "InternalError");

        var exception = await Assert.ThrowsAsync<HttpOperationException>(async () => await deployments.MoveNextAsync());

        Assert.Equal(HttpStatusCode.InternalServerError, exception.Response.StatusCode);
    }

    [Theory]
    [InlineData(ResourceKind.Service, "services", 500)]
    [InlineData(ResourceKind.Ingress, "ingresses", 429)]
    public async Task A_server_error_on_ListObjects_surfaces_as_an_exception(ResourceKind kind, string plural, int status)
    {
        SeedShop();
        server.FailNext("GET", plural, status, status == 429 ? "TooManyRequests" : "InternalError");

        var exception = await Assert.ThrowsAsync<HttpOperationException>(() => Cluster().ListObjectsAsync(kind, "retail", Ct));

        Assert.Equal((HttpStatusCode)status, exception.Response.StatusCode);
    }

    [Theory]
    [InlineData(ResourceKind.Deployment, "deployments")]
    [InlineData(ResourceKind.Service, "services")]
    public async Task A_server_error_on_a_get_is_not_mistaken_for_a_missing_object(ResourceKind kind, string plural)
    {
        SeedShop();
        server.FailNext("GET", plural, 500, "InternalError", times: 2);
        var cluster = Cluster();

        var exception = await Assert.ThrowsAsync<HttpOperationException>(() => cluster.GetObjectAsync(kind, "retail", NameOf(kind, "shop"), Ct));
        Assert.Equal(HttpStatusCode.InternalServerError, exception.Response.StatusCode);
        if (kind == ResourceKind.Deployment)
        {
            await Assert.ThrowsAsync<HttpOperationException>(() => cluster.GetDeploymentAsync("retail", "shop", Ct));
        }
    }

    // ---------------------------------------------------------------- helpers

    private KubernetesCluster Cluster(int pageSize = 500, TimeProvider? time = null) =>
        new(RawClient(), Options.Create(new ReaperOptions { ListPageSize = pageSize, PodListPageSize = pageSize }), time ?? TimeProvider.System);

    private k8s.Kubernetes RawClient()
    {
        var client = new k8s.Kubernetes(server.ClientConfiguration());
        clients.Add(client);
        return client;
    }

    private static async Task<List<T>> ToListAsync<T>(IAsyncEnumerable<T> source)
    {
        var result = new List<T>();
        await foreach (var item in source)
        {
            result.Add(item);
            if (result.Count > 1000)
            {
                throw new InvalidOperationException("the list does not end");
            }
        }

        return result;
    }

    private List<RecordedRequest> ListRequests(string plural) =>
        server.Requests.Where(r => r.Method == "GET" && r.Path.EndsWith("/" + plural, StringComparison.Ordinal)).ToList();

    private static string? QueryValue(RecordedRequest request, string name)
    {
        foreach (var pair in request.Query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var separator = pair.IndexOf('=', StringComparison.Ordinal);
            var key = Uri.UnescapeDataString(separator < 0 ? pair : pair[..separator]);
            if (key == name)
            {
                return separator < 0 ? "" : Uri.UnescapeDataString(pair[(separator + 1)..].Replace('+', ' '));
            }
        }

        return null;
    }

    private static string NameOf(ResourceKind kind, string app) => kind switch
    {
        ResourceKind.Deployment => app,
        ResourceKind.Service => $"{app}-service",
        ResourceKind.Ingress => $"{app}-ingress",
        ResourceKind.ConfigMap => $"{app}-config",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    private static string GroupOf(ResourceKind kind) => kind switch
    {
        ResourceKind.Deployment => "apps",
        ResourceKind.Ingress => "networking.k8s.io",
        _ => "",
    };

    private static string PluralOf(ResourceKind kind) => kind switch
    {
        ResourceKind.Deployment => "deployments",
        ResourceKind.Service => "services",
        ResourceKind.Ingress => "ingresses",
        ResourceKind.ConfigMap => "configmaps",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    private (string Uid, string ResourceVersion) StoredMetadata(ResourceKind kind, string ns, string name)
    {
        var stored = server.Get(GroupOf(kind), "v1", PluralOf(kind), ns, name) ?? throw new InvalidOperationException($"{kind} {ns}/{name} is not stored");
        return (stored["metadata"]!["uid"]!.GetValue<string>(), stored["metadata"]!["resourceVersion"]!.GetValue<string>());
    }

    /// <summary>A workload with its Service and Ingress, plus a ConfigMap named "{app}-config".</summary>
    private void SeedShop(string ns = "retail", string app = "shop")
    {
        server.SeedWorkload(ns, app, ["10.0.0.1"]);
        server.Seed(new V1ConfigMap
        {
            ApiVersion = "v1",
            Kind = "ConfigMap",
            Metadata = new V1ObjectMeta { Name = $"{app}-config", NamespaceProperty = ns },
            Data = new Dictionary<string, string> { ["envoy.yaml"] = "admin: {}" },
        });
    }

    private void SeedDeployment(string ns, string name, Dictionary<string, string> labels, Dictionary<string, string>? selector = null, int? replicas = 1)
    {
        var matchLabels = selector ?? new Dictionary<string, string> { ["app"] = labels["app"] };
        server.Seed(new V1Deployment
        {
            ApiVersion = "apps/v1",
            Kind = "Deployment",
            Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = ns, Labels = labels },
            Spec = new V1DeploymentSpec
            {
                Replicas = replicas,
                Selector = new V1LabelSelector { MatchLabels = matchLabels },
                Template = new V1PodTemplateSpec
                {
                    Metadata = new V1ObjectMeta { Labels = new Dictionary<string, string>(matchLabels) },
                    Spec = new V1PodSpec { Containers = [new V1Container { Name = name, Image = "app:1" }] },
                },
            },
        });
    }

    private void SeedPod(
        string name,
        string? phase,
        string? readyCondition,
        DateTime? deletionTimestamp = null,
        IList<string>? finalizers = null,
        IList<V1OwnerReference>? owners = null)
    {
        server.Seed(new V1Pod
        {
            ApiVersion = "v1",
            Kind = "Pod",
            Metadata = new V1ObjectMeta
            {
                Name = name,
                NamespaceProperty = "default",
                Labels = new Dictionary<string, string> { ["app"] = "probe" },
                DeletionTimestamp = deletionTimestamp,
                Finalizers = finalizers,
                OwnerReferences = owners,
            },
            Spec = new V1PodSpec { Containers = [new V1Container { Name = "app", Image = "app:1" }] },
            Status = phase is null
                ? null
                : new V1PodStatus
                {
                    Phase = phase,
                    PodIP = "10.9.0.1",
                    Conditions = readyCondition is null
                        ? null
                        : [new V1PodCondition { Type = "Initialized", Status = "True" }, new V1PodCondition { Type = "Ready", Status = readyCondition }],
                },
        });
    }

    private static V1OwnerReference Owner(string kind, string name, bool controller, string apiVersion = "apps/v1") =>
        new() { ApiVersion = apiVersion, Kind = kind, Name = name, Uid = Guid.NewGuid().ToString(), Controller = controller };

    private sealed class TempDirectory : IDisposable
    {
        public TempDirectory()
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "envoy-reaper-kubeconfig-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(Path);
        }

        public string Path { get; }

        public void Dispose()
        {
            try
            {
                Directory.Delete(Path, recursive: true);
            }
            catch (IOException)
            {
                // Best effort.
            }
        }
    }
}
