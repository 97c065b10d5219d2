using System.Text;
using System.Text.RegularExpressions;
using EnvoyReaper.Envoy;
using EnvoyReaper.TestSupport.Envoy;

namespace EnvoyReaper.Core.Tests.Envoy;

public class EnvoyStatsParserTests
{
    // ---- samples from the reference doc (shared/reference/envoy-stats.md) ----

    private const string ReferenceText = """
        http.admin.downstream_cx_active: 2
        http.inbound_0.0.0.0_8080.downstream_cx_active: 0
        listener.0.0.0.0_15006.downstream_cx_active: 0
        listener.0.0.0.0_8443.downstream_cx_active: 6
        listener.admin.downstream_cx_active: 2
        listener.admin.main_thread.downstream_cx_active: 2
        http.ingress_http.downstream_rq_total: 3
        http.ingress_http.downstream_rq_time: P0(nan,1.0) P25(nan,1.075) P50(nan,2.05)
        t: "hello world"

        """;

    private const string ReferenceJson = """
        {"stats":[{"name":"t","value":"hello world"},{"name":"c1","value":10},{"name":"c2","value":20},
         {"histograms":{"supported_quantiles":[0.0,25.0,50.0,75.0,90.0,95.0,99.0,99.5,99.9,100.0],
          "computed_quantiles":[{"name":"h","values":[{"cumulative":200,"interval":200}]}]}}]}
        """;

    private const string ReferencePrometheus = """
        # TYPE envoy_listener_downstream_cx_active gauge
        envoy_listener_downstream_cx_active{envoy_listener_address="0.0.0.0_2015"} 0
        # TYPE envoy_listener_admin_downstream_cx_active gauge
        envoy_listener_admin_downstream_cx_active{} 1
        # TYPE envoy_http_downstream_rq_active gauge
        envoy_http_downstream_rq_active{envoy_http_conn_manager_prefix="admin"} 1
        # TYPE envoy_server_total_connections gauge
        envoy_server_total_connections{} 0
        envoy_tcp_upstream_flush_active{envoy_tcp_prefix="ingress_tcp"} 0

        """;

    private static EnvoyStats Parse(string body, StatsFormat format) => EnvoyStatsParser.Parse(Encoding.UTF8.GetBytes(body), format);

    private static EnvoyStatsFormatException Rejects(string body, StatsFormat format) =>
        Assert.Throws<EnvoyStatsFormatException>(() => Parse(body, format));

    private static string Json(params (string Name, string RawValue)[] stats) =>
        "{\"stats\":[" + string.Join(",", stats.Select(s => $"{{\"name\":\"{s.Name}\",\"value\":{s.RawValue}}}")) + "]}";

    // ---- text ----

    [Fact]
    public void Text_reference_sample_yields_listeners_and_skips_http_histograms_and_text_readouts()
    {
        EnvoyStats stats = Parse(ReferenceText, StatsFormat.Text);

        Assert.Equal(["0.0.0.0_15006", "0.0.0.0_8443", "admin"], stats.Listeners.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(new ListenerStats(0, null), stats.Listeners["0.0.0.0_15006"]);
        Assert.Equal(new ListenerStats(6, null), stats.Listeners["0.0.0.0_8443"]);
        Assert.Equal(new ListenerStats(2, null), stats.Listeners["admin"]); // main_thread copy not added
        Assert.Null(stats.UptimeSeconds);
    }

    [Fact]
    public void Text_reads_active_total_and_uptime_and_skips_no_recorded_values_histograms()
    {
        EnvoyStats stats = Parse("""
            listener.0.0.0.0_15001.downstream_cx_active: 3
            listener.0.0.0.0_15001.downstream_cx_total: 18446744073709551615
            listener.0.0.0.0_15001.downstream_cx_length_ms: No recorded values
            server.uptime: 123
            control_plane.identifier: "a: b: 3"

            """, StatsFormat.Text);

        Assert.Equal(new ListenerStats(3, ulong.MaxValue), stats.Listeners["0.0.0.0_15001"]);
        Assert.Equal(123UL, stats.UptimeSeconds);
    }

    [Theory]
    [InlineData("listener.a.downstream_cx_active: 3.0\n")]
    [InlineData("listener.a.downstream_cx_active: -1\n")]
    [InlineData("listener.a.downstream_cx_active: \n")]
    [InlineData("listener.a.downstream_cx_active: 18446744073709551616\n")]
    [InlineData("listener.a.downstream_cx_total: \"3\"\n")]
    [InlineData("server.uptime: No recorded values\n")]
    public void Text_rejects_a_needed_stat_that_is_not_an_unsigned_integer(string body) => Rejects(body, StatsFormat.Text);

    [Fact]
    public void Text_rejects_a_body_cut_mid_line_which_could_shorten_a_number()
    {
        EnvoyStatsFormatException ex = Rejects("server.uptime: 5\nlistener.a.downstream_cx_active: 12", StatsFormat.Text);
        Assert.Contains("truncated", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("hello\n")]
    [InlineData("{\"stats\":[{\"name\":\"server.uptime\",\"value\":1}]}\n")]
    [InlineData("   \"name\": \"listener.a.downstream_cx_active\",\n")]
    public void Text_rejects_lines_that_are_not_name_colon_value(string body) => Rejects(body, StatsFormat.Text);

    // ---- JSON ----

    [Fact]
    public void Json_reference_sample_parses_with_text_readout_and_nameless_histograms_element_skipped()
    {
        EnvoyStats stats = Parse(ReferenceJson, StatsFormat.Json);

        Assert.Empty(stats.Listeners);
        Assert.Null(stats.UptimeSeconds);
    }

    [Fact]
    public void Json_listener_keys_are_the_names_between_listener_and_the_stat()
    {
        EnvoyStats stats = Parse(Json(
            ("listener.0.0.0.0_15001.downstream_cx_active", "1"),
            ("listener.0.0.0.0_15001.downstream_cx_total", "2"),
            ("listener.10.1.2.3_8080.downstream_cx_active", "3"),
            ("listener.[__]_15001.downstream_cx_active", "4"),
            ("listener.[fd00__1]_8080.downstream_cx_total", "5"),
            ("listener.my.ingress.prefix.downstream_cx_active", "6"),
            ("listener.admin.downstream_cx_active", "7"),
            ("server.uptime", "99")), StatsFormat.Json);

        Assert.Equal(new ListenerStats(1, 2), stats.Listeners["0.0.0.0_15001"]);
        Assert.Equal(new ListenerStats(3, null), stats.Listeners["10.1.2.3_8080"]);
        Assert.Equal(new ListenerStats(4, null), stats.Listeners["[__]_15001"]);
        Assert.Equal(new ListenerStats(null, 5), stats.Listeners["[fd00__1]_8080"]);
        Assert.Equal(new ListenerStats(6, null), stats.Listeners["my.ingress.prefix"]);
        Assert.Equal(new ListenerStats(7, null), stats.Listeners["admin"]);
        Assert.Equal(6, stats.Listeners.Count);
        Assert.Equal(99UL, stats.UptimeSeconds);
    }

    [Fact]
    public void Json_per_worker_and_main_thread_copies_are_not_counted()
    {
        EnvoyStats stats = Parse(Json(
            ("listener.0.0.0.0_15001.downstream_cx_active", "3"),
            ("listener.0.0.0.0_15001.worker_0.downstream_cx_active", "2"),
            ("listener.0.0.0.0_15001.worker_1.downstream_cx_active", "1"),
            ("listener.0.0.0.0_15001.worker_12.downstream_cx_total", "9"),
            ("listener.0.0.0.0_15001.downstream_cx_total", "30"),
            ("listener.admin.main_thread.downstream_cx_active", "1"),
            ("listener.admin.downstream_cx_active", "1")), StatsFormat.Json);

        Assert.Equal(new ListenerStats(3, 30), stats.Listeners["0.0.0.0_15001"]);
        Assert.Equal(new ListenerStats(1, null), stats.Listeners["admin"]);
        Assert.Equal(2, stats.Listeners.Count);
    }

    [Fact]
    public void Json_other_downstream_cx_stats_and_look_alikes_are_ignored()
    {
        EnvoyStats stats = Parse(Json(
            ("listener.0.0.0.0_80.downstream_cx_destroy", "1"),
            ("listener.0.0.0.0_80.downstream_cx_active_x", "1"),
            ("listener.0.0.0.0_80.downstream_pre_cx_active", "1"),
            ("http.admin.downstream_cx_active", "1"),
            ("listener_manager.total_listeners_active", "1"),
            ("listener.downstream_cx_active", "1"),
            ("server.uptime_ms", "1"),
            ("cluster.x.upstream_cx_active", "1")), StatsFormat.Json);

        Assert.Empty(stats.Listeners);
        Assert.Null(stats.UptimeSeconds);
    }

    [Fact]
    public void Json_accepts_uint64_max()
    {
        EnvoyStats stats = Parse(Json(("listener.a.downstream_cx_total", "18446744073709551615"), ("server.uptime", "18446744073709551615")), StatsFormat.Json);

        Assert.Equal(ulong.MaxValue, stats.Listeners["a"].TotalConnections);
        Assert.Equal(ulong.MaxValue, stats.UptimeSeconds);
    }

    [Theory]
    [InlineData("18446744073709551616")]
    [InlineData("-1")]
    [InlineData("3.5")]
    [InlineData("3.0")]
    [InlineData("3e0")]
    [InlineData("\"3\"")]
    [InlineData("null")]
    [InlineData("{}")]
    public void Json_rejects_a_needed_stat_whose_value_is_not_an_unsigned_64_bit_integer(string rawValue)
    {
        EnvoyStatsFormatException ex = Rejects(Json(("listener.a.downstream_cx_active", rawValue)), StatsFormat.Json);
        Assert.Contains("listener.a.downstream_cx_active", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Json_odd_values_of_stats_we_skip_are_fine()
    {
        EnvoyStats stats = Parse(Json(("cluster.x.weird", "-1.5e300"), ("t", "\"text\""), ("u", "null"), ("listener.a.downstream_cx_active", "1")), StatsFormat.Json);

        Assert.Equal(1UL, stats.Listeners["a"].ActiveConnections);
    }

    [Fact]
    public void Json_a_needed_stat_without_a_value_is_rejected() =>
        Rejects("""{"stats":[{"name":"server.uptime"}]}""", StatsFormat.Json);

    [Fact]
    public void Json_histograms_element_anywhere_is_skipped_whole_including_null_quantiles()
    {
        EnvoyStats stats = Parse("""
            {"stats":[
              {"histograms":{"supported_quantiles":[0.0,50.0],"computed_quantiles":[
                {"name":"listener.a.downstream_cx_active","values":[{"interval":null,"cumulative":null},{"interval":1.5,"cumulative":2}]}]}},
              {"name":"listener.a.downstream_cx_active","value":4}]}
            """, StatsFormat.Json);

        Assert.Equal(new ListenerStats(4, null), stats.Listeners["a"]);
    }

    [Fact]
    public void Json_property_order_and_extra_properties_do_not_matter()
    {
        EnvoyStats stats = Parse("""{"other":{"x":[1,2]},"stats":[{"value":5,"extra":[{}],"name":"listener.a.downstream_cx_total"}]}""", StatsFormat.Json);

        Assert.Equal(new ListenerStats(null, 5), stats.Listeners["a"]);
    }

    [Fact]
    public void Json_escaped_names_are_unescaped_before_matching()
    {
        EnvoyStats stats = Parse("""{"stats":[{"name":"listener.0.0.0.0_80.downstream_cx_\u0061ctive","value":2},{"name":"listener.caf\u00e9.downstream_cx_total","value":1}]}""", StatsFormat.Json);

        Assert.Equal(2UL, stats.Listeners["0.0.0.0_80"].ActiveConnections);
        Assert.Equal(1UL, stats.Listeners["café"].TotalConnections);
    }

    [Fact]
    public void Json_empty_stats_array_is_valid_and_yields_nothing()
    {
        EnvoyStats stats = Parse("""{"stats":[]}""", StatsFormat.Json);

        Assert.Empty(stats.Listeners);
        Assert.Null(stats.UptimeSeconds);
    }

    [Theory]
    [InlineData("""{"stats":[{"name":"listener.a.downstream_cx_active","value":1""")]
    [InlineData("""{"stats":[{"name":"listener.a.downstream_cx_active","value":1}""")]
    [InlineData("""{"stats":[{"name":"listener.a.downstream_cx_active","val""")]
    [InlineData("""{"stats":[{"name":"listener.a.downstream_cx_active","value":12""")]
    public void Json_truncated_body_is_rejected(string body) => Rejects(body, StatsFormat.Json);

    [Theory]
    [InlineData("[]")]
    [InlineData("""{"stats":{}}""")]
    [InlineData("""{"stat":[]}""")]
    [InlineData("""{"stats":[1]}""")]
    [InlineData("""{"stats":[{"name":1,"value":1}]}""")]
    [InlineData("""{"stats":[]} {"stats":[]}""")]
    [InlineData("""{"stats":[]}x""")]
    [InlineData("""{"stats":[],}""")]
    [InlineData("""{"stats":[/* c */]}""")]
    [InlineData("server.uptime: 1\n")]
    public void Json_that_is_not_an_envoy_stats_object_is_rejected(string body) => Rejects(body, StatsFormat.Json);

    // ---- Prometheus ----

    [Fact]
    public void Prometheus_reference_sample_yields_address_label_listener_and_admin_from_the_metric_name()
    {
        EnvoyStats stats = Parse(ReferencePrometheus, StatsFormat.Prometheus);

        Assert.Equal(new ListenerStats(0, null), stats.Listeners["0.0.0.0_2015"]);
        Assert.Equal(new ListenerStats(1, null), stats.Listeners["admin"]);
        Assert.Equal(2, stats.Listeners.Count);
        Assert.Null(stats.UptimeSeconds);
    }

    [Fact]
    public void Prometheus_reads_uptime_totals_stat_prefix_names_istio_labels_and_ipv6()
    {
        EnvoyStats stats = Parse("""
            # TYPE envoy_listener_downstream_cx_total counter
            envoy_listener_downstream_cx_total{envoy_listener_address="0.0.0.0_15001"} 18446744073709551615
            envoy_listener_downstream_cx_total{envoy_listener_address="[__]_15001"} 7
            # TYPE envoy_listener_downstream_cx_active gauge
            envoy_listener_downstream_cx_active{envoy_listener_address="0.0.0.0_15001"} 3
            envoy_listener_downstream_cx_active{listener_address="0.0.0.0_15006"} 4
            envoy_listener_inbound_downstream_cx_active{} 2
            envoy_listener_inbound_http_downstream_cx_total{} 20
            envoy_listener_listener_downstream_cx_active{envoy_listener_address="my"} 5
            # TYPE envoy_server_uptime gauge
            envoy_server_uptime{} 123

            """, StatsFormat.Prometheus);

        Assert.Equal(new ListenerStats(3, ulong.MaxValue), stats.Listeners["0.0.0.0_15001"]);
        Assert.Equal(new ListenerStats(null, 7), stats.Listeners["[__]_15001"]);
        Assert.Equal(new ListenerStats(4, null), stats.Listeners["0.0.0.0_15006"]);
        Assert.Equal(new ListenerStats(2, null), stats.Listeners["inbound"]);
        Assert.Equal(new ListenerStats(null, 20), stats.Listeners["inbound_http"]);
        Assert.Equal(new ListenerStats(5, null), stats.Listeners["my.listener"]); // stat_prefix "my.listener": first segment tagged
        Assert.Equal(6, stats.Listeners.Count);
        Assert.Equal(123UL, stats.UptimeSeconds);
    }

    [Fact]
    public void Prometheus_per_worker_copies_are_not_counted_in_any_of_their_spellings()
    {
        EnvoyStats stats = Parse("""
            envoy_listener_downstream_cx_active{envoy_listener_address="0.0.0.0_15001"} 3
            envoy_listener_worker_downstream_cx_active{envoy_listener_address="0.0.0.0_15001",envoy_worker_id="0"} 2
            envoy_listener_worker_downstream_cx_active{envoy_worker_id="1",envoy_listener_address="0.0.0.0_15001"} 1
            envoy_listener_worker_0_downstream_cx_active{listener_address="0.0.0.0_15001"} 2
            envoy_listener_admin_main_thread_downstream_cx_active{} 1
            envoy_listener_admin_downstream_cx_active{} 1
            envoy_listener_inbound_downstream_cx_active{} 2
            envoy_listener_inbound_worker_1_downstream_cx_active{} 1
            envoy_listener_listener_downstream_cx_active{envoy_listener_address="my"} 2
            envoy_listener_listener_worker_0_downstream_cx_active{envoy_listener_address="my"} 1

            """, StatsFormat.Prometheus);

        Assert.Equal(new ListenerStats(3, null), stats.Listeners["0.0.0.0_15001"]);
        Assert.Equal(new ListenerStats(1, null), stats.Listeners["admin"]);
        Assert.Equal(new ListenerStats(2, null), stats.Listeners["inbound"]);
        Assert.Equal(new ListenerStats(2, null), stats.Listeners["my.listener"]);
        Assert.Equal(4, stats.Listeners.Count);
    }

    [Theory]
    [InlineData(StatsFormat.Json)]
    [InlineData(StatsFormat.Text)]
    [InlineData(StatsFormat.Prometheus)]
    public void A_listener_whose_name_ends_in_worker_is_counted_and_only_its_per_worker_copies_are_dropped(StatsFormat format)
    {
        FakeEnvoy fake = FakeEnvoy.CreateDetached();
        fake.WorkerCount = 3;
        fake.SetListener("game.render_worker", active: 4, total: 11);
        fake.SetListener("lobby", active: 1, total: 5);

        EnvoyStats stats = EnvoyStatsParser.Parse(fake.Render(format), format);

        Assert.Equal(new ListenerStats(4, 11), stats.Listeners["game.render_worker"]);
        Assert.Equal(new ListenerStats(1, 5), stats.Listeners["lobby"]);
        Assert.Equal(["admin", "game.render_worker", "lobby"], stats.Listeners.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Prometheus_a_listener_named_worker_after_its_first_segment_is_a_listener_without_a_worker_id()
    {
        // stat_prefix "game.worker": Envoy tags "game" and leaves "worker" in the name, with no envoy_worker_id.
        EnvoyStats stats = Parse("""
            envoy_listener_worker_downstream_cx_active{envoy_listener_address="game"} 2
            envoy_listener_worker_downstream_cx_total{envoy_listener_address="game"} 7
            envoy_listener_worker_downstream_cx_active{envoy_worker_id="0",envoy_listener_address="game"} 0

            """, StatsFormat.Prometheus);

        Assert.Equal(new ListenerStats(2, 7), Assert.Single(stats.Listeners).Value);
        Assert.Equal("game.worker", stats.Listeners.Keys.Single());
    }

    [Theory]
    [InlineData(StatsFormat.Prometheus, "envoy_listener_render_worker_0_downstream_cx_active{envoy_listener_address=\"game\"} 2\n")]
    [InlineData(StatsFormat.Prometheus, "envoy_listener_inbound_worker_1_downstream_cx_active{} 1\n")]
    [InlineData(StatsFormat.Prometheus, "envoy_listener_worker_0_downstream_cx_active{listener_address=\"0.0.0.0_15006\"} 1\n")]
    [InlineData(StatsFormat.Text, "listener.inbound.worker_0.downstream_cx_active: 5\n")]
    [InlineData(StatsFormat.Json, "{\"stats\":[{\"name\":\"listener.game.render.worker_0.downstream_cx_total\",\"value\":5}]}")]
    public void A_statistic_shaped_like_a_per_worker_copy_without_its_listener_is_ambiguous_and_rejected(StatsFormat format, string body)
    {
        var exception = Assert.Throws<EnvoyStatsFormatException>(() => Parse(body, format));

        Assert.Contains("per-worker", exception.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("3", 3UL)]
    [InlineData("3.0", 3UL)]
    [InlineData("3e0", 3UL)]
    [InlineData("3.00e+01", 30UL)]
    [InlineData("0", 0UL)]
    [InlineData("-0", 0UL)]
    [InlineData("18446744073709551615", ulong.MaxValue)]
    public void Prometheus_accepts_integral_values_written_as_floats(string value, ulong expected)
    {
        EnvoyStats stats = Parse($"envoy_listener_downstream_cx_active{{envoy_listener_address=\"a\"}} {value}\n", StatsFormat.Prometheus);

        Assert.Equal(expected, stats.Listeners["a"].ActiveConnections);
    }

    [Theory]
    [InlineData("NaN")]
    [InlineData("+Inf")]
    [InlineData("-Inf")]
    [InlineData("-1")]
    [InlineData("1.5")]
    [InlineData("1e-1")]
    [InlineData("1.8446744073709552e19")]
    [InlineData("Infinity")]
    [InlineData("0x10")]
    public void Prometheus_rejects_needed_values_that_are_not_non_negative_integers(string value) =>
        Rejects($"envoy_server_uptime{{}} {value}\n", StatsFormat.Prometheus);

    [Fact]
    public void Prometheus_skips_histograms_comments_other_metrics_and_accepts_timestamps()
    {
        EnvoyStats stats = Parse("""
            # HELP envoy_listener_downstream_cx_length_ms whatever
            # TYPE envoy_listener_downstream_cx_length_ms histogram
            envoy_listener_downstream_cx_length_ms_bucket{envoy_listener_address="0.0.0.0_80",le="0.5"} 0
            envoy_listener_downstream_cx_length_ms_bucket{envoy_listener_address="0.0.0.0_80",le="+Inf"} 4
            envoy_listener_downstream_cx_length_ms_sum{envoy_listener_address="0.0.0.0_80"} NaN
            envoy_listener_downstream_cx_length_ms_count{envoy_listener_address="0.0.0.0_80"} 4
            envoy_cluster_upstream_cx_active{envoy_cluster_name="outbound|80||a.b.svc.cluster.local"} 1
            envoy_listener_downstream_cx_active{envoy_listener_address="0.0.0.0_80",} 1 1712345678000

            """, StatsFormat.Prometheus);

        Assert.Equal(new ListenerStats(1, null), Assert.Single(stats.Listeners).Value);
    }

    [Fact]
    public void Prometheus_unescapes_label_values()
    {
        EnvoyStats stats = Parse("envoy_listener_downstream_cx_active{envoy_listener_address=\"we\\\"ird\\\\name\"} 1\n", StatsFormat.Prometheus);

        Assert.Equal(1UL, stats.Listeners["we\"ird\\name"].ActiveConnections);
    }

    [Fact]
    public void Prometheus_rejects_a_listener_stat_that_names_no_listener() =>
        Rejects("envoy_listener_downstream_cx_active{} 1\n", StatsFormat.Prometheus);

    [Fact]
    public void Prometheus_rejects_a_body_cut_mid_line()
    {
        EnvoyStatsFormatException ex = Rejects("envoy_server_uptime{} 12\nenvoy_listener_admin_downstream_cx_active{} 1", StatsFormat.Prometheus);
        Assert.Contains("truncated", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("envoy_server_uptime{} \n")]
    [InlineData("envoy_server_uptime{\n")]
    [InlineData("envoy_server_uptime{a=\"1} 2\n")]
    [InlineData("envoy_server_uptime{a=1} 2\n")]
    [InlineData("envoy_server_uptime 2 3 4\n")]
    [InlineData("envoy_x{} abc\n")]
    [InlineData("9envoy 1\n")]
    [InlineData("listener.a.downstream_cx_active: 1\n")]
    [InlineData("{\"stats\":[]}\n")]
    [InlineData(" envoy_server_uptime{} 1\n")]
    public void Prometheus_rejects_malformed_lines(string body) => Rejects(body, StatsFormat.Prometheus);

    // ---- every format ----

    [Theory]
    [InlineData(StatsFormat.Json)]
    [InlineData(StatsFormat.Prometheus)]
    [InlineData(StatsFormat.Text)]
    public void Empty_or_blank_body_is_rejected_in_every_format(StatsFormat format)
    {
        Assert.Contains("empty", Rejects("", format).Message, StringComparison.Ordinal);
        Assert.Contains("empty", Rejects(" \n\r\n\t", format).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(StatsFormat.Json)]
    [InlineData(StatsFormat.Prometheus)]
    [InlineData(StatsFormat.Text)]
    public void Html_is_rejected_in_every_format(StatsFormat format)
    {
        EnvoyStatsFormatException ex = Rejects("\n<!DOCTYPE html>\n<html><body><p>color: red</p></body></html>\n", format);
        Assert.Contains("HTML", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(StatsFormat.Json)]
    [InlineData(StatsFormat.Prometheus)]
    [InlineData(StatsFormat.Text)]
    public void Garbage_bytes_are_rejected_in_every_format(StatsFormat format)
    {
        byte[] garbage = new byte[2048];
        new Random(42).NextBytes(garbage);
        garbage[0] = 0xC3;
        garbage[1] = 0x28;
        garbage[^1] = (byte)'\n';

        Assert.Throws<EnvoyStatsFormatException>(() => EnvoyStatsParser.Parse(garbage, format));
    }

    [Theory]
    [InlineData(StatsFormat.Text, "listener.a.downstream_cx_active: 1\nlistener.a.downstream_cx_active: 1\nserver.uptime: 5\nserver.uptime: 5\n")]
    [InlineData(StatsFormat.Json, """{"stats":[{"name":"listener.a.downstream_cx_active","value":1},{"name":"listener.a.downstream_cx_active","value":1},{"name":"server.uptime","value":5},{"name":"server.uptime","value":5}]}""")]
    [InlineData(StatsFormat.Prometheus, "envoy_listener_downstream_cx_active{envoy_listener_address=\"a\"} 1\nenvoy_listener_a_downstream_cx_active{} 1.0\nenvoy_server_uptime{} 5\nenvoy_server_uptime{} 5\n")]
    public void Duplicates_with_the_same_value_are_accepted(StatsFormat format, string body)
    {
        EnvoyStats stats = Parse(body, format);

        Assert.Equal(new ListenerStats(1, null), stats.Listeners["a"]);
        Assert.Equal(5UL, stats.UptimeSeconds);
    }

    [Theory]
    [InlineData(StatsFormat.Text, "listener.a.downstream_cx_active: 1\nlistener.a.downstream_cx_active: 2\n")]
    [InlineData(StatsFormat.Json, """{"stats":[{"name":"listener.a.downstream_cx_total","value":1},{"name":"listener.a.downstream_cx_total","value":2}]}""")]
    [InlineData(StatsFormat.Prometheus, "envoy_listener_downstream_cx_active{envoy_listener_address=\"a\"} 1\nenvoy_listener_a_downstream_cx_active{} 0\n")]
    [InlineData(StatsFormat.Text, "server.uptime: 1\nserver.uptime: 2\n")]
    public void Duplicates_with_conflicting_values_are_rejected(StatsFormat format, string body)
    {
        EnvoyStatsFormatException ex = Rejects(body, format);
        Assert.Contains("twice", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_rejects_an_unknown_format() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => EnvoyStatsParser.Parse("x"u8, (StatsFormat)42));

    // ---- dumps rendered by the fake Envoy (formats as Envoy renders them) ----

    private static FakeEnvoy BusyFake(bool istio = false)
    {
        FakeEnvoy fake = FakeEnvoy.CreateDetached();
        fake.IstioMode = istio;
        fake.WorkerCount = 3;
        fake.UptimeSeconds = 4242;
        fake.SetListener("0.0.0.0_8080", active: 5, total: 17);
        fake.SetListener("10.1.2.3_9090", active: 0, total: 2);
        fake.SetListener("[__]_15001", active: 1, total: 1);
        fake.SetListener("inbound", active: 2, total: 2);
        fake.AddFillerClusters(20);
        return fake;
    }

    [Theory]
    [InlineData(StatsFormat.Json, false)]
    [InlineData(StatsFormat.Text, false)]
    [InlineData(StatsFormat.Prometheus, false)]
    [InlineData(StatsFormat.Prometheus, true)]
    public void Fake_envoy_dump_parses_to_the_aggregates_without_per_worker_double_counting(StatsFormat format, bool istio)
    {
        FakeEnvoy fake = BusyFake(istio);

        EnvoyStats stats = EnvoyStatsParser.Parse(fake.Render(format), format);

        Assert.Equal(new ListenerStats(5, 17), stats.Listeners["0.0.0.0_8080"]);
        Assert.Equal(new ListenerStats(0, 2), stats.Listeners["10.1.2.3_9090"]);
        Assert.Equal(new ListenerStats(1, 1), stats.Listeners["[__]_15001"]);
        Assert.Equal(new ListenerStats(2, 2), stats.Listeners["inbound"]);
        Assert.True(stats.Listeners.ContainsKey("admin"));
        Assert.Equal(4242UL, stats.UptimeSeconds);
        string[] expected = istio
            ? ["0.0.0.0_15001", "0.0.0.0_15006", "0.0.0.0_15090", "0.0.0.0_8080", "10.1.2.3_9090", "[__]_15001", "admin", "inbound"]
            : ["0.0.0.0_8080", "10.1.2.3_9090", "[__]_15001", "admin", "inbound"];
        Assert.Equal(expected, stats.Listeners.Keys.Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData(StatsFormat.Json)]
    [InlineData(StatsFormat.Text)]
    [InlineData(StatsFormat.Prometheus)]
    public void Fake_envoy_without_active_gauges_yields_unknown_active_never_zero(StatsFormat format)
    {
        FakeEnvoy fake = BusyFake();
        fake.OmitActiveGauges = true;

        EnvoyStats stats = EnvoyStatsParser.Parse(fake.Render(format), format);

        Assert.Equal(new ListenerStats(null, 17), stats.Listeners["0.0.0.0_8080"]);
        Assert.All(stats.Listeners.Values, l => Assert.Null(l.ActiveConnections));
    }

    // ---- the filter ----

    private static readonly Regex FilterRegex = new(EnvoyStatsQuery.Filter, RegexOptions.CultureInvariant);

    [Theory]
    [InlineData("listener.0.0.0.0_15001.downstream_cx_active")]
    [InlineData("listener.0.0.0.0_15001.downstream_cx_total")]
    [InlineData("listener.[__]_15001.downstream_cx_active")]
    [InlineData("listener.10.1.2.3_8080.downstream_cx_total")]
    [InlineData("listener.my.stat.prefix.downstream_cx_active")]
    [InlineData("listener.admin.downstream_cx_active")]
    [InlineData("server.uptime")]
    // Decided: RE2 has no look-around, so per-worker copies travel too and the parser drops them.
    [InlineData("listener.0.0.0.0_15001.worker_0.downstream_cx_active")]
    [InlineData("listener.admin.main_thread.downstream_cx_active")]
    public void Filter_matches_the_needed_stats(string name) => Assert.Matches(FilterRegex, name);

    [Theory]
    [InlineData("listener.0.0.0.0_15001.downstream_cx_destroy")]
    [InlineData("listener.0.0.0.0_15001.downstream_cx_active_x")]
    [InlineData("listener.0.0.0.0_15001.downstream_pre_cx_active")]
    [InlineData("listener.0.0.0.0_15001.downstream_cx_length_ms")]
    [InlineData("listener.downstream_cx_active")]
    [InlineData("http.admin.downstream_cx_active")]
    [InlineData("listener_manager.total_listeners_active")]
    [InlineData("cluster.listener.x.downstream_cx_active")]
    [InlineData("xlistener.a.downstream_cx_active")]
    [InlineData("server.uptime_ms")]
    [InlineData("server.uptime2")]
    [InlineData("my.server.uptime")]
    [InlineData("server.total_connections")]
    public void Filter_does_not_match_other_stats(string name) => Assert.DoesNotMatch(FilterRegex, name);

    [Fact]
    public void Filter_is_re2_compatible_and_accepted_by_the_fake() =>
        Assert.Equal(EnvoyStatsQuery.Filter, FakeEnvoy.CompileFilter(EnvoyStatsQuery.Filter).ToString());

    [Theory]
    [InlineData(StatsFormat.Json)]
    [InlineData(StatsFormat.Text)]
    [InlineData(StatsFormat.Prometheus)]
    public void Filtered_dump_is_small_and_parses_to_the_same_result_as_the_full_dump(StatsFormat format)
    {
        FakeEnvoy fake = BusyFake();
        fake.AddFillerClusters(200);

        byte[] full = fake.Render(format);
        byte[] filtered = fake.Render(format, EnvoyStatsQuery.Filter);
        EnvoyStats fromFull = EnvoyStatsParser.Parse(full, format);
        EnvoyStats fromFiltered = EnvoyStatsParser.Parse(filtered, format);

        Assert.True(filtered.Length < full.Length / 50, $"filtered {filtered.Length} bytes of {full.Length}");
        Assert.Equal(fromFull.Listeners.OrderBy(p => p.Key, StringComparer.Ordinal), fromFiltered.Listeners.OrderBy(p => p.Key, StringComparer.Ordinal));
        Assert.Equal(fromFull.UptimeSeconds, fromFiltered.UptimeSeconds);
        string text = Encoding.UTF8.GetString(filtered);
        Assert.DoesNotContain("cluster", text, StringComparison.Ordinal);
        Assert.DoesNotContain("http", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Json_parse_of_a_several_megabyte_dump_allocates_only_for_kept_listeners()
    {
        FakeEnvoy fake = BusyFake();
        fake.AddFillerClusters(2500);
        byte[] dump = fake.Render(StatsFormat.Json);
        Assert.True(dump.Length > 4_000_000, $"dump is {dump.Length} bytes");
        EnvoyStatsParser.Parse(dump, StatsFormat.Json); // warm up

        long before = GC.GetAllocatedBytesForCurrentThread();
        EnvoyStats stats = EnvoyStatsParser.Parse(dump, StatsFormat.Json);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(5, stats.Listeners.Count);
        Assert.True(allocated < 8 * 1024, $"allocated {allocated} bytes");
    }
}
