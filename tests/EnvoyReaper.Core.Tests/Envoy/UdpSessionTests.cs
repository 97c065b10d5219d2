using System.Text;
using EnvoyReaper.Envoy;
using EnvoyReaper.Idleness;
using EnvoyReaper.Workloads;

namespace EnvoyReaper.Core.Tests.Envoy;

/// <summary>UDP game servers: a udp_proxy has sessions, not connections, and its players must count.</summary>
public sealed class UdpSessionTests
{
    private const string Json = """
        {"stats":[
          {"name":"listener.0.0.0.0_7777.downstream_cx_active","value":0},
          {"name":"listener.0.0.0.0_7777.downstream_cx_total","value":0},
          {"name":"udp.game.downstream_sess_active","value":3},
          {"name":"udp.game.downstream_sess_total","value":41},
          {"name":"udp.game.downstream_sess_rx_datagrams","value":90000},
          {"name":"server.uptime","value":600}
        ]}
        """;

    private static readonly WorkloadSettings Settings = new(1, TimeSpan.FromMinutes(10), ReaperAction.Delete, 15090, "/stats", null, null, null, null);

    [Fact]
    public void Json_sessions_become_the_udp_pseudo_listener()
    {
        var stats = EnvoyStatsParser.Parse(Encoding.UTF8.GetBytes(Json), StatsFormat.Json);

        Assert.Equal(new ListenerStats(3, 41), stats.Listeners["udp.game"]);
    }

    [Fact]
    public void Text_sessions_become_the_udp_pseudo_listener()
    {
        var stats = EnvoyStatsParser.Parse("udp.game.downstream_sess_active: 2\nudp.game.downstream_sess_total: 5\n"u8, StatsFormat.Text);

        Assert.Equal(new ListenerStats(2, 5), stats.Listeners["udp.game"]);
    }

    [Fact]
    public void Players_on_UDP_make_the_pod_active_by_default()
    {
        var stats = EnvoyStatsParser.Parse(Encoding.UTF8.GetBytes(Json), StatsFormat.Json);

        var reading = ListenerCounting.Read("uid", "pod", stats, Settings, istioProxy: false);

        Assert.True(reading.Readable);
        Assert.Equal(3UL, reading.ActiveConnections);
        Assert.Equal(41UL, reading.ConnectionTotals["udp.game"]);
    }

    [Fact]
    public void The_filter_lets_the_session_statistics_through()
    {
        var filter = new System.Text.RegularExpressions.Regex(EnvoyStatsQuery.Filter);

        Assert.Matches(filter, "udp.game.downstream_sess_active");
        Assert.Matches(filter, "udp.game.downstream_sess_total");
        Assert.DoesNotMatch(filter, "udp.game.downstream_sess_rx_datagrams");
    }

    [Fact]
    public void Prometheus_UDP_sessions_are_refused_rather_than_silently_dropped()
    {
        var body = "# TYPE envoy_udp_downstream_sess_active gauge\nenvoy_udp_downstream_sess_active{envoy_udp_prefix=\"game\"} 3\n"u8.ToArray();

        var error = Assert.Throws<EnvoyStatsFormatException>(() => EnvoyStatsParser.Parse(body, StatsFormat.Prometheus));

        Assert.Contains("UDP", error.Message);
    }
}
