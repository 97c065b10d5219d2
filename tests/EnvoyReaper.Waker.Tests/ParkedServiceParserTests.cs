using EnvoyReaper.Kubernetes.Waking;
using EnvoyReaper.Waking;

namespace EnvoyReaper.Waker.Tests;

/// <summary>Only a Service with the label and every annotation parking writes, each well formed, is a parking.</summary>
public sealed class ParkedServiceParserTests
{
    private static Dictionary<string, string> Annotations() => new()
    {
        [ParkingContract.SelectorAnnotation] = """{"app":"web"}""",
        [ParkingContract.DeploymentAnnotation] = "web",
        [ParkingContract.ActionAnnotation] = "delete",
        [ParkingContract.SnapshotAnnotation] = "shop-web-20261203T050000Z",
        [ParkingContract.ParkedAtAnnotation] = "2026-12-03T05:00:00Z",
        [ParkingContract.HoldAnnotation] = "true",
        [ParkingContract.WakerPortsAnnotation] = """[{"port":80,"name":"http","wakerPort":20000},{"port":8443,"name":null,"wakerPort":20001}]""",
    };

    private static ServiceMetadata Service(Dictionary<string, string> annotations, string parked = "true", string name = "web") =>
        new("shop", name, new Dictionary<string, string> { [ParkingContract.ParkedLabel] = parked }, annotations);

    [Fact]
    public void A_complete_parking_is_read_with_its_ports_and_hold_option()
    {
        Assert.True(ParkedServiceParser.TryParse(Service(Annotations()), 20000, 20999, out var workload, out var problem), problem);

        Assert.Equal(("shop", "web", "web", true), (workload!.Namespace, workload.Service, workload.Deployment, workload.Hold));
        Assert.Equal([new ParkedPort(80, "http", 20000), new ParkedPort(8443, null, 20001)], workload.Ports);
        Assert.Equal("shop/web@2026-12-03T05:00:00Z", workload.Key);
    }

    [Theory]
    [InlineData("label-false", "")]
    [InlineData("remove", "envoy-reaper/parked-selector")]
    [InlineData("remove", "envoy-reaper/parked-deployment")]
    [InlineData("remove", "envoy-reaper/parked-action")]
    [InlineData("remove", "envoy-reaper/parked-snapshot")]
    [InlineData("remove", "envoy-reaper/parked-at")]
    [InlineData("remove", "envoy-reaper/waker-ports")]
    [InlineData("envoy-reaper/parked-selector", "[\"app\"]")]
    [InlineData("envoy-reaper/parked-selector", "{}")]
    [InlineData("envoy-reaper/parked-deployment", "Web App")]
    [InlineData("envoy-reaper/parked-action", "shrink")]
    [InlineData("envoy-reaper/parked-at", "yesterday")]
    [InlineData("envoy-reaper/parked-hold", "yes")]
    [InlineData("envoy-reaper/waker-ports", "[]")]
    [InlineData("envoy-reaper/waker-ports", "{\"port\":80}")]
    [InlineData("envoy-reaper/waker-ports", "[{\"port\":80,\"name\":\"http\"}]")]
    [InlineData("envoy-reaper/waker-ports", "[{\"port\":80,\"name\":\"http\",\"wakerPort\":19999}]")]
    [InlineData("envoy-reaper/waker-ports", "[{\"port\":80,\"name\":\"http\",\"wakerPort\":21000}]")]
    [InlineData("envoy-reaper/waker-ports", "[{\"port\":0,\"name\":\"http\",\"wakerPort\":20000}]")]
    [InlineData("envoy-reaper/waker-ports", "[{\"port\":80,\"name\":\"a\",\"wakerPort\":20000},{\"port\":81,\"name\":\"b\",\"wakerPort\":20000}]")]
    public void A_Service_missing_or_misstating_any_part_of_the_parking_is_not_a_parking(string annotation, string value)
    {
        var annotations = Annotations();
        var parked = "true";
        switch (annotation)
        {
            case "label-false":
                parked = "false";
                break;
            case "remove":
                annotations.Remove(value);
                break;
            default:
                annotations[annotation] = value;
                break;
        }

        Assert.False(ParkedServiceParser.TryParse(Service(annotations, parked), 20000, 20999, out var workload, out var problem));
        Assert.Null(workload);
        Assert.False(string.IsNullOrWhiteSpace(problem));
    }

    [Fact]
    public void A_scale_to_zero_parking_needs_no_snapshot()
    {
        var annotations = Annotations();
        annotations[ParkingContract.ActionAnnotation] = "scale-to-zero";
        annotations.Remove(ParkingContract.SnapshotAnnotation);
        annotations.Remove(ParkingContract.HoldAnnotation);

        Assert.True(ParkedServiceParser.TryParse(Service(annotations), 20000, 20999, out var workload, out _));
        Assert.False(workload!.Hold);
    }
}
