using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using EnvoyReaper.TestSupport.Kubernetes;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Time.Testing;

namespace EnvoyReaper.Kubernetes.Tests.FakeApiServer;

public sealed class FakeKubernetesApiServerTests : IAsyncLifetime
{
    private const string Ns = "default";
    private const string MonitorGroup = "monitoring.example.com";
    private const string MonitorVersion = "v1alpha1";
    private const string MonitorPlural = "envoymonitors";

    private static readonly DateTimeOffset StartTime = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private readonly FakeTimeProvider time = new(StartTime);
    private FakeKubernetesApiServer server = null!;
    private k8s.Kubernetes client = null!;
    private HttpClient http = null!;

    public async Task InitializeAsync()
    {
        server = await FakeKubernetesApiServer.StartAsync(time);
        client = new k8s.Kubernetes(server.ClientConfiguration());
        http = new HttpClient { BaseAddress = server.BaseAddress };
    }

    public async Task DisposeAsync()
    {
        http.Dispose();
        client.Dispose();
        await server.DisposeAsync();
    }

    [Fact]
    public async Task Missing_deployment_answers_404_with_the_exact_v1_Status_body()
    {
        using var response = await http.GetAsync("apis/apps/v1/namespaces/default/deployments/x");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(
            """{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"deployments.apps \"x\" not found","reason":"NotFound","details":{"name":"x","group":"apps","kind":"deployments"},"code":404}""",
            await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_realistic_pod_has_the_shape_and_size_of_a_real_Deployment_pod()
    {
        var workload = server.SeedWorkload(Ns, "shop", ["10.0.0.1"], podShape: PodShape.Realistic);

        using var response = await http.GetAsync($"api/v1/namespaces/{Ns}/pods/{workload.Pods[0].Metadata.Name}");
        var body = await response.Content.ReadAsByteArrayAsync();
        var pod = JsonNode.Parse(body)!;

        Assert.InRange(body.Length, 6_000, 16_000);
        Assert.Equal(["kube-controller-manager", "kubelet"], pod["metadata"]!["managedFields"]!.AsArray().Select(entry => (string?)entry!["manager"]));
        Assert.Equal("ReplicaSet", (string?)pod["metadata"]!["ownerReferences"]![0]!["kind"]);
        Assert.Equal(["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"], pod["spec"]!["tolerations"]!.AsArray().Select(toleration => (string?)toleration!["key"]));
        Assert.NotNull(pod["spec"]!["volumes"]![1]!["projected"]);
        Assert.NotNull(pod["spec"]!["securityContext"]!["seccompProfile"]);
        Assert.Equal(5, pod["status"]!["conditions"]!.AsArray().Count);
        Assert.Equal(["shop", "envoy"], pod["status"]!["containerStatuses"]!.AsArray().Select(status => (string?)status!["name"]));
        Assert.Equal(body.Length, Assert.Single(server.Requests).ResponseBytes);
    }

    [Fact]
    public async Task The_fake_counts_the_bytes_of_every_response_body_until_the_recording_is_reset()
    {
        server.SeedWorkload(Ns, "shop", ["10.0.0.1", "10.0.0.2"]);

        using var list = await http.GetAsync($"api/v1/namespaces/{Ns}/pods");
        using var missing = await http.GetAsync($"api/v1/namespaces/{Ns}/pods/nope");
        var sent = (await list.Content.ReadAsByteArrayAsync()).Length + (await missing.Content.ReadAsByteArrayAsync()).Length;

        Assert.Equal(sent, server.ResponseBytes);
        Assert.Equal(sent, server.Requests.Sum(request => request.ResponseBytes));
        server.ResetRecording();
        Assert.Equal(0, server.ResponseBytes);
    }

    [Fact]
    public async Task A_response_over_128_KiB_is_gzip_compressed_only_for_a_client_that_accepts_gzip()
    {
        for (var i = 0; i < 20; i++)
        {
            server.SeedWorkload(Ns, $"shop-{i}", [$"10.0.0.{i + 1}"], podShape: PodShape.Realistic);
        }

        using var plain = await http.GetAsync($"api/v1/namespaces/{Ns}/pods");
        var plainBody = await plain.Content.ReadAsByteArrayAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"api/v1/namespaces/{Ns}/pods");
        request.Headers.AcceptEncoding.ParseAdd("gzip, deflate");
        using var gzipped = await http.SendAsync(request);
        var gzippedBody = await gzipped.Content.ReadAsByteArrayAsync();
        using var small = new HttpRequestMessage(HttpMethod.Get, $"api/v1/namespaces/{Ns}/pods/{server.Requests.Count}-missing");
        small.Headers.AcceptEncoding.ParseAdd("gzip");
        using var notCompressed = await http.SendAsync(small);

        Assert.True(plainBody.Length > FakeKubernetesApiServer.GzipThresholdBytes);
        Assert.Empty(plain.Content.Headers.ContentEncoding);
        Assert.Equal(["gzip"], gzipped.Content.Headers.ContentEncoding);
        Assert.Contains("Accept-Encoding", gzipped.Headers.Vary);
        await using (var unzip = new System.IO.Compression.GZipStream(new MemoryStream(gzippedBody), System.IO.Compression.CompressionMode.Decompress))
        using (var copy = new MemoryStream())
        {
            await unzip.CopyToAsync(copy);
            Assert.Equal(plainBody, copy.ToArray());
        }

        Assert.Empty(notCompressed.Content.Headers.ContentEncoding);
        var recorded = server.Requests;
        Assert.Equal([false, true, false], recorded.Select(r => r.Compressed));
        Assert.Equal(gzippedBody.Length, recorded[1].ResponseBytes);
        Assert.Equal(plainBody.Length, recorded[1].ContentBytes);
    }

    [Fact]
    public async Task Missing_core_object_throws_HttpOperationException_with_404_and_no_group_in_details()
    {
        var exception = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.ReadNamespacedPodAsync("x", Ns));

        Assert.Equal(HttpStatusCode.NotFound, exception.Response.StatusCode);
        var status = ParseObject(exception.Response.Content);
        Assert.Equal("pods \"x\" not found", (string?)status["message"]);
        Assert.Equal("NotFound", (string?)status["reason"]);
        Assert.Equal("""{"name":"x","kind":"pods"}""", status["details"]!.ToJsonString());
    }

    [Theory]
    [InlineData("apis/apps/v1/namespaces/default/widgets")]
    [InlineData("apis/unknown.example.com/v1/namespaces/default/things")]
    [InlineData("apis/apps/v1/deployments/x")]
    [InlineData("api/v1/namespaces/default/pods/x/logs")]
    public async Task Unknown_resource_paths_answer_404_Status(string path)
    {
        using var response = await http.GetAsync(path);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var status = ParseObject(await response.Content.ReadAsStringAsync());
        Assert.Equal("Status", (string?)status["kind"]);
        Assert.Equal("NotFound", (string?)status["reason"]);
        Assert.Equal(404, (int?)status["code"]);
    }

    [Fact]
    public async Task Version_endpoint_answers_a_plausible_version()
    {
        var version = await client.Version.GetCodeAsync();

        Assert.Equal("1", version.Major);
        Assert.StartsWith("v1.", version.GitVersion, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_sets_uid_resourceVersion_creationTimestamp_generation_and_type_meta()
    {
        var created = await client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("web"), Ns);

        Assert.True(Guid.TryParse(created.Metadata.Uid, out _));
        Assert.True(long.TryParse(created.Metadata.ResourceVersion, out _));
        Assert.Equal(StartTime.UtcDateTime, created.Metadata.CreationTimestamp);
        Assert.Equal(1, created.Metadata.Generation);
        Assert.Equal(Ns, created.Metadata.NamespaceProperty);
        Assert.Equal("Deployment", created.Kind);
        Assert.Equal("apps/v1", created.ApiVersion);
        Assert.Equal(created.Metadata.Uid, server.Get<V1Deployment>(Ns, "web")!.Metadata.Uid);
        Assert.Equal(1, server.WriteCount);
    }

    [Fact]
    public async Task Create_answers_409_AlreadyExists_422_Invalid_and_404_for_a_missing_namespace()
    {
        await client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("web"), Ns);

        var duplicate = await Assert.ThrowsAsync<HttpOperationException>(() => client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("web"), Ns));
        var invalid = await Assert.ThrowsAsync<HttpOperationException>(() => client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("Bad_Name"), Ns));
        var noNamespace = await Assert.ThrowsAsync<HttpOperationException>(() => client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("web", "nowhere"), "nowhere"));

        AssertStatus(duplicate, 409, "AlreadyExists", "deployments.apps \"web\" already exists");
        Assert.Equal(422, (int)invalid.Response.StatusCode);
        var invalidStatus = ParseObject(invalid.Response.Content);
        Assert.Equal("Invalid", (string?)invalidStatus["reason"]);
        Assert.StartsWith("Deployment.apps \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\"", (string?)invalidStatus["message"], StringComparison.Ordinal);
        AssertStatus(noNamespace, 404, "NotFound", "namespaces \"nowhere\" not found");
    }

    [Fact]
    public async Task Create_with_generateName_gets_a_unique_generated_name()
    {
        var first = await client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { GenerateName = "cfg-" } }, Ns);
        var second = await client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { GenerateName = "cfg-" } }, Ns);

        Assert.Matches("^cfg-[a-z0-9]{5}$", first.Metadata.Name);
        Assert.NotEqual(first.Metadata.Name, second.Metadata.Name);
        Assert.Null(first.Metadata.Generation);
    }

    [Fact]
    public async Task Every_write_bumps_resourceVersion_but_generation_only_when_spec_changes()
    {
        var created = await client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("web"), Ns);

        var relabelled = await client.AppsV1.PatchNamespacedDeploymentAsync(MergePatch("""{"metadata":{"labels":{"team":"edge"}}}"""), "web", Ns);
        var rescaled = await client.AppsV1.PatchNamespacedDeploymentAsync(MergePatch("""{"spec":{"replicas":0}}"""), "web", Ns);

        Assert.True(long.Parse(relabelled.Metadata.ResourceVersion) > long.Parse(created.Metadata.ResourceVersion));
        Assert.Equal(1, relabelled.Metadata.Generation);
        Assert.True(long.Parse(rescaled.Metadata.ResourceVersion) > long.Parse(relabelled.Metadata.ResourceVersion));
        Assert.Equal(2, rescaled.Metadata.Generation);
        Assert.Equal(created.Metadata.Uid, rescaled.Metadata.Uid);
        Assert.Equal(created.Metadata.CreationTimestamp, rescaled.Metadata.CreationTimestamp);
    }

    [Fact]
    public async Task Replace_with_a_stale_resourceVersion_answers_409_Conflict()
    {
        var created = await client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("web"), Ns);
        await client.AppsV1.PatchNamespacedDeploymentAsync(MergePatch("""{"spec":{"replicas":3}}"""), "web", Ns);
        created.Spec.Replicas = 0;

        var exception = await Assert.ThrowsAsync<HttpOperationException>(() => client.AppsV1.ReplaceNamespacedDeploymentAsync(created, "web", Ns));

        AssertStatus(
            exception,
            409,
            "Conflict",
            "Operation cannot be fulfilled on deployments.apps \"web\": the object has been modified; please apply your changes to the latest version and try again");
        Assert.Equal(3, server.Get<V1Deployment>(Ns, "web")!.Spec.Replicas);
    }

    [Fact]
    public async Task An_update_that_changes_nothing_keeps_the_resourceVersion()
    {
        var created = await client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("web"), Ns);

        var unchanged = await client.AppsV1.PatchNamespacedDeploymentAsync(MergePatch("""{"metadata":{"labels":{"app":"web"}},"spec":{"replicas":2}}"""), "web", Ns);

        Assert.Equal(created.Metadata.ResourceVersion, unchanged.Metadata.ResourceVersion);
        Assert.Equal(1, unchanged.Metadata.Generation);
    }

    [Fact]
    public async Task Replace_with_a_different_uid_answers_409_precondition_failure()
    {
        var current = await client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("web"), Ns);
        var originalUid = current.Metadata.Uid;
        current.Metadata.Uid = "00000000-0000-0000-0000-000000000001";

        var exception = await Assert.ThrowsAsync<HttpOperationException>(() => client.AppsV1.ReplaceNamespacedDeploymentAsync(current, "web", Ns));

        AssertStatus(exception, 409, "Conflict", $"Precondition failed: UID in precondition: 00000000-0000-0000-0000-000000000001, UID in object meta: {originalUid}");
    }

    [Fact]
    public async Task Create_drops_status_for_types_with_a_status_subresource_and_seeding_keeps_it()
    {
        var pod = Pod("created", phase: "Running");

        var created = await client.CoreV1.CreateNamespacedPodAsync(pod, Ns);
        var seeded = server.Seed(Pod("seeded", phase: "Running"));

        Assert.Equal("Pending", created.Status.Phase);
        Assert.Equal("Running", seeded.Status.Phase);
    }

    [Fact]
    public async Task Replace_with_the_current_resourceVersion_succeeds_and_keeps_server_owned_fields()
    {
        var current = await client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("web"), Ns);
        current.Spec.Replicas = 5;

        var replaced = await client.AppsV1.ReplaceNamespacedDeploymentAsync(current, "web", Ns);

        Assert.Equal(5, replaced.Spec.Replicas);
        Assert.Equal(2, replaced.Metadata.Generation);
        Assert.Equal(current.Metadata.Uid, replaced.Metadata.Uid);
        Assert.NotEqual(current.Metadata.ResourceVersion, replaced.Metadata.ResourceVersion);
    }

    [Fact]
    public async Task Merge_patch_carrying_a_stale_resourceVersion_answers_409_with_the_exact_message()
    {
        var created = await client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("x"), Ns);
        await client.AppsV1.PatchNamespacedDeploymentAsync(MergePatch("""{"metadata":{"labels":{"touched":"yes"}}}"""), "x", Ns);
        var stalePatch = MergePatch($$$"""{"metadata":{"resourceVersion":"{{{created.Metadata.ResourceVersion}}}"},"spec":{"replicas":0}}""");

        var exception = await Assert.ThrowsAsync<HttpOperationException>(() => client.AppsV1.PatchNamespacedDeploymentAsync(stalePatch, "x", Ns));

        Assert.Equal(HttpStatusCode.Conflict, exception.Response.StatusCode);
        var status = ParseObject(exception.Response.Content);
        Assert.Equal(
            "Operation cannot be fulfilled on deployments.apps \"x\": the object has been modified; please apply your changes to the latest version and try again",
            (string?)status["message"]);
        Assert.Equal("""{"name":"x","group":"apps","kind":"deployments"}""", status["details"]!.ToJsonString());
    }

    [Fact]
    public async Task Merge_patch_replaces_lists_whole()
    {
        await client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("web"), Ns);

        var patched = await client.AppsV1.PatchNamespacedDeploymentAsync(
            MergePatch("""{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"app:2"}]}}}}"""), "web", Ns);

        var container = Assert.Single(patched.Spec.Template.Spec.Containers);
        Assert.Equal("app:2", container.Image);
    }

    [Fact]
    public async Task Strategic_merge_patch_merges_containers_by_name_and_honours_patch_delete()
    {
        await client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("web"), Ns);
        var patch = new V1Patch(
            """{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"app:2"},{"name":"envoy","$patch":"delete"},{"name":"sidecar","image":"sidecar:1"}]}}}}""",
            V1Patch.PatchType.StrategicMergePatch);

        var patched = await client.AppsV1.PatchNamespacedDeploymentAsync(patch, "web", Ns);

        Assert.Equal(["app", "sidecar"], patched.Spec.Template.Spec.Containers.Select(c => c.Name));
        var app = patched.Spec.Template.Spec.Containers[0];
        Assert.Equal("app:2", app.Image);
        Assert.Equal(8080, Assert.Single(app.Ports).ContainerPort);
        Assert.Equal(2, patched.Metadata.Generation);
    }

    [Fact]
    public async Task Strategic_merge_patch_merges_env_by_name_and_ports_by_containerPort()
    {
        await client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("web"), Ns);
        var patch = new V1Patch(
            """{"spec":{"template":{"spec":{"containers":[{"name":"app","env":[{"name":"MODE","value":"idle"}],"ports":[{"containerPort":8080,"name":"http"},{"containerPort":9090}]}]}}}}""",
            V1Patch.PatchType.StrategicMergePatch);

        var patched = await client.AppsV1.PatchNamespacedDeploymentAsync(patch, "web", Ns);

        var app = patched.Spec.Template.Spec.Containers.Single(c => c.Name == "app");
        Assert.Equal(["LEVEL=info", "MODE=idle"], app.Env.Select(e => $"{e.Name}={e.Value}").Order(StringComparer.Ordinal));
        Assert.Equal([8080, 9090], app.Ports.Select(p => p.ContainerPort));
        Assert.Equal("http", app.Ports[0].Name);
        Assert.Equal("app:1", app.Image);
    }

    [Fact]
    public async Task Json_patch_applies_add_replace_remove_move_copy_and_test()
    {
        await client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("web"), Ns);
        var patch = new V1Patch(
            """
            [
              {"op":"test","path":"/spec/replicas","value":2},
              {"op":"replace","path":"/spec/replicas","value":0},
              {"op":"add","path":"/metadata/annotations","value":{"a~b/c":"1"}},
              {"op":"copy","from":"/metadata/annotations/a~0b~1c","path":"/metadata/annotations/copied"},
              {"op":"move","from":"/metadata/annotations/copied","path":"/metadata/annotations/moved"},
              {"op":"remove","path":"/spec/template/spec/containers/0"}
            ]
            """,
            V1Patch.PatchType.JsonPatch);

        var patched = await client.AppsV1.PatchNamespacedDeploymentAsync(patch, "web", Ns);

        Assert.Equal(0, patched.Spec.Replicas);
        Assert.Equal(new Dictionary<string, string> { ["a~b/c"] = "1", ["moved"] = "1" }, patched.Metadata.Annotations);
        Assert.Equal("app", Assert.Single(patched.Spec.Template.Spec.Containers).Name);
    }

    [Fact]
    public async Task Json_patch_with_a_failing_test_answers_422_and_changes_nothing()
    {
        var created = await client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("web"), Ns);
        var patch = new V1Patch(
            """[{"op":"test","path":"/spec/replicas","value":5},{"op":"replace","path":"/spec/replicas","value":0}]""",
            V1Patch.PatchType.JsonPatch);

        var exception = await Assert.ThrowsAsync<HttpOperationException>(() => client.AppsV1.PatchNamespacedDeploymentAsync(patch, "web", Ns));

        Assert.Equal(422, (int)exception.Response.StatusCode);
        Assert.Equal("Invalid", (string?)ParseObject(exception.Response.Content)["reason"]);
        var stored = server.Get<V1Deployment>(Ns, "web")!;
        Assert.Equal(2, stored.Spec.Replicas);
        Assert.Equal(created.Metadata.ResourceVersion, stored.Metadata.ResourceVersion);
    }

    [Theory]
    [InlineData("application/apply-patch+yaml", "apis/apps/v1/namespaces/default/deployments/web")]
    [InlineData("application/json", "apis/apps/v1/namespaces/default/deployments/web")]
    [InlineData("application/strategic-merge-patch+json", "apis/monitoring.example.com/v1alpha1/namespaces/default/envoymonitors/mon")]
    public async Task Unsupported_patch_content_types_answer_415(string contentType, string path)
    {
        server.Seed(Deployment("web"));
        server.SeedJson(MonitorGroup, MonitorVersion, MonitorPlural, Monitor("mon"));
        using var request = new HttpRequestMessage(HttpMethod.Patch, path) { Content = new StringContent("{}", Encoding.UTF8, contentType) };

        using var response = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Equal("UnsupportedMediaType", (string?)ParseObject(await response.Content.ReadAsStringAsync())["reason"]);
    }

    [Fact]
    public async Task Delete_with_a_mismatched_uid_precondition_answers_409_with_the_precondition_message()
    {
        var created = server.Seed(Deployment("web"));
        var options = new V1DeleteOptions { Preconditions = new V1Preconditions { Uid = "not-the-uid" } };

        var exception = await Assert.ThrowsAsync<HttpOperationException>(() => client.AppsV1.DeleteNamespacedDeploymentAsync("web", Ns, options));

        AssertStatus(exception, 409, "Conflict", $"Precondition failed: UID in precondition: not-the-uid, UID in object meta: {created.Metadata.Uid}");
        Assert.True(server.Exists<V1Deployment>(Ns, "web"));
    }

    [Fact]
    public async Task Delete_with_a_stale_resourceVersion_precondition_answers_409()
    {
        var created = server.Seed(Deployment("web"));
        var options = new V1DeleteOptions { Preconditions = new V1Preconditions { ResourceVersion = "1" } };

        var exception = await Assert.ThrowsAsync<HttpOperationException>(() => client.AppsV1.DeleteNamespacedDeploymentAsync("web", Ns, options));

        AssertStatus(
            exception,
            409,
            "Conflict",
            $"Precondition failed: ResourceVersion in precondition: 1, ResourceVersion in object meta: {created.Metadata.ResourceVersion}");
    }

    [Fact]
    public async Task Delete_with_matching_preconditions_answers_a_Success_Status()
    {
        var created = server.Seed(Deployment("web"));
        var options = new V1DeleteOptions { Preconditions = new V1Preconditions { Uid = created.Metadata.Uid, ResourceVersion = created.Metadata.ResourceVersion } };

        var status = await client.AppsV1.DeleteNamespacedDeploymentAsync("web", Ns, options);

        Assert.Equal("Success", status.Status);
        Assert.Equal(created.Metadata.Uid, status.Details.Uid);
        Assert.False(server.Exists<V1Deployment>(Ns, "web"));
        Assert.Equal("Background", Assert.Single(server.Deletions).PropagationPolicy);
    }

    [Fact]
    public async Task A_Service_asking_for_a_nodePort_another_Service_holds_is_422_provided_port_is_already_allocated()
    {
        await client.CoreV1.CreateNamespacedServiceAsync(NodePortService("first", 30080), Ns);
        server.SeedJson("", "v1", "namespaces", new JsonObject { ["metadata"] = new JsonObject { ["name"] = "other" } }); // node ports are cluster-wide

        var exception = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.CreateNamespacedServiceAsync(NodePortService("second", 30080), "other"));

        AssertStatus(exception, 422, "Invalid", "Service \"second\" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated");
        Assert.False(server.Exists<V1Service>("other", "second"));
    }

    [Fact]
    public async Task A_NodePort_Service_without_a_nodePort_is_given_a_free_one_in_the_default_range()
    {
        await client.CoreV1.CreateNamespacedServiceAsync(NodePortService("first", 30000), Ns);

        var created = await client.CoreV1.CreateNamespacedServiceAsync(NodePortService("second", null), Ns);

        var allocated = created.Spec.Ports[0].NodePort;
        Assert.InRange(allocated!.Value, 30001, 32767);
    }

    private static V1Service NodePortService(string name, int? nodePort) => new()
    {
        Metadata = new V1ObjectMeta { Name = name },
        Spec = new V1ServiceSpec
        {
            Type = "NodePort",
            Selector = new Dictionary<string, string> { ["app"] = name },
            Ports = [new V1ServicePort { Port = 80, NodePort = nodePort }],
        },
    };

    [Fact]
    public async Task Delete_of_a_missing_object_answers_404()
    {
        var exception = await Assert.ThrowsAsync<HttpOperationException>(() => client.AppsV1.DeleteNamespacedDeploymentAsync("ghost", Ns));

        AssertStatus(exception, 404, "NotFound", "deployments.apps \"ghost\" not found");
    }

    [Fact]
    public async Task Background_delete_of_a_deployment_cascades_through_its_ReplicaSet_to_pods()
    {
        var deployment = server.Seed(Deployment("web"));
        var replicaSet = server.Seed(new V1ReplicaSet
        {
            Metadata = new V1ObjectMeta { Name = "web-5d8f", NamespaceProperty = Ns, OwnerReferences = [OwnerOf(deployment)] },
            Spec = new V1ReplicaSetSpec { Selector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["app"] = "web" } } },
        });
        server.Seed(Pod("web-5d8f-a", owner: replicaSet));
        server.Seed(Pod("web-5d8f-b", owner: replicaSet));
        server.Seed(Pod("unrelated"));

        await client.AppsV1.DeleteNamespacedDeploymentAsync("web", Ns, propagationPolicy: "Background");

        Assert.Empty(server.List("apps", "v1", "replicasets", Ns));
        Assert.Equal(["unrelated"], server.List("", "v1", "pods", Ns).Select(p => (string?)p["metadata"]!["name"]));
        Assert.Equal("Background", Assert.Single(server.Deletions).PropagationPolicy);
    }

    [Fact]
    public async Task Foreground_delete_removes_dependents_before_answering_and_records_the_policy()
    {
        var deployment = server.Seed(Deployment("web"));
        var replicaSet = server.Seed(new V1ReplicaSet
        {
            Metadata = new V1ObjectMeta { Name = "web-5d8f", NamespaceProperty = Ns, OwnerReferences = [OwnerOf(deployment)] },
            Spec = new V1ReplicaSetSpec { Selector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["app"] = "web" } } },
        });
        server.Seed(Pod("web-5d8f-a", owner: replicaSet));

        await client.AppsV1.DeleteNamespacedDeploymentAsync("web", Ns, new V1DeleteOptions { PropagationPolicy = "Foreground" });

        Assert.False(server.Exists<V1ReplicaSet>(Ns, "web-5d8f"));
        Assert.False(server.Exists<V1Pod>(Ns, "web-5d8f-a"));
        Assert.Equal("Foreground", Assert.Single(server.Deletions).PropagationPolicy);
    }

    [Fact]
    public async Task Deleting_a_namespace_removes_everything_in_it()
    {
        await client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = "team-x" } });
        await client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "cfg" } }, "team-x");
        server.Seed(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "cfg", NamespaceProperty = Ns } });

        var deleted = await client.CoreV1.DeleteNamespaceAsync("team-x");

        Assert.Equal("Terminating", deleted.ObjectView<V1Namespace>().Status.Phase);
        Assert.Null(server.Get<V1Namespace>(null, "team-x"));
        Assert.Equal(["default/cfg"], server.List("", "v1", "configmaps").Select(c => $"{c["metadata"]!["namespace"]}/{c["metadata"]!["name"]}"));
    }

    [Fact]
    public async Task Orphan_delete_keeps_dependents_and_strips_their_owner_reference()
    {
        var replicaSet = server.Seed(new V1ReplicaSet
        {
            Metadata = new V1ObjectMeta { Name = "web-5d8f", NamespaceProperty = Ns },
            Spec = new V1ReplicaSetSpec { Selector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["app"] = "web" } } },
        });
        server.Seed(Pod("web-5d8f-a", owner: replicaSet));

        await client.AppsV1.DeleteNamespacedReplicaSetAsync("web-5d8f", Ns, new V1DeleteOptions { PropagationPolicy = "Orphan" });

        var pod = server.Get<V1Pod>(Ns, "web-5d8f-a");
        Assert.NotNull(pod);
        Assert.Null(pod.Metadata.OwnerReferences);
        Assert.Equal("Orphan", Assert.Single(server.Deletions).PropagationPolicy);
    }

    [Fact]
    public async Task Delete_of_an_object_with_finalizers_marks_it_until_the_last_finalizer_is_removed()
    {
        server.Seed(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "held", NamespaceProperty = Ns, Finalizers = ["example.com/hold"] } });

        await client.CoreV1.DeleteNamespacedConfigMapAsync("held", Ns);
        var marked = server.Get<V1ConfigMap>(Ns, "held");
        await client.CoreV1.PatchNamespacedConfigMapAsync(MergePatch("""{"metadata":{"finalizers":null}}"""), "held", Ns);

        Assert.Equal(StartTime.UtcDateTime, marked!.Metadata.DeletionTimestamp);
        Assert.False(server.Exists<V1ConfigMap>(Ns, "held"));
    }

    [Theory]
    [InlineData("app=web", "p1,p2")]
    [InlineData("app==web", "p1,p2")]
    [InlineData("app!=web", "p3,p4")]
    [InlineData("tier in (frontend,backend)", "p1,p2")]
    [InlineData("tier notin (frontend)", "p2,p3,p4")]
    [InlineData("tier", "p1,p2")]
    [InlineData("!tier", "p3,p4")]
    [InlineData("app=web,tier!=frontend", "p2")]
    [InlineData(" app in ( web , db ) , !tier ", "p3")]
    [InlineData("", "p1,p2,p3,p4")]
    [InlineData("example.com/owner=team-a", "p1")]
    public async Task Label_selectors_follow_the_apimachinery_grammar(string selector, string expected)
    {
        SeedLabelledPods();

        var pods = await client.CoreV1.ListNamespacedPodAsync(Ns, labelSelector: selector);

        Assert.Equal(expected, string.Join(",", pods.Items.Select(p => p.Metadata.Name)));
    }

    [Theory]
    [InlineData("app in web")]
    [InlineData("app in ()")]
    [InlineData("=web")]
    [InlineData("app=web,")]
    [InlineData("!")]
    [InlineData("app==web==x")]
    [InlineData("app=a b")]
    [InlineData("-app=web")]
    [InlineData("app>x")]
    public async Task Malformed_label_selectors_answer_400_BadRequest(string selector)
    {
        SeedLabelledPods();

        var exception = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.ListNamespacedPodAsync(Ns, labelSelector: selector));

        Assert.Equal(HttpStatusCode.BadRequest, exception.Response.StatusCode);
        var status = ParseObject(exception.Response.Content);
        Assert.Equal("BadRequest", (string?)status["reason"]);
        Assert.Equal(400, (int?)status["code"]);
    }

    [Fact]
    public async Task Field_selectors_match_name_namespace_and_pod_phase_and_reject_unsupported_fields()
    {
        server.Seed(Pod("running", phase: "Running"));
        server.Seed(Pod("pending", phase: "Pending"));
        server.Seed(Pod("elsewhere", ns: "other", phase: "Running"));

        var running = await client.CoreV1.ListPodForAllNamespacesAsync(fieldSelector: "status.phase=Running,metadata.namespace!=other");
        var byName = await client.CoreV1.ListNamespacedPodAsync(Ns, fieldSelector: "metadata.name==pending");
        var unsupported = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.ListNamespacedPodAsync(Ns, fieldSelector: "spec.image=x"));

        Assert.Equal(["running"], running.Items.Select(p => p.Metadata.Name));
        Assert.Equal(["pending"], byName.Items.Select(p => p.Metadata.Name));
        AssertStatus(unsupported, 400, "BadRequest", "field label not supported: spec.image");
    }

    [Fact]
    public async Task Limit_and_continue_page_seven_objects_as_three_three_one_in_stable_order()
    {
        foreach (var name in new[] { "g", "c", "a", "e", "b", "f", "d" })
        {
            server.Seed(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = Ns } });
        }

        var pageSizes = new List<int>();
        var names = new List<string>();
        var remainingCounts = new List<long?>();
        string? continueToken = null;
        for (var page = 0; page < 10; page++)
        {
            var list = await client.CoreV1.ListNamespacedConfigMapAsync(Ns, continueParameter: continueToken, limit: 3);
            pageSizes.Add(list.Items.Count);
            names.AddRange(list.Items.Select(item => item.Metadata.Name));
            remainingCounts.Add(list.Metadata.RemainingItemCount);
            continueToken = list.Metadata.ContinueProperty;
            if (string.IsNullOrEmpty(continueToken))
            {
                break;
            }
        }

        Assert.Equal([3, 3, 1], pageSizes);
        Assert.Equal(["a", "b", "c", "d", "e", "f", "g"], names);
        Assert.Equal([4L, 1L, null], remainingCounts);
        Assert.True(string.IsNullOrEmpty(continueToken));
    }

    [Fact]
    public async Task A_paged_list_reads_each_object_a_bounded_number_of_times_not_everything_for_every_page()
    {
        foreach (var ns in new[] { "team-a", "team-b", "team-c" })
        {
            for (var i = 0; i < 300; i++)
            {
                server.Seed(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = $"cm-{i:D3}", NamespaceProperty = ns, Labels = new Dictionary<string, string> { ["pick"] = i % 7 == 0 ? "yes" : "no" } } });
            }
        }

        var before = server.ObjectsReadByLists;
        var inTeamB = await ListAllAsync<V1ConfigMap>(async continueToken => await client.CoreV1.ListNamespacedConfigMapAsync("team-b", continueParameter: continueToken, limit: 10));
        var namespaced = server.ObjectsReadByLists - before;
        before = server.ObjectsReadByLists;
        var picked = await ListAllAsync<V1ConfigMap>(async continueToken => await client.CoreV1.ListConfigMapForAllNamespacesAsync(continueParameter: continueToken, labelSelector: "pick=yes", limit: 10));
        var selected = server.ObjectsReadByLists - before;

        Assert.Equal(300, inTeamB.Count);
        Assert.Equal(Enumerable.Range(0, 300).Select(i => $"cm-{i:D3}"), inTeamB.Select(item => item.Metadata.Name));
        Assert.InRange(namespaced, 300, 2 * 300);
        Assert.Equal(3 * 43, picked.Count);
        Assert.Equal(picked.Select(item => $"{item.Metadata.NamespaceProperty}/{item.Metadata.Name}").Order(StringComparer.Ordinal), picked.Select(item => $"{item.Metadata.NamespaceProperty}/{item.Metadata.Name}"));
        Assert.InRange(selected, 900, 2 * 900);
    }

    [Fact]
    public async Task A_selected_list_whose_last_matches_fill_a_page_ends_without_a_continue_token()
    {
        for (var i = 0; i < 12; i++)
        {
            server.Seed(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = $"cm-{i:D2}", NamespaceProperty = Ns, Labels = new Dictionary<string, string> { ["pick"] = i < 4 ? "yes" : "no" } } });
        }

        var first = await client.CoreV1.ListNamespacedConfigMapAsync(Ns, labelSelector: "pick=yes", limit: 2);
        var second = await client.CoreV1.ListNamespacedConfigMapAsync(Ns, labelSelector: "pick=yes", limit: 2, continueParameter: first.Metadata.ContinueProperty);
        var unselected = await client.CoreV1.ListNamespacedConfigMapAsync(Ns, limit: 5);

        Assert.Equal(["cm-00", "cm-01"], first.Items.Select(item => item.Metadata.Name));
        Assert.Null(first.Metadata.RemainingItemCount);
        Assert.Equal(["cm-02", "cm-03"], second.Items.Select(item => item.Metadata.Name));
        Assert.True(string.IsNullOrEmpty(second.Metadata.ContinueProperty));
        Assert.Equal(7L, unselected.Metadata.RemainingItemCount);
    }

    private static async Task<List<T>> ListAllAsync<T>(Func<string?, Task<IItems<T>>> page)
    {
        var items = new List<T>();
        string? continueToken = null;
        for (var pages = 0; pages < 1000; pages++)
        {
            var list = await page(continueToken);
            items.AddRange(list.Items);
            continueToken = (list as IMetadata<V1ListMeta>)?.Metadata?.ContinueProperty;
            if (string.IsNullOrEmpty(continueToken))
            {
                return items;
            }
        }

        throw new InvalidOperationException("the list never ended");
    }

    [Fact]
    public async Task Cluster_wide_list_orders_by_namespace_then_name()
    {
        server.Seed(Deployment("b", "team-b"));
        server.Seed(Deployment("a", "team-b"));
        server.Seed(Deployment("z", "team-a"));

        var list = await client.AppsV1.ListDeploymentForAllNamespacesAsync(limit: 2);

        Assert.Equal(["team-a/z", "team-b/a"], list.Items.Select(d => $"{d.Metadata.NamespaceProperty}/{d.Metadata.Name}"));
        Assert.False(string.IsNullOrEmpty(list.Metadata.ContinueProperty));
    }

    [Fact]
    public async Task Expired_or_garbled_continue_tokens_answer_410_Gone_Expired()
    {
        for (var i = 0; i < 4; i++)
        {
            server.Seed(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = $"cm-{i}", NamespaceProperty = Ns } });
        }

        var firstPage = await client.CoreV1.ListNamespacedConfigMapAsync(Ns, limit: 2);
        server.ExpireContinueTokens();

        var expired = await Assert.ThrowsAsync<HttpOperationException>(
            () => client.CoreV1.ListNamespacedConfigMapAsync(Ns, continueParameter: firstPage.Metadata.ContinueProperty, limit: 2));
        var garbled = await Assert.ThrowsAsync<HttpOperationException>(
            () => client.CoreV1.ListNamespacedConfigMapAsync(Ns, continueParameter: "not-a-token", limit: 2));

        foreach (var exception in new[] { expired, garbled })
        {
            Assert.Equal(HttpStatusCode.Gone, exception.Response.StatusCode);
            Assert.Equal("Expired", (string?)ParseObject(exception.Response.Content)["reason"]);
        }
    }

    [Fact]
    public async Task List_wire_format_carries_list_kind_apiVersion_and_resourceVersion_and_omits_item_type_meta()
    {
        server.Seed(Deployment("web"));

        var list = ParseObject(await http.GetStringAsync("apis/apps/v1/namespaces/default/deployments"));

        Assert.Equal("DeploymentList", (string?)list["kind"]);
        Assert.Equal("apps/v1", (string?)list["apiVersion"]);
        Assert.True(long.TryParse((string?)list["metadata"]!["resourceVersion"], out _));
        Assert.Null(list["metadata"]!["continue"]);
        var item = Assert.Single(list["items"]!.AsArray())!.AsObject();
        Assert.False(item.ContainsKey("kind"));
        Assert.Equal("web", (string?)item["metadata"]!["name"]);
    }

    [Fact]
    public async Task Dry_run_create_patch_and_delete_answer_as_if_done_but_persist_nothing()
    {
        var seeded = server.Seed(Deployment("web"));
        server.ResetRecording();

        var dryCreated = await client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("new"), Ns, dryRun: "All");
        var dryPatched = await client.AppsV1.PatchNamespacedDeploymentAsync(MergePatch("""{"spec":{"replicas":0}}"""), "web", Ns, dryRun: "All");
        await client.AppsV1.DeleteNamespacedDeploymentAsync("web", Ns, dryRun: "All");

        Assert.Equal("new", dryCreated.Metadata.Name);
        Assert.Equal(0, dryPatched.Spec.Replicas);
        Assert.False(server.Exists<V1Deployment>(Ns, "new"));
        var stored = server.Get<V1Deployment>(Ns, "web")!;
        Assert.Equal(2, stored.Spec.Replicas);
        Assert.Equal(seeded.Metadata.ResourceVersion, stored.Metadata.ResourceVersion);
        Assert.Equal(0, server.WriteCount);
        Assert.True(Assert.Single(server.Deletions).DryRun);
        Assert.Equal(3, server.Requests.Count);
    }

    [Fact]
    public async Task Status_subresource_separates_spec_writes_from_status_writes()
    {
        var created = ParseObject(JsonSerializer.Serialize(await client.CustomObjects.CreateNamespacedCustomObjectAsync(
            Monitor("mon", status: new JsonObject { ["phase"] = "Ignored" }), MonitorGroup, MonitorVersion, Ns, MonitorPlural)));

        var mainPatched = ParseObject(JsonSerializer.Serialize(await client.CustomObjects.PatchNamespacedCustomObjectAsync(
            MergePatch("""{"spec":{"idleAfter":"2h"},"status":{"phase":"AlsoIgnored"}}"""), MonitorGroup, MonitorVersion, Ns, MonitorPlural, "mon")));
        var statusPatched = ParseObject(JsonSerializer.Serialize(await client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(
            MergePatch("""{"spec":{"idleAfter":"9h"},"status":{"phase":"Idle"}}"""), MonitorGroup, MonitorVersion, Ns, MonitorPlural, "mon")));

        Assert.Null(created["status"]);
        Assert.Equal("EnvoyMonitor", (string?)created["kind"]);
        Assert.Null(mainPatched["status"]);
        Assert.Equal("2h", (string?)mainPatched["spec"]!["idleAfter"]);
        Assert.Equal(2, (int?)mainPatched["metadata"]!["generation"]);
        Assert.Equal("Idle", (string?)statusPatched["status"]!["phase"]);
        Assert.Equal("2h", (string?)statusPatched["spec"]!["idleAfter"]);
        Assert.Equal(2, (int?)statusPatched["metadata"]!["generation"]);
        Assert.True(long.Parse((string)statusPatched["metadata"]!["resourceVersion"]!) > long.Parse((string)mainPatched["metadata"]!["resourceVersion"]!));
    }

    [Fact]
    public async Task Status_replace_changes_only_status_and_custom_resources_require_a_resourceVersion_on_replace()
    {
        var stored = server.SeedJson(MonitorGroup, MonitorVersion, MonitorPlural, Monitor("mon"));
        var withStatus = (JsonObject)stored.DeepClone();
        withStatus["status"] = new JsonObject { ["phase"] = "Active" };
        withStatus["spec"]!["idleAfter"] = "5m";
        var withoutResourceVersion = (JsonObject)stored.DeepClone();
        withoutResourceVersion["metadata"]!.AsObject().Remove("resourceVersion");

        await client.CustomObjects.ReplaceNamespacedCustomObjectStatusAsync(withStatus, MonitorGroup, MonitorVersion, Ns, MonitorPlural, "mon");
        var unconditional = await Assert.ThrowsAsync<HttpOperationException>(() =>
            client.CustomObjects.ReplaceNamespacedCustomObjectAsync(withoutResourceVersion, MonitorGroup, MonitorVersion, Ns, MonitorPlural, "mon"));

        var after = server.Get(MonitorGroup, MonitorVersion, MonitorPlural, Ns, "mon")!;
        Assert.Equal("Active", (string?)after["status"]!["phase"]);
        Assert.Equal("1h", (string?)after["spec"]!["idleAfter"]);
        Assert.Equal(1, (int?)after["metadata"]!["generation"]);
        Assert.Equal(422, (int)unconditional.Response.StatusCode);
    }

    [Fact]
    public async Task Custom_resources_list_across_namespaces_with_item_type_meta()
    {
        server.SeedJson(MonitorGroup, MonitorVersion, MonitorPlural, Monitor("a", "team-a"));
        server.SeedJson(MonitorGroup, MonitorVersion, MonitorPlural, Monitor("b", "team-b"));

        var list = ParseObject(JsonSerializer.Serialize(await client.CustomObjects.ListCustomObjectForAllNamespacesAsync(MonitorGroup, MonitorVersion, MonitorPlural)));

        Assert.Equal("EnvoyMonitorList", (string?)list["kind"]);
        Assert.Equal(["EnvoyMonitor", "EnvoyMonitor"], list["items"]!.AsArray().Select(item => (string?)item!["kind"]));
    }

    [Fact]
    public async Task Scale_subresource_reads_and_patches_deployment_replicas()
    {
        server.Seed(Deployment("web"));

        var scale = await client.AppsV1.ReadNamespacedDeploymentScaleAsync("web", Ns);
        var scaled = await client.AppsV1.PatchNamespacedDeploymentScaleAsync(MergePatch("""{"spec":{"replicas":0}}"""), "web", Ns);

        Assert.Equal(2, scale.Spec.Replicas);
        Assert.Equal("app=web", scale.Status.Selector);
        Assert.Equal(0, scaled.Spec.Replicas);
        var stored = server.Get<V1Deployment>(Ns, "web")!;
        Assert.Equal(0, stored.Spec.Replicas);
        Assert.Equal(2, stored.Metadata.Generation);
    }

    [Fact]
    public async Task Core_events_are_stored_and_selectable_by_involved_object()
    {
        var coreEvent = new Corev1Event
        {
            Metadata = new V1ObjectMeta { Name = "web.reaped" },
            InvolvedObject = new V1ObjectReference { Kind = "Deployment", Name = "web", NamespaceProperty = Ns },
            Reason = "ScaledToZero",
            Message = "idle for 2h",
            Type = "Normal",
            Count = 1,
            ReportingComponent = "envoy-reaper",
        };

        await client.CoreV1.CreateNamespacedEventAsync(coreEvent, Ns);
        var events = await client.CoreV1.ListNamespacedEventAsync(Ns, fieldSelector: "involvedObject.name=web,reason=ScaledToZero");

        var stored = Assert.Single(events.Items);
        Assert.Equal("idle for 2h", stored.Message);
        Assert.Equal("envoy-reaper", stored.ReportingComponent);
    }

    [Fact]
    public async Task Kubeconfig_file_is_accepted_by_BuildConfigFromConfigFile()
    {
        var directory = Path.Combine(Path.GetTempPath(), "fake-kube-" + Guid.NewGuid().ToString("N"));
        try
        {
            var path = server.WriteKubeConfig(directory, "fake-ctx");
            var configuration = KubernetesClientConfiguration.BuildConfigFromConfigFile(path, "fake-ctx");
            using var fromFile = new k8s.Kubernetes(configuration);

            var namespaces = await fromFile.CoreV1.ListNamespaceAsync();

            Assert.Equal("default", configuration.Namespace);
            Assert.Contains(namespaces.Items, ns => ns.Metadata.Name == "default");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Injected_429_carries_Retry_After_and_a_TooManyRequests_Status_then_clears()
    {
        server.Seed(Deployment("web"));
        server.FailNext("GET", "/deployments", 429, "TooManyRequests", retryAfter: TimeSpan.FromSeconds(2));

        using var throttled = await http.GetAsync("apis/apps/v1/namespaces/default/deployments");
        using var next = await http.GetAsync("apis/apps/v1/namespaces/default/deployments");

        Assert.Equal(HttpStatusCode.TooManyRequests, throttled.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(2), throttled.Headers.RetryAfter?.Delta);
        var status = ParseObject(await throttled.Content.ReadAsStringAsync());
        Assert.Equal("TooManyRequests", (string?)status["reason"]);
        Assert.Equal(2, (int?)status["details"]!["retryAfterSeconds"]);
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
        Assert.Equal([429, 200], server.Requests.Select(r => r.StatusCode));
    }

    [Fact]
    public async Task Injected_failures_reach_the_client_as_HttpOperationException_for_the_planned_count()
    {
        server.Seed(Deployment("web"));
        server.FailNext("PATCH", "/deployments/web", 500, "InternalError", times: 2);
        var patch = MergePatch("""{"spec":{"replicas":1}}""");

        var first = await Assert.ThrowsAsync<HttpOperationException>(() => client.AppsV1.PatchNamespacedDeploymentAsync(patch, "web", Ns));
        var second = await Assert.ThrowsAsync<HttpOperationException>(() => client.AppsV1.PatchNamespacedDeploymentAsync(patch, "web", Ns));
        var third = await client.AppsV1.PatchNamespacedDeploymentAsync(patch, "web", Ns);

        Assert.Equal(HttpStatusCode.InternalServerError, first.Response.StatusCode);
        Assert.Equal(HttpStatusCode.InternalServerError, second.Response.StatusCode);
        Assert.Equal(1, third.Spec.Replicas);
        Assert.Equal(1, server.WriteCount);
    }

    [Fact]
    public async Task Delay_holds_matching_requests_only()
    {
        server.Delay("/configmaps", TimeSpan.FromMilliseconds(80));

        var delayed = System.Diagnostics.Stopwatch.StartNew();
        await client.CoreV1.ListNamespacedConfigMapAsync(Ns);
        delayed.Stop();

        Assert.True(delayed.Elapsed >= TimeSpan.FromMilliseconds(75), $"delayed request took {delayed.Elapsed}");
    }

    [Fact]
    public async Task Requests_record_method_path_query_content_type_and_status()
    {
        server.Seed(Deployment("web"));

        await client.AppsV1.PatchNamespacedDeploymentAsync(MergePatch("""{"spec":{"replicas":1}}"""), "web", Ns, fieldManager: "reaper");

        var request = Assert.Single(server.Requests);
        Assert.Equal("PATCH", request.Method);
        Assert.Equal("/apis/apps/v1/namespaces/default/deployments/web", request.Path);
        Assert.Equal("fieldManager=reaper", request.Query);
        Assert.StartsWith("application/merge-patch+json", request.ContentType, StringComparison.Ordinal);
        Assert.Equal(200, request.StatusCode);
        Assert.Contains("\"replicas\":1", request.Body, StringComparison.Ordinal);
    }

    private static V1Patch MergePatch(string json) => new(json, V1Patch.PatchType.MergePatch);

    private static JsonObject ParseObject(string json) => JsonNode.Parse(json)!.AsObject();

    private static void AssertStatus(HttpOperationException exception, int code, string reason, string message)
    {
        Assert.Equal(code, (int)exception.Response.StatusCode);
        var status = ParseObject(exception.Response.Content);
        Assert.Equal("Status", (string?)status["kind"]);
        Assert.Equal("v1", (string?)status["apiVersion"]);
        Assert.Equal("Failure", (string?)status["status"]);
        Assert.Equal(reason, (string?)status["reason"]);
        Assert.Equal(message, (string?)status["message"]);
        Assert.Equal(code, (int?)status["code"]);
    }

    private void SeedLabelledPods()
    {
        server.Seed(Pod("p1", labels: new Dictionary<string, string> { ["app"] = "web", ["tier"] = "frontend", ["example.com/owner"] = "team-a" }));
        server.Seed(Pod("p2", labels: new Dictionary<string, string> { ["app"] = "web", ["tier"] = "backend" }));
        server.Seed(Pod("p3", labels: new Dictionary<string, string> { ["app"] = "db" }));
        server.Seed(Pod("p4"));
    }

    private static V1Deployment Deployment(string name, string ns = Ns) => new()
    {
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = ns, Labels = new Dictionary<string, string> { ["app"] = name } },
        Spec = new V1DeploymentSpec
        {
            Replicas = 2,
            Selector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["app"] = name } },
            Template = new V1PodTemplateSpec
            {
                Metadata = new V1ObjectMeta { Labels = new Dictionary<string, string> { ["app"] = name } },
                Spec = new V1PodSpec
                {
                    Containers =
                    [
                        new V1Container { Name = "envoy", Image = "envoyproxy/envoy:v1.31" },
                        new V1Container
                        {
                            Name = "app",
                            Image = "app:1",
                            Ports = [new V1ContainerPort { ContainerPort = 8080 }],
                            Env = [new V1EnvVar { Name = "LEVEL", Value = "info" }],
                        },
                    ],
                },
            },
        },
    };

    private static V1Pod Pod(string name, string ns = Ns, IDictionary<string, string>? labels = null, string? phase = null, V1ReplicaSet? owner = null) => new()
    {
        Metadata = new V1ObjectMeta
        {
            Name = name,
            NamespaceProperty = ns,
            Labels = labels,
            OwnerReferences = owner is null ? null : [OwnerOf(owner)],
        },
        Spec = new V1PodSpec { Containers = [new V1Container { Name = "app", Image = "app:1" }] },
        Status = phase is null ? null : new V1PodStatus { Phase = phase },
    };

    private static V1OwnerReference OwnerOf<T>(T owner)
        where T : IKubernetesObject<V1ObjectMeta>
    {
        var entity = (KubernetesEntityAttribute)Attribute.GetCustomAttribute(typeof(T), typeof(KubernetesEntityAttribute))!;
        return new V1OwnerReference
        {
            ApiVersion = string.IsNullOrEmpty(entity.Group) ? entity.ApiVersion : $"{entity.Group}/{entity.ApiVersion}",
            Kind = entity.Kind,
            Name = owner.Metadata.Name,
            Uid = owner.Metadata.Uid,
            Controller = true,
            BlockOwnerDeletion = true,
        };
    }

    private static JsonObject Monitor(string name, string ns = Ns, JsonObject? status = null)
    {
        var monitor = new JsonObject
        {
            ["apiVersion"] = $"{MonitorGroup}/{MonitorVersion}",
            ["kind"] = "EnvoyMonitor",
            ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = ns },
            ["spec"] = new JsonObject { ["idleAfter"] = "1h" },
        };
        if (status is not null)
        {
            monitor["status"] = status;
        }

        return monitor;
    }
}
