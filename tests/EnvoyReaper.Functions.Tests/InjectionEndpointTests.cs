using System.Text.Json.Nodes;
using EnvoyReaper.Messaging;
using EnvoyReaper.TestSupport.Kubernetes;
using EnvoyReaper.TestSupport.Storage;
using k8s;
using k8s.Models;
using EnvoyReaper.Functions.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using EnvoyReaper.TestSupport.Injection;
using YamlDotNet.RepresentationModel;

namespace EnvoyReaper.Functions.Tests;

/// <summary>
/// POST /api/inject and DELETE /api/inject/{ns}/{name} as a client sees them (status codes, problem details, JSON), with
/// the real Kubernetes client writing to the fake API server and the rollout checks on Azurite's queue.
/// </summary>
[Collection(AzuriteStorage.CollectionName)]
public sealed class InjectionEndpointTests : IAsyncLifetime
{
    private const string Namespace = "previews";
    private const string Name = "web";
    private FakeKubernetesApiServer api = null!;
    private string directory = null!;
    private readonly List<ServiceProvider> providers = [];

    private readonly string stateTable = AzuriteStorage.UniqueName("inject");

    public async Task InitializeAsync()
    {
        await AzuriteStorage.ResetQueuesAsync(QueueNames.InjectRollout, QueueNames.InjectRollout + "-poison");
        api = await FakeKubernetesApiServer.StartAsync();
        directory = Directory.CreateTempSubdirectory("envoy-reaper-inject-").FullName;
        api.WriteKubeConfig(directory);
    }

    public async Task DisposeAsync()
    {
        foreach (var provider in providers)
        {
            await provider.DisposeAsync();
        }

        await api.DisposeAsync();
        Directory.Delete(directory, recursive: true);
        await AzuriteStorage.Tables().DeleteTableAsync(stateTable);
    }

    private IServiceProvider Services(string image = "envoyproxy/envoy:v1.34.1")
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["AzureWebJobsStorage"] = AzuriteStorage.ConnectionString,
            ["Reaper:StateTable"] = stateTable,
            ["Injection:Rollout:CheckInterval"] = "00:00:01",
            ["Kubernetes:Mode"] = "KubeConfig",
            ["Kubernetes:KubeConfigPath"] = Path.Combine(directory, "kubeconfig-fake.yaml"),
            ["Injection:EnvoyImage"] = image,
        }).Build();
        var services = new ServiceCollection().AddLogging();
        services.AddEnvoyReaperFunctions(configuration);
        services.AddMvcCore();
        var provider = services.BuildServiceProvider();
        providers.Add(provider);
        return provider;
    }

    private void SeedApp(bool hostNetwork = false, string? injectAnnotation = null, string? extraContainer = null, bool withService = true)
    {
        var labels = new Dictionary<string, string> { ["app"] = Name };
        var containers = new List<V1Container> { new() { Name = "app", Image = "registry.example.com/web:1", Ports = [new V1ContainerPort { ContainerPort = 8080 }] } };
        if (extraContainer is not null)
        {
            containers.Add(new V1Container { Name = extraContainer, Image = "something:1" });
        }

        api.Seed(new V1Deployment
        {
            ApiVersion = "apps/v1",
            Kind = "Deployment",
            Metadata = new V1ObjectMeta
            {
                Name = Name,
                NamespaceProperty = Namespace,
                Annotations = injectAnnotation is null ? null : new Dictionary<string, string> { ["envoy-reaper/inject"] = injectAnnotation },
            },
            Spec = new V1DeploymentSpec
            {
                Replicas = 1,
                Selector = new V1LabelSelector { MatchLabels = labels },
                Template = new V1PodTemplateSpec
                {
                    Metadata = new V1ObjectMeta { Labels = labels },
                    Spec = new V1PodSpec { Containers = containers, HostNetwork = hostNetwork ? true : null },
                },
            },
        });
        if (withService)
        {
            api.Seed(new V1Service
            {
                ApiVersion = "v1",
                Kind = "Service",
                Metadata = new V1ObjectMeta { Name = "web-svc", NamespaceProperty = Namespace },
                Spec = new V1ServiceSpec { Selector = labels, Ports = [new V1ServicePort { Name = "http", Port = 80, TargetPort = 8080 }] },
            });
        }
    }

    private async Task<HttpResult> PostAsync(string json, string query = "", IServiceProvider? services = null)
    {
        services ??= Services();
        var context = HttpResults.Request("POST", json, query, services);
        return await HttpResults.ExecuteAsync(context, await ActivatorUtilities.CreateInstance<InjectSidecar>(services).Run(context.Request, CancellationToken.None));
    }

    private async Task<HttpResult> DeleteAsync(string @namespace, string deployment, string query = "")
    {
        var services = Services();
        var context = HttpResults.Request("DELETE", query: query, services: services);
        return await HttpResults.ExecuteAsync(context, await ActivatorUtilities.CreateInstance<RemoveSidecar>(services).Run(context.Request, @namespace, deployment, CancellationToken.None));
    }

    /// <summary>The Deployment controller finishes the rollout and the queued check makes the change that waited for it.</summary>
    private async Task CompleteRolloutAsync(string @namespace = Namespace, string name = Name)
    {
        api.ReportRollout(@namespace, name, DeploymentRollout.Complete);
        var services = Services();
        Assert.NotNull(await ReaperTestHost.DeliverNextRolloutCheckAsync(message => ActivatorUtilities.CreateInstance<FinishInjectionRollout>(services).Run(message, CancellationToken.None)));
    }

    private static string Inject(string extra = "") => $$"""{"namespace":"{{Namespace}}","deployment":"{{Name}}","appPort":8080,"protocol":"http"{{extra}}}""";

    private V1Deployment Deployment() => KubernetesYaml.Deserialize<V1Deployment>(api.Get("apps", "v1", "deployments", Namespace, Name)!.ToJsonString(), strict: true);

    private V1Service Service() => KubernetesYaml.Deserialize<V1Service>(api.Get("", "v1", "services", Namespace, "web-svc")!.ToJsonString(), strict: true);

    private V1ConfigMap? ConfigMap() => api.Get("", "v1", "configmaps", Namespace, "web-envoy") is { } json
        ? KubernetesYaml.Deserialize<V1ConfigMap>(json.ToJsonString(), strict: true)
        : null;

    [Fact]
    public async Task First_injection_adds_the_sidecar_its_config_points_the_Service_at_Envoy_and_opts_the_workload_in()
    {
        SeedApp();

        var response = await PostAsync(Inject());

        Assert.Equal(202, response.Status);
        Assert.True(response.Body["changed"]!.GetValue<bool>());
        Assert.Equal("8080", Assert.Single(Service().Spec.Ports).TargetPort.Value);
        await CompleteRolloutAsync();
        var deployment = Deployment();
        var envoy = Assert.Single(deployment.Spec.Template.Spec.Containers, container => container.Name == "envoy");
        Assert.Equal("envoyproxy/envoy:v1.34.1", envoy.Image);
        Assert.Equal([15001, 15090], envoy.Ports.Select(port => port.ContainerPort).Order());
        Assert.NotNull(envoy.ReadinessProbe?.HttpGet);
        Assert.NotNull(envoy.Resources?.Requests);
        Assert.Contains("--concurrency", envoy.Args);
        Assert.Single(deployment.Spec.Template.Spec.Volumes, volume => volume.Name == "envoy-config" && volume.ConfigMap.Name == "web-envoy");
        Assert.Equal(response.Body["hash"]!.GetValue<string>(), deployment.Spec.Template.Metadata.Annotations["envoy-reaper/injected-hash"]);
        Assert.Equal("true", deployment.Metadata.Labels["envoy-reaper/enabled"]);
        Assert.Equal("inbound", deployment.Metadata.Annotations["envoy-reaper/listeners"]);

        var bootstrap = new YamlStream();
        bootstrap.Load(new StringReader(ConfigMap()!.Data["envoy.yaml"]));
        var admin = (YamlMappingNode)((YamlMappingNode)((YamlMappingNode)((YamlMappingNode)bootstrap.Documents[0].RootNode)["admin"])["address"])["socket_address"];
        Assert.Equal("127.0.0.1", ((YamlScalarNode)admin["address"]).Value);

        var service = Service();
        Assert.Equal("envoy-inbound", Assert.Single(service.Spec.Ports).TargetPort.Value);
        Assert.Contains("8080", service.Metadata.Annotations["envoy-reaper/original-target-port"]);
    }

    [Fact]
    public async Task The_same_request_twice_changes_nothing_and_writes_nothing()
    {
        SeedApp();
        await PostAsync(Inject());
        await CompleteRolloutAsync();
        api.ResetRecording();

        var response = await PostAsync(Inject());

        Assert.Equal(200, response.Status);
        Assert.False(response.Body["changed"]!.GetValue<bool>());
        Assert.Equal(0, api.WriteCount);
        Assert.Single(Deployment().Spec.Template.Spec.Containers, container => container.Name == "envoy");
    }

    [Fact]
    public async Task A_new_image_upgrades_in_place_with_one_container_and_a_new_hash()
    {
        SeedApp();
        var first = await PostAsync(Inject());

        var second = await PostAsync(Inject(), services: Services("envoyproxy/envoy:v1.35.0"));

        Assert.True(second.Body["changed"]!.GetValue<bool>());
        Assert.NotEqual(first.Body["hash"]!.GetValue<string>(), second.Body["hash"]!.GetValue<string>());
        var envoy = Assert.Single(Deployment().Spec.Template.Spec.Containers, container => container.Name == "envoy");
        Assert.Equal("envoyproxy/envoy:v1.35.0", envoy.Image);
        Assert.Single(Deployment().Spec.Template.Spec.Volumes, volume => volume.Name == "envoy-config");
    }

    [Fact]
    public async Task Removal_takes_the_sidecar_out_and_restores_the_Service_target_port()
    {
        SeedApp();
        await PostAsync(Inject());
        await CompleteRolloutAsync();

        var response = await DeleteAsync(Namespace, Name);

        Assert.Equal(202, response.Status);
        Assert.True(response.Body["changed"]!.GetValue<bool>());
        var deployment = Deployment();
        Assert.DoesNotContain(deployment.Spec.Template.Spec.Containers, container => container.Name == "envoy");
        Assert.DoesNotContain(deployment.Spec.Template.Spec.Volumes ?? [], volume => volume.Name == "envoy-config");
        Assert.False(deployment.Metadata.Labels?.ContainsKey("envoy-reaper/enabled") ?? false);
        Assert.Equal("8080", Assert.Single(Service().Spec.Ports).TargetPort.Value);
        Assert.NotNull(ConfigMap());
        await CompleteRolloutAsync();
        Assert.Null(ConfigMap());

        var again = await DeleteAsync(Namespace, Name);
        Assert.False(again.Body["changed"]!.GetValue<bool>());
    }

    [Fact]
    public async Task Removal_by_POST_with_remove_true_works_too()
    {
        SeedApp();
        await PostAsync(Inject());
        await CompleteRolloutAsync();

        var response = await PostAsync($$"""{"namespace":"{{Namespace}}","deployment":"{{Name}}","remove":true}""");

        Assert.Equal(202, response.Status);
        Assert.Equal("8080", Assert.Single(Service().Spec.Ports).TargetPort.Value);
    }

    [Fact]
    public async Task Dry_run_answers_what_would_change_and_persists_nothing()
    {
        SeedApp();
        var before = api.Get("apps", "v1", "deployments", Namespace, Name)!.ToJsonString();

        var response = await PostAsync(Inject(), "?dryRun=true");

        Assert.Equal(200, response.Status);
        Assert.True(response.Body["changed"]!.GetValue<bool>());
        Assert.True(response.Body["dryRun"]!.GetValue<bool>());
        Assert.NotEmpty(response.Body["changes"]!.AsArray());
        Assert.Equal(before, api.Get("apps", "v1", "deployments", Namespace, Name)!.ToJsonString());
        Assert.Null(ConfigMap());
        Assert.All(api.Requests.Where(request => request.Method is "POST" or "PUT"), request => Assert.Contains("dryRun=All", request.Query));
    }

    [Fact]
    public async Task Invalid_fields_are_all_named_in_a_400_problem()
    {
        var response = await PostAsync("""{"namespace":"Bad_NS","deployment":"","appPort":70000,"protocol":"sctp","minConnections":-1,"action":"destroy"}""");

        Assert.Equal(400, response.Status);
        Assert.StartsWith("application/problem+json", response.ContentType);
        var errors = response.Body["errors"]!.AsObject().Select(pair => pair.Key).Order().ToArray();
        Assert.Equal(["action", "appPort", "deployment", "minConnections", "namespace", "protocol"], errors);
    }

    [Fact]
    public async Task An_unknown_field_is_a_400_naming_it()
    {
        var response = await PostAsync(Inject(""","image":"evil/envoy:latest" """));

        Assert.Equal(400, response.Status);
        Assert.Contains("image", response.Body["errors"]!.AsObject().Select(pair => pair.Key));
    }

    [Theory]
    [InlineData("kube-system")]
    [InlineData("kube-public")]
    public async Task A_denied_namespace_is_403(string @namespace)
    {
        var response = await PostAsync($$"""{"namespace":"{{@namespace}}","deployment":"coredns","appPort":53}""");

        Assert.Equal(403, response.Status);
        Assert.Equal(0, api.WriteCount);
    }

    [Fact]
    public async Task A_missing_Deployment_is_404()
    {
        var response = await PostAsync(Inject());

        Assert.Equal(404, response.Status);
        Assert.Contains("Deployment", response.Body["detail"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_missing_Service_is_404()
    {
        SeedApp(withService: false);

        var response = await PostAsync(Inject());

        Assert.Equal(404, response.Status);
        Assert.Contains("Service", response.Body["detail"]!.GetValue<string>());
        Assert.Equal(0, api.WriteCount);
    }

    [Theory]
    [InlineData("hostNetwork")]
    [InlineData("opted-out")]
    [InlineData("istio")]
    [InlineData("foreign-envoy")]
    public async Task Refusals_are_422_and_write_nothing(string reason)
    {
        switch (reason)
        {
            case "hostNetwork": SeedApp(hostNetwork: true); break;
            case "opted-out": SeedApp(injectAnnotation: "false"); break;
            case "istio": SeedApp(extraContainer: "istio-proxy"); break;
            default: SeedApp(extraContainer: "envoy"); break;
        }

        api.ResetRecording();
        var response = await PostAsync(Inject());

        Assert.Equal(422, response.Status);
        Assert.False(string.IsNullOrEmpty(response.Body["detail"]!.GetValue<string>()));
        Assert.Equal(0, api.WriteCount);
        if (reason == "istio")
        {
            Assert.Contains("monitor", response.Body["detail"]!.GetValue<string>());
        }
    }

    [Fact]
    public async Task A_conflict_is_retried_on_a_fresh_read()
    {
        SeedApp();
        api.FailNext("PUT", $"/deployments/{Name}", 409, "Conflict");

        var response = await PostAsync(Inject());

        Assert.Equal(202, response.Status);
        Assert.Single(Deployment().Spec.Template.Spec.Containers, container => container.Name == "envoy");
    }

    [Fact]
    public async Task A_conflict_that_survives_the_retries_is_409()
    {
        SeedApp();
        api.FailNext("PUT", $"/deployments/{Name}", 409, "Conflict", times: 10);

        var response = await PostAsync(Inject());

        Assert.Equal(409, response.Status);
    }

    [Fact]
    public async Task A_failing_API_server_is_502_without_a_stack_trace()
    {
        SeedApp();
        api.FailNext("GET", $"/deployments/{Name}", 500, "InternalError", times: 10);

        var response = await PostAsync(Inject());

        Assert.Equal(502, response.Status);
        Assert.Contains("500", response.Body["detail"]!.GetValue<string>());
    }

    private void SeedCorpus(string file, string @namespace)
    {
        foreach (var item in InjectionCorpus.Load(file).Objects)
        {
            switch (item)
            {
                case V1Deployment deployment:
                    deployment.Metadata.NamespaceProperty = @namespace;
                    api.Seed(deployment);
                    break;
                case V1Service service:
                    service.Metadata.NamespaceProperty = @namespace;
                    api.Seed(service);
                    break;
            }
        }
    }

    private V1Service CorpusService(string @namespace, string name) =>
        KubernetesYaml.Deserialize<V1Service>(api.Get("", "v1", "services", @namespace, name)!.ToJsonString(), strict: true);

    [Fact]
    public async Task A_named_target_port_is_resolved_and_removal_puts_the_name_back()
    {
        SeedCorpus("podinfo.yaml", Namespace);

        var response = await PostAsync($$"""{"namespace":"{{Namespace}}","deployment":"podinfo","appPort":9898}""");

        Assert.Equal(202, response.Status);
        Assert.Contains(response.Body["changes"]!.AsArray(), change => change!.GetValue<string>().Contains("as http", StringComparison.Ordinal));
        await CompleteRolloutAsync(Namespace, "podinfo");
        Assert.Equal("envoy-inbound", CorpusService(Namespace, "podinfo").Spec.Ports.Single(port => port.Name == "http").TargetPort.Value);

        Assert.Equal(202, (await DeleteAsync(Namespace, "podinfo")).Status);
        Assert.Equal("http", CorpusService(Namespace, "podinfo").Spec.Ports.Single(port => port.Name == "http").TargetPort.Value);
    }

    [Fact]
    public async Task Tcp_and_udp_on_one_port_each_go_to_their_own_Envoy_port()
    {
        SeedCorpus("game-server.yaml", Namespace);

        var response = await PostAsync($$"""{"namespace":"{{Namespace}}","deployment":"simple-game-server","appPort":7777}""");

        Assert.Equal(202, response.Status);
        await CompleteRolloutAsync(Namespace, "simple-game-server");
        var ports = CorpusService(Namespace, "simple-game-server").Spec.Ports;
        Assert.Equal("envoy-inbound", ports.Single(port => port.Protocol == "TCP").TargetPort.Value);
        Assert.Equal("envoy-udp", ports.Single(port => port.Protocol == "UDP").TargetPort.Value);
    }

    [Fact]
    public async Task Both_Services_that_reach_the_app_port_are_pointed_at_Envoy()
    {
        SeedCorpus("two-services.yaml", Namespace);

        var response = await PostAsync($$"""{"namespace":"{{Namespace}}","deployment":"frontend","appPort":8080,"service":"frontend"}""");

        Assert.Equal(202, response.Status);
        Assert.NotEqual("envoy-inbound", Assert.Single(CorpusService(Namespace, "frontend-external").Spec.Ports).TargetPort.Value);
        await CompleteRolloutAsync(Namespace, "frontend");
        Assert.Equal("envoy-inbound", Assert.Single(CorpusService(Namespace, "frontend").Spec.Ports).TargetPort.Value);
        Assert.Equal("envoy-inbound", Assert.Single(CorpusService(Namespace, "frontend-external").Spec.Ports).TargetPort.Value);
        Assert.Equal("metrics", Assert.Single(CorpusService(Namespace, "frontend-metrics").Spec.Ports).TargetPort.Value);
    }

    [Fact]
    public async Task A_Service_shared_with_other_Deployments_is_422_naming_them()
    {
        SeedCorpus("shared-service.yaml", Namespace);
        api.ResetRecording();

        var response = await PostAsync($$"""{"namespace":"{{Namespace}}","deployment":"reviews-v1","appPort":9080}""");

        Assert.Equal(422, response.Status);
        Assert.Contains("reviews-v2", response.Body["detail"]!.GetValue<string>());
        Assert.Equal(0, api.WriteCount);
    }

    [Fact]
    public async Task A_named_Service_that_does_not_select_the_pods_is_422()
    {
        SeedCorpus("guestbook-redis.yaml", Namespace);

        var response = await PostAsync($$"""{"namespace":"{{Namespace}}","deployment":"redis-leader","appPort":6379,"service":"postgres"}""");

        Assert.Equal(422, response.Status);
        Assert.Contains("does not select", response.Body["detail"]!.GetValue<string>());
    }

    [Fact]
    public async Task Removal_restores_this_workloads_Service_when_several_are_injected()
    {
        SeedCorpus("guestbook-redis.yaml", Namespace);
        Assert.Equal(202, (await PostAsync($$"""{"namespace":"{{Namespace}}","deployment":"postgres","appPort":5432}""")).Status);
        await CompleteRolloutAsync(Namespace, "postgres");
        Assert.Equal(202, (await PostAsync($$"""{"namespace":"{{Namespace}}","deployment":"redis-leader","appPort":6379}""")).Status);
        await CompleteRolloutAsync(Namespace, "redis-leader");
        Assert.Equal("envoy-inbound", Assert.Single(CorpusService(Namespace, "redis-leader").Spec.Ports).TargetPort.Value);

        Assert.Equal(202, (await DeleteAsync(Namespace, "redis-leader")).Status);

        Assert.NotEqual("envoy-inbound", Assert.Single(CorpusService(Namespace, "redis-leader").Spec.Ports).TargetPort?.Value);
        Assert.Equal("envoy-inbound", Assert.Single(CorpusService(Namespace, "postgres").Spec.Ports).TargetPort.Value);
    }

    private async Task<HttpResult> StatusAsync(string @namespace, string deployment)
    {
        var services = Services();
        var context = HttpResults.Request("GET", services: services);
        return await HttpResults.ExecuteAsync(context, await ActivatorUtilities.CreateInstance<GetInjectionStatus>(services).Run(context.Request, @namespace, deployment, CancellationToken.None));
    }

    private static readonly string[] Reviews = ["reviews-v1", "reviews-v2", "reviews-v3"];

    private const string InjectReviewsTogether = """{"namespace":"previews","deployments":["reviews-v1","reviews-v2","reviews-v3"],"appPort":9080}""";

    [Fact]
    public async Task Deployments_sharing_a_Service_are_injected_together_in_one_request_each_with_its_status_URL()
    {
        SeedCorpus("shared-service.yaml", Namespace);

        var response = await PostAsync(InjectReviewsTogether);

        Assert.Equal(202, response.Status);
        Assert.Equal("/api/inject/previews/reviews-v1", response.Location);
        var items = response.Body["deployments"]!.AsArray();
        Assert.Equal(Reviews, items.Select(item => item!["deployment"]!.GetValue<string>()));
        foreach (var item in items)
        {
            var name = item!["deployment"]!.GetValue<string>();
            Assert.Equal($"/api/inject/previews/{name}", item["status"]!.GetValue<string>());
            Assert.Equal("rolling-out", item["rollout"]!["phase"]!.GetValue<string>());
            Assert.Single(api.Get<V1Deployment>(Namespace, name)!.Spec.Template.Spec.Containers, container => container.Name == "envoy");
            Assert.True(api.Exists<V1ConfigMap>(Namespace, $"{name}-envoy"));
        }

        Assert.NotEqual("envoy-inbound", Assert.Single(CorpusService(Namespace, "reviews").Spec.Ports).TargetPort?.Value);

        foreach (var name in Reviews)
        {
            api.ReportRollout(Namespace, name, DeploymentRollout.Complete);
        }

        var services = Services();
        for (var i = 0; i < 6 && await ReaperTestHost.DeliverNextRolloutCheckAsync(message => ActivatorUtilities.CreateInstance<FinishInjectionRollout>(services).Run(message, CancellationToken.None)) is not null; i++)
        {
        }

        Assert.Equal("envoy-inbound", Assert.Single(CorpusService(Namespace, "reviews").Spec.Ports).TargetPort.Value);
        foreach (var name in Reviews)
        {
            var status = await StatusAsync(Namespace, name);
            Assert.Equal(200, status.Status);
            Assert.Equal("done", status.Body["phase"]!.GetValue<string>());
        }
    }

    [Fact]
    public async Task Injecting_several_Deployments_writes_nothing_when_one_of_them_is_refused()
    {
        SeedCorpus("shared-service.yaml", Namespace);
        api.ResetRecording();

        var response = await PostAsync("""{"namespace":"previews","deployments":["reviews-v1","reviews-v2","reviews-v3","reviews-v9"],"appPort":9080}""");

        Assert.Equal(404, response.Status);
        Assert.Contains("reviews-v9", response.Body["detail"]!.GetValue<string>());
        Assert.Equal(0, api.WriteCount);
    }

    [Fact]
    public async Task A_request_naming_only_some_of_the_Deployments_behind_a_shared_Service_is_422_naming_the_rest()
    {
        SeedCorpus("shared-service.yaml", Namespace);

        var response = await PostAsync("""{"namespace":"previews","deployments":["reviews-v1","reviews-v2"],"appPort":9080}""");

        Assert.Equal(422, response.Status);
        Assert.Contains("reviews-v3", response.Body["detail"]!.GetValue<string>());
        Assert.Equal(0, api.WriteCount);
    }

    [Theory]
    [InlineData("""{"namespace":"previews","deployment":"web","deployments":["web"],"appPort":8080}""")]
    [InlineData("""{"namespace":"previews","deployments":[],"appPort":8080}""")]
    [InlineData("""{"namespace":"previews","deployments":["web","web"],"appPort":8080}""")]
    [InlineData("""{"namespace":"previews","deployments":["web","Not_A_Name"],"appPort":8080}""")]
    [InlineData("""{"namespace":"previews","deployments":["web","api"],"remove":true}""")]
    public async Task An_invalid_list_of_deployments_is_a_400_naming_the_field(string json)
    {
        var response = await PostAsync(json);

        Assert.Equal(400, response.Status);
        Assert.Contains("deployments", response.Body["errors"]!.AsObject().Select(pair => pair.Key));
    }

    /// <summary>Delivers rollout checks until <paramref name="done"/> holds, at most <paramref name="limit"/> of them.</summary>
    private async Task DeliverChecksUntilAsync(Func<Task<bool>> done, int limit = 12)
    {
        var services = Services();
        for (var i = 0; i < limit && !await done(); i++)
        {
            Assert.NotNull(await ReaperTestHost.DeliverNextRolloutCheckAsync(message => ActivatorUtilities.CreateInstance<FinishInjectionRollout>(services).Run(message, CancellationToken.None)));
        }

        Assert.True(await done());
    }

    private async Task<JsonNode> StatusBodyAsync(string name) => (await StatusAsync(Namespace, name)).Body;

    [Fact]
    public async Task The_shared_Service_is_retargeted_only_once_every_Deployment_behind_it_has_rolled_out()
    {
        SeedCorpus("shared-service.yaml", Namespace);
        Assert.Equal(202, (await PostAsync(InjectReviewsTogether)).Status);

        // reviews-v1 is complete; reviews-v2 is still rolling; the controller has not even looked at reviews-v3.
        api.ReportRollout(Namespace, "reviews-v1", DeploymentRollout.Complete);
        api.ReportRollout(Namespace, "reviews-v2", DeploymentRollout.Progressing);
        await DeliverChecksUntilAsync(async () => (await StatusBodyAsync("reviews-v1"))["checks"]!.GetValue<int>() >= 2);

        Assert.NotEqual("envoy-inbound", Assert.Single(CorpusService(Namespace, "reviews").Spec.Ports).TargetPort?.Value);
        var waiting = await StatusBodyAsync("reviews-v1");
        Assert.Equal("rolling-out", waiting["phase"]!.GetValue<string>());
        Assert.Matches("reviews-v[23]", waiting["detail"]!.GetValue<string>());

        api.ReportRollout(Namespace, "reviews-v2", DeploymentRollout.Complete);
        api.ReportRollout(Namespace, "reviews-v3", DeploymentRollout.Complete);
        await DeliverChecksUntilAsync(async () => (await StatusBodyAsync("reviews-v1"))["phase"]!.GetValue<string>() != "rolling-out");

        Assert.Equal("done", (await StatusBodyAsync("reviews-v1"))["phase"]!.GetValue<string>());
        Assert.Equal("envoy-inbound", Assert.Single(CorpusService(Namespace, "reviews").Spec.Ports).TargetPort.Value);
    }

    [Fact]
    public async Task A_failed_rollout_of_another_Deployment_behind_the_shared_Service_leaves_it_untouched_and_the_status_names_it()
    {
        SeedCorpus("shared-service.yaml", Namespace);
        Assert.Equal(202, (await PostAsync(InjectReviewsTogether)).Status);

        api.ReportRollout(Namespace, "reviews-v1", DeploymentRollout.Complete);
        api.ReportRollout(Namespace, "reviews-v2", DeploymentRollout.DeadlineExceeded);
        api.ReportRollout(Namespace, "reviews-v3", DeploymentRollout.Complete);
        await DeliverChecksUntilAsync(async () => (await StatusBodyAsync("reviews-v1"))["phase"]!.GetValue<string>() != "rolling-out");

        var status = await StatusBodyAsync("reviews-v1");
        Assert.Equal("failed", status["phase"]!.GetValue<string>());
        var detail = status["detail"]!.GetValue<string>();
        Assert.Contains("reviews-v2", detail);
        Assert.Contains("progress deadline", detail);
        Assert.Contains("Service was not changed", detail);
        Assert.NotEqual("envoy-inbound", Assert.Single(CorpusService(Namespace, "reviews").Spec.Ports).TargetPort?.Value);
    }

    private void SeedPod(string name, string ownerKind, string ownerName, string? podTemplateHash = null)
    {
        var labels = new Dictionary<string, string> { ["app"] = Name };
        if (podTemplateHash is not null)
        {
            labels["pod-template-hash"] = podTemplateHash;
        }

        api.Seed(new V1Pod
        {
            ApiVersion = "v1",
            Kind = "Pod",
            Metadata = new V1ObjectMeta
            {
                Name = name,
                NamespaceProperty = Namespace,
                Labels = labels,
                OwnerReferences = [new V1OwnerReference { ApiVersion = "apps/v1", Kind = ownerKind, Name = ownerName, Uid = Guid.NewGuid().ToString(), Controller = true }],
            },
            Spec = new V1PodSpec { Containers = [new V1Container { Name = "app", Image = "registry.example.com/web:1", Ports = [new V1ContainerPort { ContainerPort = 8080 }] }] },
            Status = new V1PodStatus { Phase = "Running", PodIP = "10.0.0.9" },
        });
    }

    [Fact]
    public async Task A_Service_that_also_selects_the_pods_of_a_StatefulSet_is_422_naming_it_and_nothing_is_written()
    {
        SeedApp();
        SeedPod("web-cache-0", "StatefulSet", "web-cache");
        api.ResetRecording();

        var response = await PostAsync(Inject());

        // Pointed at envoy-inbound, the Service would drop web-cache-0, which has no port of that name.
        Assert.Equal(422, response.Status);
        Assert.Contains("StatefulSet web-cache", response.Body["detail"]!.GetValue<string>());
        Assert.Equal(0, api.WriteCount);
    }

    [Fact]
    public async Task The_Deployments_own_pods_do_not_stop_the_injection()
    {
        SeedApp();
        SeedPod("web-5d4f8b7c9-x2x7q", "ReplicaSet", "web-5d4f8b7c9", podTemplateHash: "5d4f8b7c9");

        var response = await PostAsync(Inject());

        Assert.Equal(202, response.Status);
    }

    [Fact]
    public async Task Pods_of_another_workload_that_appear_during_the_rollout_leave_the_Service_untouched_and_the_status_names_them()
    {
        SeedApp();
        Assert.Equal(202, (await PostAsync(Inject())).Status);
        SeedPod("web-debug", "ReplicaSet", "web-debug-7f9c", podTemplateHash: "7f9c");

        await CompleteRolloutAsync();

        Assert.Equal(8080, int.Parse(Service().Spec.Ports.Single().TargetPort.Value, System.Globalization.CultureInfo.InvariantCulture));
        var status = await StatusBodyAsync(Name);
        Assert.Equal("failed", status["phase"]!.GetValue<string>());
        Assert.Contains("ReplicaSet web-debug-7f9c", status["detail"]!.GetValue<string>());
    }

    private void SeedHeadlessService(string name)
    {
        api.Seed(new V1Service
        {
            ApiVersion = "v1",
            Kind = "Service",
            Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = Namespace },
            Spec = new V1ServiceSpec
            {
                ClusterIP = "None",
                Selector = new Dictionary<string, string> { ["app"] = Name },
                Ports = [new V1ServicePort { Name = "http", Port = 8080, TargetPort = 8080 }],
            },
        });
    }

    [Fact]
    public async Task A_monitored_injection_whose_only_Service_is_headless_is_422_and_nothing_is_written()
    {
        // Clients of a headless Service connect to the pod IPs on the app port: none of their traffic would cross Envoy,
        // and the reaper would see a workload in use as idle.
        SeedApp(withService: false);
        SeedHeadlessService("web-headless");
        api.ResetRecording();

        var response = await PostAsync(Inject());

        Assert.Equal(422, response.Status);
        Assert.Contains("headless", response.Body["detail"]!.GetValue<string>());
        Assert.Equal(0, api.WriteCount);
    }

    [Fact]
    public async Task An_unmonitored_injection_behind_a_headless_Service_goes_ahead_with_a_warning()
    {
        SeedApp(withService: false);
        SeedHeadlessService("web-headless");

        var response = await PostAsync(Inject(""","monitor":false"""));

        Assert.Equal(202, response.Status);
        Assert.Contains("headless", response.Body.ToJsonString());
    }

    [Fact]
    public async Task A_headless_Service_beside_a_ClusterIP_one_is_a_warning()
    {
        SeedApp();
        SeedHeadlessService("web-headless");

        var response = await PostAsync(Inject());

        Assert.Equal(202, response.Status);
        Assert.Contains("headless", response.Body.ToJsonString());
    }

    [Fact]
    public async Task A_Service_port_that_reaches_another_port_of_the_pods_is_named_in_a_warning()
    {
        SeedApp();
        api.Seed(new V1Service
        {
            ApiVersion = "v1",
            Kind = "Service",
            Metadata = new V1ObjectMeta { Name = "web-admin", NamespaceProperty = Namespace },
            Spec = new V1ServiceSpec { Selector = new Dictionary<string, string> { ["app"] = Name }, Ports = [new V1ServicePort { Name = "admin", Port = 9000, TargetPort = 9000 }] },
        });

        var response = await PostAsync(Inject());

        // Its users reach the app past Envoy, uncounted: the caller must know before the reaper judges the workload.
        Assert.Equal(202, response.Status);
        Assert.Contains("Service web-admin port admin (9000)", response.Body.ToJsonString());
    }
}
