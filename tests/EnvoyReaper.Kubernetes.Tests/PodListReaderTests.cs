using System.Net;
using System.Text;
using EnvoyReaper.Cluster;
using EnvoyReaper.TestSupport.Kubernetes;
using EnvoyReaper.Workloads;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Kubernetes.Tests;

/// <summary>
/// The lean pod list (only what <see cref="PodInfo"/> holds) against the typed client's <see cref="KubernetesCluster.ToInfo(V1Pod)"/>
/// on the same bytes, and its list semantics and errors through the real client's HTTP pipeline.
/// </summary>
public sealed class PodListReaderTests : IAsyncLifetime
{
    private const string Namespace = "retail";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private static readonly DateTime Created = new(2026, 12, 1, 8, 0, 0, DateTimeKind.Utc);

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

    [Fact]
    public async Task The_lean_list_gives_exactly_the_PodInfo_of_the_typed_client_for_every_pod_shape()
    {
        SeedCorpus();
        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        var body = await http.GetByteArrayAsync($"api/v1/namespaces/{Namespace}/pods", Ct);

        var typed = KubernetesJson.Deserialize<V1PodList>(Encoding.UTF8.GetString(body)).Items.Select(KubernetesCluster.ToInfo).ToList();
        var lean = PodListJson.Parse(body).Items;

        Assert.True(typed.Count >= 14, $"the corpus has {typed.Count} pods");
        AssertSame(typed, lean);
    }

    [Fact]
    public async Task ListPods_through_the_cluster_pages_and_gives_what_the_typed_client_gives()
    {
        SeedCorpus();
        server.ResetRecording();

        var listed = await ToListAsync(Cluster(pageSize: 4).ListPodsAsync(Namespace, null, Ct));

        var typed = new List<PodInfo>();
        string? continueToken = null;
        do
        {
            var page = await KubernetesCluster.ReadTypedPodPageAsync(RawClient(), Namespace, null, 4, continueToken, Ct);
            typed.AddRange(page.Items);
            continueToken = page.Continue;
        }
        while (continueToken is not null);

        AssertSame(typed, listed);
        var lists = server.Requests.Where(request => request.Method == "GET" && request.Path == $"/api/v1/namespaces/{Namespace}/pods").ToList();
        Assert.Equal(2 * (int)Math.Ceiling(listed.Count / 4.0), lists.Count);
        Assert.Contains("limit=4", lists[0].Query, StringComparison.Ordinal);
        Assert.Contains("continue=", lists[1].Query, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_label_selector_and_the_credentials_go_through_the_clients_pipeline()
    {
        server.SeedWorkload(Namespace, "shop", ["10.1.0.1", "10.1.0.2"]);
        server.SeedWorkload(Namespace, "cart", ["10.1.0.3"]);
        var recorder = new RecordingHandler();
        var configuration = server.ClientConfiguration();
        configuration.AccessToken = "lean-token";
        var client = new k8s.Kubernetes(configuration, recorder);
        clients.Add(client);
        var cluster = new KubernetesCluster(client, Options.Create(new ReaperOptions { PodListPageSize = 1 }), TimeProvider.System);

        var pods = await ToListAsync(cluster.ListPodsAsync(Namespace, "app in (shop),tier!=db", Ct));

        Assert.Equal(["10.1.0.1", "10.1.0.2"], pods.Select(pod => pod.Ip).Order(StringComparer.Ordinal));
        Assert.Equal(2, recorder.Requests.Count);
        Assert.All(recorder.Requests, request => Assert.Equal("Bearer lean-token", request.Authorization));
        Assert.All(recorder.Requests, request => Assert.Contains("labelSelector=app%20in%20%28shop%29%2Ctier%21%3Ddb", request.Query, StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_API_server_behind_a_path_prefix_is_listed_under_that_prefix_as_the_typed_client_does()
    {
        server.SeedWorkload(Namespace, "shop", ["10.1.0.1", "10.1.0.2"]);
        var configuration = server.ClientConfiguration();
        configuration.Host = configuration.Host!.TrimEnd('/') + "/k8s/clusters/c-1"; // as Rancher's proxy serves a cluster
        var proxy = new PathPrefixProxy("/k8s/clusters/c-1");
        var client = new k8s.Kubernetes(configuration, proxy);
        clients.Add(client);
        var cluster = new KubernetesCluster(client, Options.Create(new ReaperOptions { PodListPageSize = 1 }), TimeProvider.System);

        var pods = await ToListAsync(cluster.ListPodsAsync(Namespace, null, Ct));
        var typed = await client.CoreV1.ListNamespacedPodAsync(Namespace, cancellationToken: Ct);

        Assert.Equal(typed.Items.Select(pod => pod.Status.PodIP).Order(StringComparer.Ordinal), pods.Select(pod => pod.Ip).Order(StringComparer.Ordinal));
        Assert.Equal(["10.1.0.1", "10.1.0.2"], pods.Select(pod => pod.Ip).Order(StringComparer.Ordinal));
        Assert.Empty(proxy.Unprefixed);
    }

    [Fact]
    public async Task A_Forbidden_Status_is_an_HttpOperationException_carrying_the_Status_body()
    {
        server.SeedWorkload(Namespace, "shop", ["10.1.0.1"]);
        server.FailNext("GET", "/pods", 403, "Forbidden");

        var exception = await Assert.ThrowsAsync<HttpOperationException>(() => ToListAsync(Cluster().ListPodsAsync(Namespace, null, Ct)));

        Assert.Equal(HttpStatusCode.Forbidden, exception.Response.StatusCode);
        Assert.Contains("\"kind\":\"Status\"", exception.Response.Content, StringComparison.Ordinal);
        Assert.Contains("Forbidden", exception.Response.Content, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_expired_continue_token_ends_the_list_with_410_naming_the_namespace_never_a_short_list()
    {
        server.SeedWorkload(Namespace, "shop", ["10.1.0.1", "10.1.0.2", "10.1.0.3"]);
        var seen = new List<PodInfo>();

        var exception = await Assert.ThrowsAsync<HttpOperationException>(async () =>
        {
            await foreach (var pod in Cluster(pageSize: 1).ListPodsAsync(Namespace, null, Ct))
            {
                seen.Add(pod);
                server.ExpireContinueTokens();
            }
        });

        Assert.Equal(HttpStatusCode.Gone, exception.Response.StatusCode);
        Assert.Contains(Namespace, exception.Message, StringComparison.Ordinal);
        Assert.Contains("continue token expired", exception.Message, StringComparison.Ordinal);
        Assert.Single(seen);
    }

    [Theory]
    [InlineData("{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{},\"items\":[{\"metadata\":{\"name\":\"a\",")]
    [InlineData("<html>502 Bad Gateway</html>")]
    [InlineData("{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{}}")]
    public async Task A_body_that_is_not_a_whole_pod_list_fails_clearly_and_yields_nothing(string body)
    {
        server.SeedWorkload(Namespace, "shop", ["10.1.0.1"]);
        var client = new k8s.Kubernetes(server.ClientConfiguration(), new ReplacingHandler(body));
        clients.Add(client);
        var cluster = new KubernetesCluster(client, Options.Create(new ReaperOptions()), TimeProvider.System);
        var seen = new List<PodInfo>();

        var exception = await Assert.ThrowsAsync<HttpOperationException>(async () =>
        {
            await foreach (var pod in cluster.ListPodsAsync(Namespace, null, Ct))
            {
                seen.Add(pod);
            }
        });

        Assert.Contains($"pod list of namespace {Namespace}", exception.Message, StringComparison.Ordinal);
        Assert.Empty(seen);
    }

    /// <summary>Every shape the reaper meets: realistic and minimal, terminating, finished, init sidecars, no IP, owners of every kind.</summary>
    private void SeedCorpus()
    {
        var workload = server.SeedWorkload(Namespace, "shop", ["10.1.0.5"], createdAt: Created);
        var owner = server.Get<V1ReplicaSet>(Namespace, "shop-5d8f7c9b6")!;
        var labels = new Dictionary<string, string> { ["app"] = "shop" };
        server.SeedPod(Namespace, "realistic-ready", "10.1.0.6", labels, "5d8f7c9b6", owner, ready: true, istio: false, Created, 0, PodShape.Realistic);
        server.SeedPod(Namespace, "realistic-restarted", "10.1.0.7", labels, "5d8f7c9b6", owner, ready: false, istio: true, Created, 3, PodShape.Realistic);
        server.SeedPod(Namespace, "minimal-istio", "10.1.0.8", labels, "5d8f7c9b6", owner, ready: true, istio: true, Created, 1);
        server.SeedEvictedPod(workload, "shop-evicted", "10.1.0.9");
        SeedPod("terminating", "Running", "True", deletionTimestamp: Created.AddMinutes(5), finalizers: ["example.com/hold"]);
        SeedPod("succeeded", "Succeeded", "False");
        SeedPod("pending-no-ip", "Pending", readyCondition: null, ip: null);
        SeedPod("no-status", phase: null, readyCondition: null);
        SeedPod("job-owned", "Running", "True", owners: [Owner("Job", "batch-1", controller: true, apiVersion: "batch/v1")]);
        SeedPod("statefulset-owned", "Running", "True", owners: [Owner("StatefulSet", "db", controller: true)]);
        SeedPod("not-controller", "Running", "True", owners: [Owner("ReplicaSet", "web-abc", controller: false)]);
        SeedPod("two-owners", "Running", "True", owners: [Owner("ReplicaSet", "adopted-x", controller: false), Owner("ReplicaSet", "web-def", controller: true)]);
        server.Seed(new V1Pod
        {
            ApiVersion = "v1",
            Kind = "Pod",
            Metadata = new V1ObjectMeta { Name = "native-sidecar", NamespaceProperty = Namespace, Labels = new Dictionary<string, string> { ["app"] = "side", ["tier"] = "web" } },
            Spec = new V1PodSpec
            {
                Containers = [new V1Container { Name = "app", Image = "app:1" }],
                InitContainers = [new V1Container { Name = "istio-proxy", Image = "proxyv2:1", RestartPolicy = "Always" }],
            },
            Status = new V1PodStatus
            {
                Phase = "Running",
                PodIP = "10.1.0.20",
                Conditions = [new V1PodCondition { Type = "Ready", Status = "True" }],
                ContainerStatuses = [Running("app", 2, Created.AddMinutes(3))],
                InitContainerStatuses = [Running("istio-proxy", 5, Created.AddMinutes(7).AddMilliseconds(250))],
            },
        });
        server.Seed(new V1Pod
        {
            ApiVersion = "v1",
            Kind = "Pod",
            Metadata = new V1ObjectMeta { Name = "waiting", NamespaceProperty = Namespace },
            Spec = new V1PodSpec { Containers = [new V1Container { Name = "app", Image = "app:1" }] },
            Status = new V1PodStatus
            {
                Phase = "Pending",
                ContainerStatuses = [new V1ContainerStatus { Name = "app", Image = "app:1", ImageID = "", Ready = false, RestartCount = 0, State = new V1ContainerState { Waiting = new V1ContainerStateWaiting { Reason = "ContainerCreating" } } }],
            },
        });
    }

    private static V1ContainerStatus Running(string name, int restarts, DateTime startedAt) => new()
    {
        Name = name,
        Image = name + ":1",
        ImageID = "",
        Ready = true,
        RestartCount = restarts,
        State = new V1ContainerState { Running = new V1ContainerStateRunning { StartedAt = startedAt } },
    };

    private void SeedPod(string name, string? phase, string? readyCondition, DateTime? deletionTimestamp = null, IList<string>? finalizers = null, IList<V1OwnerReference>? owners = null, string? ip = "10.9.0.1") =>
        server.Seed(new V1Pod
        {
            ApiVersion = "v1",
            Kind = "Pod",
            Metadata = new V1ObjectMeta
            {
                Name = name,
                NamespaceProperty = Namespace,
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
                    PodIP = ip,
                    Conditions = readyCondition is null
                        ? null
                        : [new V1PodCondition { Type = "Initialized", Status = "True" }, new V1PodCondition { Type = "Ready", Status = readyCondition }],
                },
        });

    private static V1OwnerReference Owner(string kind, string name, bool controller, string apiVersion = "apps/v1") =>
        new() { ApiVersion = apiVersion, Kind = kind, Name = name, Uid = Guid.NewGuid().ToString(), Controller = controller };

    /// <summary>PodInfo is a record of collections: equal field by field, the collections by content.</summary>
    private static void AssertSame(IReadOnlyList<PodInfo> expected, IReadOnlyList<PodInfo> actual)
    {
        Assert.Equal(expected.Select(pod => pod.Name), actual.Select(pod => pod.Name));
        foreach (var (want, got) in expected.Zip(actual))
        {
            Assert.Equal(want, got with { Labels = want.Labels, ContainerNames = want.ContainerNames });
            Assert.Equal(want.Labels.OrderBy(label => label.Key, StringComparer.Ordinal), got.Labels.OrderBy(label => label.Key, StringComparer.Ordinal));
            Assert.Equal(want.ContainerNames, got.ContainerNames);
        }
    }

    private KubernetesCluster Cluster(int pageSize = 500) =>
        new(RawClient(), Options.Create(new ReaperOptions { ListPageSize = pageSize, PodListPageSize = pageSize }), TimeProvider.System);

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
        }

        return result;
    }

    private sealed record SeenRequest(string Query, string? Authorization);

    private sealed class RecordingHandler : DelegatingHandler
    {
        public List<SeenRequest> Requests { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Requests.Add(new SeenRequest(request.RequestUri!.Query, request.Headers.Authorization?.ToString()));
            return base.SendAsync(request, cancellationToken);
        }
    }

    /// <summary>A proxy that serves the API server under a path prefix: a request without it is 404 and recorded.</summary>
    private sealed class PathPrefixProxy(string prefix) : DelegatingHandler
    {
        public List<string> Unprefixed { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var uri = request.RequestUri!;
            if (!uri.AbsolutePath.StartsWith(prefix + "/", StringComparison.Ordinal))
            {
                Unprefixed.Add(uri.AbsolutePath);
                return Task.FromResult(new HttpResponseMessage(System.Net.HttpStatusCode.NotFound) { RequestMessage = request });
            }

            request.RequestUri = new UriBuilder(uri) { Path = uri.AbsolutePath[prefix.Length..] }.Uri;
            return base.SendAsync(request, cancellationToken);
        }
    }

    /// <summary>A proxy or a broken connection: a 200 whose body is not the list the server sent.</summary>
    private sealed class ReplacingHandler(string body) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            response.Content = new StringContent(body, Encoding.UTF8, "application/json");
            return response;
        }
    }
}
