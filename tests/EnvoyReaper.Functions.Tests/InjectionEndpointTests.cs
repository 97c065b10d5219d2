using System.Text.Json.Nodes;
using EnvoyReaper.TestSupport.Kubernetes;
using k8s;
using k8s.Models;
using EnvoyReaper.Functions.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using YamlDotNet.RepresentationModel;

namespace EnvoyReaper.Functions.Tests;

/// <summary>
/// POST /api/inject and DELETE /api/inject/{ns}/{name} as a client sees them (status codes, problem details, JSON), with
/// the real Kubernetes client writing to the fake API server.
/// </summary>
public sealed class InjectionEndpointTests : IAsyncLifetime
{
    private const string Namespace = "previews";
    private const string Name = "web";
    private FakeKubernetesApiServer api = null!;
    private string directory = null!;
    private readonly List<ServiceProvider> providers = [];

    public async Task InitializeAsync()
    {
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
    }

    private IServiceProvider Services(string image = "envoyproxy/envoy:v1.34.1")
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["AzureWebJobsStorage"] = EnvoyReaper.TestSupport.Storage.AzuriteStorage.ConnectionString,
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

        Assert.Equal(200, response.Status);
        Assert.True(response.Body["changed"]!.GetValue<bool>());
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

        var response = await DeleteAsync(Namespace, Name);

        Assert.Equal(200, response.Status);
        Assert.True(response.Body["changed"]!.GetValue<bool>());
        var deployment = Deployment();
        Assert.DoesNotContain(deployment.Spec.Template.Spec.Containers, container => container.Name == "envoy");
        Assert.DoesNotContain(deployment.Spec.Template.Spec.Volumes ?? [], volume => volume.Name == "envoy-config");
        Assert.False(deployment.Metadata.Labels?.ContainsKey("envoy-reaper/enabled") ?? false);
        Assert.Equal("8080", Assert.Single(Service().Spec.Ports).TargetPort.Value);
        Assert.Null(ConfigMap());

        var again = await DeleteAsync(Namespace, Name);
        Assert.False(again.Body["changed"]!.GetValue<bool>());
    }

    [Fact]
    public async Task Removal_by_POST_with_remove_true_works_too()
    {
        SeedApp();
        await PostAsync(Inject());

        var response = await PostAsync($$"""{"namespace":"{{Namespace}}","deployment":"{{Name}}","remove":true}""");

        Assert.Equal(200, response.Status);
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
        var response = await PostAsync("""{"namespace":"Bad_NS","deployment":"","appPort":70000,"protocol":"udp","minConnections":-1,"action":"destroy"}""");

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

        Assert.Equal(200, response.Status);
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
}
