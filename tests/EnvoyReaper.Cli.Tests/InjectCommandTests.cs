using k8s;
using k8s.Models;

namespace EnvoyReaper.Cli.Tests;

public sealed class InjectCommandTests : IDisposable
{
    private const string Manifest = """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: lobby
          namespace: games
        spec:
          replicas: 1
          selector:
            matchLabels: { app: lobby }
          template:
            metadata:
              labels: { app: lobby }
            spec:
              containers:
                - name: server
                  image: registry.example.com/lobby:7
                  ports:
                    - containerPort: 7777
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: lobby
          namespace: games
        spec:
          selector: { app: lobby }
          ports:
            - name: game
              port: 7777
              targetPort: 7777
        """;

    private readonly string directory = Directory.CreateTempSubdirectory("envoy-reaper-inject-cli-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    private string Write(string text)
    {
        var path = Path.Combine(directory, $"{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, text);
        return path;
    }

    private static Task<(int Exit, string Out, string Error)> RunAsync(string? stdin, params string[] args) => InjectRunner.RunAsync(stdin, args);

    [Fact]
    public async Task Inject_prints_the_Deployment_with_the_sidecar_the_Service_pointed_at_Envoy_and_the_ConfigMap()
    {
        var (exit, output, error) = await RunAsync(null, "inject", "-f", Write(Manifest), "--protocol", "tcp");

        Assert.True(exit == 0, error);
        var objects = KubernetesYaml.LoadAllFromString(output, strict: true);
        var deployment = Assert.Single(objects.OfType<V1Deployment>());
        Assert.Single(deployment.Spec.Template.Spec.Containers, container => container.Name == "envoy");
        Assert.Equal("true", deployment.Metadata.Labels["envoy-reaper/enabled"]);
        Assert.Equal("envoy-inbound", Assert.Single(Assert.Single(objects.OfType<V1Service>()).Spec.Ports).TargetPort.Value);
        var configMap = Assert.Single(objects.OfType<V1ConfigMap>());
        Assert.Contains("tcp_proxy", configMap.Data["envoy.yaml"]);
        Assert.Contains(":7777", configMap.Data["envoy.yaml"].Replace("port_value: ", ":", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Running_inject_on_its_own_output_changes_nothing()
    {
        var (_, first, _) = await RunAsync(null, "inject", "-f", Write(Manifest), "--protocol", "tcp");

        var (exit, second, error) = await RunAsync(first, "inject", "-f", "-", "--protocol", "tcp");

        Assert.True(exit == 0, error);
        Assert.Equal(first, second);
    }

    [Fact]
    public async Task Standard_input_is_read_with_dash()
    {
        var (exit, output, _) = await RunAsync(Manifest, "inject", "-f", "-", "--app-port", "7777");

        Assert.Equal(0, exit);
        Assert.Contains("envoyproxy/envoy:", output);
    }

    [Fact]
    public async Task A_missing_file_is_an_error_on_stderr_with_a_non_zero_exit()
    {
        var (exit, output, error) = await RunAsync(null, "inject", "-f", Path.Combine(directory, "missing.yaml"));

        Assert.NotEqual(0, exit);
        Assert.Empty(output);
        Assert.Contains("missing.yaml", error);
    }

    [Fact]
    public async Task A_manifest_without_a_Deployment_is_refused()
    {
        var (exit, _, error) = await RunAsync(null, "inject", "-f", Write("apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\n"));

        Assert.NotEqual(0, exit);
        Assert.Contains("Deployment", error);
    }

    [Fact]
    public async Task An_Istio_pod_is_refused_with_the_reason()
    {
        var istio = Manifest.Replace("        - name: server", "        - name: istio-proxy\n          image: istio/proxyv2:1.24.0\n        - name: server", StringComparison.Ordinal);

        var (exit, _, error) = await RunAsync(null, "inject", "-f", Write(istio));

        Assert.NotEqual(0, exit);
        Assert.Contains("istio-proxy", error);
    }

    [Fact]
    public async Task Help_lists_the_inject_options()
    {
        var (exit, output, _) = await RunAsync(null, "inject", "--help");

        Assert.Equal(0, exit);
        Assert.Contains("--filename", output);
        Assert.Contains("--app-port", output);
        Assert.Contains("--protocol", output);
    }

    private const string TwoServices = Manifest + """

        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: lobby-public
          namespace: games
        spec:
          type: LoadBalancer
          selector: { app: lobby }
          ports:
            - name: game
              port: 7777
              targetPort: 7777
        """;

    private static void AssertOneLineError(string error)
    {
        Assert.StartsWith("error: ", error);
        Assert.Single(error.TrimEnd('\n').Split('\n'));
        Assert.DoesNotContain("   at ", error);
        Assert.DoesNotContain("Exception", error);
    }

    public static TheoryData<string, string> UnprocessableManifests => new()
    {
        { "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: empty }\nspec:\n  selector: { matchLabels: { app: x } }\n  template:\n    metadata: { labels: { app: x } }\n    spec:\n      containers: []\n", "no containers" },
        { "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: empty }\nspec:\n  selector: { matchLabels: { app: x } }\n  template:\n    metadata: { labels: { app: x } }\n    spec: {}\n", "no containers" },
        { "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers: [{ name: a, image: a:1, ports: [{ containerPort: 80 }] }]\n", "metadata.name" },
        { "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web }\n", "pod template" },
        { "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web\nspec: [\n", "YAML" },
        { "kind: Deployment\n\tapiVersion: apps/v1\n", "YAML" },
        { "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web }\nspec: { replicas: many }\n", "web" },
        { "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\n", "Deployment" },
        { "", "Deployment" },
        { "---\n---\n# nothing\n", "Deployment" },
        { "- just\n- a list\n", "Deployment" },
        { "apiVersion: v1\nkind: List\nitems: [{ apiVersion: apps/v1, kind: Deployment }]\n", "metadata.name" },
    };

    [Theory]
    [MemberData(nameof(UnprocessableManifests))]
    public async Task Unprocessable_input_is_a_one_line_error_with_the_input_exit_code_and_no_output(string manifest, string reason)
    {
        var (exit, output, error) = await RunAsync(manifest, "inject", "-f", "-");

        Assert.Equal(2, exit);
        Assert.Empty(output);
        AssertOneLineError(error);
        Assert.Contains(reason, error);
    }

    [Theory]
    [InlineData("--app-port", "abc")]
    [InlineData("--app-port", "0")]
    [InlineData("--app-port", "70000")]
    [InlineData("--min-connections", "some")]
    [InlineData("--min-connections", "-1")]
    [InlineData("--idle-timeout", "soon")]
    [InlineData("--idle-timeout", "0s")]
    [InlineData("--action", "explode")]
    [InlineData("--protocol", "carrier-pigeon")]
    [InlineData("--service", "Not_A_Name")]
    public async Task An_invalid_option_is_a_one_line_usage_error_naming_the_flag_with_the_usage_exit_code(string option, string value)
    {
        var (exit, output, error) = await RunAsync(null, "inject", "-f", Write(Manifest), option, value);

        Assert.Equal(1, exit);
        Assert.Empty(output);
        AssertOneLineError(error);
        Assert.Contains(option, error);
    }

    [Theory]
    [InlineData("inject")]
    [InlineData("inject", "-f")]
    [InlineData("inject", "-f", "x.yaml", "--bogus")]
    [InlineData("inject", "-f", "x.yaml", "extra")]
    public async Task A_malformed_command_line_is_a_one_line_usage_error_with_the_usage_exit_code(params string[] args)
    {
        var (exit, output, error) = await RunAsync(null, args);

        Assert.Equal(1, exit);
        Assert.Empty(output);
        AssertOneLineError(error);
    }

    [Fact]
    public async Task An_app_port_the_planner_refuses_names_the_flag()
    {
        var (exit, _, error) = await RunAsync(null, "inject", "-f", Write(Manifest), "--app-port", "15001");

        Assert.Equal(1, exit);
        Assert.Contains("--app-port", error);
        Assert.DoesNotContain("appPort", error);
    }

    [Fact]
    public async Task Every_Service_selecting_the_pods_is_pointed_at_Envoy_so_no_user_bypasses_it()
    {
        var (exit, output, error) = await RunAsync(null, "inject", "-f", Write(TwoServices));

        Assert.True(exit == 0, error);
        var (typed, _) = InjectRunner.LoadStrict(output);
        var services = typed.OfType<V1Service>().ToList();
        Assert.Equal(2, services.Count);
        Assert.All(services, service => Assert.Equal("envoy-inbound", service.Spec.Ports.Single().TargetPort.Value));
    }

    [Fact]
    public async Task A_Service_shared_by_the_Deployments_of_the_file_is_pointed_at_Envoy_when_all_are_injected()
    {
        var (exit, output, error) = await RunAsync(null, "inject", "-f", EnvoyReaper.TestSupport.Injection.InjectionCorpus.PathOf("shared-service.yaml"));

        Assert.True(exit == 0, error);
        var (typed, _) = InjectRunner.LoadStrict(output);
        Assert.Equal(3, typed.OfType<V1Deployment>().Count(deployment => deployment.Spec.Template.Spec.Containers.Any(container => container.Name == "envoy")));
        Assert.Equal("envoy-inbound", typed.OfType<V1Service>().Single(service => service.Metadata.Name == "reviews").Spec.Ports.Single().TargetPort.Value);
    }

    [Fact]
    public async Task A_Service_shared_with_Deployments_left_out_by_the_deployment_option_is_refused_naming_them()
    {
        var (exit, output, error) = await RunAsync(null, "inject", "-f", EnvoyReaper.TestSupport.Injection.InjectionCorpus.PathOf("shared-service.yaml"), "--deployment", "reviews-v1");

        Assert.Equal(2, exit);
        Assert.Empty(output);
        AssertOneLineError(error);
        Assert.Contains("reviews-v2", error);
        Assert.Contains("reviews-v3", error);
    }

    [Fact]
    public async Task The_service_option_picks_the_Service_to_point_at_Envoy()
    {
        var (exit, output, error) = await RunAsync(null, "inject", "-f", Write(TwoServices), "--service", "lobby-public");

        Assert.True(exit == 0, error);
        var (typed, _) = InjectRunner.LoadStrict(output);
        Assert.Equal("envoy-inbound", typed.OfType<V1Service>().Single(service => service.Metadata.Name == "lobby-public").Spec.Ports.Single().TargetPort.Value);
        Assert.Equal("lobby-public", typed.OfType<V1Deployment>().Single().Metadata.Annotations["envoy-reaper/service"]);
    }

    [Fact]
    public async Task A_service_option_naming_no_Service_of_the_file_is_refused()
    {
        var (exit, _, error) = await RunAsync(null, "inject", "-f", Write(Manifest), "--service", "arena");

        Assert.Equal(2, exit);
        AssertOneLineError(error);
        Assert.Contains("arena", error);
    }

    [Fact]
    public async Task The_reaper_settings_options_become_the_Deployments_annotations()
    {
        var (exit, output, error) = await RunAsync(null, "inject", "-f", Write(Manifest), "--idle-timeout", "10m", "--min-connections", "2", "--action", "scale-to-zero");

        Assert.True(exit == 0, error);
        var annotations = InjectRunner.LoadStrict(output).Typed.OfType<V1Deployment>().Single().Metadata.Annotations;
        Assert.Equal("10m", annotations["envoy-reaper/idle-timeout"]);
        Assert.Equal("2", annotations["envoy-reaper/min-connections"]);
        Assert.Equal("scale-to-zero", annotations["envoy-reaper/action"]);
    }

    [Fact]
    public async Task No_monitor_injects_without_opting_the_workload_in()
    {
        var (exit, output, error) = await RunAsync(null, "inject", "-f", Write(Manifest), "--no-monitor");

        Assert.True(exit == 0, error);
        var deployment = InjectRunner.LoadStrict(output).Typed.OfType<V1Deployment>().Single();
        Assert.Contains(deployment.Spec.Template.Spec.Containers, container => container.Name == "envoy");
        Assert.False(deployment.Metadata.Labels?.ContainsKey("envoy-reaper/enabled") ?? false);
    }

    [Fact]
    public async Task Options_for_one_app_need_the_deployment_option_when_the_file_has_several()
    {
        var (exit, output, error) = await RunAsync(InjectRunner.Corpus("two-deployments.yaml"), "inject", "-f", "-", "--app-port", "8080");

        Assert.Equal(1, exit);
        Assert.Empty(output);
        AssertOneLineError(error);
        Assert.Contains("--deployment", error);
    }

    [Fact]
    public async Task Help_documents_every_option_and_the_exit_codes()
    {
        var (exit, output, _) = await RunAsync(null, "inject", "--help");

        Assert.Equal(0, exit);
        foreach (var option in new[] { "--filename", "--deployment", "--app-port", "--protocol", "--service", "--ingress", "--idle-timeout", "--min-connections", "--action", "--no-monitor" })
        {
            Assert.Contains(option, output);
        }

        Assert.Contains("Exit codes: 0", output);
    }
}
