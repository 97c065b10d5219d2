using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Waker;

/// <summary>The one Kestrel endpoint behind which <see cref="WakerPortsTransport"/> keeps a socket per waker port.</summary>
public sealed class WakerPortsEndPoint : EndPoint
{
    public override string ToString() => "waker-ports";
}

/// <summary>
/// Kestrel's transport for the waker ports: one Kestrel endpoint (<see cref="WakerPortsEndPoint"/>) whose connections
/// come from a socket listener per port, opened and closed as parkings come and go, so Kestrel itself never restarts.
/// Every connection keeps its real local endpoint, from which the request handler tells the parked Service.
/// </summary>
public sealed partial class WakerPortsTransport(IOptions<WakerOptions> options, IOptions<SocketTransportOptions> socketOptions, ILoggerFactory loggerFactory)
    : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    /// <summary>Set on every connection this transport accepts (ConnectionContext.Items): the request came on a waker port.</summary>
    public const string ConnectionMarker = "envoy-reaper.waker-port";

    private readonly SocketTransportFactory sockets = new(socketOptions, loggerFactory);
    private readonly ILogger logger = loggerFactory.CreateLogger<WakerPortsTransport>();
    private readonly Lock gate = new();
    private IReadOnlySet<int> desired = new HashSet<int>();
    private AggregateListener? listener;

    private IPAddress ListenAddress => options.Value.ListenIPAddress();

    /// <summary>The ports listened on now.</summary>
    public IReadOnlyCollection<int> ListeningPorts => listener?.Ports ?? [];

    public bool CanBind(EndPoint endpoint) => endpoint is WakerPortsEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        if (endpoint is not WakerPortsEndPoint)
        {
            throw new NotSupportedException($"{endpoint} is not the waker ports endpoint");
        }

        lock (gate)
        {
            listener = new AggregateListener(endpoint, this);
        }

        return ValueTask.FromResult<IConnectionListener>(listener);
    }

    /// <summary>Listens on exactly <paramref name="ports"/> (each within the waker range): new ones are bound, gone ones closed.</summary>
    public Task SetPortsAsync(IReadOnlySet<int> ports, CancellationToken cancellationToken)
    {
        AggregateListener? current;
        lock (gate)
        {
            desired = ports;
            current = listener;
        }

        return current is null ? Task.CompletedTask : current.ApplyAsync(ports, cancellationToken);
    }

    private IReadOnlySet<int> Desired
    {
        get
        {
            lock (gate)
            {
                return desired;
            }
        }
    }

    private sealed class AggregateListener(EndPoint endpoint, WakerPortsTransport transport) : IConnectionListener
    {
        private readonly Channel<ConnectionContext> accepted = Channel.CreateBounded<ConnectionContext>(new BoundedChannelOptions(256) { SingleReader = false });
        private readonly ConcurrentDictionary<int, PortListener> byPort = new();
        private readonly SemaphoreSlim applying = new(1, 1);
        private bool closed;

        public EndPoint EndPoint => endpoint;

        public IReadOnlyCollection<int> Ports => byPort.Keys.Order().ToList();

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            if (byPort.IsEmpty && !closed)
            {
                // Kestrel starts accepting right after binding: the ports wanted before that are bound now.
                await ApplyAsync(transport.Desired, cancellationToken).ConfigureAwait(false);
            }

            try
            {
                return await accepted.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ChannelClosedException)
            {
                return null;
            }
        }

        public async Task ApplyAsync(IReadOnlySet<int> ports, CancellationToken cancellationToken)
        {
            await applying.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (closed)
                {
                    return;
                }

                foreach (var port in byPort.Keys.Where(port => !ports.Contains(port)).ToList())
                {
                    if (byPort.TryRemove(port, out var gone))
                    {
                        await gone.RetireAsync().ConfigureAwait(false);
                        LogClosed(transport.logger, port);
                    }
                }

                foreach (var port in ports.Where(port => !byPort.ContainsKey(port)).Order())
                {
                    IConnectionListener socket;
                    try
                    {
                        socket = await transport.sockets.BindAsync(new IPEndPoint(transport.ListenAddress, port), cancellationToken).ConfigureAwait(false);
                    }
                    catch (Exception exception) when (exception is SocketException or AddressInUseException or IOException)
                    {
                        LogBindFailed(transport.logger, port, exception.Message); // tried again with the next refresh
                        continue;
                    }

                    var listener = new PortListener(socket);
                    byPort[port] = listener;
                    _ = PumpAsync(port, listener);
                    LogListening(transport.logger, port);
                }
            }
            finally
            {
                applying.Release();
            }
        }

        private async Task PumpAsync(int port, PortListener listener)
        {
            try
            {
                while (await listener.Socket.AcceptAsync().ConfigureAwait(false) is { } connection)
                {
                    connection.Items[ConnectionMarker] = port;
                    listener.Track(connection);
                    if (!accepted.Writer.TryWrite(connection) && !await WriteAsync(connection).ConfigureAwait(false))
                    {
                        await connection.DisposeAsync().ConfigureAwait(false);
                        return;
                    }
                }
            }
            catch (Exception exception) when (exception is ChannelClosedException or ObjectDisposedException or SocketException or OperationCanceledException)
            {
                // The port was closed, or the whole endpoint.
            }
        }

        private async Task<bool> WriteAsync(ConnectionContext connection)
        {
            try
            {
                await accepted.Writer.WriteAsync(connection).ConfigureAwait(false);
                return true;
            }
            catch (ChannelClosedException)
            {
                return false;
            }
        }

        public async ValueTask UnbindAsync(CancellationToken cancellationToken = default)
        {
            await applying.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                closed = true;
                foreach (var port in byPort.Keys.ToList())
                {
                    if (byPort.TryRemove(port, out var listener))
                    {
                        await listener.RetireAsync().ConfigureAwait(false);
                    }
                }

                accepted.Writer.TryComplete();
            }
            finally
            {
                applying.Release();
            }
        }

        public async ValueTask DisposeAsync()
        {
            await UnbindAsync().ConfigureAwait(false);
            applying.Dispose();
        }
    }

    /// <summary>
    /// One port's socket listener. Closing a port stops new connections at once, but the listener (whose memory pool its
    /// connections use) is disposed only once the connections it accepted are closed: a held request outlives its port.
    /// </summary>
    private sealed class PortListener(IConnectionListener socket)
    {
        private readonly Lock gate = new();
        private int live;
        private bool retired;
        private bool disposed;

        public IConnectionListener Socket => socket;

        public void Track(ConnectionContext connection)
        {
            lock (gate)
            {
                live++;
            }

            connection.ConnectionClosed.Register(() => _ = ClosedAsync());
        }

        public async Task RetireAsync()
        {
            await socket.UnbindAsync().ConfigureAwait(false);
            lock (gate)
            {
                retired = true;
            }

            await DisposeIfDoneAsync().ConfigureAwait(false);
        }

        private async Task ClosedAsync()
        {
            lock (gate)
            {
                live--;
            }

            await DisposeIfDoneAsync().ConfigureAwait(false);
        }

        private async Task DisposeIfDoneAsync()
        {
            lock (gate)
            {
                if (!retired || live > 0 || disposed)
                {
                    return;
                }

                disposed = true;
            }

            await socket.DisposeAsync().ConfigureAwait(false);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Listening on waker port {Port}")]
    private static partial void LogListening(ILogger logger, int port);

    [LoggerMessage(Level = LogLevel.Information, Message = "Closed waker port {Port}: nothing is parked on it any more")]
    private static partial void LogClosed(ILogger logger, int port);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot listen on waker port {Port}: {Reason}")]
    private static partial void LogBindFailed(ILogger logger, int port, string reason);
}
