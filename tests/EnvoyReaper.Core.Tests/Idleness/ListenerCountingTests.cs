using System.Text;
using EnvoyReaper.Envoy;
using EnvoyReaper.Idleness;
using EnvoyReaper.Workloads;

namespace EnvoyReaper.Core.Tests.Idleness;

public sealed class ListenerCountingTests
{
    private const string PodUid = "uid-1";
    private const string PodName = "web-5d8f-abcde";

    private static WorkloadSettings Settings(int statsPort = 15090, IReadOnlyList<string>? listeners = null) => new(
        1, TimeSpan.FromMinutes(10), ReaperAction.Delete, statsPort, "/stats", listeners, null, null, null);

    private static EnvoyStats Stats(ulong? uptime, params (string Name, ulong? Active, ulong? Total)[] listeners) =>
        new(listeners.ToDictionary(l => l.Name, l => new ListenerStats(l.Active, l.Total)), uptime);

    private static EnvoyStats Stats(params (string Name, ulong? Active, ulong? Total)[] listeners) => Stats(3600, listeners);

    [Fact]
    public void Default_counts_every_listener_except_admin_and_the_stats_port_listener()
    {
        var stats = Stats(
            ("admin", 7, 9000),
            ("0.0.0.0_15090", 3, 500),
            ("0.0.0.0_8080", 1, 10),
            ("0.0.0.0_9443", 2, 20));

        var reading = ListenerCounting.Read(PodUid, PodName, stats, Settings(), istioProxy: false);

        Assert.True(reading.Readable);
        Assert.Equal(3UL, reading.ActiveConnections);
        Assert.Equal(new[] { "0.0.0.0_8080", "0.0.0.0_9443" }, reading.ConnectionTotals.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(10UL, reading.ConnectionTotals["0.0.0.0_8080"]);
        Assert.Equal(20UL, reading.ConnectionTotals["0.0.0.0_9443"]);
    }

    [Fact]
    public void Default_excludes_the_listener_of_the_configured_stats_port_and_counts_15090_when_it_is_not_the_stats_port()
    {
        var stats = Stats(
            ("admin", 1, 100),
            ("0.0.0.0_9901", 4, 400),
            ("0.0.0.0_15090", 2, 50),
            ("0.0.0.0_8080", 1, 10));

        var reading = ListenerCounting.Read(PodUid, PodName, stats, Settings(statsPort: 9901), istioProxy: false);

        Assert.True(reading.Readable);
        Assert.Equal(3UL, reading.ActiveConnections);
        Assert.DoesNotContain("0.0.0.0_9901", reading.ConnectionTotals.Keys);
        Assert.Contains("0.0.0.0_15090", reading.ConnectionTotals.Keys);
    }

    [Fact]
    public void Default_with_only_admin_and_the_stats_listener_is_unreadable_never_zero()
    {
        var stats = Stats(("admin", 1, 100), ("0.0.0.0_15090", 1, 60));

        var reading = ListenerCounting.Read(PodUid, PodName, stats, Settings(), istioProxy: false);

        Assert.False(reading.Readable);
        Assert.False(string.IsNullOrEmpty(reading.FailureReason));
    }

    [Fact]
    public void A_dump_without_any_listener_statistics_is_unreadable()
    {
        var reading = ListenerCounting.Read(PodUid, PodName, Stats(), Settings(), istioProxy: false);

        Assert.False(reading.Readable);
    }

    [Fact]
    public void Istio_counts_only_the_inbound_listener()
    {
        var stats = Stats(
            ("admin", 1, 100),
            ("0.0.0.0_15001", 40, 9000), // outbound: the app's own calls, not its users
            ("0.0.0.0_15006", 2, 70),
            ("0.0.0.0_15090", 1, 30),
            ("0.0.0.0_15021", 5, 300));

        var reading = ListenerCounting.Read(PodUid, PodName, stats, Settings(), istioProxy: true);

        Assert.True(reading.Readable);
        Assert.Equal(2UL, reading.ActiveConnections);
        var total = Assert.Single(reading.ConnectionTotals);
        Assert.Equal("0.0.0.0_15006", total.Key);
        Assert.Equal(70UL, total.Value);
    }

    [Fact]
    public void Istio_without_statistics_for_the_inbound_listener_is_unreadable()
    {
        var stats = Stats(("admin", 1, 100), ("0.0.0.0_15001", 0, 10), ("0.0.0.0_15090", 1, 30));

        var reading = ListenerCounting.Read(PodUid, PodName, stats, Settings(), istioProxy: true);

        Assert.False(reading.Readable);
    }

    [Fact]
    public void Istio_inbound_listener_whose_active_gauge_was_dropped_by_the_stats_matcher_is_unreadable_never_zero()
    {
        var stats = Stats(("0.0.0.0_15006", null, 70), ("0.0.0.0_15001", 0, 10));

        var reading = ListenerCounting.Read(PodUid, PodName, stats, Settings(), istioProxy: true);

        Assert.False(reading.Readable);
        Assert.Contains("0.0.0.0_15006", reading.FailureReason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_counted_listener_without_an_active_gauge_is_unreadable_even_if_the_others_have_one()
    {
        var stats = Stats(("0.0.0.0_8080", 0, 10), ("0.0.0.0_9443", null, 20));

        var reading = ListenerCounting.Read(PodUid, PodName, stats, Settings(), istioProxy: false);

        Assert.False(reading.Readable);
        Assert.Contains("0.0.0.0_9443", reading.FailureReason, StringComparison.Ordinal);
    }

    [Fact]
    public void Explicit_listeners_count_exactly_those()
    {
        var stats = Stats(
            ("admin", 9, 900),
            ("0.0.0.0_8080", 1, 10),
            ("0.0.0.0_9443", 2, 20),
            ("ingress_http", 4, 40));

        var reading = ListenerCounting.Read(PodUid, PodName, stats, Settings(listeners: ["ingress_http", "0.0.0.0_8080"]), istioProxy: false);

        Assert.True(reading.Readable);
        Assert.Equal(5UL, reading.ActiveConnections);
        Assert.Equal(new[] { "0.0.0.0_8080", "ingress_http" }, reading.ConnectionTotals.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Explicit_listeners_win_over_the_istio_default()
    {
        var stats = Stats(("0.0.0.0_15006", 0, 70), ("0.0.0.0_15001", 3, 10));

        var reading = ListenerCounting.Read(PodUid, PodName, stats, Settings(listeners: ["0.0.0.0_15001"]), istioProxy: true);

        Assert.True(reading.Readable);
        Assert.Equal(3UL, reading.ActiveConnections);
        Assert.Equal("0.0.0.0_15001", Assert.Single(reading.ConnectionTotals).Key);
    }

    [Fact]
    public void An_explicit_listener_missing_from_the_dump_is_unreadable()
    {
        var stats = Stats(("0.0.0.0_8080", 0, 10));

        var reading = ListenerCounting.Read(PodUid, PodName, stats, Settings(listeners: ["0.0.0.0_8080", "0.0.0.0_9443"]), istioProxy: false);

        Assert.False(reading.Readable);
        Assert.Contains("0.0.0.0_9443", reading.FailureReason, StringComparison.Ordinal);
    }

    [Fact]
    public void An_explicit_listener_without_an_active_gauge_is_unreadable()
    {
        var stats = Stats(("0.0.0.0_8080", null, 10));

        var reading = ListenerCounting.Read(PodUid, PodName, stats, Settings(listeners: ["0.0.0.0_8080"]), istioProxy: false);

        Assert.False(reading.Readable);
    }

    [Fact]
    public void A_reading_carries_the_pod_identity_and_server_uptime()
    {
        var reading = ListenerCounting.Read(PodUid, PodName, Stats(4242, ("0.0.0.0_8080", 0, 10)), Settings(), istioProxy: false);

        Assert.Equal(PodUid, reading.PodUid);
        Assert.Equal(PodName, reading.PodName);
        Assert.Equal(4242UL, reading.UptimeSeconds);
        Assert.Null(reading.FailureReason);
    }

    [Fact]
    public void An_unreadable_reading_carries_the_pod_identity_and_counts_nothing()
    {
        var reading = ListenerCounting.Read(PodUid, PodName, Stats(), Settings(), istioProxy: true);

        Assert.False(reading.Readable);
        Assert.Equal(PodUid, reading.PodUid);
        Assert.Equal(PodName, reading.PodName);
        Assert.Empty(reading.ConnectionTotals);
    }

    [Fact]
    public void Parsed_json_dump_counts_the_app_listener_and_ignores_admin_and_per_worker_copies()
    {
        const string json = """
            {"stats":[
              {"name":"listener.admin.downstream_cx_active","value":1},
              {"name":"listener.admin.downstream_cx_total","value":812},
              {"name":"listener.0.0.0.0_15090.downstream_cx_active","value":1},
              {"name":"listener.0.0.0.0_15090.downstream_cx_total","value":44},
              {"name":"listener.0.0.0.0_8080.downstream_cx_active","value":2},
              {"name":"listener.0.0.0.0_8080.downstream_cx_total","value":17},
              {"name":"listener.0.0.0.0_8080.worker_0.downstream_cx_active","value":2},
              {"name":"server.uptime","value":3600}
            ]}
            """;
        var stats = EnvoyStatsParser.Parse(Encoding.UTF8.GetBytes(json), StatsFormat.Json);

        var reading = ListenerCounting.Read(PodUid, PodName, stats, Settings(), istioProxy: false);

        Assert.True(reading.Readable);
        Assert.Equal(2UL, reading.ActiveConnections);
        Assert.Equal(17UL, Assert.Single(reading.ConnectionTotals).Value);
        Assert.Equal(3600UL, reading.UptimeSeconds);
    }

    [Fact]
    public void Parsed_istio_prometheus_dump_without_the_inbound_active_gauge_is_unreadable()
    {
        // Istio's default stats matcher keeps downstream_cx_total but may drop downstream_cx_active.
        const string prometheus = """
            # TYPE envoy_listener_downstream_cx_total counter
            envoy_listener_downstream_cx_total{listener_address="0.0.0.0_15006"} 120
            envoy_listener_downstream_cx_total{listener_address="0.0.0.0_15001"} 33
            # TYPE envoy_server_uptime gauge
            envoy_server_uptime{} 5000

            """;
        var stats = EnvoyStatsParser.Parse(Encoding.UTF8.GetBytes(prometheus), StatsFormat.Prometheus);

        var reading = ListenerCounting.Read(PodUid, PodName, stats, Settings(), istioProxy: true);

        Assert.False(reading.Readable);
    }

    [Fact]
    public void Istio_ipv6_only_inbound_listener_counts_like_the_ipv4_one()
    {
        var stats = Stats(("[__]_15006", 2, 70), ("[__]_15001", 40, 9000), ("0.0.0.0_15090", 1, 30));

        var reading = ListenerCounting.Read(PodUid, PodName, stats, Settings(), istioProxy: true);

        Assert.True(reading.Readable);
        Assert.Equal(2UL, reading.ActiveConnections);
        Assert.Equal(70UL, reading.ConnectionTotals["[__]_15006"]);
        Assert.Single(reading.ConnectionTotals);
    }

    [Fact]
    public void Istio_dual_stack_counts_both_inbound_listeners()
    {
        var stats = Stats(("0.0.0.0_15006", 1, 10), ("[__]_15006", 2, 70), ("0.0.0.0_15001", 40, 9000));

        var reading = ListenerCounting.Read(PodUid, PodName, stats, Settings(), istioProxy: true);

        Assert.True(reading.Readable);
        Assert.Equal(3UL, reading.ActiveConnections);
        Assert.Equal(new[] { "0.0.0.0_15006", "[__]_15006" }, reading.ConnectionTotals.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Istio_ipv6_inbound_listener_from_an_istio_prometheus_dump_is_counted()
    {
        // Istio's listener_address tag takes bracketed IPv6 addresses whole.
        const string prometheus = """
            # TYPE envoy_listener_downstream_cx_total counter
            envoy_listener_downstream_cx_total{listener_address="[__]_15006"} 120
            # TYPE envoy_listener_downstream_cx_active gauge
            envoy_listener_downstream_cx_active{listener_address="[__]_15006"} 1
            # TYPE envoy_server_uptime gauge
            envoy_server_uptime{} 5000

            """;
        var stats = EnvoyStatsParser.Parse(Encoding.UTF8.GetBytes(prometheus), StatsFormat.Prometheus);

        var reading = ListenerCounting.Read(PodUid, PodName, stats, Settings(), istioProxy: true);

        Assert.True(reading.Readable);
        Assert.Equal(1UL, reading.ActiveConnections);
    }

    [Fact]
    public void Active_gauges_whose_sum_overflows_make_the_pod_unreadable_instead_of_throwing()
    {
        var stats = Stats(("0.0.0.0_8080", ulong.MaxValue, 10), ("0.0.0.0_9443", 1, 20));

        var reading = ListenerCounting.Read(PodUid, PodName, stats, Settings(), istioProxy: false);

        Assert.False(reading.Readable);
        Assert.Contains("implausible", reading.FailureReason, StringComparison.Ordinal);
    }

    [Fact]
    public void An_active_gauge_beyond_any_real_connection_count_makes_the_pod_unreadable()
    {
        // A gauge decremented below zero wraps to nearly 2^64: that is no connection count at all.
        var stats = Stats(("0.0.0.0_8080", ulong.MaxValue, 10));

        var reading = ListenerCounting.Read(PodUid, PodName, stats, Settings(), istioProxy: false);

        Assert.False(reading.Readable);
        Assert.Contains("0.0.0.0_8080", reading.FailureReason, StringComparison.Ordinal);
    }
}
