using System.Net;
using System.Net.Sockets;
using EnvoyReaper.TestSupport.Storage;
using EnvoyReaper.Waking;

namespace EnvoyReaper.Waker.Tests;

/// <summary>
/// The waker end to end: Services parked in the fake API server, wake messages on Azurite's "wake" queue, a fake app on
/// 127.0.0.1 behind the Service once it is unparked.
/// </summary>
[Collection(AzuriteStorage.CollectionName)]
public sealed class WakeOnTrafficTests
{
    private const string Browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

    [Fact]
    public async Task A_browser_request_gets_the_self_refreshing_waking_page_and_exactly_one_wake_message()
    {
        await using var host = await WakerTestHost.StartAsync();
        var port = WakerTestHost.FreePort();
        host.Park("shop", "web", port, edit: annotations => annotations[ParkingContract.DeploymentAnnotation] = "web");
        await host.WaitForPortAsync(port);
        using var client = WakerTestHost.HttpClient();
        var before = DateTimeOffset.UtcNow;

        using var response = await WakerTestHost.GetAsync(client, port, "/cart", Browser);
        using var again = await WakerTestHost.GetAsync(client, port, "/cart", Browser);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(TimeSpan.FromSeconds(7), response.Headers.RetryAfter?.Delta);
        var page = await response.Content.ReadAsStringAsync(host.Ct);
        Assert.Contains("<title>Waking up web…</title>", page, StringComparison.Ordinal);
        Assert.Matches("<meta http-equiv=\"refresh\" content=\"[1-9][0-9]*\">", page);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, again.StatusCode);

        var wake = Assert.Single(await WakerTestHost.WakeMessagesAsync());
        Assert.Equal(("shop", "web", WakeMessage.CurrentVersion), (wake.Namespace, wake.Service, wake.Version));
        Assert.InRange(wake.FirstRequestAt, before.AddSeconds(-1), DateTimeOffset.UtcNow.AddSeconds(1));
    }

    [Fact]
    public async Task The_page_HTML_encodes_the_names_it_shows()
    {
        var workload = new ParkedWorkload("shop", "web", "<script>alert(1)</script>", "2026-12-03T06:00:00Z", false, [new ParkedPort(80, "http", 20001)]);

        var page = WakePage.Render(workload, 5);

        Assert.DoesNotContain("<script>", page, StringComparison.Ordinal);
        Assert.Contains("&lt;script&gt;", page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_that_is_not_a_browser_gets_503_with_Retry_After_and_the_same_single_wake()
    {
        await using var host = await WakerTestHost.StartAsync();
        var port = WakerTestHost.FreePort();
        host.Park("shop", "api", port);
        await host.WaitForPortAsync(port);
        using var client = WakerTestHost.HttpClient();

        using var response = await WakerTestHost.GetAsync(client, port, "/v1/items", "application/json");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(7), response.Headers.RetryAfter?.Delta);
        Assert.NotEqual("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("api", Assert.Single(await WakerTestHost.WakeMessagesAsync()).Service);
    }

    [Fact]
    public async Task A_hundred_concurrent_first_requests_send_one_wake_message()
    {
        await using var host = await WakerTestHost.StartAsync();
        var port = WakerTestHost.FreePort();
        host.Park("shop", "web", port);
        await host.WaitForPortAsync(port);
        using var client = WakerTestHost.HttpClient();

        var responses = await Task.WhenAll(Enumerable.Range(0, 100).Select(async index =>
        {
            using var response = await WakerTestHost.GetAsync(client, port, $"/item/{index}", index % 2 == 0 ? Browser : null);
            return response.StatusCode;
        }));

        Assert.All(responses, status => Assert.Equal(HttpStatusCode.ServiceUnavailable, status));
        Assert.Single(await WakerTestHost.WakeMessagesAsync());
    }

    [Fact]
    public async Task A_request_on_a_port_that_maps_to_nothing_is_404_and_wakes_nothing()
    {
        await using var host = await WakerTestHost.StartAsync();
        var parked = WakerTestHost.FreePort();
        host.Park("shop", "web", parked);
        await host.WaitForPortAsync(parked);
        var unmapped = WakerTestHost.FreePort();

        // A port listened on with no parking behind it: between a refresh that dropped a parking and the closing of its port.
        await host.Transport.SetPortsAsync(new HashSet<int> { parked, unmapped }, host.Ct);
        using var client = WakerTestHost.HttpClient();
        using var response = await WakerTestHost.GetAsync(client, unmapped, "/", Browser, host: "web.shop.svc");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Empty(await WakerTestHost.WakeMessagesAsync());

        // The next refresh closes it again.
        await host.WaitForPortAsync(unmapped, listening: false);
    }

    [Theory]
    [InlineData("no-selector")]
    [InlineData("no-deployment")]
    [InlineData("no-parked-at")]
    [InlineData("delete-without-snapshot")]
    [InlineData("ports-not-json")]
    [InlineData("not-labelled")]
    public async Task A_Service_without_the_reapers_parking_is_never_listened_for_nor_woken(string flaw)
    {
        await using var host = await WakerTestHost.StartAsync();
        var good = WakerTestHost.FreePort();
        var bad = WakerTestHost.FreePort();
        host.Park("shop", "good", good);
        host.Park("shop", "bad", bad, label: flaw != "not-labelled", edit: annotations =>
        {
            switch (flaw)
            {
                case "no-selector": annotations.Remove(ParkingContract.SelectorAnnotation); break;
                case "no-deployment": annotations.Remove(ParkingContract.DeploymentAnnotation); break;
                case "no-parked-at": annotations.Remove(ParkingContract.ParkedAtAnnotation); break;
                case "delete-without-snapshot": annotations[ParkingContract.ActionAnnotation] = "delete"; break;
                case "ports-not-json": annotations[ParkingContract.WakerPortsAnnotation] = $"{bad}"; break;
            }
        });
        await host.WaitForPortAsync(good);
        await host.WaitForRefreshesAsync(3);

        Assert.DoesNotContain(bad, host.Transport.ListeningPorts);
        Assert.Null(host.Directory.Find(bad));
        using var tcp = new TcpClient();
        await Assert.ThrowsAnyAsync<SocketException>(() => tcp.ConnectAsync(IPAddress.Loopback, bad, host.Ct).AsTask());
        Assert.Empty(await WakerTestHost.WakeMessagesAsync());
    }

    [Fact]
    public async Task Two_parkings_claiming_one_waker_port_are_neither_served()
    {
        await using var host = await WakerTestHost.StartAsync();
        var shared = WakerTestHost.FreePort();
        var other = WakerTestHost.FreePort();
        host.Park("shop", "web", shared);
        host.Park("team", "web", shared);
        host.Park("shop", "other", other);
        await host.WaitForPortAsync(other);
        await host.WaitForRefreshesAsync(2);

        Assert.DoesNotContain(shared, host.Transport.ListeningPorts);
        Assert.Null(host.Directory.Find(shared));
        Assert.Empty(await WakerTestHost.WakeMessagesAsync());
    }

    [Fact]
    public async Task No_more_than_the_bound_of_waker_ports_is_listened_on_the_earliest_parkings_first()
    {
        await using var host = await WakerTestHost.StartAsync(new() { ["Waker:MaxWakerPorts"] = "1" });
        var early = WakerTestHost.FreePort();
        var late = WakerTestHost.FreePort();
        host.Park("shop", "late", late, edit: annotations => annotations[ParkingContract.ParkedAtAnnotation] = "2026-12-03T06:30:00Z");
        host.Park("shop", "early", early, edit: annotations => annotations[ParkingContract.ParkedAtAnnotation] = "2026-12-03T05:30:00Z");
        await host.WaitForPortAsync(early);
        await host.WaitForRefreshesAsync(2);

        Assert.Equal([early], host.Transport.ListeningPorts);
    }

    [Fact]
    public async Task With_the_hold_option_the_held_request_is_forwarded_once_to_the_Service_when_it_is_unparked()
    {
        await using var host = await WakerTestHost.StartAsync(new() { ["Waker:HoldTimeout"] = "00:00:20" });
        await using var app = await FakeApp.StartAsync(host.Ct);
        var port = WakerTestHost.FreePort();
        host.Park("shop", "web", port, servicePort: app.Port, hold: true);
        await host.WaitForPortAsync(port);
        using var client = WakerTestHost.HttpClient();

        var held = WakerTestHost.GetAsync(client, port, "/cart?item=7", "application/json", host: "shop.example.com");
        for (var attempt = 0; attempt < 200 && (await WakerTestHost.WakeMessagesAsync()).Count == 0; attempt++)
        {
            await Task.Delay(25, host.Ct);
        }

        Assert.Single(await WakerTestHost.WakeMessagesAsync());
        await host.WaitForRefreshesAsync(2);
        Assert.False(held.IsCompleted, "the request must be held while the Service is parked");
        Assert.Empty(app.Requests);

        await host.UnparkAsync("shop", "web");
        using var response = await held.WaitAsync(WakerTestHost.Bound, host.Ct);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("woken", Assert.Single(response.Headers.GetValues("X-App")));
        Assert.Equal("hello from the app: GET /cart?item=7 ", await response.Content.ReadAsStringAsync(host.Ct));
        var forwarded = Assert.Single(app.Requests);
        Assert.Equal(("GET", "/cart?item=7", "shop.example.com"), (forwarded.Method, forwarded.PathAndQuery, forwarded.Host));
        Assert.Equal([$"web.shop.localhost:{app.Port}"], host.ForwardConnections);
        Assert.Single(await WakerTestHost.WakeMessagesAsync());
    }

    [Fact]
    public async Task Many_held_requests_are_each_forwarded_once_after_one_read_of_the_unparked_Service()
    {
        await using var host = await WakerTestHost.StartAsync(new() { ["Waker:HoldTimeout"] = "00:00:20" });
        await using var app = await FakeApp.StartAsync(host.Ct);
        var port = WakerTestHost.FreePort();
        host.Park("shop", "web", port, servicePort: app.Port, hold: true);
        await host.WaitForPortAsync(port);
        using var client = WakerTestHost.HttpClient();

        var held = Enumerable.Range(0, 20).Select(index => WakerTestHost.GetAsync(client, port, $"/item/{index}", "application/json")).ToList();
        await host.WaitForRefreshesAsync(3);
        Assert.All(held, request => Assert.False(request.IsCompleted));
        await host.UnparkAsync("shop", "web");
        var responses = await Task.WhenAll(held).WaitAsync(WakerTestHost.Bound, host.Ct);

        Assert.All(responses, response => Assert.Equal(HttpStatusCode.Created, response.StatusCode));
        Assert.Equal(Enumerable.Range(0, 20).Select(index => $"/item/{index}").Order(StringComparer.Ordinal), app.Requests.Select(request => request.PathAndQuery).Order(StringComparer.Ordinal));
        Assert.Single(await WakerTestHost.WakeMessagesAsync());
        var reads = host.Api.Requests.Count(request => request.Method == "GET" && request.Path == "/api/v1/namespaces/shop/services/web");
        Assert.True(reads is >= 1 and <= 2, $"{reads} reads of the Service for 20 held requests: the confirmation is not shared");
        foreach (var response in responses)
        {
            response.Dispose();
        }
    }

    [Fact]
    public async Task A_held_request_whose_workload_is_not_back_in_time_gets_503_with_Retry_After()
    {
        await using var host = await WakerTestHost.StartAsync(new() { ["Waker:HoldTimeout"] = "00:00:01" });
        await using var app = await FakeApp.StartAsync(host.Ct);
        var port = WakerTestHost.FreePort();
        host.Park("shop", "web", port, servicePort: app.Port, hold: true);
        await host.WaitForPortAsync(port);
        using var client = WakerTestHost.HttpClient();

        using var response = await WakerTestHost.GetAsync(client, port, "/cart", "application/json");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(7), response.Headers.RetryAfter?.Delta);
        Assert.Empty(app.Requests);
        Assert.Single(await WakerTestHost.WakeMessagesAsync());
    }

    [Fact]
    public async Task A_woken_Service_is_no_longer_listened_for()
    {
        await using var host = await WakerTestHost.StartAsync();
        var port = WakerTestHost.FreePort();
        host.Park("shop", "web", port);
        await host.WaitForPortAsync(port);

        await host.UnparkAsync("shop", "web");

        await host.WaitForPortAsync(port, listening: false);
        Assert.Null(host.Directory.Find(port));
    }

    [Fact]
    public async Task The_health_port_answers_live_and_ready_and_no_wake()
    {
        await using var host = await WakerTestHost.StartAsync();
        await host.WaitForRefreshesAsync(1);
        using var client = WakerTestHost.HttpClient();

        using var live = await WakerTestHost.GetAsync(client, host.HealthPort, "/healthz/live");
        using var ready = await WakerTestHost.GetAsync(client, host.HealthPort, "/healthz/ready");
        using var other = await WakerTestHost.GetAsync(client, host.HealthPort, "/", Browser);

        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
        Assert.Empty(await WakerTestHost.WakeMessagesAsync());
    }

    [Fact]
    public async Task A_connection_that_may_only_add_queue_messages_is_enough_to_send_the_wake()
    {
        await using var host = await WakerTestHost.StartAsync(new() { ["Waker:QueueConnection"] = AddOnlyQueueConnectionString() });
        var port = WakerTestHost.FreePort();
        host.Park("shop", "web", port);
        await host.WaitForPortAsync(port);
        using var client = WakerTestHost.HttpClient();

        using var response = await WakerTestHost.GetAsync(client, port, "/", "application/json");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("web", Assert.Single(await WakerTestHost.WakeMessagesAsync()).Service);
    }

    /// <summary>An account SAS for the queue service that may only add messages: what the waker's Secret should hold.</summary>
    private static string AddOnlyQueueConnectionString()
    {
        var parts = AzuriteStorage.ConnectionString.Split(';', StringSplitOptions.RemoveEmptyEntries)
            .Select(part => part.Split('=', 2))
            .ToDictionary(pair => pair[0], pair => pair.Length > 1 ? pair[1] : string.Empty, StringComparer.OrdinalIgnoreCase);
        var credential = new Azure.Storage.StorageSharedKeyCredential(parts["AccountName"], parts["AccountKey"]);
        var sas = new Azure.Storage.Sas.AccountSasBuilder(
            Azure.Storage.Sas.AccountSasPermissions.Add,
            DateTimeOffset.UtcNow.AddHours(1),
            Azure.Storage.Sas.AccountSasServices.Queues,
            Azure.Storage.Sas.AccountSasResourceTypes.Object) { Protocol = Azure.Storage.Sas.SasProtocol.HttpsAndHttp }
            .ToSasQueryParameters(credential).ToString();
        return $"QueueEndpoint={parts["QueueEndpoint"]};SharedAccessSignature={sas}";
    }

    /// <summary>Every request the waker makes to the API server, recorded while it serves and forwards, is allowed by the RBAC of its manifest.</summary>
    [Fact]
    public async Task Every_API_request_of_the_waker_is_allowed_by_the_RBAC_of_its_manifest_and_none_writes()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Functions.sln")))
        {
            root = root.Parent;
        }

        var manifests = EnvoyReaper.TestSupport.Kubernetes.Authorization.FunctionAppManifests.Load(
            [Path.Combine(root!.FullName, "infra", "k8s", "rbac.yaml"), Path.Combine(root.FullName, "infra", "k8s", "waker", "waker.yaml")]);
        var identity = EnvoyReaper.TestSupport.Kubernetes.Authorization.FunctionAppManifests.IdentityOf(manifests.Deployments.Single(deployment => deployment.Metadata.Name == "envoy-reaper-waker"));
        await using var host = await WakerTestHost.StartAsync(new() { ["Waker:HoldTimeout"] = "00:00:20" });
        await using var app = await FakeApp.StartAsync(host.Ct);
        var port = WakerTestHost.FreePort();
        host.Park("shop", "web", port, servicePort: app.Port, hold: true);
        await host.WaitForPortAsync(port);
        using var client = WakerTestHost.HttpClient();
        var held = WakerTestHost.GetAsync(client, port, "/", "application/json");
        await host.WaitForRefreshesAsync(2);

        var beforeUnpark = host.Api.Requests.Count;
        await host.UnparkAsync("shop", "web");
        var unpark = host.Api.Requests.Skip(beforeUnpark).First(request => request.Method == "PATCH");
        using var response = await held.WaitAsync(WakerTestHost.Bound, host.Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);

        var made = host.Api.Requests.Where(request => !ReferenceEquals(request, unpark)).Select(EnvoyReaper.TestSupport.Kubernetes.Authorization.RequestAttributes.From).ToList();
        Assert.Contains(made, request => request.Verb == "list" && request.Resource == "services" && request.Namespace.Length == 0);
        Assert.Contains(made, request => request.Verb == "get" && request.Resource == "services" && request.Namespace == "shop");
        var policy = manifests.Policy();
        Assert.All(made, request => Assert.True(policy.Authorize(identity, request).Allowed, $"the waker's RBAC refuses {request}"));
        Assert.All(made, request => Assert.Contains(request.Verb, new[] { "get", "list", "watch" }));
    }
}
