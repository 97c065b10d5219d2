using System.Diagnostics;
using System.Net;
using System.Text.Json;
using EnvoyReaper.Envoy;
using EnvoyReaper.TestSupport.Envoy;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Core.Tests.Envoy;

/// <summary>One fleet for the whole class; every test takes pods of its own.</summary>
public sealed class FakeEnvoyFleetFixture : IAsyncLifetime
{
    private int _next = -1;

    public FakeEnvoyFleet Fleet { get; private set; } = null!;

    public HttpClient Http { get; } = new(new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30) });

    public FakeEnvoy NextPod() => Fleet.Pods[Interlocked.Increment(ref _next)];

    public async Task InitializeAsync()
    {
        Fleet = await FakeEnvoyFleet.StartAsync(80);

        // Warm up (JIT of Kestrel, HttpClient, renderers, parser) on a pod of its own, so that the cold start is not
        // charged to whichever test runs first.
        FakeEnvoy warmUp = NextPod();
        var reader = new EnvoyStatsReader(Http, Options.Create(new EnvoyStatsReaderOptions()));
        foreach (string path in new[] { "/stats", "/stats?format=text", "/stats/prometheus" })
        {
            await reader.ReadAsync(warmUp.StatsEndpoint with { Path = path }, CancellationToken.None);
            using HttpResponseMessage response = await Http.GetAsync($"http://{warmUp.Ip}:{warmUp.Port}{path}");
        }
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Fleet.DisposeAsync();
    }
}

public class EnvoyStatsReaderUrlTests
{
    private static readonly string EscapedFilter = Uri.EscapeDataString(EnvoyStatsQuery.Filter);

    [Fact]
    public void Stats_path_asks_for_json_with_the_filter()
    {
        Uri uri = EnvoyStatsReader.BuildRequestUri(new StatsEndpoint("10.1.2.3", 15000, "/stats"), out StatsFormat format);

        Assert.Equal(StatsFormat.Json, format);
        Assert.Equal($"http://10.1.2.3:15000/stats?format=json&filter={EscapedFilter}", uri.AbsoluteUri);
    }

    [Theory]
    [InlineData("/stats/prometheus")]
    [InlineData("/envoy/stats/prometheus")]
    public void Prometheus_path_gets_no_format_parameter(string path)
    {
        Uri uri = EnvoyStatsReader.BuildRequestUri(new StatsEndpoint("10.1.2.3", 15090, path), out StatsFormat format);

        Assert.Equal(StatsFormat.Prometheus, format);
        Assert.Equal($"http://10.1.2.3:15090{path}?filter={EscapedFilter}", uri.AbsoluteUri);
    }

    [Theory]
    [InlineData("/stats?format=text", StatsFormat.Text)]
    [InlineData("/stats?format=json", StatsFormat.Json)]
    [InlineData("/stats?format=prometheus", StatsFormat.Prometheus)]
    [InlineData("/stats?usedonly&format=text", StatsFormat.Text)]
    public void A_format_in_the_path_is_honoured_and_not_repeated(string path, StatsFormat expected)
    {
        Uri uri = EnvoyStatsReader.BuildRequestUri(new StatsEndpoint("10.1.2.3", 15000, path), out StatsFormat format);

        Assert.Equal(expected, format);
        Assert.Equal($"http://10.1.2.3:15000{path}&filter={EscapedFilter}", uri.AbsoluteUri);
    }

    [Fact]
    public void A_filter_in_the_path_is_kept_instead_of_ours()
    {
        Uri uri = EnvoyStatsReader.BuildRequestUri(new StatsEndpoint("10.1.2.3", 15000, "/stats?filter=listener"), out _);

        Assert.Equal("http://10.1.2.3:15000/stats?filter=listener&format=json", uri.AbsoluteUri);
    }

    [Theory]
    [InlineData("fd00::1")]
    [InlineData("[fd00::1]")]
    [InlineData("FD00:0:0::1")]
    public void Ipv6_pod_ips_are_bracketed(string ip)
    {
        Uri uri = EnvoyStatsReader.BuildRequestUri(new StatsEndpoint(ip, 15000, "/stats"), out _);

        Assert.StartsWith("http://[fd00::1]:15000/stats?", uri.AbsoluteUri, StringComparison.Ordinal);
    }

    [Fact]
    public void The_filter_arrives_intact()
    {
        Uri uri = EnvoyStatsReader.BuildRequestUri(new StatsEndpoint("10.1.2.3", 15000, "/stats"), out _);

        string filter = uri.Query.TrimStart('?').Split('&').Single(p => p.StartsWith("filter=", StringComparison.Ordinal))["filter=".Length..];
        Assert.Equal(EnvoyStatsQuery.Filter, Uri.UnescapeDataString(filter));
    }

    [Theory]
    [InlineData("not-an-ip", 15000, "/stats")]
    [InlineData("10.1", 15000, "/stats")]
    [InlineData("", 15000, "/stats")]
    [InlineData("10.1.2.3", 0, "/stats")]
    [InlineData("10.1.2.3", 65536, "/stats")]
    [InlineData("10.1.2.3", 15000, "stats")]
    [InlineData("10.1.2.3", 15000, "/stats?format=html")]
    [InlineData("10.1.2.3", 15000, "/st ats")]
    public void Unusable_endpoints_are_rejected(string ip, int port, string path) =>
        Assert.Throws<ArgumentException>(() => EnvoyStatsReader.BuildRequestUri(new StatsEndpoint(ip, port, path), out _));

    [Fact]
    public async Task Reading_an_unusable_endpoint_is_a_failure_not_an_exception()
    {
        using var http = new HttpClient();
        var reader = new EnvoyStatsReader(http, Options.Create(new EnvoyStatsReaderOptions()));

        StatsReadResult result = await reader.ReadAsync(new StatsEndpoint("pod-a", 15000, "/stats"), CancellationToken.None);

        Assert.StartsWith("invalid endpoint: 'pod-a' is not an IP address", Assert.IsType<StatsReadResult.Failure>(result).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Invalid_options_are_rejected_at_construction()
    {
        using var http = new HttpClient();
        Assert.Throws<ArgumentOutOfRangeException>(() => new EnvoyStatsReader(http, Options.Create(new EnvoyStatsReaderOptions { Timeout = TimeSpan.Zero })));
        Assert.Throws<ArgumentOutOfRangeException>(() => new EnvoyStatsReader(http, Options.Create(new EnvoyStatsReaderOptions { MaxResponseBytes = 0 })));
    }

    [Fact]
    public void Defaults_are_two_seconds_and_eight_mebibytes()
    {
        var options = new EnvoyStatsReaderOptions();

        Assert.Equal(TimeSpan.FromSeconds(2), options.Timeout);
        Assert.Equal(8 * 1024 * 1024, options.MaxResponseBytes);
    }
}

public class EnvoyStatsReaderTests(FakeEnvoyFleetFixture fixture) : IClassFixture<FakeEnvoyFleetFixture>
{
    private EnvoyStatsReader Reader(TimeSpan? timeout = null, int? maxResponseBytes = null) =>
        new(fixture.Http, Options.Create(new EnvoyStatsReaderOptions
        {
            Timeout = timeout ?? TimeSpan.FromSeconds(2),
            MaxResponseBytes = maxResponseBytes ?? EnvoyStatsReaderOptions.DefaultMaxResponseBytes,
        }));

    private async Task<StatsReadResult> ReadAsync(FakeEnvoy pod, string? path = null, EnvoyStatsReader? reader = null) =>
        await (reader ?? Reader()).ReadAsync(path is null ? pod.StatsEndpoint : pod.StatsEndpoint with { Path = path }, CancellationToken.None);

    private static EnvoyStats Succeeded(StatsReadResult result) =>
        result is StatsReadResult.Success success ? success.Stats : throw new Xunit.Sdk.XunitException($"expected success, got {result}");

    private static string Failed(StatsReadResult result) =>
        result is StatsReadResult.Failure failure ? failure.Reason : throw new Xunit.Sdk.XunitException($"expected failure, got {result}");

    [Theory]
    [InlineData("/stats")]
    [InlineData("/stats?format=text")]
    [InlineData("/stats?format=prometheus")]
    [InlineData("/stats/prometheus")]
    public async Task Reads_listener_aggregates_and_uptime_in_every_format(string path)
    {
        FakeEnvoy pod = fixture.NextPod();
        pod.SetListener("0.0.0.0_8080", active: 3, total: 10);
        pod.SetListener("[__]_9090", active: 0, total: 4);
        pod.UptimeSeconds = 321;

        EnvoyStats stats = Succeeded(await ReadAsync(pod, path));

        Assert.Equal(new ListenerStats(3, 10), stats.Listeners["0.0.0.0_8080"]); // 2 worker copies rendered too, not added
        Assert.Equal(new ListenerStats(0, 4), stats.Listeners["[__]_9090"]);
        Assert.True(stats.Listeners["admin"].ActiveConnections >= 1, "the poll itself is a connection on admin");
        Assert.Equal(321UL, stats.UptimeSeconds);
        Assert.Equal(3, stats.Listeners.Count);
    }

    [Fact]
    public async Task Only_the_filtered_stats_travel()
    {
        FakeEnvoy pod = fixture.NextPod();
        pod.SetListener("0.0.0.0_8080", 1, 1);
        pod.AddFillerClusters(200);

        var success = Assert.IsType<StatsReadResult.Success>(await ReadAsync(pod));

        Assert.InRange(success.BytesRead, 50, 4096);
        Assert.True(pod.Render(StatsFormat.Json).Length > 300_000);
    }

    [Fact]
    public async Task Istio_sidecar_is_read_through_stats_prometheus_with_istio_labels()
    {
        FakeEnvoy pod = fixture.NextPod();
        pod.IstioMode = true;
        pod.OpenConnection(FakeEnvoy.IstioInboundListener);

        EnvoyStats stats = Succeeded(await ReadAsync(pod));

        Assert.Equal(new ListenerStats(1, 1), stats.Listeners[FakeEnvoy.IstioInboundListener]);
        Assert.Equal(new ListenerStats(0, 0), stats.Listeners[FakeEnvoy.IstioOutboundListener]);
        Assert.True(stats.Listeners[FakeEnvoy.IstioStatsListener].ActiveConnections >= 1, "the poll is a connection on 15090 too");
        Assert.Equal("HTTP 404", Failed(await ReadAsync(pod, "/stats")));
    }

    [Fact]
    public async Task Missing_active_gauges_are_unknown_not_zero()
    {
        FakeEnvoy pod = fixture.NextPod();
        pod.IstioMode = true;
        pod.OmitActiveGauges = true;
        pod.SetListener(FakeEnvoy.IstioInboundListener, 2, 9);

        EnvoyStats stats = Succeeded(await ReadAsync(pod));

        Assert.Equal(new ListenerStats(null, 9), stats.Listeners[FakeEnvoy.IstioInboundListener]);
    }

    [Fact]
    public async Task A_restart_shows_as_a_smaller_uptime_and_reset_counters()
    {
        FakeEnvoy pod = fixture.NextPod();
        pod.SetListener("0.0.0.0_8080", 2, 50);
        EnvoyStats before = Succeeded(await ReadAsync(pod));

        pod.Restart();
        EnvoyStats after = Succeeded(await ReadAsync(pod));

        Assert.Equal(7200UL, before.UptimeSeconds);
        Assert.Equal(0UL, after.UptimeSeconds);
        Assert.Equal(new ListenerStats(0, 0), after.Listeners["0.0.0.0_8080"]);
    }

    [Fact]
    public async Task Many_pods_read_in_parallel_each_get_their_own_stats()
    {
        FakeEnvoy[] pods = Enumerable.Range(0, 20).Select(_ => fixture.NextPod()).ToArray();
        for (int i = 0; i < pods.Length; i++)
        {
            pods[i].SetListener("0.0.0.0_8080", (ulong)i, (ulong)(100 + i));
        }

        StatsReadResult[] results = await Task.WhenAll(pods.Select(p => ReadAsync(p)));

        for (int i = 0; i < pods.Length; i++)
        {
            Assert.Equal(new ListenerStats((ulong)i, (ulong)(100 + i)), Succeeded(results[i]).Listeners["0.0.0.0_8080"]);
            Assert.Equal(1, pods[i].RequestCount);
        }
    }

    [Fact]
    public async Task Slow_envoy_times_out_as_a_failure()
    {
        FakeEnvoy pod = fixture.NextPod();
        pod.Fault = EnvoyFault.Delay(TimeSpan.FromSeconds(10));
        var watch = Stopwatch.StartNew();

        string reason = Failed(await ReadAsync(pod, reader: Reader(timeout: TimeSpan.FromMilliseconds(200))));

        Assert.Equal("timed out after 200ms", reason);
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(150), TimeSpan.FromSeconds(8)); // cut short of the 10 s delay, with room for a loaded machine
    }

    [Fact]
    public async Task Caller_cancellation_throws_instead_of_failing()
    {
        FakeEnvoy pod = fixture.NextPod();
        pod.Fault = EnvoyFault.Delay(TimeSpan.FromSeconds(10));
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Reader().ReadAsync(pod.StatsEndpoint, cts.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Reader().ReadAsync(pod.StatsEndpoint, new CancellationToken(canceled: true)));
    }

    [Fact]
    public async Task Http_errors_are_failures_with_the_status_code()
    {
        FakeEnvoy pod = fixture.NextPod();
        pod.Fault = EnvoyFault.Status503;

        Assert.Equal("HTTP 503", Failed(await ReadAsync(pod)));
        pod.Fault = EnvoyFault.None;
        Assert.Equal("HTTP 404", Failed(await ReadAsync(pod, "/nope")));
    }

    [Fact]
    public async Task Html_is_a_failure()
    {
        FakeEnvoy pod = fixture.NextPod();
        pod.Fault = EnvoyFault.Html;

        Assert.Equal("unparseable JSON: got HTML/XML instead of statistics", Failed(await ReadAsync(pod)));
    }

    [Theory]
    [InlineData("/stats", "unparseable JSON: ")]
    [InlineData("/stats?format=text", "unparseable text: truncated")]
    [InlineData("/stats/prometheus", "unparseable Prometheus: truncated")]
    public async Task Truncated_body_is_a_failure(string path, string expectedStart)
    {
        FakeEnvoy pod = fixture.NextPod();
        pod.SetListener("0.0.0.0_8080", 123, 456);
        pod.Fault = EnvoyFault.TruncatedJson;

        Assert.StartsWith(expectedStart, Failed(await ReadAsync(pod, path)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/stats")]
    [InlineData("/stats?format=text")]
    [InlineData("/stats/prometheus")]
    public async Task Garbage_is_a_failure(string path)
    {
        FakeEnvoy pod = fixture.NextPod();
        pod.Fault = EnvoyFault.Garbage;

        Assert.StartsWith("unparseable ", Failed(await ReadAsync(pod, path)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_connection_reset_is_a_failure()
    {
        FakeEnvoy pod = fixture.NextPod();
        pod.Fault = EnvoyFault.Refused;

        Assert.Equal("connection reset", Failed(await ReadAsync(pod)));
        Assert.Equal(1, pod.ConnectionCount);
        Assert.Equal(0, pod.RequestCount);
    }

    [Fact]
    public async Task A_refused_connection_is_a_failure()
    {
        var nobody = new StatsEndpoint(LoopbackAddressAllocator.Allocate().ToString(), fixture.Fleet.Port, "/stats");

        Assert.Equal("connection refused", Failed(await Reader().ReadAsync(nobody, CancellationToken.None)));
    }

    [Fact]
    public async Task A_body_over_the_limit_is_a_failure_without_buffering_it_all()
    {
        FakeEnvoy pod = fixture.NextPod();
        pod.AddFillerClusters(300);

        // Our own filter is not added when the path has one: ask for everything, chunked (no Content-Length).
        string reason = Failed(await ReadAsync(pod, "/stats?filter=.", Reader(maxResponseBytes: 16 * 1024)));

        Assert.Equal("response larger than the 16 KiB limit", reason);
    }

    [Fact]
    public async Task A_body_exactly_at_the_limit_is_read()
    {
        FakeEnvoy pod = fixture.NextPod();
        pod.SetListener("0.0.0.0_8080", 1, 2);
        int size = Assert.IsType<StatsReadResult.Success>(await ReadAsync(pod, "/stats?format=text")) is { BytesRead: var n } ? (int)n : 0;

        // Same dump again (the admin counters of a new request have the same digit count here).
        var result = await ReadAsync(pod, "/stats?format=text", Reader(maxResponseBytes: size));

        Assert.IsType<StatsReadResult.Success>(result);
    }
}

/// <summary>The fake Envoy itself, exercised over HTTP.</summary>
public class FakeEnvoyFleetTests(FakeEnvoyFleetFixture fixture) : IClassFixture<FakeEnvoyFleetFixture>
{
    private Task<HttpResponseMessage> GetAsync(FakeEnvoy pod, string pathAndQuery) =>
        fixture.Http.GetAsync($"http://{pod.Ip}:{pod.Port}{pathAndQuery}");

    private async Task<string> GetStringAsync(FakeEnvoy pod, string pathAndQuery)
    {
        using HttpResponseMessage response = await GetAsync(pod, pathAndQuery);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }

    [Fact]
    public void Pods_have_distinct_loopback_addresses_outside_127_0_and_share_one_port()
    {
        IReadOnlyList<FakeEnvoy> pods = fixture.Fleet.Pods;

        Assert.Equal(pods.Count, pods.Select(p => p.Ip).Distinct().Count());
        Assert.All(pods, p =>
        {
            byte[] b = p.Address.GetAddressBytes();
            Assert.Equal(127, b[0]);
            Assert.InRange(b[1], 1, 254);
            Assert.InRange(b[3], 1, 254);
            Assert.Equal(fixture.Fleet.Port, p.Port);
        });
    }

    [Fact]
    public async Task Two_fleets_can_run_side_by_side()
    {
        await using FakeEnvoyFleet other = await FakeEnvoyFleet.StartAsync(2);
        other.Pods[0].SetListener("0.0.0.0_1", 1, 1);

        Assert.DoesNotContain(other.Pods, p => fixture.Fleet.Pods.Any(q => q.Ip == p.Ip));
        Assert.Contains("listener.0.0.0.0_1.downstream_cx_active: 1\n", await GetStringAsync(other.Pods[0], "/stats"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Text_dump_has_readouts_counters_gauges_then_histograms()
    {
        FakeEnvoy pod = fixture.NextPod();
        pod.SetListener("0.0.0.0_8080", 3, 7);

        string text = await GetStringAsync(pod, "/stats");
        string[] lines = text.TrimEnd('\n').Split('\n');

        Assert.StartsWith("control_plane.identifier: \"", lines[0], StringComparison.Ordinal);
        Assert.Contains("listener.0.0.0.0_8080.downstream_cx_active: 3", lines);
        Assert.Contains("listener.0.0.0.0_8080.worker_0.downstream_cx_active: 2", lines);
        Assert.Contains("listener.0.0.0.0_8080.worker_1.downstream_cx_active: 1", lines);
        Assert.Contains("listener.admin.main_thread.downstream_cx_active: 1", lines);
        Assert.Contains("http.admin.downstream_rq_active: 1", lines);
        Assert.Contains("listener.admin.downstream_cx_length_ms: No recorded values", lines);
        Assert.Contains(lines, l => l.StartsWith("http.admin.downstream_rq_time: P0(nan,1.0) P25(nan,", StringComparison.Ordinal));
        int firstHistogram = Array.FindIndex(lines, l => l.Contains("P0(", StringComparison.Ordinal) || l.EndsWith("No recorded values", StringComparison.Ordinal));
        Assert.All(lines[firstHistogram..], l => Assert.True(l.Contains("P0(", StringComparison.Ordinal) || l.EndsWith("No recorded values", StringComparison.Ordinal), l));
        string[] counters = lines[1..firstHistogram].Select(l => l[..l.IndexOf(':', StringComparison.Ordinal)]).ToArray();
        Assert.Equal(counters.Order(StringComparer.Ordinal), counters);
    }

    [Fact]
    public async Task Json_dump_has_uint64_values_and_the_nameless_histograms_element_last()
    {
        FakeEnvoy pod = fixture.NextPod();
        pod.SetListener("0.0.0.0_8080", 0, ulong.MaxValue);

        using JsonDocument doc = JsonDocument.Parse(await GetStringAsync(pod, "/stats?format=json"));
        JsonElement[] stats = doc.RootElement.GetProperty("stats").EnumerateArray().ToArray();

        Assert.Equal(JsonValueKind.String, stats[0].GetProperty("value").ValueKind);
        Assert.Contains(stats, s => s.TryGetProperty("name", out var n) && n.GetString() == "listener.0.0.0.0_8080.downstream_cx_total" && s.GetProperty("value").GetUInt64() == ulong.MaxValue);
        JsonElement histograms = stats[^1].GetProperty("histograms");
        Assert.False(stats[^1].TryGetProperty("name", out _));
        Assert.Equal(10, histograms.GetProperty("supported_quantiles").GetArrayLength());
        Assert.Contains(histograms.GetProperty("computed_quantiles").EnumerateArray(), h =>
            h.GetProperty("values")[0].GetProperty("cumulative").ValueKind == JsonValueKind.Null);
    }

    [Fact]
    public async Task Prometheus_dump_uses_envoy_tag_extraction()
    {
        FakeEnvoy pod = fixture.NextPod();
        pod.SetListener("0.0.0.0_8080", 3, 7);

        string text = await GetStringAsync(pod, "/stats/prometheus");

        Assert.Contains("# TYPE envoy_listener_downstream_cx_active gauge\n", text, StringComparison.Ordinal);
        Assert.Contains("\nenvoy_listener_downstream_cx_active{envoy_listener_address=\"0.0.0.0_8080\"} 3\n", text, StringComparison.Ordinal);
        Assert.Contains("\nenvoy_listener_worker_downstream_cx_active{envoy_worker_id=\"0\",envoy_listener_address=\"0.0.0.0_8080\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("\nenvoy_listener_admin_downstream_cx_active{} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("\nenvoy_listener_admin_main_thread_downstream_cx_active{} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("\nenvoy_http_downstream_rq_active{envoy_http_conn_manager_prefix=\"admin\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("\nenvoy_http_downstream_rq_xx{envoy_response_code_class=\"2\",envoy_http_conn_manager_prefix=\"admin\"} ", text, StringComparison.Ordinal);
        Assert.Contains("\nenvoy_cluster_upstream_cx_total{envoy_cluster_name=\"service_backend\"} ", text, StringComparison.Ordinal);
        Assert.Contains("\nenvoy_server_uptime{} 7200\n", text, StringComparison.Ordinal);
        Assert.Contains("\nenvoy_server_worker_watchdog_miss{envoy_worker_id=\"1\"} ", text, StringComparison.Ordinal);
        Assert.Contains("\nenvoy_tcp_upstream_flush_active{envoy_tcp_prefix=\"passthrough\"} 0\n", text, StringComparison.Ordinal);
        Assert.Contains("\nenvoy_http_downstream_rq_time_bucket{envoy_http_conn_manager_prefix=\"admin\",le=\"+Inf\"} 5\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("control_plane", text, StringComparison.Ordinal); // no text readouts in Prometheus
        Assert.Equal(text, await GetStringAsync(pod, "/stats?format=prometheus") is var again && again.Length > 0 ? text : again);
    }

    [Fact]
    public async Task Istio_mode_serves_only_prometheus_with_istio_tags()
    {
        FakeEnvoy pod = fixture.NextPod();
        pod.IstioMode = true;

        string text = await GetStringAsync(pod, "/stats/prometheus");

        Assert.Contains("\nenvoy_listener_downstream_cx_active{listener_address=\"0.0.0.0_15006\"} 0\n", text, StringComparison.Ordinal);
        Assert.Contains("\nenvoy_listener_worker_0_downstream_cx_active{listener_address=\"0.0.0.0_15001\"} 0\n", text, StringComparison.Ordinal);
        Assert.Contains("\nenvoy_listener_downstream_cx_active{listener_address=\"0.0.0.0_15090\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("\nenvoy_cluster_upstream_cx_total{cluster_name=\"outbound|9080||reviews.default.svc.cluster.local\"} ", text, StringComparison.Ordinal);
        Assert.Contains("\nenvoy_cluster_upstream_rq{cluster_name=\"xds-grpc\",response_code_class=\"2xx\"} ", text, StringComparison.Ordinal);
        foreach (string path in new[] { "/stats", "/stats?format=json", "/ready", "/config_dump" })
        {
            using HttpResponseMessage response = await GetAsync(pod, path);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }
    }

    [Fact]
    public async Task Omitting_active_gauges_drops_every_downstream_cx_active()
    {
        FakeEnvoy pod = fixture.NextPod();
        pod.OmitActiveGauges = true;
        pod.SetListener("0.0.0.0_8080", 1, 1);

        string text = await GetStringAsync(pod, "/stats");

        Assert.DoesNotContain("downstream_cx_active", text, StringComparison.Ordinal);
        Assert.Contains("listener.0.0.0.0_8080.downstream_cx_total: 1\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Filter_is_a_partial_match_on_full_names_and_usedonly_hides_unwritten_stats()
    {
        FakeEnvoy pod = fixture.NextPod();
        pod.SetListener("0.0.0.0_8080", 1, 1);

        string filtered = await GetStringAsync(pod, "/stats?filter=" + Uri.EscapeDataString("cx_total"));
        string prometheus = await GetStringAsync(pod, "/stats/prometheus?filter=" + Uri.EscapeDataString(@"^server\.uptime$"));
        string all = await GetStringAsync(pod, "/stats");
        string used = await GetStringAsync(pod, "/stats?usedonly");

        Assert.All(filtered.TrimEnd('\n').Split('\n'), l => Assert.Contains("cx_total", l, StringComparison.Ordinal));
        Assert.Equal("# TYPE envoy_server_uptime gauge\nenvoy_server_uptime{} 7200\n", prometheus);
        Assert.Contains("listener.0.0.0.0_8080.downstream_pre_cx_active: 0\n", all, StringComparison.Ordinal);
        Assert.DoesNotContain("downstream_pre_cx_active", used, StringComparison.Ordinal);
        Assert.Contains("listener.0.0.0.0_8080.downstream_cx_total: 1\n", used, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("(")]
    [InlineData("a(?=b)")]
    [InlineData("(a)\\1")]
    public async Task Invalid_or_non_re2_filter_is_a_400(string filter)
    {
        FakeEnvoy pod = fixture.NextPod();

        using HttpResponseMessage response = await GetAsync(pod, "/stats?filter=" + Uri.EscapeDataString(filter));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task Ready_answers_and_other_admin_paths_are_404()
    {
        FakeEnvoy pod = fixture.NextPod();

        Assert.Equal("LIVE\n", await GetStringAsync(pod, "/ready"));
        using HttpResponseMessage quit = await GetAsync(pod, "/quitquitquit");
        using HttpResponseMessage format = await GetAsync(pod, "/stats?format=yaml");
        Assert.Equal(HttpStatusCode.NotFound, quit.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, format.StatusCode);
        Assert.Equal(3, pod.RequestCount);
    }

    [Fact]
    public async Task Admin_listener_counts_each_new_connection_and_the_poll_in_flight()
    {
        FakeEnvoy pod = fixture.NextPod();
        using var fresh = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.Zero });

        string first = await fresh.GetStringAsync($"http://{pod.Ip}:{pod.Port}/stats?filter=admin");
        string second = await fresh.GetStringAsync($"http://{pod.Ip}:{pod.Port}/stats?filter=admin");

        Assert.Contains("listener.admin.downstream_cx_active: 1\n", first, StringComparison.Ordinal);
        Assert.Contains("listener.admin.downstream_cx_total: 1\n", first, StringComparison.Ordinal);
        Assert.Contains("http.admin.downstream_rq_active: 1\n", first, StringComparison.Ordinal);
        Assert.Contains("listener.admin.downstream_cx_total: 2\n", second, StringComparison.Ordinal);
        Assert.Contains("http.admin.downstream_rq_total: 2\n", second, StringComparison.Ordinal);
        Assert.Contains("http.admin.downstream_rq_2xx: 1\n", second, StringComparison.Ordinal);
    }

    [Fact]
    public void Connections_keep_totals_monotonic()
    {
        FakeEnvoy pod = fixture.NextPod();

        pod.OpenConnection("0.0.0.0_8080");
        pod.OpenConnection("0.0.0.0_8080");
        pod.CloseConnection("0.0.0.0_8080");
        pod.CloseConnection("0.0.0.0_8080");

        Assert.Equal(((ulong)0, (ulong)2), pod.GetListener("0.0.0.0_8080"));
        Assert.Throws<InvalidOperationException>(() => pod.CloseConnection("0.0.0.0_8080"));
        Assert.Throws<ArgumentOutOfRangeException>(() => pod.SetListener("x", active: 2, total: 1));
        Assert.Throws<ArgumentException>(() => pod.SetListener("admin", 0, 0));
    }

    [Fact]
    public async Task Faults_can_be_cleared()
    {
        FakeEnvoy pod = fixture.NextPod();
        pod.Fault = EnvoyFault.Status503;
        using (HttpResponseMessage failing = await GetAsync(pod, "/ready"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, failing.StatusCode);
            Assert.Equal("no healthy upstream", await failing.Content.ReadAsStringAsync());
        }

        pod.Fault = EnvoyFault.None;

        Assert.Equal("LIVE\n", await GetStringAsync(pod, "/ready"));
    }

    [Fact]
    public async Task Disposing_the_fleet_cuts_delayed_requests_short()
    {
        FakeEnvoyFleet fleet = await FakeEnvoyFleet.StartAsync(1);
        fleet.Pods[0].Fault = EnvoyFault.Delay(TimeSpan.FromSeconds(30));
        Task<HttpResponseMessage> pending = fixture.Http.GetAsync($"http://{fleet.Pods[0].Ip}:{fleet.Port}/stats");
        while (fleet.Pods[0].RequestCount == 0)
        {
            await Task.Delay(5);
        }

        var watch = Stopwatch.StartNew();
        await fleet.DisposeAsync();

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(8), $"dispose took {watch.Elapsed}");
        await Assert.ThrowsAnyAsync<Exception>(async () => (await pending).EnsureSuccessStatusCode());
    }
}
