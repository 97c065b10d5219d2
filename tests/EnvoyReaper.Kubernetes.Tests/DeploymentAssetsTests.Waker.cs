using EnvoyReaper.TestSupport.Kubernetes.Authorization;
using k8s;
using k8s.Models;

namespace EnvoyReaper.Kubernetes.Tests;

/// <summary>The waker's manifest (infra/k8s/waker) and image: a read-only identity, a restricted pod, its own Service.</summary>
public sealed partial class DeploymentAssetsTests
{
    private static string WakerManifest => Path.Combine(Root, "infra", "k8s", "waker", "waker.yaml");

    private static FunctionAppManifests WakerManifests() => FunctionAppManifests.Load([Path.Combine(Root, "infra", "k8s", "rbac.yaml"), WakerManifest]);

    private static V1Deployment Waker(FunctionAppManifests manifests) => manifests.Deployments.Single(deployment => deployment.Metadata.Name == "envoy-reaper-waker");

    [Fact]
    public void The_waker_manifest_loads_strictly_into_the_reaper_namespace()
    {
        var objects = KubernetesYaml.LoadAllFromString(File.ReadAllText(WakerManifest), BuiltInKinds, strict: true).Cast<IKubernetesObject<V1ObjectMeta>>().ToList();

        Assert.All(objects.Where(item => item is not (V1ClusterRole or V1ClusterRoleBinding)), item => Assert.Equal(Namespace, item.Metadata.NamespaceProperty));
        Assert.Equal(
            ["ClusterRole/envoy-reaper-waker", "ClusterRoleBinding/envoy-reaper-waker", "Deployment/envoy-reaper-waker", "Secret/envoy-reaper-waker-storage", "Service/envoy-reaper-waker", "ServiceAccount/envoy-reaper-waker"],
            objects.Select(item => $"{item.Kind}/{item.Metadata.Name}").Order(StringComparer.Ordinal));
        Assert.Null(objects.OfType<V1Secret>().Single().Data);
    }

    // Every rule that reaches the waker's identity, from every file a user applies with it, reads Services and nothing else.
    [Fact]
    public void The_waker_identity_is_granted_only_get_list_and_watch_on_Services()
    {
        var manifests = WakerManifests();
        var policy = manifests.Policy(includeDefaultDiscovery: false);
        var identity = FunctionAppManifests.IdentityOf(Waker(manifests));
        Assert.Equal(new ServiceAccountIdentity(Namespace, "envoy-reaper-waker"), identity);

        var roles = policy.ClusterRoleBindings.Where(binding => binding.Subjects.Any(subject => subject.Kind == "ServiceAccount" && subject.Name == identity.Name && subject.NamespaceProperty == identity.Namespace))
            .Select(binding => binding.RoleRef.Name)
            .Concat(policy.RoleBindings.Where(binding => binding.Subjects.Any(subject => subject.Kind == "ServiceAccount" && subject.Name == identity.Name)).Select(binding => binding.RoleRef.Name))
            .ToList();
        var rules = policy.ClusterRoles.Where(role => roles.Contains(role.Metadata.Name)).SelectMany(role => role.Rules).ToList();

        Assert.NotEmpty(rules);
        Assert.All(rules, rule =>
        {
            Assert.Equal([""], rule.ApiGroups);
            Assert.Equal(["services"], rule.Resources);
            Assert.Empty(rule.Verbs.Except(["get", "list", "watch"]));
            Assert.Null(rule.ResourceNames);
        });
    }

    [Theory]
    [InlineData("POST", "/api/v1/namespaces/shop/services")]
    [InlineData("PUT", "/api/v1/namespaces/shop/services/web")]
    [InlineData("PATCH", "/api/v1/namespaces/shop/services/web")]
    [InlineData("DELETE", "/api/v1/namespaces/shop/services/web")]
    [InlineData("DELETE", "/api/v1/namespaces/shop/services")]
    [InlineData("PATCH", "/api/v1/namespaces/shop/services/web/status")]
    [InlineData("POST", "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices")]
    [InlineData("PATCH", "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices/web-envoy-waker")]
    [InlineData("DELETE", "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices/web-envoy-waker")]
    [InlineData("GET", "/apis/discovery.k8s.io/v1/endpointslices")]
    [InlineData("POST", "/apis/apps/v1/namespaces/shop/deployments")]
    [InlineData("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web")]
    [InlineData("PUT", "/apis/apps/v1/namespaces/shop/deployments/web/scale")]
    [InlineData("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web/scale")]
    [InlineData("GET", "/apis/apps/v1/namespaces/shop/deployments/web")]
    [InlineData("POST", "/api/v1/namespaces/shop/events")]
    [InlineData("POST", "/api/v1/namespaces/shop/configmaps")]
    [InlineData("POST", "/apis/networking.k8s.io/v1/namespaces/shop/ingresses")]
    [InlineData("DELETE", "/api/v1/namespaces/shop/pods/web-0")]
    [InlineData("POST", "/api/v1/namespaces/shop/pods/web-0/exec")]
    [InlineData("GET", "/api/v1/namespaces/envoy-reaper/secrets/envoy-reaper-waker-storage")]
    [InlineData("GET", "/api/v1/secrets")]
    [InlineData("PATCH", "/apis/monitoring.example.com/v1alpha1/namespaces/shop/envoymonitors/web/status")]
    [InlineData("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings")]
    public void The_waker_identity_cannot_write_anything_nor_read_beyond_Services(string method, string path)
    {
        var manifests = WakerManifests();
        var request = RequestAttributes.Parse(method, path, "");

        Assert.False(manifests.Policy().Authorize(FunctionAppManifests.IdentityOf(Waker(manifests)), request).Allowed, $"the waker may {request}");
    }

    [Theory]
    [InlineData("GET", "/api/v1/services", "labelSelector=envoy-reaper%2Fparked%3Dtrue&limit=500")]
    [InlineData("GET", "/api/v1/namespaces/shop/services", "labelSelector=envoy-reaper%2Fparked%3Dtrue&limit=500")]
    [InlineData("GET", "/api/v1/namespaces/shop/services/web", "")]
    [InlineData("GET", "/api/v1/services", "watch=true")]
    public void The_waker_identity_reads_Services_in_every_namespace(string method, string path, string query)
    {
        var manifests = WakerManifests();

        Assert.True(manifests.Policy().Authorize(FunctionAppManifests.IdentityOf(Waker(manifests)), RequestAttributes.Parse(method, path, query)).Allowed);
    }

    [Fact]
    public void The_waker_runs_restricted_with_its_probes_on_a_health_port_outside_the_waker_ports()
    {
        var manifests = WakerManifests();
        var waker = Waker(manifests);
        var pod = waker.Spec.Template.Spec;
        var container = Assert.Single(pod.Containers);
        var settings = manifests.Environment(waker);

        Assert.True(pod.SecurityContext?.RunAsNonRoot);
        Assert.True(pod.SecurityContext?.RunAsUser is > 0);
        Assert.Equal("RuntimeDefault", pod.SecurityContext?.SeccompProfile?.Type);
        Assert.False(container.SecurityContext?.AllowPrivilegeEscalation ?? true);
        Assert.True(container.SecurityContext?.ReadOnlyRootFilesystem);
        Assert.Equal(["ALL"], container.SecurityContext?.Capabilities?.Drop);
        Assert.Null(container.SecurityContext?.Capabilities?.Add);
        Assert.Null(container.SecurityContext?.Privileged);
        Assert.True(container.Resources?.Requests?.ContainsKey("cpu") == true && container.Resources.Requests.ContainsKey("memory"));
        Assert.True(container.Resources?.Limits?.ContainsKey("memory") == true);

        var health = int.Parse(settings["Waker__HealthPort"], System.Globalization.CultureInfo.InvariantCulture);
        var (min, max) = (int.Parse(settings["Waker__PortRangeStart"], System.Globalization.CultureInfo.InvariantCulture), int.Parse(settings["Waker__PortRangeEnd"], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal((20000, 20999), (min, max));
        Assert.False(health >= min && health <= max, "the health port must not be a waker port");
        var healthPort = Assert.Single(container.Ports);
        Assert.Equal(health, healthPort.ContainerPort);
        foreach (var probe in new[] { container.ReadinessProbe, container.LivenessProbe, container.StartupProbe })
        {
            Assert.NotNull(probe?.HttpGet);
            Assert.Equal(healthPort.Name, probe.HttpGet.Port.Value);
        }

        Assert.Equal("/healthz/ready", container.ReadinessProbe.HttpGet.Path);
        Assert.Equal("InCluster", settings["Kubernetes__Mode"]);
        Assert.Equal("secret:envoy-reaper-waker-storage/QueueConnection", settings["Waker__QueueConnection"]);
        Assert.DoesNotContain(settings.Keys, key => key.StartsWith("Kubernetes__KubeConfig", StringComparison.Ordinal) || key == "AzureWebJobsStorage");
    }

    // Park and Wake run under the injector's identity with the shared settings: they must find the waker this manifest
    // deploys and hand out waker ports from the range it listens on.
    [Fact]
    public void The_functions_settings_point_parking_at_the_waker_manifests_Service_and_port_range()
    {
        var app = LoadApp(includeInjector: true);
        var injector = app.Objects.OfType<V1Deployment>().Single(deployment => deployment.Metadata.Name == "envoy-reaper-injector");
        var functions = EffectiveSettings(app, injector);
        var manifests = WakerManifests();
        var service = manifests.Objects.OfType<V1Service>().Single(item => item.Metadata.Name == "envoy-reaper-waker");
        var waker = manifests.Environment(Waker(manifests));
        var defaults = new EnvoyReaper.Waking.WakerOptions();

        Assert.Equal((service.Metadata.NamespaceProperty, service.Metadata.Name), (functions["Waker__Namespace"], functions["Waker__ServiceName"]));
        Assert.Equal((defaults.Namespace, defaults.ServiceName), (service.Metadata.NamespaceProperty, service.Metadata.Name));
        Assert.Equal((waker["Waker__PortRangeStart"], waker["Waker__PortRangeEnd"]), (functions["Waker__PortRangeStart"], functions["Waker__PortRangeEnd"]));
        Assert.Equal((defaults.PortRangeStart.ToString(System.Globalization.CultureInfo.InvariantCulture), defaults.PortRangeEnd.ToString(System.Globalization.CultureInfo.InvariantCulture)), (functions["Waker__PortRangeStart"], functions["Waker__PortRangeEnd"]));
    }

    [Fact]
    public void The_Service_envoy_reaper_waker_selects_the_waker_pods_only()
    {
        var manifests = FunctionAppManifests.Load(ManifestPaths().Append(WakerManifest));
        var service = manifests.Objects.OfType<V1Service>().Single(item => item.Metadata.Name == "envoy-reaper-waker");
        var waker = Waker(manifests);

        Assert.Equal(Namespace, service.Metadata.NamespaceProperty);
        Assert.All(service.Spec.Selector, pair => Assert.Equal(pair.Value, waker.Spec.Template.Metadata.Labels[pair.Key]));
        Assert.All(manifests.Deployments.Where(deployment => deployment != waker), other =>
            Assert.False(service.Spec.Selector.All(pair => other.Spec.Template.Metadata.Labels.TryGetValue(pair.Key, out var value) && value == pair.Value), $"the waker Service selects {other.Metadata.Name}"));
    }

    [Fact]
    public void The_waker_Dockerfile_publishes_the_waker_onto_the_ASP_NET_runtime_image_as_the_manifests_user()
    {
        var instructions = DockerInstructions(File.ReadAllText(Path.Combine(Root, "src", "EnvoyReaper.Waker", "Dockerfile")));
        var froms = instructions.Where(instruction => instruction.Keyword == "FROM").Select(instruction => instruction.Arguments).ToList();

        Assert.Equal(2, froms.Count);
        Assert.StartsWith(SdkImage + " ", froms[0] + " ", StringComparison.Ordinal);
        Assert.StartsWith("mcr.microsoft.com/dotnet/aspnet:10.0 ", froms[1] + " ", StringComparison.Ordinal);
        Assert.Contains(instructions, instruction => instruction.Keyword == "RUN" && instruction.Arguments.Contains("dotnet publish src/EnvoyReaper.Waker/EnvoyReaper.Waker.csproj", StringComparison.Ordinal));
        Assert.Contains(instructions, instruction => instruction.Keyword == "ENTRYPOINT" && instruction.Arguments.Contains("EnvoyReaper.Waker.dll", StringComparison.Ordinal));
        var user = long.Parse(instructions.Last(instruction => instruction.Keyword == "USER").Arguments, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(user, Waker(WakerManifests()).Spec.Template.Spec.SecurityContext.RunAsUser);
        foreach (var source in instructions.Where(instruction => instruction.Keyword == "COPY" && !instruction.Arguments.StartsWith("--from", StringComparison.Ordinal))
            .SelectMany(instruction => instruction.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries)[..^1]))
        {
            Assert.True(File.Exists(Path.Combine(Root, source)) || Directory.Exists(Path.Combine(Root, source)), $"COPY {source}: not in the repository");
        }
    }
}
