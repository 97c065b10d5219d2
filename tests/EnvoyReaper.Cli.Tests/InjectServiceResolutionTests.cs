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

    [Theory]
    [InlineData("StatefulSet", "apps/v1")]
    [InlineData("DaemonSet", "apps/v1")]
    [InlineData("ReplicaSet", "apps/v1")]
    public async Task A_Service_that_also_selects_the_pods_of_another_kind_of_workload_is_refused_naming_it(string kind, string apiVersion)
    {
        var manifest = $$"""
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: web
            spec:
              selector:
                matchLabels: { app: web }
              template:
                metadata:
                  labels: { app: web, track: stable }
                spec:
                  containers:
                    - name: app
                      image: registry.example.com/web:1
                      ports:
                        - name: http
                          containerPort: 8080
            ---
            apiVersion: {{apiVersion}}
            kind: {{kind}}
            metadata:
              name: web-other
            spec:
              selector:
                matchLabels: { app: web, track: other }
              template:
                metadata:
                  labels: { app: web, track: other }
                spec:
                  containers:
                    - name: app
                      image: registry.example.com/web:1
                      ports:
                        - name: http
                          containerPort: 8080
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

        var (exit, output, error) = await InjectRunner.RunAsync(null, "inject", "-f", Write(manifest), "--app-port", "8080");

        // Pointed at envoy-inbound, the Service would lose every pod of web-other: they have no port of that name.
        Assert.True(exit != 0, output);
        Assert.Contains($"{kind} web-other", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bare_Pod_the_Service_selects_is_named_in_the_refusal_too()
    {
        const string manifest = """
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
                        - containerPort: 8080
            ---
            apiVersion: v1
            kind: Pod
            metadata:
              name: web-debug
              labels: { app: web }
            spec:
              containers:
                - name: app
                  image: registry.example.com/web:1
            ---
            apiVersion: v1
            kind: Service
            metadata:
              name: web
            spec:
              selector: { app: web }
              ports:
                - port: 80
                  targetPort: 8080
            """;

        var (exit, output, error) = await InjectRunner.RunAsync(null, "inject", "-f", Write(manifest), "--app-port", "8080");

        Assert.True(exit != 0, output);
        Assert.Contains("Pod web-debug", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ipFamilyPolicy: RequireDualStack")]
    [InlineData("ipFamilyPolicy: PreferDualStack")]
    [InlineData("ipFamilies: [IPv6]")]
    public async Task A_Service_that_can_carry_IPv6_gets_an_Envoy_listening_on_IPv6_too(string family)
    {
        var manifest = $$"""
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
            ---
            apiVersion: v1
            kind: Service
            metadata:
              name: web
            spec:
              {{family}}
              selector: { app: web }
              ports:
                - name: http
                  port: 80
                  targetPort: http
            """;

        var (exit, output, error) = await InjectRunner.RunAsync(null, "inject", "-f", Write(manifest), "--app-port", "8080");

        // An Envoy on 0.0.0.0 only would refuse every IPv6 client the Service sends to envoy-inbound.
        Assert.True(exit == 0, error);
        var typed = InjectRunner.LoadStrict(output).Typed;
        Assert.Equal("envoy-inbound", typed.OfType<V1Service>().Single().Spec.Ports.Single().TargetPort.Value);
        var bootstrap = typed.OfType<V1ConfigMap>().Single().Data["envoy.yaml"];
        Assert.Contains("address: \"::\"", bootstrap, StringComparison.Ordinal);
        Assert.Contains("ipv4_compat: true", bootstrap, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_PreferDualStack_Service_the_cluster_made_IPv4_only_keeps_an_Envoy_on_IPv4()
    {
        // What the API server returns on a single-stack cluster: the families it allocated win over the policy, and an
        // Envoy binding "::" on a node without IPv6 would never start.
        var manifest = TwoPortsNamedHttp.Replace("kind: Service\nmetadata:\n  name: web\nspec:\n", "kind: Service\nmetadata:\n  name: web\nspec:\n  ipFamilyPolicy: PreferDualStack\n  ipFamilies: [IPv4]\n", StringComparison.Ordinal);
        Assert.Contains("ipFamilies: [IPv4]", manifest, StringComparison.Ordinal);

        var (exit, output, error) = await InjectRunner.RunAsync(null, "inject", "-f", Write(manifest), "--app-port", "8080");

        Assert.True(exit == 0, error);
        var bootstrap = InjectRunner.LoadStrict(output).Typed.OfType<V1ConfigMap>().Single().Data["envoy.yaml"];
        Assert.DoesNotContain("ipv4_compat", bootstrap, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_IPv4_only_Service_keeps_an_Envoy_on_IPv4()
    {
        var (exit, output, error) = await InjectRunner.RunAsync(null, "inject", "-f", Write(TwoPortsNamedHttp), "--app-port", "8080");

        Assert.True(exit == 0, error);
        var bootstrap = InjectRunner.LoadStrict(output).Typed.OfType<V1ConfigMap>().Single().Data["envoy.yaml"];
        Assert.DoesNotContain("ipv4_compat", bootstrap, StringComparison.Ordinal);
    }

    // The app's own port is not declared (Kubernetes does not require it); only the metrics port is.
    private const string UndeclaredAppPort = """
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
                    - name: metrics
                      containerPort: 9090
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
              targetPort: 8080
            - name: metrics
              port: 9090
              targetPort: metrics
        """;

    [Fact]
    public async Task An_app_port_guessed_from_the_declared_ports_is_refused_when_a_Service_sends_users_to_another_port()
    {
        var (exit, output, error) = await InjectRunner.RunAsync(null, "inject", "-f", Write(UndeclaredAppPort));

        // Injected for 9090, the users of port 80 (8080) would bypass Envoy and the workload would look idle while in use.
        Assert.True(exit != 0, output);
        Assert.Contains("--app-port", error, StringComparison.Ordinal);
        Assert.Contains("8080", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_Service_port_that_reaches_another_port_of_the_pods_is_a_warning_when_the_app_port_is_given()
    {
        var (exit, _, error) = await InjectRunner.RunAsync(null, "inject", "-f", Write(UndeclaredAppPort), "--app-port", "8080");

        Assert.True(exit == 0, error);
        Assert.Contains("Service web port metrics", error, StringComparison.Ordinal);
    }
}
