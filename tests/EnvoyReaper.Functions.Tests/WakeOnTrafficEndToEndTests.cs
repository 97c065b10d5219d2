using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using EnvoyReaper.Functions.Tests.Support;
using EnvoyReaper.Kubernetes.Waking;
using EnvoyReaper.Messaging;
using EnvoyReaper.TestSupport.Envoy;
using EnvoyReaper.TestSupport.Kubernetes;
using EnvoyReaper.TestSupport.Storage;
using EnvoyReaper.Waker;
using EnvoyReaper.Waking;
using k8s;
using k8s.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace EnvoyReaper.Functions.Tests;

/// <summary>
/// Wake on traffic with both real sides together (issue 13): the reaper's functions (teardown, Park, Wake) and the real
/// waker app, against one fake API server and Azurite, with a fake app on 127.0.0.1 as the workload's pod. Every request
/// is routed as kube-proxy routes it: by the fake's <see cref="FakeKubernetesApiServer.RoutedEndpoints"/> view of the
/// Service (its selector's ready pods and every EndpointSlice of it), the waker's address to the waker, the pod's to the
/// app. So "the request reaches the app" means the cluster sent it to the workload's pod, not that a test dialled it.
/// </summary>
[Collection(AzuriteStorage.CollectionName)]
public sealed class WakeOnTrafficEndToEndTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Namespace = "previews";
    private const string Service = "pr-7-service";
    private const string WakerAddress = "10.9.0.7";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    private readonly CancellationTokenSource timeout = new(TimeSpan.FromMinutes(2));
    private readonly List<string> connections = [];
    private readonly int wakerPort = FreePort();
    private ReaperTestHost host = null!;
    private FakeEnvoyFleet envoys = null!;
    private WebApplication waker = null!;
    private WebApplication app = null!;
    private int appPort;
    private string directory = null!;

    private CancellationToken Ct => timeout.Token;

    public async Task InitializeAsync()
    {
        // One waker port in each side's range: the only port parking can hand out, free on this machine.
        var range = wakerPort.ToString(CultureInfo.InvariantCulture);
        host = await ReaperTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Waker:ReadyTimeout"] = "00:02:00",
            ["Waker:PortRangeStart"] = range,
            ["Waker:PortRangeEnd"] = range,
        });
        envoys = await FakeEnvoyFleet.StartAsync(1);
        envoys.Pods[0].SetListener("0.0.0.0_15001", active: 0, total: 3);
        SeedWakerEndpoints();
        (app, appPort) = await StartAppAsync();

        directory = Directory.CreateTempSubdirectory("waker-e2e-").FullName;
        waker = WakerApplication.Build([], new Dictionary<string, string?>
        {
            ["Kubernetes:Mode"] = "KubeConfig",
            ["Kubernetes:KubeConfigPath"] = host.Api.WriteKubeConfig(directory),
            ["Waker:ListenAddress"] = "127.0.0.1",
            ["Waker:HealthPort"] = "0",
            ["Waker:PortRangeStart"] = range,
            ["Waker:PortRangeEnd"] = range,
            ["Waker:RefreshInterval"] = "00:00:00.100",
            ["Waker:HoldTimeout"] = "00:00:50",
            ["Waker:ServiceDnsSuffix"] = "localhost",
            ["Waker:QueueConnection"] = AzuriteStorage.ConnectionString,
            ["Logging:LogLevel:Default"] = "Warning",
        }, services => services.AddHttpClient(RequestForwarder.ClientName)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false, ConnectCallback = ConnectThroughClusterAsync }));
        await waker.StartAsync(Ct);
    }

    public async Task DisposeAsync()
    {
        await waker.StopAsync(CancellationToken.None);
        await waker.DisposeAsync();
        await app.StopAsync(CancellationToken.None);
        await app.DisposeAsync();
        await envoys.DisposeAsync();
        await host.DisposeAsync();
        timeout.Dispose();
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    // ---------------------------------------------------------------- The whole flow

    [Theory]
    [InlineData("scale-to-zero")]
    [InlineData("delete")]
    public async Task An_idle_workload_is_parked_woken_by_a_browser_request_with_one_wake_and_the_next_request_reaches_the_app(string action)
    {
        Seed(action);

        await ReapAsync();

        AssertParked(action);
        await WaitUntilAsync(() => WakerPorts.Contains(wakerPort), "the waker listens on the parked Service's waker port");
        using var client = ClusterClient();
        var firstRequest = Stopwatch.StartNew();

        using var page = await GetAsync(client, "text/html,application/xhtml+xml");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, page.StatusCode);
        Assert.Contains("Waking up pr-7", await page.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal($"127.0.0.1:{wakerPort.ToString(CultureInfo.InvariantCulture)}", Assert.Single(Connections));
        var wake = Assert.Single(await WakeMessagesAsync());
        Assert.Equal((Namespace, Service), (wake.Namespace, wake.Service));

        await WakeAsync();
        var ready = firstRequest.Elapsed;

        AssertUnparked();
        Assert.Single(Events("WakeRequested"));
        Assert.Single(Events("Woken"));
        using var next = await GetAsync(client, "text/html");
        Assert.Equal(HttpStatusCode.Created, next.StatusCode);
        Assert.Equal("hello from the app: GET /cart", await next.Content.ReadAsStringAsync(Ct));
        Assert.Equal($"127.0.0.1:{appPort.ToString(CultureInfo.InvariantCulture)}", Connections[^1]);
        Assert.Empty(await WakeMessagesAsync());
        output.WriteLine($"{action}: first request to ready (wall clock, Azurite's 1 s visibility delay included): {ready.TotalMilliseconds:F0} ms");
    }

    [Fact]
    public async Task With_the_hold_option_the_held_request_is_forwarded_through_the_Service_to_the_app_once_the_workload_is_back()
    {
        Seed("scale-to-zero", hold: true);
        await ReapAsync();
        AssertParked("scale-to-zero");
        await WaitUntilAsync(() => WakerPorts.Contains(wakerPort), "the waker listens on the parked Service's waker port");
        using var client = ClusterClient();

        var held = GetAsync(client, "application/json");
        await WaitUntilAsync(() => AzuriteStorage.PeekRawAsync(QueueNames.Wake).Result.Count > 0, "the waker sends a wake");
        Assert.False(held.IsCompleted, "the request must be held while the workload is parked");

        await WakeAsync();
        using var response = await held.WaitAsync(Bound, Ct);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("hello from the app: GET /cart", await response.Content.ReadAsStringAsync(Ct));
        // The client reached the waker; the waker's forward went through the unparked Service to the pod, never back to itself.
        Assert.Equal([$"127.0.0.1:{wakerPort.ToString(CultureInfo.InvariantCulture)}", $"127.0.0.1:{appPort.ToString(CultureInfo.InvariantCulture)}"], Connections);
        AssertUnparked();
    }

    [Fact]
    public async Task A_hundred_concurrent_first_requests_give_one_wake_message_and_one_restore()
    {
        Seed("delete");
        await ReapAsync();
        AssertParked("delete");
        await WaitUntilAsync(() => WakerPorts.Contains(wakerPort), "the waker listens on the parked Service's waker port");
        using var client = ClusterClient();

        var answers = await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => GetAsync(client, "text/html")));

        Assert.All(answers, answer => Assert.Equal(HttpStatusCode.ServiceUnavailable, answer.StatusCode));
        foreach (var answer in answers)
        {
            answer.Dispose();
        }

        Assert.Single(await WakeMessagesAsync());
        host.Api.ResetRecording();
        await WakeAsync();
        Assert.Single(host.Api.Requests, request => request is { Method: "POST" } && request.Path.EndsWith("/deployments", StringComparison.Ordinal));
        Assert.Single(Events("WakeRequested"));
        AssertUnparked();
    }

    // ---------------------------------------------------------------- What did not opt in is never parked nor woken

    [Fact]
    public async Task A_workload_without_the_opt_in_is_not_parked_the_waker_serves_nothing_and_a_forged_wake_does_nothing()
    {
        Seed("scale-to-zero", wake: false);
        await ReapAsync();
        Assert.Equal(0, host.Api.Get<V1Deployment>(Namespace, "pr-7")!.Spec.Replicas);
        Assert.Equal("pr-7", ServiceObject()["spec"]!["selector"]!["app"]!.GetValue<string>());
        Assert.Null(ParkedSlice());
        await waker.Services.GetRequiredService<ParkingDirectory>().NextRefreshAsync().WaitAsync(Bound, Ct);
        Assert.Empty(WakerPorts);
        host.Api.ResetRecording();

        await host.Create<Wake>().Run(ReaperTestHost.Delivery("forged", ReaperJson.Serialize(
            new WakeMessage(WakeMessage.CurrentVersion, Guid.NewGuid().ToString("N"), DateTimeOffset.UtcNow, Namespace, Service))), CancellationToken.None);

        Assert.Equal(0, host.Api.Get<V1Deployment>(Namespace, "pr-7")!.Spec.Replicas);
        Assert.Equal(0, host.Api.WriteCount);
        Assert.Empty(Events("WakeRequested"));
    }

    // ---------------------------------------------------------------- The contract between the two sides

    [Theory]
    [InlineData("scale-to-zero", false, false)]
    [InlineData("delete", true, false)]
    [InlineData("scale-to-zero", false, true)]
    public async Task A_Service_parked_by_the_Park_function_is_accepted_by_the_wakers_strict_parser(string action, bool hold, bool unnamedPort)
    {
        Seed(action, hold: hold);
        if (unnamedPort)
        {
            using var client = new k8s.Kubernetes(host.Api.ClientConfiguration());
            await client.CoreV1.PatchNamespacedServiceAsync(
                new V1Patch("""{"spec":{"ports":[{"port":80,"targetPort":15001,"protocol":"TCP"}]}}""", V1Patch.PatchType.MergePatch), Service, Namespace, cancellationToken: Ct);
        }

        await ReapAsync();

        var parkedService = ServiceObject();
        var metadata = new ServiceMetadata(
            Namespace,
            Service,
            ((JsonObject)parkedService["metadata"]!["labels"]!).ToDictionary(pair => pair.Key, pair => pair.Value!.GetValue<string>()),
            ((JsonObject)parkedService["metadata"]!["annotations"]!).ToDictionary(pair => pair.Key, pair => pair.Value!.GetValue<string>()));
        var accepted = ParkedServiceParser.TryParse(metadata, wakerPort, wakerPort, out var parked, out var problem);

        Assert.True(accepted, problem);
        Assert.Equal(("pr-7", hold), (parked!.Deployment, parked.Hold));
        Assert.Equal([new ParkedPort(80, unnamedPort ? null : "http", wakerPort)], parked.Ports);
    }

    // ---------------------------------------------------------------- The world

    private void Seed(string action, bool wake = true, bool hold = false)
    {
        var annotations = new Dictionary<string, string>
        {
            ["envoy-reaper/stats-port"] = envoys.Port.ToString(CultureInfo.InvariantCulture),
            ["envoy-reaper/action"] = action,
            ["envoy-reaper/wake"] = wake ? "true" : "false",
        };
        if (hold)
        {
            annotations["envoy-reaper/wake-hold"] = "true";
        }

        host.Api.SeedWorkload(Namespace, "pr-7", [envoys.Pods[0].Ip], annotations, createdAt: host.Time.GetUtcNow().UtcDateTime.AddHours(-1));
    }

    private Task ReapAsync() => host.RunCyclesAsync(13, envoys);

    /// <summary>
    /// What the Functions host does with the waker's message, and the Deployment controller meanwhile: the Wake function
    /// scales back or restores and queues its check (Azurite's visibility delay is real time); the controller reports the
    /// new generation available; the check unparks.
    /// </summary>
    private async Task WakeAsync()
    {
        Assert.NotNull(await host.DeliverNextWakeAsync());
        Assert.Equal(1, host.Api.Get<V1Deployment>(Namespace, "pr-7")!.Spec.Replicas);
        if (WorkloadPodAddresses().Count == 0)
        {
            host.Api.StartPods(Namespace, "pr-7", ["10.244.3.17"]); // a restored Deployment: its old pods went with it
        }

        host.Api.ReportRollout(Namespace, "pr-7", DeploymentRollout.Complete);
        Assert.NotNull(await host.DeliverNextWakeAsync());
    }

    private void SeedWakerEndpoints() => host.Api.SeedJson("discovery.k8s.io", "v1", "endpointslices", new JsonObject
    {
        ["metadata"] = new JsonObject
        {
            ["name"] = "envoy-reaper-waker-x7k2p",
            ["namespace"] = "envoy-reaper",
            ["labels"] = new JsonObject { ["kubernetes.io/service-name"] = "envoy-reaper-waker", ["endpointslice.kubernetes.io/managed-by"] = "endpointslice-controller.k8s.io" },
        },
        ["addressType"] = "IPv4",
        ["ports"] = new JsonArray(new JsonObject { ["name"] = "health", ["port"] = 8080, ["protocol"] = "TCP" }),
        ["endpoints"] = new JsonArray(new JsonObject { ["addresses"] = new JsonArray(WakerAddress), ["conditions"] = new JsonObject { ["ready"] = true } }),
    });

    private IReadOnlyCollection<int> WakerPorts => waker.Services.GetRequiredService<WakerPortsTransport>().ListeningPorts;

    private IReadOnlyList<string> Connections
    {
        get
        {
            lock (connections)
            {
                return connections.ToList();
            }
        }
    }

    /// <summary>
    /// The cluster's network for <c>{service}.{namespace}.localhost:{port}</c> (the tests' DNS suffix): kube-proxy sends the
    /// connection to an endpoint of that Service port (the first, so a waker endpoint left next to the pods would be
    /// taken, as kube-proxy may); the waker's address is the waker on 127.0.0.1, the pod's address the app.
    /// </summary>
    private async ValueTask<Stream> ConnectThroughClusterAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var parts = context.DnsEndPoint.Host.Split('.');
        if (parts is not [var service, var @namespace, "localhost"])
        {
            throw new HttpRequestException($"the test cluster resolves only <service>.<namespace>.localhost, not {context.DnsEndPoint.Host}");
        }

        var servicePort = (host.Api.Get("", "v1", "services", @namespace, service)?["spec"]?["ports"] as JsonArray ?? [])
            .FirstOrDefault(port => port?["port"]?.GetValue<int>() == context.DnsEndPoint.Port)
            ?? throw new HttpRequestException($"Service {@namespace}/{service} has no port {context.DnsEndPoint.Port}");
        var routes = host.Api.RoutedEndpoints(@namespace, service).GetValueOrDefault(servicePort["name"]?.GetValue<string>() ?? string.Empty) ?? [];
        var route = routes.FirstOrDefault() ?? throw new HttpRequestException($"Service {@namespace}/{service} has no ready endpoint");
        var separator = route.LastIndexOf(':');
        var (address, port) = (route[..separator], int.Parse(route[(separator + 1)..], CultureInfo.InvariantCulture));
        var target = address == WakerAddress ? port
            : WorkloadPodAddresses().Contains(address) ? appPort
            : throw new HttpRequestException($"endpoint {route} is neither the waker nor the workload's pod");
        lock (connections)
        {
            connections.Add($"127.0.0.1:{target.ToString(CultureInfo.InvariantCulture)}");
        }

        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(IPAddress.Loopback, target, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>A client in the cluster (or the Ingress controller) talking to the Service by its name.</summary>
    private HttpClient ClusterClient() => new(new SocketsHttpHandler { UseProxy = false, PooledConnectionLifetime = TimeSpan.Zero, ConnectCallback = ConnectThroughClusterAsync }) { Timeout = Bound };

    private Task<HttpResponseMessage> GetAsync(HttpClient client, string accept)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"http://{Service}.{Namespace}.localhost/cart"));
        request.Headers.Host = "pr-7.example.com";
        request.Headers.TryAddWithoutValidation("Accept", accept);
        request.Headers.ConnectionClose = true;
        return client.SendAsync(request, Ct);
    }

    private static async Task<(WebApplication App, int Port)> StartAppAsync()
    {
        var port = FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.Run(async context =>
        {
            context.Response.StatusCode = 201;
            await context.Response.WriteAsync($"hello from the app: {context.Request.Method} {context.Request.Path}", context.RequestAborted);
        });
        await app.StartAsync();
        return (app, port);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The wake messages on the queue, decoded as the queue trigger decodes them (Base64, then JSON).</summary>
    private static async Task<IReadOnlyList<WakeMessage>> WakeMessagesAsync() =>
        (await AzuriteStorage.PeekRawAsync(QueueNames.Wake))
            .Select(message => System.Text.Json.JsonSerializer.Deserialize<WakeMessage>(Encoding.UTF8.GetString(Convert.FromBase64String(message.MessageText)), ReaperJson.Options)!)
            .ToList();

    private async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        for (var attempt = 0; attempt < 500; attempt++)
        {
            if (condition())
            {
                return;
            }

            await Task.Delay(20, Ct);
        }

        Assert.Fail($"not within 10 s: {what}");
    }

    private JsonObject ServiceObject() => host.Api.Get("", "v1", "services", Namespace, Service)!;

    private JsonObject? ParkedSlice() => host.Api.Get("discovery.k8s.io", "v1", "endpointslices", Namespace, ParkingContract.EndpointSliceName(Service));

    private IReadOnlyList<JsonObject> Events(string reason) =>
        host.Api.List("", "v1", "events", Namespace).Where(item => item["reason"]!.GetValue<string>() == reason).ToList();

    private void AssertParked(string action)
    {
        var service = ServiceObject();
        Assert.Null(service["spec"]!["selector"]);
        Assert.Equal(action, service["metadata"]!["annotations"]![ParkingContract.ActionAnnotation]!.GetValue<string>());
        Assert.Equal("""{"app":"pr-7"}""", service["metadata"]!["annotations"]![ParkingContract.SelectorAnnotation]!.GetValue<string>());
        Assert.NotNull(ParkedSlice());
        Assert.Equal([$"{WakerAddress}:{wakerPort.ToString(CultureInfo.InvariantCulture)}"], host.Api.RoutedEndpoints(Namespace, Service)["http"]);
        if (action == "delete")
        {
            Assert.False(host.Api.Exists<V1Deployment>(Namespace, "pr-7"));
        }
        else
        {
            Assert.Equal(0, host.Api.Get<V1Deployment>(Namespace, "pr-7")!.Spec.Replicas);
        }
    }

    private void AssertUnparked()
    {
        var service = ServiceObject();
        Assert.Equal("pr-7", service["spec"]!["selector"]!["app"]!.GetValue<string>());
        Assert.Null(service["metadata"]!["labels"]?[ParkingContract.ParkedLabel]);
        Assert.Null(ParkedSlice());
        var routes = host.Api.RoutedEndpoints(Namespace, Service)["http"];
        Assert.NotEmpty(routes);
        Assert.All(routes, route => Assert.Contains(route[..route.LastIndexOf(':')], WorkloadPodAddresses()));
    }

    /// <summary>The addresses of the workload's pods (its Deployment's selector), whatever made them.</summary>
    private IReadOnlyList<string> WorkloadPodAddresses() =>
        host.Api.List("", "v1", "pods", Namespace)
            .Where(pod => pod["metadata"]?["labels"]?["app"]?.GetValue<string>() == "pr-7")
            .Select(pod => pod["status"]?["podIP"]?.GetValue<string>())
            .OfType<string>()
            .ToList();
}
