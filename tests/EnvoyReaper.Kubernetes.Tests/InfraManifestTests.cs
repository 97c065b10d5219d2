using System.Text.Json.Nodes;
using EnvoyReaper.Cluster;
using EnvoyReaper.Workloads;
using k8s;
using k8s.Models;
using YamlDotNet.RepresentationModel;

namespace EnvoyReaper.Kubernetes.Tests;

/// <summary>The manifests users apply: they must load strictly and mean what the reaper reads.</summary>
public sealed class InfraManifestTests
{
    private static string Infra(params string[] parts)
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Functions.sln")))
        {
            directory = directory.Parent;
        }

        Assert.NotNull(directory);
        return Path.Combine([directory.FullName, "infra", .. parts]);
    }

    public static TheoryData<string> KubernetesManifests()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.GetFiles(Infra("k8s"), "*.yaml").Concat(Directory.GetFiles(Infra("k8s", "injector"), "*.yaml")).Order())
        {
            data.Add(Path.GetRelativePath(Infra("k8s"), file));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(KubernetesManifests))]
    public void Every_manifest_loads_strictly_with_the_Kubernetes_client(string file)
    {
        var typeMap = DefaultTypes(new() { ["monitoring.example.com/v1alpha1/EnvoyMonitor"] = typeof(EnvoyMonitorDocument) });

        var objects = KubernetesYaml.LoadAllFromString(File.ReadAllText(Infra("k8s", file)), typeMap, strict: true);

        Assert.NotEmpty(objects);
    }

    private static Dictionary<string, Type> DefaultTypes(Dictionary<string, Type> extra)
    {
        var map = new Dictionary<string, Type>
        {
            ["v1/Namespace"] = typeof(V1Namespace),
            ["v1/ServiceAccount"] = typeof(V1ServiceAccount),
            ["v1/ConfigMap"] = typeof(V1ConfigMap),
            ["v1/Service"] = typeof(V1Service),
            ["apps/v1/Deployment"] = typeof(V1Deployment),
            ["networking.k8s.io/v1/Ingress"] = typeof(V1Ingress),
            ["rbac.authorization.k8s.io/v1/ClusterRole"] = typeof(V1ClusterRole),
            ["rbac.authorization.k8s.io/v1/ClusterRoleBinding"] = typeof(V1ClusterRoleBinding),
            ["rbac.authorization.k8s.io/v1/RoleBinding"] = typeof(V1RoleBinding),
            ["apiextensions.k8s.io/v1/CustomResourceDefinition"] = typeof(V1CustomResourceDefinition),
        };
        foreach (var (key, value) in extra)
        {
            map[key] = value;
        }

        return map;
    }

    /// <summary>
    /// The injector's role (it creates and rewrites workloads) is granted only by the files of infra/k8s/injector: per
    /// namespace by a RoleBinding, cluster-wide only by the file whose name says so. Nothing the README applies by
    /// default binds it, nor gives its service account anything else.
    /// </summary>
    [Fact]
    public void The_injector_role_is_bound_per_namespace_or_cluster_wide_only_by_the_explicitly_named_file()
    {
        var all = Directory.GetFiles(Infra("k8s"), "*.yaml", SearchOption.AllDirectories).Order().ToList();
        var bindings = new List<(string File, object Binding, string Role, IList<Rbacv1Subject> Subjects)>();
        foreach (var file in all.Where(file => !file.Contains($"{Path.DirectorySeparatorChar}app{Path.DirectorySeparatorChar}", StringComparison.Ordinal)))
        {
            foreach (var item in KubernetesYaml.LoadAllFromString(File.ReadAllText(file), DefaultTypes(new() { ["monitoring.example.com/v1alpha1/EnvoyMonitor"] = typeof(EnvoyMonitorDocument) }), strict: true))
            {
                switch (item)
                {
                    case V1ClusterRoleBinding binding:
                        bindings.Add((Path.GetRelativePath(Infra("k8s"), file), binding, binding.RoleRef.Name, binding.Subjects));
                        break;
                    case V1RoleBinding binding:
                        bindings.Add((Path.GetRelativePath(Infra("k8s"), file), binding, binding.RoleRef.Name, binding.Subjects));
                        break;
                }
            }
        }

        var injector = bindings.Where(binding => binding.Role == "envoy-reaper-injector").ToList();
        var clusterWide = Assert.Single(injector, binding => binding.Binding is V1ClusterRoleBinding);
        Assert.Equal(Path.Combine("injector", "injector-cluster-wide-binding.yaml"), clusterWide.File);
        var perNamespace = Assert.Single(injector, binding => binding.Binding is V1RoleBinding);
        Assert.Equal(Path.Combine("injector", "injector-namespace-binding.yaml"), perNamespace.File);
        Assert.All(injector, binding => Assert.Equal("envoy-reaper-injector", Assert.Single(binding.Subjects).Name));
        // The one exception: Park reads the waker's EndpointSlices in EnvoyReaper's own namespace, and nothing more.
        const string wakerEndpoints = "envoy-reaper-injector-waker-endpoints";
        Assert.DoesNotContain(bindings, binding => binding.Role != "envoy-reaper-injector" && binding.Subjects.Any(subject => subject.Name == "envoy-reaper-injector")
            && !(binding.Role == wakerEndpoints && binding.Binding is V1RoleBinding { Metadata.NamespaceProperty: "envoy-reaper" } && binding.File == Path.Combine("injector", "injector.yaml")));
        var wakerRole = KubernetesYaml.LoadAllFromString(File.ReadAllText(Infra("k8s", "injector", "injector.yaml")), DefaultTypes(new()), strict: true)
            .OfType<V1Role>().Single(role => role.Metadata.Name == wakerEndpoints);
        var rule = Assert.Single(wakerRole.Rules);
        Assert.Equal("discovery.k8s.io endpointslices list", $"{string.Join(',', rule.ApiGroups)} {string.Join(',', rule.Resources)} {string.Join(',', rule.Verbs)}");
        Assert.DoesNotContain(bindings, binding => binding.File == "rbac.yaml" && binding.Role == "envoy-reaper-injector");
    }

    [Fact]
    public void The_example_EnvoyMonitor_is_read_by_the_reaper_as_the_seed_wrote_it()
    {
        var monitor = KubernetesYaml.Deserialize<EnvoyMonitorDocument>(File.ReadAllText(Infra("k8s", "example-envoymonitor.yaml")), strict: true);
        var info = new MonitorInfo(monitor.Metadata.NamespaceProperty, monitor.Metadata.Name, "uid", monitor.Spec.DeploymentName, monitor.Spec.Namespace,
            monitor.Spec.ServiceName, monitor.Spec.IngressName, monitor.Spec.CheckInterval, monitor.Spec.MinConnections is { } min ? JsonValue.Create(min) : null,
            null, null, null, null, null);

        var settings = new WorkloadSettingsParser(new ReaperOptions()).FromMonitor(info);

        Assert.True(settings.IsValid, string.Join("; ", settings.Errors));
        Assert.Equal("my-app", info.DeploymentName);
        Assert.Equal("my-app-service", settings.Settings!.ServiceName);
        Assert.Equal(TimeSpan.FromSeconds(10), settings.Settings.CheckInterval);
        Assert.Equal(1, settings.Settings.MinConnections);
    }

    [Fact]
    public void The_game_server_example_is_opted_in_by_label_with_valid_settings_and_a_tcp_proxy_sidecar()
    {
        var objects = KubernetesYaml.LoadAllFromString(File.ReadAllText(Infra("k8s", "game-deployment.yaml")), DefaultTypes([]), strict: true);
        var deployment = Assert.Single(objects.OfType<V1Deployment>());
        var configMap = Assert.Single(objects.OfType<V1ConfigMap>());

        Assert.Equal("true", deployment.Metadata.Labels["envoy-reaper/enabled"]);
        var settings = new WorkloadSettingsParser(new ReaperOptions()).FromAnnotations(new Dictionary<string, string>(deployment.Metadata.Annotations));
        Assert.True(settings.IsValid, string.Join("; ", settings.Errors));
        Assert.Equal(["inbound"], settings.Settings!.Listeners);
        Assert.Contains("envoy.filters.network.tcp_proxy", configMap.Data["envoy.yaml"]);
        Assert.Single(deployment.Spec.Template.Spec.Containers, container => container.Name == "envoy");
        Assert.Equal("envoy-inbound", Assert.Single(Assert.Single(objects.OfType<V1Service>()).Spec.Ports).TargetPort.Value);
    }

    [Fact]
    public void The_CRD_serves_EnvoyMonitor_v1alpha1_with_a_status_subresource()
    {
        var crd = KubernetesYaml.Deserialize<V1CustomResourceDefinition>(File.ReadAllText(Infra("k8s", "envoymonitor-crd.yaml")), strict: true);

        Assert.Equal("monitoring.example.com", crd.Spec.Group);
        Assert.Equal("envoymonitors", crd.Spec.Names.Plural);
        Assert.Equal("Namespaced", crd.Spec.Scope);
        var version = Assert.Single(crd.Spec.Versions);
        Assert.Equal("v1alpha1", version.Name);
        Assert.NotNull(version.Subresources.Status);
        var spec = version.Schema.OpenAPIV3Schema.Properties["spec"];
        Assert.Equal(
            ["action", "checkInterval", "deploymentName", "idleTimeout", "ingressName", "listeners", "minConnections", "namespace", "serviceName", "statsPath", "statsPort", "wake", "wakeHold"],
            spec.Properties.Keys.Order());
    }

    [Fact]
    public void The_example_sidecar_keeps_the_admin_API_on_loopback_and_exposes_only_stats()
    {
        var configMap = KubernetesYaml.LoadAllFromString(File.ReadAllText(Infra("k8s", "example-my-app.yaml")), DefaultTypes([]), strict: true)
            .OfType<V1ConfigMap>().Single();
        var yaml = new YamlStream();
        yaml.Load(new StringReader(configMap.Data["envoy.yaml"]));
        var bootstrap = (YamlMappingNode)yaml.Documents[0].RootNode;

        Assert.Equal("127.0.0.1", Scalar(bootstrap, "admin", "address", "socket_address", "address"));
        var text = configMap.Data["envoy.yaml"];
        Assert.Contains("type.googleapis.com/envoy.extensions.filters.http.router.v3.Router", text);
        Assert.DoesNotContain("LOGICAL_DNS", text);
        var statsRoutes = ((YamlSequenceNode)((YamlMappingNode)bootstrap["static_resources"])["listeners"]).Children
            .Cast<YamlMappingNode>().Single(listener => ((YamlScalarNode)listener["name"]).Value == "stats")
            .AllNodes.OfType<YamlMappingNode>()
            .Where(node => node.Children.ContainsKey("match"))
            .Select(node => (YamlMappingNode)node["match"])
            .ToList();
        Assert.All(statsRoutes, match => Assert.True(match.Children.ContainsKey("path"), "stats routes must match exact paths, never a prefix"));
        Assert.Equal(["/ready", "/stats", "/stats/prometheus"], statsRoutes.Select(match => ((YamlScalarNode)match["path"]).Value).Order());
    }

    private static string? Scalar(YamlMappingNode node, params string[] path)
    {
        YamlNode current = node;
        foreach (var key in path)
        {
            current = ((YamlMappingNode)current)[key];
        }

        return ((YamlScalarNode)current).Value;
    }
}

[KubernetesEntity(Group = "monitoring.example.com", Kind = "EnvoyMonitor", ApiVersion = "v1alpha1", PluralName = "envoymonitors")]
public sealed class EnvoyMonitorDocument : IKubernetesObject<V1ObjectMeta>
{
    public string ApiVersion { get; set; } = null!;

    public string Kind { get; set; } = null!;

    public V1ObjectMeta Metadata { get; set; } = null!;

    public EnvoyMonitorSpecDocument Spec { get; set; } = null!;
}

public sealed class EnvoyMonitorSpecDocument
{
    public string? DeploymentName { get; set; }

    public string? ServiceName { get; set; }

    public string? IngressName { get; set; }

    public string? Namespace { get; set; }

    public string? CheckInterval { get; set; }

    public int? MinConnections { get; set; }

    public string? IdleTimeout { get; set; }

    public string? Action { get; set; }

    public int? StatsPort { get; set; }

    public string? StatsPath { get; set; }

    public List<string>? Listeners { get; set; }
}
