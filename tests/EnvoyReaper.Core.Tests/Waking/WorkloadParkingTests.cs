using System.Text.Json.Nodes;
using EnvoyReaper.Cluster;
using EnvoyReaper.Waking;

namespace EnvoyReaper.Core.Tests.Waking;

/// <summary>Which Services can be parked (wake answers HTTP), and when a woken Deployment counts as available.</summary>
public sealed class WorkloadParkingTests
{
    private static ClusterObject Service(string portJson, bool selector = true) => new(ResourceKind.Service, "previews", "web", "uid", "1",
        JsonNode.Parse("{\"kind\":\"Service\",\"metadata\":{\"name\":\"web\"},\"spec\":{" + (selector ? "\"selector\":{\"app\":\"web\"}," : string.Empty) + "\"ports\":[" + portJson + "]}}")!.AsObject());

    [Theory]
    [InlineData("""{"name":"http","port":80}""")]
    [InlineData("""{"name":"http-web","port":9000}""")]
    [InlineData("""{"port":8080}""")]
    [InlineData("""{"name":"web","port":9000,"appProtocol":"http"}""")]
    public void An_HTTP_Service_can_be_parked(string port) => Assert.Null(WorkloadParking.Refusal([Service(port)]));

    [Theory]
    [InlineData("""{"name":"postgres","port":5432}""", "not HTTP")]
    [InlineData("""{"name":"web","port":9000}""", "not HTTP")]
    [InlineData("""{"name":"http","port":80,"appProtocol":"kubernetes.io/h2c"}""", "not HTTP")]
    [InlineData("""{"name":"dns","port":53,"protocol":"UDP"}""", "is UDP")]
    public void A_Service_that_is_not_plain_HTTP_is_refused_with_the_port_and_why(string port, string why)
    {
        var refusal = WorkloadParking.Refusal([Service(port)]);
        Assert.NotNull(refusal);
        Assert.Contains(why, refusal);
        Assert.Contains("Service web port", refusal);
    }

    [Fact]
    public void No_Service_or_one_without_selector_is_refused()
    {
        Assert.Contains("no Service", WorkloadParking.Refusal([]));
        Assert.Contains("no selector", WorkloadParking.Refusal([Service("""{"name":"http","port":80}""", selector: false)]));
    }

    [Theory]
    [InlineData("""{"metadata":{"generation":2},"spec":{"replicas":1},"status":{"observedGeneration":2,"availableReplicas":1,"conditions":[{"type":"Available","status":"True"}]}}""", true)]
    [InlineData("""{"metadata":{"generation":3},"spec":{"replicas":1},"status":{"observedGeneration":2,"availableReplicas":1,"conditions":[{"type":"Available","status":"True"}]}}""", false)]
    [InlineData("""{"metadata":{"generation":2},"spec":{"replicas":0},"status":{"observedGeneration":2,"conditions":[{"type":"Available","status":"True"}]}}""", false)]
    [InlineData("""{"metadata":{"generation":2},"spec":{"replicas":2},"status":{"observedGeneration":2,"availableReplicas":0,"conditions":[{"type":"Available","status":"False"}]}}""", false)]
    public void A_Deployment_is_available_for_its_current_generation_with_a_replica_up(string manifest, bool expected)
    {
        var deployment = new ClusterObject(ResourceKind.Deployment, "previews", "web", "uid", "1", JsonNode.Parse(manifest)!.AsObject());
        Assert.Equal(expected, WakeProcessor.Availability(deployment).Available);
    }
}
