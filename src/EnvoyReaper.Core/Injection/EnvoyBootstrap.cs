using System.Globalization;
using System.Text;

namespace EnvoyReaper.Injection;

/// <summary>What the injected sidecar's inbound listener proxies.</summary>
public enum SidecarProtocol
{
    /// <summary>HTTP connection manager, HTTP/1.1 to the app (WebSockets upgrade through it).</summary>
    Http,

    /// <summary>Raw TCP (<c>tcp_proxy</c>): databases, brokers, game servers, anything not known to be HTTP.</summary>
    Tcp,

    /// <summary>HTTP connection manager with HTTP/2 to the app: gRPC and h2c.</summary>
    Http2,

    /// <summary>UDP (<c>udp_proxy</c>): sessions instead of connections.</summary>
    Udp,
}

/// <param name="AppPort">The application's port on 127.0.0.1; must not collide with the sidecar's own ports.</param>
/// <param name="Protocol">
/// How the inbound listener proxies to the application; <see cref="SidecarProtocol.Udp"/> renders only the UDP listener.
/// </param>
/// <param name="IdleTimeout">
/// How long an idle downstream connection stays open (HTTP: no active request; TCP: no bytes either way). Envoy's default
/// is one hour, during which an abandoned keep-alive connection would look like a user.
/// </param>
/// <param name="Udp">
/// A UDP listener beside the TCP one, on the same port numbers (a game server with TCP and UDP on one port).
/// </param>
/// <param name="Ipv6">
/// The inbound and stats listeners take IPv6 as well as IPv4 (<c>::</c> with <c>ipv4_compat</c>), for pods reached over
/// IPv6 (dual-stack or IPv6 Services); off, they bind 0.0.0.0, which also works on nodes with IPv6 disabled.
/// </param>
public sealed record BootstrapSpec(int AppPort, SidecarProtocol Protocol, TimeSpan IdleTimeout, bool Udp = false, bool Ipv6 = false)
{
    public bool HasTcpListener => Protocol != SidecarProtocol.Udp;

    public bool HasUdpListener => Protocol == SidecarProtocol.Udp || Udp;
}

/// <summary>
/// Renders the static Envoy v3 bootstrap (Envoy 1.22 and later) of the sidecar the reaper injects: admin on loopback
/// only, an inbound listener whose stats are <c>listener.inbound.*</c>, and a stats-only listener that exposes nothing of
/// the admin API but <c>/stats</c>, <c>/stats/prometheus</c> and <c>/ready</c>.
/// </summary>
public static class EnvoyBootstrap
{
    /// <summary>The admin API has no authentication (<c>POST /quitquitquit</c>), so it is bound to 127.0.0.1 only.</summary>
    public const int AdminPort = 9901;

    public const int InboundPort = 15001;

    public const int StatsPort = 15090;

    /// <summary>The inbound listener's <c>stat_prefix</c>: its stats are <c>listener.inbound.*</c>.</summary>
    public const string InboundStatPrefix = "inbound";

    /// <summary>
    /// The UDP proxy's <c>stat_prefix</c>: its sessions are <c>udp.inbound.downstream_sess_*</c>, which the stats parser
    /// reports as the listener <see cref="UdpSessionsListener"/>.
    /// </summary>
    public const string UdpStatPrefix = "inbound";

    /// <summary>The name under which the reaper counts the UDP proxy's sessions (envoy-reaper/listeners).</summary>
    public const string UdpSessionsListener = "udp." + UdpStatPrefix;

    public static readonly TimeSpan MinIdleTimeout = TimeSpan.FromSeconds(1);

    public static readonly TimeSpan MaxIdleTimeout = TimeSpan.FromHours(24);

    private const string Loopback = "127.0.0.1";
    private const string AnyAddress = "0.0.0.0";
    private const string AnyIpv6Address = "\"::\"";
    private const string HttpConnectionManagerType =
        "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
    private const string RouterType = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
    private const string TcpProxyType = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
    private const string UdpProxyType = "type.googleapis.com/envoy.extensions.filters.udp.udp_proxy.v3.UdpProxyConfig";
    private const string UdpRouteType = "type.googleapis.com/envoy.extensions.filters.udp.udp_proxy.v3.Route";
    private const string HttpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
    private const string HttpProtocolOptionsType = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

    // Exact path matches ignore the query string, so ?format=json&filter=... still reaches /stats, while every other
    // admin endpoint (/quitquitquit, /config_dump, /stats/recentlookups, ...) has no route.
    private static readonly string[] StatsPaths = ["/stats", "/stats/prometheus", "/ready"];

    /// <summary>Renders the bootstrap as YAML: byte-identical for equal specs, <c>\n</c> line endings, final newline.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="spec"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">
    /// The port is outside 1..65535 or is one of the sidecar's own ports, the protocol is undefined, or the idle timeout
    /// is outside 1 s..24 h.
    /// </exception>
    public static string Render(BootstrapSpec spec)
    {
        Validate(spec);

        var yaml = new YamlWriter();
        yaml.Line(0, "# Envoy v3 bootstrap of the EnvoyReaper sidecar (generated; edits are overwritten).");
        yaml.Line(0, "# The admin API has no authentication: it stays on 127.0.0.1, and only the stats listener exposes a read-only part.");
        yaml.Line(0, "admin:");
        yaml.Line(1, "address:");
        SocketAddress(yaml, 2, Loopback, AdminPort);

        yaml.Line(0, "static_resources:");
        yaml.Line(1, "listeners:");
        if (spec.HasTcpListener)
        {
            InboundListener(yaml, spec);
        }

        if (spec.HasUdpListener)
        {
            UdpInboundListener(yaml, spec);
        }

        StatsListener(yaml, spec);

        yaml.Line(1, "clusters:");
        StaticCluster(yaml, "app", spec.AppPort, http2: spec.Protocol == SidecarProtocol.Http2);
        StaticCluster(yaml, "admin", AdminPort, http2: false);

        return yaml.ToString();
    }

    private static void Validate(BootstrapSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);

        if (spec.AppPort is < 1 or > 65535)
        {
            throw new ArgumentOutOfRangeException(
                nameof(spec), spec.AppPort, $"AppPort {spec.AppPort} is not a TCP port (1..65535).");
        }

        string? conflict = spec.AppPort switch
        {
            AdminPort => $"the Envoy admin port ({nameof(AdminPort)})",
            InboundPort => $"the sidecar's inbound listener port ({nameof(InboundPort)})",
            StatsPort => $"the sidecar's stats listener port ({nameof(StatsPort)})",
            _ => null,
        };
        if (conflict is not null)
        {
            throw new ArgumentOutOfRangeException(
                nameof(spec), spec.AppPort, $"AppPort {spec.AppPort} conflicts with {conflict}: the app must listen on another port.");
        }

        if (!Enum.IsDefined(spec.Protocol))
        {
            throw new ArgumentOutOfRangeException(
                nameof(spec), spec.Protocol, $"Protocol {spec.Protocol} is none of {string.Join(", ", Enum.GetNames<SidecarProtocol>())}.");
        }

        if (spec.IdleTimeout < MinIdleTimeout || spec.IdleTimeout > MaxIdleTimeout)
        {
            throw new ArgumentOutOfRangeException(
                nameof(spec), spec.IdleTimeout, $"IdleTimeout {spec.IdleTimeout} must be between 1 s and 24 h.");
        }
    }

    private static void InboundListener(YamlWriter yaml, BootstrapSpec spec)
    {
        yaml.Line(1, "- name: inbound");
        yaml.Line(2, "address:");
        ListenerAddress(yaml, 3, spec, InboundPort);
        // Listener-level, so the reaper reads listener.inbound.downstream_cx_* rather than an address-derived name.
        yaml.Line(2, $"stat_prefix: {InboundStatPrefix}");
        yaml.Line(2, "traffic_direction: INBOUND");
        yaml.Line(2, "filter_chains:");
        yaml.Line(2, "- filters:");
        string timeout = FormatDuration(spec.IdleTimeout);
        switch (spec.Protocol)
        {
            case SidecarProtocol.Http or SidecarProtocol.Http2:
                yaml.Line(3, "- name: envoy.filters.network.http_connection_manager");
                yaml.Line(4, "typed_config:");
                yaml.Line(5, $"\"@type\": {HttpConnectionManagerType}");
                yaml.Line(5, "stat_prefix: inbound_http");
                yaml.Line(5, "common_http_protocol_options:");
                // Closes keep-alive connections that carry no request, so a closed browser tab does not look like a user.
                yaml.Line(6, $"idle_timeout: {timeout}");
                // The default (5 min without a frame) would cut quiet WebSockets and long gRPC streams, which are users.
                yaml.Line(5, "stream_idle_timeout: 0s");
                // Game and sandbox front ends use WebSockets; an upgraded connection stays an active request.
                yaml.Line(5, "upgrade_configs:");
                yaml.Line(5, "- upgrade_type: websocket");
                yaml.Line(5, "route_config:");
                yaml.Line(6, "name: inbound");
                yaml.Line(6, "virtual_hosts:");
                yaml.Line(6, "- name: app");
                yaml.Line(7, "domains:");
                yaml.Line(7, "- \"*\"");
                yaml.Line(7, "routes:");
                yaml.Line(7, "- match:");
                yaml.Line(9, "prefix: \"/\"");
                yaml.Line(8, "route:");
                yaml.Line(9, "cluster: app");
                yaml.Line(9, "timeout: 0s"); // no 15 s cap: long polls and streams belong to the app
                RouterFilter(yaml, 5);
                break;
            case SidecarProtocol.Tcp:
                yaml.Line(3, "- name: envoy.filters.network.tcp_proxy");
                yaml.Line(4, "typed_config:");
                yaml.Line(5, $"\"@type\": {TcpProxyType}");
                yaml.Line(5, "stat_prefix: inbound_tcp");
                yaml.Line(5, "cluster: app");
                yaml.Line(5, $"idle_timeout: {timeout}");
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(spec), spec.Protocol, "Unknown protocol.");
        }
    }

    // The cluster is chosen by the matcher (the deprecated top-level "cluster" field is gone in current Envoy).
    private static void UdpInboundListener(YamlWriter yaml, BootstrapSpec spec)
    {
        yaml.Line(1, "- name: inbound_udp");
        yaml.Line(2, "address:");
        yaml.Line(3, "socket_address:");
        yaml.Line(4, "protocol: UDP");
        yaml.Line(4, $"address: {(spec.Ipv6 ? AnyIpv6Address : AnyAddress)}");
        yaml.Line(4, $"port_value: {InboundPort.ToString(CultureInfo.InvariantCulture)}");
        if (spec.Ipv6)
        {
            yaml.Line(4, "ipv4_compat: true");
        }

        yaml.Line(2, "stat_prefix: inbound_udp");
        yaml.Line(2, "traffic_direction: INBOUND");
        yaml.Line(2, "listener_filters:");
        yaml.Line(2, "- name: envoy.filters.udp_listener.udp_proxy");
        yaml.Line(3, "typed_config:");
        yaml.Line(4, $"\"@type\": {UdpProxyType}");
        yaml.Line(4, $"stat_prefix: {UdpStatPrefix}");
        // A session ends after this long without a datagram, so a player who left stops counting.
        yaml.Line(4, $"idle_timeout: {FormatDuration(spec.IdleTimeout)}");
        yaml.Line(4, "matcher:");
        yaml.Line(5, "on_no_match:");
        yaml.Line(6, "action:");
        yaml.Line(7, "name: route");
        yaml.Line(7, "typed_config:");
        yaml.Line(8, $"\"@type\": {UdpRouteType}");
        yaml.Line(8, "cluster: app");
    }

    private static void StatsListener(YamlWriter yaml, BootstrapSpec spec)
    {
        yaml.Line(1, "- name: stats");
        yaml.Line(2, "address:");
        ListenerAddress(yaml, 3, spec, StatsPort);
        // No listener-level stat_prefix: the reaper's own polls land on listener.0.0.0.0_15090, which it excludes.
        yaml.Line(2, "filter_chains:");
        yaml.Line(2, "- filters:");
        yaml.Line(3, "- name: envoy.filters.network.http_connection_manager");
        yaml.Line(4, "typed_config:");
        yaml.Line(5, $"\"@type\": {HttpConnectionManagerType}");
        yaml.Line(5, "stat_prefix: stats");
        yaml.Line(5, "route_config:");
        yaml.Line(6, "name: stats");
        yaml.Line(6, "virtual_hosts:");
        yaml.Line(6, "- name: stats");
        yaml.Line(7, "domains:");
        yaml.Line(7, "- \"*\"");
        yaml.Line(7, "routes:");
        foreach (string path in StatsPaths)
        {
            yaml.Line(7, "- match:");
            yaml.Line(9, $"path: \"{path}\"");
            yaml.Line(8, "route:");
            yaml.Line(9, "cluster: admin");
        }

        RouterFilter(yaml, 5);
    }

    // Since Envoy 1.22 a filter named without its typed_config fails with "Didn't find a registered implementation".
    private static void RouterFilter(YamlWriter yaml, int indent)
    {
        yaml.Line(indent, "http_filters:");
        yaml.Line(indent, "- name: envoy.filters.http.router");
        yaml.Line(indent + 1, "typed_config:");
        yaml.Line(indent + 2, $"\"@type\": {RouterType}");
    }

    // STATIC, not LOGICAL_DNS: both endpoints are loopback IPs, and there is nothing to resolve.
    private static void StaticCluster(YamlWriter yaml, string name, int port, bool http2)
    {
        yaml.Line(1, $"- name: {name}");
        yaml.Line(2, "type: STATIC");
        yaml.Line(2, "connect_timeout: 1s");
        if (http2)
        {
            // gRPC and h2c servers speak only HTTP/2 (the cluster-level http2_protocol_options is deprecated).
            yaml.Line(2, "typed_extension_protocol_options:");
            yaml.Line(3, $"{HttpProtocolOptionsKey}:");
            yaml.Line(4, $"\"@type\": {HttpProtocolOptionsType}");
            yaml.Line(4, "explicit_http_config:");
            yaml.Line(5, "http2_protocol_options: {}");
        }

        yaml.Line(2, "load_assignment:");
        yaml.Line(3, $"cluster_name: {name}");
        yaml.Line(3, "endpoints:");
        yaml.Line(3, "- lb_endpoints:");
        yaml.Line(4, "- endpoint:");
        yaml.Line(6, "address:");
        SocketAddress(yaml, 7, Loopback, port);
    }

    // IPv6 clients of a dual-stack Service would find nothing listening on 0.0.0.0; "::" with ipv4_compat takes both.
    private static void ListenerAddress(YamlWriter yaml, int indent, BootstrapSpec spec, int port)
    {
        SocketAddress(yaml, indent, spec.Ipv6 ? AnyIpv6Address : AnyAddress, port);
        if (spec.Ipv6)
        {
            yaml.Line(indent + 1, "ipv4_compat: true");
        }
    }

    private static void SocketAddress(YamlWriter yaml, int indent, string address, int port)
    {
        yaml.Line(indent, "socket_address:");
        yaml.Line(indent + 1, $"address: {address}");
        yaml.Line(indent + 1, $"port_value: {port.ToString(CultureInfo.InvariantCulture)}");
    }

    // A google.protobuf.Duration in its JSON/YAML form: whole seconds as "300s", a fraction with 3, 6 or 9 digits.
    internal static string FormatDuration(TimeSpan value)
    {
        long seconds = value.Ticks / TimeSpan.TicksPerSecond;
        long nanos = value.Ticks % TimeSpan.TicksPerSecond * 100;
        string whole = seconds.ToString(CultureInfo.InvariantCulture);
        if (nanos == 0)
        {
            return whole + "s";
        }

        string fraction = nanos % 1_000_000 == 0 ? (nanos / 1_000_000).ToString("D3", CultureInfo.InvariantCulture)
            : nanos % 1_000 == 0 ? (nanos / 1_000).ToString("D6", CultureInfo.InvariantCulture)
            : nanos.ToString("D9", CultureInfo.InvariantCulture);
        return $"{whole}.{fraction}s";
    }

    private sealed class YamlWriter
    {
        private readonly StringBuilder _text = new();

        public void Line(int indent, string text) => _text.Append(' ', indent * 2).Append(text).Append('\n');

        public override string ToString() => _text.ToString();
    }
}
