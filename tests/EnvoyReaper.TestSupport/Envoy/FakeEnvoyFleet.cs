using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace EnvoyReaper.TestSupport.Envoy;

/// <summary>
/// Many fake Envoy pods behind ONE Kestrel server: each pod has its own loopback address (127.x.y.z, from
/// <see cref="LoopbackAddressAllocator"/>), all on the same port, and each request is routed by the address it
/// arrived on (<see cref="ConnectionInfo.LocalIpAddress"/>). Plain HTTP/1.1, like Envoy's admin.
/// </summary>
public sealed class FakeEnvoyFleet : IAsyncDisposable
{
    private const int MaxBindAttempts = 5;

    private readonly WebApplication _app;
    private readonly CancellationTokenSource _stopping;
    private readonly Dictionary<IPAddress, FakeEnvoy> _byAddress;
    private int _disposed;

    private FakeEnvoyFleet(WebApplication app, CancellationTokenSource stopping, int port, FakeEnvoy[] pods)
    {
        _app = app;
        _stopping = stopping;
        Port = port;
        Pods = pods;
        _byAddress = pods.ToDictionary(p => p.Address);
    }

    /// <summary>The port every pod listens on.</summary>
    public int Port { get; }

    /// <summary>The pods, in allocation order.</summary>
    public IReadOnlyList<FakeEnvoy> Pods { get; }

    /// <summary>
    /// Starts <paramref name="podCount"/> pods. The port is chosen by binding 127.0.0.1:0; the server then listens on
    /// that port at every pod address. If some address:port is taken, another port is tried (at most 5 times).
    /// </summary>
    public static async Task<FakeEnvoyFleet> StartAsync(int podCount, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(podCount, 1);
        IPAddress[] addresses = Enumerable.Range(0, podCount).Select(_ => LoopbackAddressAllocator.Allocate()).ToArray();
        for (int attempt = 1; ; attempt++)
        {
            int port = PickPort();
            var stopping = new CancellationTokenSource();
            FakeEnvoy[] pods = addresses.Select(a => new FakeEnvoy(a, port, stopping.Token)).ToArray();
            FakeEnvoyFleet? fleet = null;
            WebApplication app = Build(port, pods, () => fleet!);
            fleet = new FakeEnvoyFleet(app, stopping, port, pods);
            try
            {
                await app.StartAsync(cancellationToken).ConfigureAwait(false);
                return fleet;
            }
            catch (Exception ex) when (attempt < MaxBindAttempts && IsAddressInUse(ex))
            {
                await fleet.DisposeAsync().ConfigureAwait(false);
            }
            catch
            {
                await fleet.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
    }

    /// <summary>Stops the server; requests in progress (e.g. delayed ones) are cut short.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            await _app.DisposeAsync().ConfigureAwait(false);
            _stopping.Dispose();
        }
    }

    private static WebApplication Build(int port, FakeEnvoy[] pods, Func<FakeEnvoyFleet> fleet)
    {
        WebApplicationBuilder builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = typeof(FakeEnvoyFleet).Assembly.GetName().Name });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(1));
        builder.WebHost.UseKestrelCore();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            foreach (FakeEnvoy pod in pods)
            {
                kestrel.Listen(pod.Address, port, listen =>
                {
                    listen.Protocols = HttpProtocols.Http1;
                    listen.Use(next => connection => fleet().OnConnectionAsync(connection, next));
                });
            }
        });

        WebApplication app = builder.Build();
        app.Run(context => fleet().OnRequestAsync(context));
        return app;
    }

    private FakeEnvoy? Find(EndPoint? local) =>
        local is IPEndPoint ip && _byAddress.TryGetValue(ip.Address.IsIPv4MappedToIPv6 ? ip.Address.MapToIPv4() : ip.Address, out FakeEnvoy? pod) ? pod : null;

    private async Task OnConnectionAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        FakeEnvoy? pod = Find(connection.LocalEndPoint);
        if (pod is null)
        {
            connection.Abort();
            return;
        }

        if (!pod.TryOpenAdminConnection(out bool countedOnStatsListener))
        {
            // Fault Refused: RST right away (SO_LINGER 0 makes close abortive), before any byte is read.
            Socket? socket = connection.Features.Get<IConnectionSocketFeature>()?.Socket;
            if (socket is not null)
            {
                socket.LingerState = new LingerOption(true, 0);
                socket.Close();
            }

            connection.Abort();
            return;
        }

        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            pod.CloseAdminConnection(countedOnStatsListener);
        }
    }

    private Task OnRequestAsync(HttpContext context)
    {
        FakeEnvoy? pod = context.Connection.LocalIpAddress is { } local ? Find(new IPEndPoint(local, Port)) : null;
        if (pod is null)
        {
            context.Response.StatusCode = StatusCodes.Status421MisdirectedRequest;
            return Task.CompletedTask;
        }

        return pod.HandleAsync(context);
    }

    private static int PickPort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    private static bool IsAddressInUse(Exception ex)
    {
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            if (e is AddressInUseException || (e is SocketException s && s.SocketErrorCode == SocketError.AddressAlreadyInUse))
            {
                return true;
            }
        }

        return false;
    }
}
