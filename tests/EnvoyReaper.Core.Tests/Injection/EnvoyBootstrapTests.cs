using EnvoyReaper.Injection;
using YamlDotNet.RepresentationModel;

namespace EnvoyReaper.Core.Tests.Injection;

/// <summary>The injected sidecar's bootstrap: admin unreachable from outside the pod, stats readable, filters typed.</summary>
public sealed class EnvoyBootstrapTests
{
    private const string HcmType =
        "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
    private const string RouterType = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
    private const string TcpProxyType = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";

    private static readonly BootstrapSpec HttpSpec = new(8080, SidecarProtocol.Http, TimeSpan.FromMinutes(5));
    private static readonly BootstrapSpec TcpSpec = new(7777, SidecarProtocol.Tcp, TimeSpan.FromMinutes(10));

    public static TheoryData<SidecarProtocol> Protocols => new() { SidecarProtocol.Http, SidecarProtocol.Tcp };

    [Fact]
    public void Constants_are_the_documented_ports_and_prefix()
    {
        Assert.Equal(9901, EnvoyBootstrap.AdminPort);
        Assert.Equal(15001, EnvoyBootstrap.InboundPort);
        Assert.Equal(15090, EnvoyBootstrap.StatsPort);
        Assert.Equal("inbound", EnvoyBootstrap.InboundStatPrefix);
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public void Admin_api_is_bound_to_loopback_only(SidecarProtocol protocol)
    {
        var root = Parse(new BootstrapSpec(8080, protocol, TimeSpan.FromMinutes(5)));

        var socket = Map(Map(Map(root, "admin"), "address"), "socket_address");
        Assert.Equal("127.0.0.1", Scalar(socket, "address"));
        Assert.Equal("9901", Scalar(socket, "port_value"));
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public void Renders_exactly_the_inbound_and_stats_listeners(SidecarProtocol protocol)
    {
        var root = Parse(new BootstrapSpec(8080, protocol, TimeSpan.FromMinutes(5)));

        var names = Seq(Map(root, "static_resources"), "listeners").Children.Select(l => Scalar((YamlMappingNode)l, "name"));
        Assert.Equal(["inbound", "stats"], names);
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public void Inbound_listener_takes_all_interfaces_on_15001_with_a_listener_level_stat_prefix(SidecarProtocol protocol)
    {
        var inbound = Listener(Parse(new BootstrapSpec(8080, protocol, TimeSpan.FromMinutes(5))), "inbound");

        var socket = Map(Map(inbound, "address"), "socket_address");
        Assert.Equal("0.0.0.0", Scalar(socket, "address"));
        Assert.Equal("15001", Scalar(socket, "port_value"));
        Assert.Equal("INBOUND", Scalar(inbound, "traffic_direction"));
        Assert.Equal(EnvoyBootstrap.InboundStatPrefix, Scalar(inbound, "stat_prefix"));
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public void Stats_listener_takes_all_interfaces_on_15090_and_keeps_its_address_stat_name(SidecarProtocol protocol)
    {
        var stats = Listener(Parse(new BootstrapSpec(8080, protocol, TimeSpan.FromMinutes(5))), "stats");

        var socket = Map(Map(stats, "address"), "socket_address");
        Assert.Equal("0.0.0.0", Scalar(socket, "address"));
        Assert.Equal("15090", Scalar(socket, "port_value"));
        Assert.False(stats.Children.ContainsKey(new YamlScalarNode("stat_prefix")), "the reaper excludes listener.0.0.0.0_15090");
        Assert.False(stats.Children.ContainsKey(new YamlScalarNode("traffic_direction")));
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public void Every_envoy_filter_has_a_typed_config_with_its_type_url(SidecarProtocol protocol)
    {
        var root = Parse(new BootstrapSpec(8080, protocol, TimeSpan.FromMinutes(5)));

        var filters = new List<(string Name, YamlMappingNode Node)>();
        CollectFilters(root, filters);

        var expected = protocol == SidecarProtocol.Http
            ? new[] { "envoy.filters.network.http_connection_manager", "envoy.filters.http.router", "envoy.filters.network.http_connection_manager", "envoy.filters.http.router" }
            : new[] { "envoy.filters.network.tcp_proxy", "envoy.filters.network.http_connection_manager", "envoy.filters.http.router" };
        Assert.Equal(expected, filters.Select(f => f.Name));
        foreach (var (name, node) in filters)
        {
            Assert.True(node.Children.ContainsKey(new YamlScalarNode("typed_config")), $"{name} has no typed_config");
            string type = Scalar(Map(node, "typed_config"), "@type");
            Assert.Equal(ExpectedType(name), type);
        }
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public void Stats_listener_routes_only_the_three_exact_paths_to_the_admin_cluster(SidecarProtocol protocol)
    {
        var stats = Listener(Parse(new BootstrapSpec(8080, protocol, TimeSpan.FromMinutes(5))), "stats");

        var filters = Seq(Single(Seq(stats, "filter_chains")), "filters");
        var hcm = (YamlMappingNode)Assert.Single(filters.Children);
        Assert.Equal("envoy.filters.network.http_connection_manager", Scalar(hcm, "name"));
        var config = Map(hcm, "typed_config");
        Assert.Equal("stats", Scalar(config, "stat_prefix"));
        var host = Single(Seq(Map(config, "route_config"), "virtual_hosts"));
        Assert.Equal(["*"], Seq(host, "domains").Children.Select(d => ((YamlScalarNode)d).Value));

        var routes = Seq(host, "routes").Children.Cast<YamlMappingNode>().ToList();
        foreach (var route in routes)
        {
            var match = Map(route, "match");
            var matchKey = (YamlScalarNode)Assert.Single(match.Children.Keys);
            Assert.Equal("path", matchKey.Value);
            Assert.Equal("admin", Scalar(Map(route, "route"), "cluster"));
        }

        Assert.Equal(
            ["/stats", "/stats/prometheus", "/ready"],
            routes.Select(r => Scalar(Map(r, "match"), "path")));
        Assert.DoesNotContain("prefix", Keys(stats));
        Assert.DoesNotContain("safe_regex", Keys(stats));
        Assert.DoesNotContain("path_separated_prefix", Keys(stats));

        var router = (YamlMappingNode)Assert.Single(Seq(config, "http_filters").Children);
        Assert.Equal("envoy.filters.http.router", Scalar(router, "name"));
        Assert.Equal(RouterType, Scalar(Map(router, "typed_config"), "@type"));
    }

    [Theory]
    [InlineData(SidecarProtocol.Http, 8080)]
    [InlineData(SidecarProtocol.Tcp, 7777)]
    [InlineData(SidecarProtocol.Http, 1)]
    [InlineData(SidecarProtocol.Tcp, 65535)]
    public void Clusters_are_static_loopback_endpoints_for_the_app_and_the_admin_api(SidecarProtocol protocol, int appPort)
    {
        var root = Parse(new BootstrapSpec(appPort, protocol, TimeSpan.FromMinutes(5)));

        var clusters = Seq(Map(root, "static_resources"), "clusters").Children.Cast<YamlMappingNode>().ToList();
        Assert.Equal(["app", "admin"], clusters.Select(c => Scalar(c, "name")));
        foreach (var (cluster, port) in clusters.Zip(new[] { appPort, EnvoyBootstrap.AdminPort }))
        {
            string name = Scalar(cluster, "name");
            Assert.Equal("STATIC", Scalar(cluster, "type"));
            Assert.Equal("1s", Scalar(cluster, "connect_timeout"));
            var assignment = Map(cluster, "load_assignment");
            Assert.Equal(name, Scalar(assignment, "cluster_name"));
            var endpoint = Single(Seq(Single(Seq(assignment, "endpoints")), "lb_endpoints"));
            var socket = Map(Map(Map(endpoint, "endpoint"), "address"), "socket_address");
            Assert.Equal("127.0.0.1", Scalar(socket, "address"));
            Assert.Equal(port.ToString(System.Globalization.CultureInfo.InvariantCulture), Scalar(socket, "port_value"));
        }

        Assert.DoesNotContain("LOGICAL_DNS", EnvoyBootstrap.Render(new BootstrapSpec(appPort, protocol, TimeSpan.FromMinutes(5))), StringComparison.Ordinal);
    }

    [Fact]
    public void Http_inbound_runs_the_connection_manager_with_every_path_to_the_app()
    {
        var inbound = Listener(Parse(HttpSpec), "inbound");

        var filter = (YamlMappingNode)Assert.Single(Seq(Single(Seq(inbound, "filter_chains")), "filters").Children);
        Assert.Equal("envoy.filters.network.http_connection_manager", Scalar(filter, "name"));
        var config = Map(filter, "typed_config");
        Assert.Equal(HcmType, Scalar(config, "@type"));
        Assert.Equal("inbound_http", Scalar(config, "stat_prefix"));
        Assert.Equal("300s", Scalar(Map(config, "common_http_protocol_options"), "idle_timeout"));

        var host = Single(Seq(Map(config, "route_config"), "virtual_hosts"));
        Assert.Equal(["*"], Seq(host, "domains").Children.Select(d => ((YamlScalarNode)d).Value));
        var route = Single(Seq(host, "routes"));
        Assert.Equal("/", Scalar(Map(route, "match"), "prefix"));
        Assert.Equal("app", Scalar(Map(route, "route"), "cluster"));

        var router = (YamlMappingNode)Assert.Single(Seq(config, "http_filters").Children);
        Assert.Equal("envoy.filters.http.router", Scalar(router, "name"));
        Assert.Equal(RouterType, Scalar(Map(router, "typed_config"), "@type"));
        Assert.DoesNotContain("envoy.filters.network.tcp_proxy", EnvoyBootstrap.Render(HttpSpec), StringComparison.Ordinal);
    }

    [Fact]
    public void Tcp_inbound_runs_the_tcp_proxy_to_the_app_without_http_routing()
    {
        var inbound = Listener(Parse(TcpSpec), "inbound");

        var filter = (YamlMappingNode)Assert.Single(Seq(Single(Seq(inbound, "filter_chains")), "filters").Children);
        Assert.Equal("envoy.filters.network.tcp_proxy", Scalar(filter, "name"));
        var config = Map(filter, "typed_config");
        Assert.Equal(TcpProxyType, Scalar(config, "@type"));
        Assert.Equal("inbound_tcp", Scalar(config, "stat_prefix"));
        Assert.Equal("app", Scalar(config, "cluster"));
        Assert.Equal("600s", Scalar(config, "idle_timeout"));
        Assert.DoesNotContain("route_config", Keys(inbound));
        Assert.DoesNotContain("http_filters", Keys(inbound));
        Assert.DoesNotContain("common_http_protocol_options", Keys(inbound));
    }

    [Theory]
    [InlineData(SidecarProtocol.Http)]
    [InlineData(SidecarProtocol.Http2)]
    public void Quiet_websockets_and_long_grpc_streams_are_not_cut_by_a_stream_idle_timeout(SidecarProtocol protocol)
    {
        var inbound = Listener(Parse(new BootstrapSpec(8080, protocol, TimeSpan.FromMinutes(5))), "inbound");

        var hcm = Map(Single(Seq(Single(Seq(inbound, "filter_chains")), "filters")), "typed_config");
        Assert.Equal("0s", Scalar(hcm, "stream_idle_timeout"));
    }

    [Fact]
    public void Udp_inbound_runs_the_udp_proxy_on_a_udp_socket_with_the_session_stat_prefix_the_reaper_reads()
    {
        var root = Parse(new BootstrapSpec(7777, SidecarProtocol.Tcp, TimeSpan.FromMinutes(5), Udp: true));

        var names = Seq(Map(root, "static_resources"), "listeners").Children.Select(l => Scalar((YamlMappingNode)l, "name"));
        Assert.Equal(["inbound", "inbound_udp", "stats"], names);
        var udp = Listener(root, "inbound_udp");
        var socket = Map(Map(udp, "address"), "socket_address");
        Assert.Equal("UDP", Scalar(socket, "protocol"));
        Assert.Equal("15001", Scalar(socket, "port_value"));
        var filter = Single(Seq(udp, "listener_filters"));
        Assert.Equal("envoy.filters.udp_listener.udp_proxy", Scalar(filter, "name"));
        var config = Map(filter, "typed_config");
        Assert.Equal("type.googleapis.com/envoy.extensions.filters.udp.udp_proxy.v3.UdpProxyConfig", Scalar(config, "@type"));
        Assert.Equal("udp.inbound", "udp." + Scalar(config, "stat_prefix"));
        var route = Map(Map(Map(Map(config, "matcher"), "on_no_match"), "action"), "typed_config");
        Assert.Equal("app", Scalar(route, "cluster"));
    }

    [Fact]
    public void Http2_upstreams_use_the_typed_protocol_options_not_the_deprecated_cluster_field()
    {
        var root = Parse(new BootstrapSpec(5050, SidecarProtocol.Http2, TimeSpan.FromMinutes(5)));

        var app = Seq(Map(root, "static_resources"), "clusters").Children.Cast<YamlMappingNode>().Single(c => Scalar(c, "name") == "app");
        var options = Map(Map(app, "typed_extension_protocol_options"), "envoy.extensions.upstreams.http.v3.HttpProtocolOptions");
        Assert.IsType<YamlMappingNode>(Map(Map(options, "explicit_http_config"), "http2_protocol_options"));
        Assert.DoesNotContain("http2_protocol_options", Keys(app).Take(4));
    }

    [Theory]
    [InlineData(300_000L, "300s")]
    [InlineData(1_000L, "1s")]
    [InlineData(86_400_000L, "86400s")]
    [InlineData(1_500L, "1.500s")]
    [InlineData(3_600_000L, "3600s")]
    public void Idle_timeout_is_rendered_as_a_duration_in_seconds(long milliseconds, string expected)
    {
        var timeout = TimeSpan.FromMilliseconds(milliseconds);

        var http = Listener(Parse(new BootstrapSpec(8080, SidecarProtocol.Http, timeout)), "inbound");
        var hcm = Map(Single(Seq(Single(Seq(http, "filter_chains")), "filters")), "typed_config");
        Assert.Equal(expected, Scalar(Map(hcm, "common_http_protocol_options"), "idle_timeout"));

        var tcp = Listener(Parse(new BootstrapSpec(8080, SidecarProtocol.Tcp, timeout)), "inbound");
        var proxy = Map(Single(Seq(Single(Seq(tcp, "filter_chains")), "filters")), "typed_config");
        Assert.Equal(expected, Scalar(proxy, "idle_timeout"));
    }

    [Fact]
    public void Sub_millisecond_idle_timeouts_keep_their_precision()
    {
        Assert.Equal("1.000100s", EnvoyBootstrap.FormatDuration(TimeSpan.FromTicks(TimeSpan.TicksPerSecond + 1_000)));
        Assert.Equal("1.000000100s", EnvoyBootstrap.FormatDuration(TimeSpan.FromTicks(TimeSpan.TicksPerSecond + 1)));
        Assert.Equal("2.250s", EnvoyBootstrap.FormatDuration(TimeSpan.FromMilliseconds(2_250)));
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public void Same_spec_renders_byte_identical_yaml_ending_with_a_newline(SidecarProtocol protocol)
    {
        string first = EnvoyBootstrap.Render(new BootstrapSpec(8080, protocol, TimeSpan.FromMinutes(5)));
        string second = EnvoyBootstrap.Render(new BootstrapSpec(8080, protocol, TimeSpan.FromSeconds(300)));

        Assert.Equal(first, second, StringComparer.Ordinal);
        Assert.EndsWith("\n", first, StringComparison.Ordinal);
        Assert.False(first.EndsWith("\n\n", StringComparison.Ordinal));
        Assert.DoesNotContain("\r", first, StringComparison.Ordinal);
        Assert.DoesNotContain("\t", first, StringComparison.Ordinal);
        Assert.NotEqual(first, EnvoyBootstrap.Render(new BootstrapSpec(8081, protocol, TimeSpan.FromMinutes(5))));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(65536)]
    [InlineData(int.MaxValue)]
    [InlineData(int.MinValue)]
    public void App_port_outside_the_tcp_range_is_refused(int port)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(
            () => EnvoyBootstrap.Render(new BootstrapSpec(port, SidecarProtocol.Http, TimeSpan.FromMinutes(5))));

        Assert.Contains("AppPort", error.Message, StringComparison.Ordinal);
        Assert.Contains("1..65535", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(9901, "admin", "AdminPort")]
    [InlineData(15001, "inbound", "InboundPort")]
    [InlineData(15090, "stats", "StatsPort")]
    public void App_port_taken_by_the_sidecar_is_refused_naming_the_conflict(int port, string role, string constant)
    {
        foreach (var protocol in new[] { SidecarProtocol.Http, SidecarProtocol.Tcp })
        {
            var error = Assert.Throws<ArgumentOutOfRangeException>(
                () => EnvoyBootstrap.Render(new BootstrapSpec(port, protocol, TimeSpan.FromMinutes(5))));

            Assert.Contains(port.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
            Assert.Contains(role, error.Message, StringComparison.Ordinal);
            Assert.Contains(constant, error.Message, StringComparison.Ordinal);
            Assert.Equal(port, error.ActualValue);
        }
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(-1L)]
    [InlineData(TimeSpan.TicksPerSecond - 1)]
    [InlineData(TimeSpan.TicksPerDay + 1)]
    [InlineData(long.MaxValue)]
    [InlineData(long.MinValue)]
    public void Idle_timeout_outside_one_second_to_one_day_is_refused(long ticks)
    {
        foreach (var protocol in new[] { SidecarProtocol.Http, SidecarProtocol.Tcp })
        {
            var error = Assert.Throws<ArgumentOutOfRangeException>(
                () => EnvoyBootstrap.Render(new BootstrapSpec(8080, protocol, TimeSpan.FromTicks(ticks))));

            Assert.Contains("IdleTimeout", error.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(TimeSpan.TicksPerSecond, "1s")]
    [InlineData(TimeSpan.TicksPerDay, "86400s")]
    public void Idle_timeout_bounds_are_accepted(long ticks, string expected)
    {
        string yaml = EnvoyBootstrap.Render(new BootstrapSpec(8080, SidecarProtocol.Tcp, TimeSpan.FromTicks(ticks)));

        Assert.Contains($"idle_timeout: {expected}\n", yaml, StringComparison.Ordinal);
    }

    [Fact]
    public void Undefined_protocol_is_refused()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(
            () => EnvoyBootstrap.Render(new BootstrapSpec(8080, (SidecarProtocol)42, TimeSpan.FromMinutes(5))));

        Assert.Contains("Protocol 42", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Null_spec_is_refused()
    {
        Assert.Throws<ArgumentNullException>(() => EnvoyBootstrap.Render(null!));
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public void With_ipv6_the_inbound_and_stats_listeners_take_every_IPv6_and_IPv4_address(SidecarProtocol protocol)
    {
        var root = Parse(new BootstrapSpec(8080, protocol, TimeSpan.FromMinutes(5), Ipv6: true));

        foreach (var name in new[] { "inbound", "stats" })
        {
            var socket = Map(Map(Listener(root, name), "address"), "socket_address");
            Assert.Equal("::", Scalar(socket, "address"));
            Assert.Equal("true", Scalar(socket, "ipv4_compat"));
        }

        Assert.Equal("127.0.0.1", Scalar(Map(Map(Map(root, "admin"), "address"), "socket_address"), "address"));
    }

    [Fact]
    public void With_ipv6_the_udp_listener_takes_every_IPv6_and_IPv4_address_too()
    {
        var root = Parse(new BootstrapSpec(7777, SidecarProtocol.Udp, TimeSpan.FromMinutes(5), Ipv6: true));

        var socket = Map(Map(Listener(root, "inbound_udp"), "address"), "socket_address");
        Assert.Equal("::", Scalar(socket, "address"));
        Assert.Equal("true", Scalar(socket, "ipv4_compat"));
        Assert.Equal("UDP", Scalar(socket, "protocol"));
    }

    private static string ExpectedType(string filterName) => filterName switch
    {
        "envoy.filters.network.http_connection_manager" => HcmType,
        "envoy.filters.http.router" => RouterType,
        "envoy.filters.network.tcp_proxy" => TcpProxyType,
        _ => throw new Xunit.Sdk.XunitException($"unexpected filter {filterName}"),
    };

    private static YamlMappingNode Parse(BootstrapSpec spec)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(EnvoyBootstrap.Render(spec)));
        var document = Assert.Single(stream.Documents);
        return Assert.IsType<YamlMappingNode>(document.RootNode);
    }

    private static YamlMappingNode Listener(YamlMappingNode root, string name) =>
        Seq(Map(root, "static_resources"), "listeners").Children.Cast<YamlMappingNode>().Single(l => Scalar(l, "name") == name);

    private static void CollectFilters(YamlNode node, List<(string Name, YamlMappingNode Node)> filters)
    {
        switch (node)
        {
            case YamlMappingNode mapping:
                if (mapping.Children.TryGetValue(new YamlScalarNode("name"), out var name)
                    && name is YamlScalarNode { Value: { } value }
                    && value.StartsWith("envoy.filters.", StringComparison.Ordinal))
                {
                    filters.Add((value, mapping));
                }

                foreach (var child in mapping.Children.Values)
                {
                    CollectFilters(child, filters);
                }

                break;
            case YamlSequenceNode sequence:
                foreach (var child in sequence.Children)
                {
                    CollectFilters(child, filters);
                }

                break;
        }
    }

    private static List<string> Keys(YamlNode node)
    {
        var keys = new List<string>();
        CollectKeys(node, keys);
        return keys;
    }

    private static void CollectKeys(YamlNode node, List<string> keys)
    {
        switch (node)
        {
            case YamlMappingNode mapping:
                foreach (var (key, child) in mapping.Children)
                {
                    keys.Add(((YamlScalarNode)key).Value ?? "");
                    CollectKeys(child, keys);
                }

                break;
            case YamlSequenceNode sequence:
                foreach (var child in sequence.Children)
                {
                    CollectKeys(child, keys);
                }

                break;
        }
    }

    private static YamlMappingNode Map(YamlMappingNode node, string key) =>
        Assert.IsType<YamlMappingNode>(node.Children[new YamlScalarNode(key)]);

    private static YamlSequenceNode Seq(YamlMappingNode node, string key) =>
        Assert.IsType<YamlSequenceNode>(node.Children[new YamlScalarNode(key)]);

    private static YamlMappingNode Single(YamlSequenceNode node) => Assert.IsType<YamlMappingNode>(Assert.Single(node.Children));

    private static string Scalar(YamlMappingNode node, string key) =>
        Assert.IsType<YamlScalarNode>(node.Children[new YamlScalarNode(key)]).Value ?? "";
}
