using System.Globalization;

namespace EnvoyReaper.Injection;

/// <summary>The protocol chosen for the app port, and why (it goes into the change list).</summary>
public sealed record ProtocolChoice(SidecarProtocol Protocol, string Reason);

/// <summary>
/// Infers the application protocol of a TCP port the way the ecosystem marks it: the Service port's
/// <c>appProtocol</c>, then Istio's port name convention (<c>&lt;protocol&gt;[-&lt;suffix&gt;]</c>) on the Service port and
/// then on the container port, then well-known port numbers. Anything not known to be HTTP gets raw TCP, which never
/// breaks a protocol Envoy would otherwise have to parse.
/// </summary>
public static class ProtocolInference
{
    private static readonly Dictionary<string, SidecarProtocol> Names = new(StringComparer.OrdinalIgnoreCase)
    {
        ["http"] = SidecarProtocol.Http,
        ["grpc-web"] = SidecarProtocol.Http, // browsers send it over HTTP/1.1; the server accepts it there
        ["kubernetes.io/ws"] = SidecarProtocol.Http,
        ["http2"] = SidecarProtocol.Http2,
        ["grpc"] = SidecarProtocol.Http2,
        ["h2c"] = SidecarProtocol.Http2,
        ["kubernetes.io/h2c"] = SidecarProtocol.Http2,
        ["https"] = SidecarProtocol.Tcp, // TLS the sidecar cannot read: passed through
        ["tls"] = SidecarProtocol.Tcp,
        ["kubernetes.io/wss"] = SidecarProtocol.Tcp,
        ["tcp"] = SidecarProtocol.Tcp,
        ["mongo"] = SidecarProtocol.Tcp,
        ["mysql"] = SidecarProtocol.Tcp,
        ["redis"] = SidecarProtocol.Tcp,
        ["kafka"] = SidecarProtocol.Tcp,
        ["postgres"] = SidecarProtocol.Tcp,
        ["postgresql"] = SidecarProtocol.Tcp,
        ["amqp"] = SidecarProtocol.Tcp,
        ["mqtt"] = SidecarProtocol.Tcp,
        ["nats"] = SidecarProtocol.Tcp,
        ["memcached"] = SidecarProtocol.Tcp,
        ["cassandra"] = SidecarProtocol.Tcp,
        ["zookeeper"] = SidecarProtocol.Tcp,
    };

    private static readonly Dictionary<int, (SidecarProtocol Protocol, string Name)> WellKnownPorts = new()
    {
        [80] = (SidecarProtocol.Http, "http"),
        [8080] = (SidecarProtocol.Http, "http-alt"),
        [443] = (SidecarProtocol.Tcp, "https"),
        [8443] = (SidecarProtocol.Tcp, "https-alt"),
        [50051] = (SidecarProtocol.Http2, "grpc"),
        [3306] = (SidecarProtocol.Tcp, "mysql"),
        [5432] = (SidecarProtocol.Tcp, "postgresql"),
        [6379] = (SidecarProtocol.Tcp, "redis"),
        [27017] = (SidecarProtocol.Tcp, "mongodb"),
        [9092] = (SidecarProtocol.Tcp, "kafka"),
        [5672] = (SidecarProtocol.Tcp, "amqp"),
        [1883] = (SidecarProtocol.Tcp, "mqtt"),
        [4222] = (SidecarProtocol.Tcp, "nats"),
        [11211] = (SidecarProtocol.Tcp, "memcached"),
        [9042] = (SidecarProtocol.Tcp, "cassandra"),
        [2181] = (SidecarProtocol.Tcp, "zookeeper"),
    };

    /// <param name="appProtocol">The Service port's appProtocol, if any.</param>
    /// <param name="servicePortName">The Service port's name, if any.</param>
    /// <param name="containerPortName">The name of the container port it reaches, if any.</param>
    public static ProtocolChoice Infer(string? appProtocol, string? servicePortName, string? containerPortName, int appPort)
    {
        if (!string.IsNullOrEmpty(appProtocol))
        {
            var known = Names.TryGetValue(appProtocol, out var byAppProtocol);
            return new ProtocolChoice(known ? byAppProtocol : SidecarProtocol.Tcp, $"appProtocol {appProtocol}{(known ? "" : " (not HTTP: raw TCP)")}");
        }

        if (FromName(servicePortName) is { } byServicePort)
        {
            return new ProtocolChoice(byServicePort, $"port name {servicePortName}");
        }

        if (FromName(containerPortName) is { } byContainerPort)
        {
            return new ProtocolChoice(byContainerPort, $"container port name {containerPortName}");
        }

        if (WellKnownPorts.TryGetValue(appPort, out var wellKnown))
        {
            return new ProtocolChoice(wellKnown.Protocol, $"well-known port {appPort.ToString(CultureInfo.InvariantCulture)} ({wellKnown.Name})");
        }

        return new ProtocolChoice(SidecarProtocol.Tcp, "no protocol marked (appProtocol, port name, well-known port): raw TCP");
    }

    public static string Name(SidecarProtocol protocol) => protocol switch
    {
        SidecarProtocol.Http => "http",
        SidecarProtocol.Http2 => "http2",
        SidecarProtocol.Tcp => "tcp",
        SidecarProtocol.Udp => "udp",
        _ => protocol.ToString(),
    };

    public static string Description(SidecarProtocol protocol) => protocol switch
    {
        SidecarProtocol.Http => "HTTP connection manager, HTTP/1.1 to the app",
        SidecarProtocol.Http2 => "HTTP connection manager, HTTP/2 to the app for gRPC and h2c",
        SidecarProtocol.Tcp => "tcp_proxy",
        SidecarProtocol.Udp => "udp_proxy",
        _ => protocol.ToString(),
    };

    // Istio's convention: "<protocol>[-<suffix>]"; grpc-web is the one protocol with a dash of its own.
    private static SidecarProtocol? FromName(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return null;
        }

        if (name.Equals("grpc-web", StringComparison.OrdinalIgnoreCase) || name.StartsWith("grpc-web-", StringComparison.OrdinalIgnoreCase))
        {
            return SidecarProtocol.Http;
        }

        var prefix = name.Split('-', 2)[0];
        return Names.TryGetValue(prefix, out var protocol) && !prefix.Contains('/', StringComparison.Ordinal) ? protocol : null;
    }
}
