using k8s.Models;

namespace EnvoyReaper.Cli.Tests;

/// <summary>
/// Which pods and which container port a Service really reaches, as Kubernetes resolves them: a named targetPort is
/// the first container port of that name and protocol (containers, then sidecar init containers), and a Service's
/// endpoints are every pod it selects, whatever created it.
/// </summary>
public sealed class InjectServiceResolutionTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("envoy-reaper-inject-resolution-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    private string Write(string text)
    {
        var path = Path.Combine(directory, $"{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, text);
        return path;
    }

    // Two containers declare a port named http (the API server accepts it with a warning): Kubernetes resolves the
    // Service's targetPort http to the first, 8080, never to the auth proxy's 4180.
    private const string TwoPortsNamedHttp = """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
        spec:
          selector:
            matchLabels: { app: web }
          template:
            metadata:
              labels: { app: web }
            spec:
              containers:
                - name: app
                  image: registry.example.com/web:1
                  ports:
                    - name: http
                      containerPort: 8080
                - name: auth-proxy
                  image: registry.example.com/oauth2-proxy:7
                  ports:
                    - name: http
                      containerPort: 4180
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: web
        spec:
          selector: { app: web }
          ports:
            - name: http
              port: 80
              targetPort: http
        """;

    [Fact]
    public async Task A_named_target_port_reaches_the_first_container_port_of_that_name_not_a_later_one_with_the_app_port()
    {
        var (exit, output, error) = await InjectRunner.RunAsync(null, "inject", "-f", Write(TwoPortsNamedHttp), "--app-port", "4180");

        // The Service sends its users to 8080: pointing it at an Envoy that forwards to 4180 would send them to the proxy.
        Assert.True(exit != 0, output);
        Assert.Contains("reaches port 4180", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_named_target_port_shared_by_two_containers_is_pointed_at_Envoy_for_the_port_it_resolves_to()
    {
        var (exit, output, error) = await InjectRunner.RunAsync(null, "inject", "-f", Write(TwoPortsNamedHttp), "--app-port", "8080");

        Assert.True(exit == 0, error);
        var service = InjectRunner.LoadStrict(output).Typed.OfType<V1Service>().Single();
        Assert.Equal("envoy-inbound", service.Spec.Ports.Single().TargetPort.Value);
    }
}
