using System.CommandLine;
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

    private static async Task<(int Exit, string Out, string Error)> RunAsync(string? stdin, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exit = await ReaperCommandLine.Build(new StringReader(stdin ?? string.Empty)).Parse(args).InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr });
        return (exit, stdout.ToString(), stderr.ToString());
    }

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
    public async Task An_app_port_used_by_the_sidecar_is_refused()
    {
        var (exit, _, error) = await RunAsync(null, "inject", "-f", Write(Manifest), "--app-port", "15001");

        Assert.NotEqual(0, exit);
        Assert.Contains("appPort", error);
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
}
