using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using EnvoyReaper.Messaging;
using EnvoyReaper.TestSupport.Kubernetes;
using EnvoyReaper.TestSupport.Storage;
using EnvoyReaper.Waking;
using k8s;
using k8s.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace EnvoyReaper.Waker.Tests;

/// <summary>
/// The waker as Program.cs builds it, on 127.0.0.1, against the fake API server (through a kubeconfig, as outside a
/// cluster) and this test process's Azurite. Services are parked in the fake as the reaper parks them.
/// </summary>
public sealed class WakerTestHost : IAsyncDisposable
{
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private readonly string directory = Path.Combine(Path.GetTempPath(), "waker-tests-" + Guid.NewGuid().ToString("N"));
    private readonly CancellationTokenSource timeout = new(Bound);

    private WakerTestHost(FakeKubernetesApiServer api, k8s.Kubernetes client)
    {
        Api = api;
        Client = client;
    }

    public FakeKubernetesApiServer Api { get; }

    /// <summary>A client with the reaper's rights, to park and unpark Services as it does.</summary>
    public k8s.Kubernetes Client { get; }

    public WebApplication App { get; private set; } = null!;

    public int HealthPort { get; private set; }

    public CancellationToken Ct => timeout.Token;

    public static async Task<WakerTestHost> StartAsync(Dictionary<string, string?>? settings = null)
    {
        await AzuriteStorage.ResetQueuesAsync(QueueNames.Wake);
        var api = await FakeKubernetesApiServer.StartAsync(TimeProvider.System);
        var host = new WakerTestHost(api, new k8s.Kubernetes(api.ClientConfiguration()));
        var all = new Dictionary<string, string?>
        {
            ["Kubernetes:Mode"] = "KubeConfig",
            ["Kubernetes:KubeConfigPath"] = api.WriteKubeConfig(host.directory),
            ["Waker:ListenAddress"] = "127.0.0.1",
            ["Waker:HealthPort"] = "0",
            ["Waker:PortRangeStart"] = "1024",
            ["Waker:PortRangeEnd"] = "65535",
            ["Waker:RefreshInterval"] = "00:00:00.100",
            ["Waker:RetryAfterSeconds"] = "7",
            ["Waker:ServiceDnsSuffix"] = "localhost",
            ["Waker:QueueConnection"] = AzuriteStorage.ConnectionString,
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in settings ?? [])
        {
            all[key] = value;
        }

        host.App = WakerApplication.Build([], all, services => services.AddHttpClient(RequestForwarder.ClientName)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false, ConnectCallback = host.ConnectToLoopbackAsync }));
        await host.App.StartAsync(host.Ct);
        var address = host.App.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses
            .Select(value => Uri.TryCreate(value, UriKind.Absolute, out var uri) ? uri : null)
            .First(uri => uri is { Port: > 0 })!;
        host.HealthPort = address.Port;
        return host;
    }

    /// <summary>Every host:port the forwarder connected to.</summary>
    public IReadOnlyList<string> ForwardConnections
    {
        get
        {
            lock (forwardConnections)
            {
                return forwardConnections.ToList();
            }
        }
    }

    private readonly List<string> forwardConnections = [];

    /// <summary>
    /// The forwarder's DNS in the tests: names under "localhost" are loopback (RFC 6761), which .NET's resolver does
    /// not apply to subdomains; anything else is refused, so a forward elsewhere fails the test.
    /// </summary>
    private async ValueTask<Stream> ConnectToLoopbackAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var endpoint = context.DnsEndPoint;
        lock (forwardConnections)
        {
            forwardConnections.Add($"{endpoint.Host}:{endpoint.Port.ToString(CultureInfo.InvariantCulture)}");
        }

        if (!endpoint.Host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase))
        {
            throw new HttpRequestException($"the tests resolve only *.localhost, not {endpoint.Host}");
        }

        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(IPAddress.Loopback, endpoint.Port, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public WakerPortsTransport Transport => App.Services.GetRequiredService<WakerPortsTransport>();

    public ParkingDirectory Directory => App.Services.GetRequiredService<ParkingDirectory>();

    /// <summary>A port nothing listens on now, for a waker port or a fake app.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>A Service as parking leaves it: selector saved and removed, label, every annotation, one waker port.</summary>
    public V1Service Park(string @namespace, string name, int wakerPort, int servicePort = 80, bool hold = false, Action<IDictionary<string, string>>? edit = null, bool label = true)
    {
        var annotations = new Dictionary<string, string>
        {
            [ParkingContract.SelectorAnnotation] = """{"app":"NAME"}""".Replace("NAME", name, StringComparison.Ordinal),
            [ParkingContract.DeploymentAnnotation] = name,
            [ParkingContract.ActionAnnotation] = "scale-to-zero",
            [ParkingContract.ParkedAtAnnotation] = "2026-12-03T06:00:00Z",
            [ParkingContract.WakerPortsAnnotation] = string.Create(CultureInfo.InvariantCulture, $$"""[{"port":{{servicePort}},"name":"http","wakerPort":{{wakerPort}}}]"""),
        };
        if (hold)
        {
            annotations[ParkingContract.HoldAnnotation] = "true";
        }

        edit?.Invoke(annotations);
        return Api.Seed(new V1Service
        {
            ApiVersion = "v1",
            Kind = "Service",
            Metadata = new V1ObjectMeta
            {
                Name = name,
                NamespaceProperty = @namespace,
                Labels = label ? new Dictionary<string, string> { [ParkingContract.ParkedLabel] = "true", ["app.kubernetes.io/name"] = name } : new Dictionary<string, string> { ["app.kubernetes.io/name"] = name },
                Annotations = annotations,
            },
            Spec = new V1ServiceSpec { Ports = [new V1ServicePort { Name = "http", Port = servicePort, TargetPort = 8080 }] },
        });
    }

    /// <summary>What the wake function does last: the label and the parking annotations go, the selector comes back.</summary>
    public async Task UnparkAsync(string @namespace, string name)
    {
        var body = new System.Text.Json.Nodes.JsonObject
        {
            ["metadata"] = new System.Text.Json.Nodes.JsonObject
            {
                ["labels"] = new System.Text.Json.Nodes.JsonObject { [ParkingContract.ParkedLabel] = null },
                ["annotations"] = new System.Text.Json.Nodes.JsonObject { [ParkingContract.WakerPortsAnnotation] = null },
            },
            ["spec"] = new System.Text.Json.Nodes.JsonObject { ["selector"] = new System.Text.Json.Nodes.JsonObject { ["app"] = name } },
        };
        var patch = new V1Patch(body.ToJsonString(), V1Patch.PatchType.MergePatch);
        await Client.CoreV1.PatchNamespacedServiceAsync(patch, name, @namespace, cancellationToken: Ct);
    }

    /// <summary>Waits (bounded) until the waker listens on <paramref name="port"/>, or, with <paramref name="listening"/> false, no longer does.</summary>
    public async Task WaitForPortAsync(int port, bool listening = true)
    {
        for (var attempt = 0; attempt < 300; attempt++)
        {
            if (Transport.ListeningPorts.Contains(port) == listening)
            {
                return;
            }

            await Task.Delay(20, Ct);
        }

        Assert.Fail($"the waker {(listening ? "does not listen" : "still listens")} on port {port}");
    }

    /// <summary>Waits for <paramref name="count"/> more successful lists of the parked Services.</summary>
    public async Task WaitForRefreshesAsync(int count)
    {
        for (var index = 0; index < count; index++)
        {
            await Directory.NextRefreshAsync().WaitAsync(Bound, Ct);
        }
    }

    public static HttpClient HttpClient() => new(new SocketsHttpHandler { UseProxy = false, PooledConnectionLifetime = TimeSpan.Zero }) { Timeout = Bound };

    public static Task<HttpResponseMessage> GetAsync(HttpClient client, int port, string pathAndQuery = "/", string? accept = null, string host = "shop.example.com")
    {
        var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}{pathAndQuery}"));
        request.Headers.Host = host;
        if (accept is not null)
        {
            request.Headers.TryAddWithoutValidation("Accept", accept);
        }

        return client.SendAsync(request);
    }

    /// <summary>The wake messages on the queue, decoded as the queue trigger decodes them (Base64, then JSON).</summary>
    public static async Task<IReadOnlyList<WakeMessage>> WakeMessagesAsync()
    {
        var raw = await AzuriteStorage.PeekRawAsync(QueueNames.Wake);
        return raw.Select(message =>
        {
            var json = Encoding.UTF8.GetString(Convert.FromBase64String(message.MessageText));
            Assert.True(MessageReaderForWake(json, out var wake), $"not a wake message: {json}");
            return wake!;
        }).ToList();
    }

    private static bool MessageReaderForWake(string json, out WakeMessage? message)
    {
        message = System.Text.Json.JsonSerializer.Deserialize<WakeMessage>(json, ReaperJson.Options);
        return message is { Version: WakeMessage.CurrentVersion } && Guid.TryParseExact(message.Id, "N", out _);
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync(CancellationToken.None);
        await App.DisposeAsync();
        Client.Dispose();
        await Api.DisposeAsync();
        timeout.Dispose();
        try
        {
            System.IO.Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>The workload behind the parked Service once it is back: a Kestrel app on 127.0.0.1 that records what it gets.</summary>
public sealed class FakeApp : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly List<(string Method, string PathAndQuery, string Host, string Body)> requests = [];

    private FakeApp(WebApplication app, int port)
    {
        this.app = app;
        Port = port;
    }

    public int Port { get; }

    public IReadOnlyList<(string Method, string PathAndQuery, string Host, string Body)> Requests
    {
        get
        {
            lock (requests)
            {
                return requests.ToList();
            }
        }
    }

    public static async Task<FakeApp> StartAsync(CancellationToken cancellationToken)
    {
        var port = WakerTestHost.FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var fake = new FakeApp(app, port);
        app.Run(async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            var body = await reader.ReadToEndAsync(context.RequestAborted);
            lock (fake.requests)
            {
                fake.requests.Add((context.Request.Method, context.Request.Path + context.Request.QueryString, context.Request.Host.Value ?? "", body));
            }

            context.Response.StatusCode = 201;
            context.Response.Headers["X-App"] = "woken";
            await context.Response.WriteAsync($"hello from the app: {context.Request.Method} {context.Request.Path}{context.Request.QueryString} {body}", context.RequestAborted);
        });
        await app.StartAsync(cancellationToken);
        return fake;
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync(CancellationToken.None);
        await app.DisposeAsync();
    }
}
