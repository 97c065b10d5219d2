using EnvoyReaper.TestSupport.Injection;
using k8s.Models;

namespace EnvoyReaper.Cli.Tests;

/// <summary>
/// The planner's behaviour on real shapes (issue 10, items 1, 5, 6, 11) as a GitOps user gets it: the shared injection
/// corpus through `envoy-reaper inject`, its output read strictly.
/// </summary>
public sealed class InjectRealShapesTests
{
    private static async Task<(List<object> Typed, string Error)> InjectAsync(string corpusFile, params string[] options)
    {
        var (exit, output, error) = await InjectRunner.RunAsync(null, ["inject", "-f", InjectionCorpus.PathOf(corpusFile), .. options]);
        Assert.True(exit == 0, error);
        return (InjectRunner.LoadStrict(output).Typed, error);
    }

    private static string Bootstrap(List<object> typed, string deployment) =>
        typed.OfType<V1ConfigMap>().Single(map => map.Metadata.Name == $"{deployment}-envoy").Data["envoy.yaml"];

    [Fact]
    public async Task A_named_target_port_is_pointed_at_Envoy_and_remembered_by_name()
    {
        var (typed, _) = await InjectAsync("podinfo.yaml", "--app-port", "9898");

        var service = typed.OfType<V1Service>().Single(item => item.Metadata.Name == "podinfo");
        var http = service.Spec.Ports.Single(port => port.Name == "http");
        Assert.Equal("envoy-inbound", http.TargetPort.Value);
        Assert.Contains("\"http\"", service.Metadata.Annotations["envoy-reaper/original-target-port"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_grpc_service_gets_an_http2_upstream_and_a_plain_tcp_one_does_not()
    {
        var (typed, _) = await InjectAsync("grpc-microservices.yaml");

        Assert.Contains("http2_protocol_options", Bootstrap(typed, "checkoutservice"), StringComparison.Ordinal);
        Assert.All(typed.OfType<V1Service>(), service => Assert.All(service.Spec.Ports, port => Assert.Equal("envoy-inbound", port.TargetPort.Value)));
    }

    [Fact]
    public async Task Tcp_and_udp_on_one_port_each_go_to_an_Envoy_port_of_their_own_protocol()
    {
        var (typed, _) = await InjectAsync("game-server.yaml", "--app-port", "7777");

        var ports = typed.OfType<V1Service>().Single().Spec.Ports;
        Assert.Equal("envoy-inbound", ports.Single(port => port.Protocol is null or "TCP").TargetPort.Value);
        Assert.Equal("envoy-udp", ports.Single(port => port.Protocol == "UDP").TargetPort.Value);
        Assert.Contains("udp_proxy", Bootstrap(typed, "simple-game-server"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_pod_that_met_restricted_Pod_Security_meets_it_after_injection()
    {
        var (typed, _) = await InjectAsync("restricted.yaml");

        var deployment = typed.OfType<V1Deployment>().Single();
        Assert.Contains(deployment.Spec.Template.Spec.Containers, container => container.Name == "envoy");
        Assert.Empty(RestrictedPodSecurity.Violations(deployment.Spec.Template.Spec));
    }
}
