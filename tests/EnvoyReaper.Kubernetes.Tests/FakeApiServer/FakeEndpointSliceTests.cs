using System.Net;
using System.Text.Json.Nodes;
using EnvoyReaper.TestSupport.Kubernetes;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace EnvoyReaper.Kubernetes.Tests.FakeApiServer;

/// <summary>discovery.k8s.io/v1 EndpointSlices on the fake, as the API server serves them, and kube-proxy's view of a Service.</summary>
public sealed class FakeEndpointSliceTests : IAsyncLifetime
{
    private FakeKubernetesApiServer server = null!;
    private k8s.Kubernetes client = null!;

    public async Task InitializeAsync()
    {
        server = await FakeKubernetesApiServer.StartAsync();
        client = new k8s.Kubernetes(server.ClientConfiguration());
    }

    public async Task DisposeAsync()
    {
        client.Dispose();
        await server.DisposeAsync();
    }

    private static V1EndpointSlice Slice(string name, string service, string manager, params string[] addresses) => new()
    {
        Metadata = new V1ObjectMeta
        {
            Name = name,
            Labels = new Dictionary<string, string> { ["kubernetes.io/service-name"] = service, ["endpointslice.kubernetes.io/managed-by"] = manager },
        },
        AddressType = "IPv4",
        Ports = [new Discoveryv1EndpointPort { Name = "http", Port = 20000, Protocol = "TCP" }],
        Endpoints = addresses.Select(address => new V1Endpoint { Addresses = [address], Conditions = new V1EndpointConditions { Ready = true } }).ToList(),
    };

    [Fact]
    public async Task EndpointSlices_are_created_listed_by_label_replaced_under_their_resourceVersion_and_deleted()
    {
        server.Seed(new V1Namespace { Metadata = new V1ObjectMeta { Name = "previews" } });
        var created = await client.DiscoveryV1.CreateNamespacedEndpointSliceAsync(Slice("web-envoy-waker", "web", "envoy-reaper", "10.9.0.7"), "previews");
        await client.DiscoveryV1.CreateNamespacedEndpointSliceAsync(Slice("other-abc", "other", "endpointslice-controller.k8s.io", "10.1.0.1"), "previews");

        var ours = await client.DiscoveryV1.ListEndpointSliceForAllNamespacesAsync(labelSelector: "endpointslice.kubernetes.io/managed-by=envoy-reaper");
        Assert.Equal(["web-envoy-waker"], ours.Items.Select(item => item.Metadata.Name));

        created.Endpoints = [new V1Endpoint { Addresses = ["10.9.0.8"] }];
        var replaced = await client.DiscoveryV1.ReplaceNamespacedEndpointSliceAsync(created, "web-envoy-waker", "previews");
        Assert.Equal("10.9.0.8", replaced.Endpoints.Single().Addresses.Single());
        var stale = await Assert.ThrowsAsync<HttpOperationException>(() => client.DiscoveryV1.ReplaceNamespacedEndpointSliceAsync(created, "web-envoy-waker", "previews"));
        Assert.Equal(HttpStatusCode.Conflict, stale.Response.StatusCode);

        var deleted = await client.DiscoveryV1.DeleteNamespacedEndpointSliceAsync("web-envoy-waker", "previews");
        Assert.Equal("Success", deleted.Status);
        Assert.Null(server.Get("discovery.k8s.io", "v1", "endpointslices", "previews", "web-envoy-waker"));
    }

    [Theory]
    [InlineData("no addressType", """{"metadata":{"name":"x"},"endpoints":[]}""", "addressType")]
    [InlineData("an endpoint without address", """{"metadata":{"name":"x"},"addressType":"IPv4","endpoints":[{"addresses":[]}]}""", "endpoints[0].addresses")]
    [InlineData("an IPv6 address in an IPv4 slice", """{"metadata":{"name":"x"},"addressType":"IPv4","endpoints":[{"addresses":["fd00::1"]}]}""", "endpoints[0].addresses[0]")]
    [InlineData("a port number out of range", """{"metadata":{"name":"x"},"addressType":"IPv4","endpoints":[],"ports":[{"name":"http","port":70000}]}""", "ports[0].port")]
    public async Task An_invalid_EndpointSlice_is_refused_with_422_naming_the_field(string description, string json, string field)
    {
        server.Seed(new V1Namespace { Metadata = new V1ObjectMeta { Name = "previews" } });
        using var http = new HttpClient { BaseAddress = server.BaseAddress };

        using var response = await http.PostAsync("apis/discovery.k8s.io/v1/namespaces/previews/endpointslices", new StringContent(json, System.Text.Encoding.UTF8, "application/json"));

        Assert.True(response.StatusCode == HttpStatusCode.UnprocessableEntity, description);
        var causes = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["details"]!["causes"]!.AsArray();
        Assert.Contains(causes, cause => cause!["field"]!.GetValue<string>() == field);
    }

    [Fact]
    public void A_Service_routes_to_its_selected_ready_pods_and_to_every_slice_labelled_with_its_name()
    {
        server.SeedWorkload("previews", "web", ["10.0.0.5"], withIngress: false);
        Assert.Equal(["10.0.0.5:15001"], server.RoutedEndpoints("previews", "web-service")["http"]);

        var slice = Slice("web-service-envoy-waker", "web-service", "envoy-reaper", "10.9.0.7");
        slice.Metadata.NamespaceProperty = "previews";
        server.Seed(slice);
        var routes = server.RoutedEndpoints("previews", "web-service")["http"];

        // kube-proxy merges every slice of the Service: why parking removes the selector before pointing it at the waker.
        Assert.Equal(["10.0.0.5:15001", "10.9.0.7:20000"], routes);
    }
}
