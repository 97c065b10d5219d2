using EnvoyReaper.Kubernetes.Waking;
using EnvoyReaper.TestSupport.Kubernetes;
using EnvoyReaper.Waking;
using k8s;
using k8s.Models;

namespace EnvoyReaper.Kubernetes.Tests.Waking;

/// <summary>The waker's read-only view of Services, through the real client against the fake API server.</summary>
public sealed class ServiceMetadataReaderTests : IAsyncLifetime
{
    private readonly CancellationTokenSource timeout = new(TimeSpan.FromSeconds(20));
    private FakeKubernetesApiServer server = null!;
    private k8s.Kubernetes client = null!;

    private CancellationToken Ct => timeout.Token;

    public async Task InitializeAsync()
    {
        server = await FakeKubernetesApiServer.StartAsync(TimeProvider.System);
        client = new k8s.Kubernetes(server.ClientConfiguration());
    }

    public async Task DisposeAsync()
    {
        client.Dispose();
        timeout.Dispose();
        await server.DisposeAsync();
    }

    private void SeedService(string @namespace, string name, bool parked) => server.Seed(new V1Service
    {
        ApiVersion = "v1",
        Kind = "Service",
        Metadata = new V1ObjectMeta
        {
            Name = name,
            NamespaceProperty = @namespace,
            Labels = parked ? new Dictionary<string, string> { [ParkingContract.ParkedLabel] = "true" } : null,
            Annotations = new Dictionary<string, string> { [ParkingContract.DeploymentAnnotation] = name },
        },
        Spec = new V1ServiceSpec { Ports = [new V1ServicePort { Name = "http", Port = 80 }] },
    });

    [Fact]
    public async Task Lists_only_the_parked_Services_of_every_namespace_across_pages_with_their_annotations()
    {
        SeedService("team-a", "alpha", parked: true);
        SeedService("team-a", "plain", parked: false);
        SeedService("team-b", "beta", parked: true);
        SeedService("team-c", "gamma", parked: true);

        var listing = await new ServiceMetadataReader(client).ListAsync(null, ParkingContract.ParkedSelector, pageSize: 1, maxItems: 100, Ct);

        Assert.False(listing.Truncated);
        Assert.NotNull(listing.ResourceVersion);
        Assert.Equal(["team-a/alpha", "team-b/beta", "team-c/gamma"], listing.Services.Select(service => $"{service.Namespace}/{service.Name}").Order(StringComparer.Ordinal));
        Assert.All(listing.Services, service => Assert.Equal(service.Name, service.Annotations[ParkingContract.DeploymentAnnotation]));
        Assert.True(server.Requests.Count(request => request.Path == "/api/v1/services") >= 3, "one request per page");
    }

    [Fact]
    public async Task A_namespace_list_sees_only_that_namespace_and_the_bound_truncates()
    {
        for (var index = 0; index < 5; index++)
        {
            SeedService("team-a", $"svc-{index}", parked: true);
        }

        SeedService("team-b", "other", parked: true);
        var reader = new ServiceMetadataReader(client);

        var inTeamA = await reader.ListAsync("team-a", ParkingContract.ParkedSelector, pageSize: 2, maxItems: 100, Ct);
        var bounded = await reader.ListAsync(null, ParkingContract.ParkedSelector, pageSize: 2, maxItems: 3, Ct);

        Assert.Equal(5, inTeamA.Services.Count);
        Assert.All(inTeamA.Services, service => Assert.Equal("team-a", service.Namespace));
        Assert.True(bounded.Truncated);
        Assert.Equal(3, bounded.Services.Count);
    }

    [Fact]
    public async Task An_expired_continue_token_starts_the_list_again_once_then_fails()
    {
        for (var index = 0; index < 4; index++)
        {
            SeedService("team-a", $"svc-{index}", parked: true);
        }

        var listing = await ListWithCompactionsAsync(compactions: 1);
        Assert.Equal(4, listing.Services.Count);
        Assert.Single(server.Requests, request => request.StatusCode == 410);

        server.ResetRecording();
        var exception = await Assert.ThrowsAsync<k8s.Autorest.HttpOperationException>(() => ListWithCompactionsAsync(compactions: 2));
        Assert.Equal(System.Net.HttpStatusCode.Gone, exception.Response.StatusCode);
        Assert.Equal(2, server.Requests.Count(request => request.StatusCode == 410));
    }

    /// <summary>Lists with a client that expires the continue tokens (as an etcd compaction) before the first <paramref name="compactions"/> continued pages.</summary>
    private async Task<ServiceListing> ListWithCompactionsAsync(int compactions)
    {
        using var compacting = new k8s.Kubernetes(server.ClientConfiguration(), new CompactBeforeContinue(server, compactions));
        return await new ServiceMetadataReader(compacting).ListAsync(null, ParkingContract.ParkedSelector, pageSize: 2, maxItems: 100, Ct);
    }

    private sealed class CompactBeforeContinue(FakeKubernetesApiServer server, int compactions) : DelegatingHandler
    {
        private int remaining = compactions;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.RequestUri!.Query.Contains("continue=", StringComparison.Ordinal) && remaining-- > 0)
            {
                server.ExpireContinueTokens();
            }

            return base.SendAsync(request, cancellationToken);
        }
    }

    [Fact]
    public async Task Get_reads_one_Service_and_answers_null_when_it_does_not_exist()
    {
        SeedService("team-a", "alpha", parked: true);
        var reader = new ServiceMetadataReader(client);

        var found = await reader.GetAsync("team-a", "alpha", Ct);

        Assert.Equal("true", found!.Labels[ParkingContract.ParkedLabel]);
        Assert.Null(await reader.GetAsync("team-a", "missing", Ct));
    }
}
