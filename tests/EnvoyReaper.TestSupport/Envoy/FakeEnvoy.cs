using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using EnvoyReaper.Envoy;
using Microsoft.AspNetCore.Http;

namespace EnvoyReaper.TestSupport.Envoy;

/// <summary>
/// One pod's Envoy admin (or Istio 15090 stats listener) inside a <see cref="FakeEnvoyFleet"/>. All members are
/// thread-safe. The dump is rendered from this state on every request, as Envoy renders it (see the reference doc):
/// aggregate listener stats plus per-worker copies, the admin listener counting the poll itself, and filler stats.
/// </summary>
public sealed class FakeEnvoy
{
    /// <summary>Istio's inbound listener.</summary>
    public const string IstioInboundListener = "0.0.0.0_15006";

    /// <summary>Istio's outbound (virtual) listener.</summary>
    public const string IstioOutboundListener = "0.0.0.0_15001";

    /// <summary>Istio's Prometheus stats listener; in <see cref="IstioMode"/> every poll is a connection on it too.</summary>
    public const string IstioStatsListener = "0.0.0.0_15090";

    private static readonly ConcurrentDictionary<string, string[]> ClusterStatNames = new(StringComparer.Ordinal);

    private static readonly string[] ClusterStatSuffixes =
    [
        "assignment_stale", "bind_errors", "circuit_breakers.default.cx_open", "circuit_breakers.default.rq_pending_open",
        "lb_healthy_panic", "membership_change", "membership_healthy", "membership_total", "max_host_weight",
        "upstream_cx_active", "upstream_cx_connect_fail", "upstream_cx_connect_timeout", "upstream_cx_destroy",
        "upstream_cx_http1_total", "upstream_cx_rx_bytes_total", "upstream_cx_total", "upstream_cx_tx_bytes_total",
        "upstream_rq_200", "upstream_rq_2xx", "upstream_rq_503", "upstream_rq_5xx", "upstream_rq_active",
        "upstream_rq_completed", "upstream_rq_pending_active", "upstream_rq_retry", "upstream_rq_timeout",
        "upstream_rq_total", "version",
    ];

    private static readonly HashSet<string> ClusterGauges = new(StringComparer.Ordinal)
    {
        "circuit_breakers.default.cx_open", "circuit_breakers.default.rq_pending_open", "membership_healthy",
        "membership_total", "max_host_weight", "upstream_cx_active", "upstream_rq_active", "upstream_rq_pending_active", "version",
    };

    private readonly Lock _gate = new();
    private readonly SortedDictionary<string, ListenerState> _listeners = new(StringComparer.Ordinal);
    private readonly CancellationToken _fleetStopping;
    private EnvoyFault _fault = EnvoyFault.None;
    private bool _istioMode;
    private bool _servedThroughStatsListener;
    private bool _omitActiveGauges;
    private int _workerCount = 2;
    private ulong _uptimeSeconds = 7200;
    private int _fillerClusters;
    private bool _countersReset;
    private ulong _adminCxActive;
    private ulong _adminCxTotal;
    private ulong _adminRqActive;
    private ulong _adminRqTotal;
    private ulong _adminRq2xx;
    private ulong _adminRq4xx;
    private ulong _adminRq5xx;
    private ulong _statsListenerCxActive;
    private ulong _statsListenerCxTotal;
    private long _requestCount;
    private long _connectionCount;

    internal FakeEnvoy(IPAddress address, int port, CancellationToken fleetStopping)
    {
        Address = address;
        Ip = address.ToString();
        Port = port;
        _fleetStopping = fleetStopping;
    }

    /// <summary>
    /// A pod that no server serves: for <see cref="Render"/> only (parser tests, benchmarks). Its <see cref="Ip"/> is
    /// 127.0.0.1 and its <see cref="Port"/> 0.
    /// </summary>
    public static FakeEnvoy CreateDetached() => new(IPAddress.Loopback, 0, CancellationToken.None);

    /// <summary>The pod IP (a distinct loopback address).</summary>
    public string Ip { get; }

    public IPAddress Address { get; }

    /// <summary>The fleet's port (the same for every pod).</summary>
    public int Port { get; }

    /// <summary>Where a reader should look: <c>/stats/prometheus</c> in <see cref="IstioMode"/>, else <c>/stats</c>.</summary>
    public StatsEndpoint StatsEndpoint => new(Ip, Port, IstioMode ? "/stats/prometheus" : "/stats");

    /// <summary>
    /// Behave as Istio's 15090 stats listener: only <c>GET /stats/prometheus</c> answers (everything else 404), names are
    /// tag-extracted with Istio's bootstrap rules (<c>listener_address</c>, <c>cluster_name</c> labels, no worker id),
    /// clusters have Istio names, and each poll is also a connection on <see cref="IstioStatsListener"/>. Turning it on
    /// adds the listeners <see cref="IstioInboundListener"/> and <see cref="IstioOutboundListener"/> (idle) if absent.
    /// </summary>
    public bool IstioMode
    {
        get { lock (_gate) { return _istioMode; } }
        set
        {
            lock (_gate)
            {
                _istioMode = value;
                if (value)
                {
                    _listeners.TryAdd(IstioInboundListener, new ListenerState());
                    _listeners.TryAdd(IstioOutboundListener, new ListenerState());
                }
            }
        }
    }

    /// <summary>
    /// Serve the stats through a stats-only listener bound to the fleet's port (the layout the injected sidecar uses:
    /// admin on 127.0.0.1, a listener on the stats port forwarding /stats), so that each poll is also a connection on
    /// <c>listener.0.0.0.0_&lt;Port&gt;</c>.
    /// </summary>
    public bool ServedThroughStatsListener
    {
        get { lock (_gate) { return _servedThroughStatsListener; } }
        set { lock (_gate) { _servedThroughStatsListener = value; } }
    }

    private string StatsListenerName => _istioMode ? IstioStatsListener : $"0.0.0.0_{Port}";

    /// <summary>Leave out every <c>*.downstream_cx_active</c> gauge, as Istio's default stats matcher does.</summary>
    public bool OmitActiveGauges
    {
        get { lock (_gate) { return _omitActiveGauges; } }
        set { lock (_gate) { _omitActiveGauges = value; } }
    }

    /// <summary>Number of worker threads (<c>--concurrency</c>): how many <c>worker_N</c> copies each listener has. Default 2.</summary>
    public int WorkerCount
    {
        get { lock (_gate) { return _workerCount; } }
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            lock (_gate) { _workerCount = value; }
        }
    }

    /// <summary><c>server.uptime</c>. Default 7200. Not advanced by the clock: tests set it.</summary>
    public ulong UptimeSeconds
    {
        get { lock (_gate) { return _uptimeSeconds; } }
        set { lock (_gate) { _uptimeSeconds = value; } }
    }

    /// <summary>The current fault; <see cref="EnvoyFault.None"/> by default.</summary>
    public EnvoyFault Fault
    {
        get { lock (_gate) { return _fault; } }
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            lock (_gate) { _fault = value; }
        }
    }

    /// <summary>HTTP requests received (any path, any fault except <see cref="EnvoyFault.Refused"/>, which resets before a request exists).</summary>
    public long RequestCount => Interlocked.Read(ref _requestCount);

    /// <summary>TCP connections accepted on this pod's address, including ones reset by <see cref="EnvoyFault.Refused"/>.</summary>
    public long ConnectionCount => Interlocked.Read(ref _connectionCount);

    /// <summary>Sets a listener's aggregate gauge and counter (creating the listener). <paramref name="total"/> must be at least <paramref name="active"/>.</summary>
    public void SetListener(string name, ulong active, ulong total)
    {
        ValidateListenerName(name);
        ArgumentOutOfRangeException.ThrowIfLessThan(total, active);
        lock (_gate)
        {
            _listeners[name] = new ListenerState { Active = active, Total = total };
        }
    }

    /// <summary>Removes a listener and its stats.</summary>
    public bool RemoveListener(string name)
    {
        lock (_gate)
        {
            return _listeners.Remove(name);
        }
    }

    /// <summary>A client connects to <paramref name="listener"/> (created if absent): active and total both go up.</summary>
    public void OpenConnection(string listener)
    {
        ValidateListenerName(listener);
        lock (_gate)
        {
            if (!_listeners.TryGetValue(listener, out ListenerState? state))
            {
                state = new ListenerState();
                _listeners[listener] = state;
            }

            state.Active++;
            state.Total++;
        }
    }

    /// <summary>A connection on <paramref name="listener"/> closes: active goes down, total stays.</summary>
    public void CloseConnection(string listener)
    {
        lock (_gate)
        {
            if (!_listeners.TryGetValue(listener, out ListenerState? state) || state.Active == 0)
            {
                throw new InvalidOperationException($"listener '{listener}' has no open connection");
            }

            state.Active--;
        }
    }

    /// <summary>A listener's aggregate (active, total), or null if there is no such listener.</summary>
    public (ulong Active, ulong Total)? GetListener(string name)
    {
        lock (_gate)
        {
            return _listeners.TryGetValue(name, out ListenerState? state) ? (state.Active, state.Total) : null;
        }
    }

    /// <summary>Names of the application listeners (admin and the Istio stats listener are not among them).</summary>
    public IReadOnlyList<string> ListenerNames
    {
        get { lock (_gate) { return _listeners.Keys.ToArray(); } }
    }

    /// <summary>Connections the admin listener has accepted since the last (re)start (each poll's connection; keep-alive reuses one).</summary>
    public ulong AdminConnectionsTotal
    {
        get { lock (_gate) { return _adminCxTotal; } }
    }

    /// <summary>
    /// Envoy restarts: every listener's active and total go to 0 (the old process's connections are gone), uptime goes
    /// to 0, the admin counters restart from the connections open now, and filler counters restart at 0.
    /// </summary>
    public void Restart()
    {
        lock (_gate)
        {
            foreach (ListenerState state in _listeners.Values)
            {
                state.Active = 0;
                state.Total = 0;
            }

            _uptimeSeconds = 0;
            _adminCxTotal = _adminCxActive;
            _adminRqTotal = _adminRqActive;
            _adminRq2xx = _adminRq4xx = _adminRq5xx = 0;
            _statsListenerCxTotal = _statsListenerCxActive;
            _countersReset = true;
        }
    }

    /// <summary>Adds <paramref name="count"/> more upstream clusters with 28 stats each (about 1.8 KB of JSON per cluster; 2500 make a 4.5 MB dump) to make big dumps.</summary>
    public void AddFillerClusters(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        lock (_gate)
        {
            _fillerClusters += count;
        }
    }

    /// <summary>
    /// Renders the dump as a request with these parameters would get it, without counting a poll
    /// (for parser tests and benchmarks). <paramref name="filter"/> is matched partially against full stat names.
    /// </summary>
    public byte[] Render(StatsFormat format, string? filter = null, bool usedOnly = false)
    {
        Regex? regex = filter is null ? null : CompileFilter(filter);
        var output = new ArrayBufferWriter<byte>(64 * 1024);
        RenderTo(output, format, regex, usedOnly);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Compiles a <c>filter=</c> value as the fake applies it (partial match, like Envoy's RE2). Throws
    /// <see cref="ArgumentException"/> for an invalid pattern or one using what RE2 lacks (look-around, atomic groups,
    /// back-references), for which Envoy answers 400.
    /// </summary>
    public static Regex CompileFilter(string filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        // Envoy compiles the filter with RE2, which rejects look-around, atomic groups and back-references; .NET would
        // accept them, so reject them here to keep the fake honest.
        string[] notRe2 = ["(?=", "(?!", "(?<=", "(?<!", "(?>", @"\k<"];
        if (notRe2.Any(t => filter.Contains(t, StringComparison.Ordinal)) || Regex.IsMatch(filter, @"(?<!\\)\\[1-9]"))
        {
            throw new ArgumentException("not RE2 syntax", nameof(filter));
        }

        return new Regex(filter, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(2));
    }

    private void RenderTo(IBufferWriter<byte> output, StatsFormat format, Regex? filter, bool usedOnly)
    {
        List<FakeStat> stats;
        bool istio;
        lock (_gate)
        {
            stats = Snapshot();
            istio = _istioMode;
        }

        stats.RemoveAll(s => (filter is not null && !filter.IsMatch(s.Name)) || (usedOnly && !s.Used));
        stats.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
        EnvoyStatsRenderer.Render(output, stats, format, istio);
    }

    // Called with _gate held.
    private List<FakeStat> Snapshot()
    {
        var stats = new List<FakeStat>(256 + (_fillerClusters * ClusterStatSuffixes.Length));
        string controlPlane = _istioMode ? "istiod-5d8c6f9b7-xk2lp: \"primary\"" : "xds control plane: hello world";
        stats.Add(FakeStat.TextReadout("control_plane.identifier", controlPlane));

        // The admin listener and its HTTP connection manager, counting the polls themselves.
        AddListenerStats(stats, "admin", _adminCxActive, _adminCxTotal, perThread: ["main_thread"]);
        stats.Add(FakeStat.Gauge("http.admin.downstream_cx_active", _adminCxActive));
        stats.Add(FakeStat.Counter("http.admin.downstream_cx_total", _adminCxTotal, used: true));
        stats.Add(FakeStat.Gauge("http.admin.downstream_cx_http1_active", _adminCxActive));
        stats.Add(FakeStat.Gauge("http.admin.downstream_rq_active", _adminRqActive));
        stats.Add(FakeStat.Counter("http.admin.downstream_rq_total", _adminRqTotal, used: true));
        stats.Add(FakeStat.Counter("http.admin.downstream_rq_http1_total", _adminRqTotal, used: true));
        stats.Add(FakeStat.Counter("http.admin.downstream_rq_2xx", _adminRq2xx));
        stats.Add(FakeStat.Counter("http.admin.downstream_rq_4xx", _adminRq4xx));
        stats.Add(FakeStat.Counter("http.admin.downstream_rq_5xx", _adminRq5xx));
        stats.Add(FakeStat.Counter("listener.admin.http.admin.downstream_rq_2xx", _adminRq2xx));
        stats.Add(FakeStat.Counter("listener.admin.http.admin.downstream_rq_completed", _adminRqTotal - _adminRqActive));
        stats.Add(FakeStat.Histogram("http.admin.downstream_rq_time", 1, 1.1, 2, 2.1, 3));
        stats.Add(FakeStat.Histogram("listener.admin.downstream_cx_length_ms"));

        string[] workers = Enumerable.Range(0, _workerCount).Select(i => "worker_" + i.ToString(CultureInfo.InvariantCulture)).ToArray();
        ulong totalActive = 0;
        foreach ((string name, ListenerState state) in _listeners)
        {
            AddListenerStats(stats, name, state.Active, state.Total, workers);
            string prefix = "ingress_" + name;
            stats.Add(FakeStat.Gauge($"http.{prefix}.downstream_cx_active", state.Active));
            stats.Add(FakeStat.Counter($"http.{prefix}.downstream_cx_total", state.Total, used: true));
            stats.Add(FakeStat.Gauge($"http.{prefix}.downstream_rq_active", 0, used: state.Total > 0));
            stats.Add(FakeStat.Counter($"http.{prefix}.downstream_rq_total", state.Total * 3));
            stats.Add(FakeStat.Counter($"http.{prefix}.downstream_rq_2xx", state.Total * 3));
            stats.Add(FakeStat.Counter($"listener.{name}.http.{prefix}.downstream_rq_2xx", state.Total * 3));
            totalActive += state.Active;
        }

        if (_istioMode || _servedThroughStatsListener)
        {
            AddListenerStats(stats, StatsListenerName, _statsListenerCxActive, _statsListenerCxTotal, workers);
            stats.Add(FakeStat.Gauge("http.stats.downstream_cx_active", _statsListenerCxActive));
            stats.Add(FakeStat.Counter("http.stats.downstream_cx_total", _statsListenerCxTotal, used: true));
            stats.Add(FakeStat.Counter("http.stats.downstream_rq_total", _adminRqTotal, used: true));
            totalActive += _statsListenerCxActive;
        }

        // server.*, listener_manager.*, cluster_manager.*
        stats.Add(FakeStat.Gauge("server.uptime", _uptimeSeconds));
        stats.Add(FakeStat.Gauge("server.live", 1));
        stats.Add(FakeStat.Gauge("server.state", 0));
        stats.Add(FakeStat.Gauge("server.concurrency", (ulong)_workerCount));
        stats.Add(FakeStat.Gauge("server.total_connections", totalActive));
        stats.Add(FakeStat.Gauge("server.parent_connections", 0));
        stats.Add(FakeStat.Gauge("server.memory_allocated", 7_340_032));
        stats.Add(FakeStat.Gauge("server.memory_heap_size", 10_485_760));
        stats.Add(FakeStat.Gauge("server.memory_physical_size", 12_582_912));
        stats.Add(FakeStat.Gauge("server.version", 13_421_770));
        stats.Add(FakeStat.Gauge("server.hot_restart_epoch", 0));
        stats.Add(FakeStat.Gauge("server.hot_restart_generation", 1));
        stats.Add(FakeStat.Gauge("server.days_until_first_cert_expiring", 89));
        stats.Add(FakeStat.Gauge("server.stats_recent_lookups", 1_234));
        stats.Add(FakeStat.Counter("server.debug_assertion_failures", 0));
        stats.Add(FakeStat.Counter("server.envoy_bug_failures", 0));
        stats.Add(FakeStat.Counter("server.static_unknown_fields", 0));
        stats.Add(FakeStat.Counter("server.dynamic_unknown_fields", 0));
        stats.Add(FakeStat.Counter("server.watchdog_miss", Reset(3)));
        stats.Add(FakeStat.Counter("server.main_thread.watchdog_miss", Reset(1)));
        foreach (string worker in workers)
        {
            stats.Add(FakeStat.Counter($"server.{worker}.watchdog_miss", Reset(1)));
        }

        stats.Add(FakeStat.Histogram("server.initialization_time_ms", 38));
        ulong listenerCount = (ulong)_listeners.Count + (_istioMode ? 1UL : 0UL);
        stats.Add(FakeStat.Gauge("listener_manager.total_listeners_active", listenerCount));
        stats.Add(FakeStat.Gauge("listener_manager.total_listeners_draining", 0));
        stats.Add(FakeStat.Gauge("listener_manager.total_listeners_warming", 0));
        stats.Add(FakeStat.Gauge("listener_manager.workers_started", 1));
        stats.Add(FakeStat.Counter("listener_manager.listener_added", listenerCount, used: true));
        stats.Add(FakeStat.Counter("listener_manager.listener_create_success", listenerCount * (ulong)_workerCount, used: true));
        stats.Add(FakeStat.Counter("listener_manager.listener_removed", 0));

        string[] clusters = _istioMode
            ? ["xds-grpc", "agent", "prometheus_stats", "BlackHoleCluster", "PassthroughCluster", "inbound|8080||", "outbound|9080||reviews.default.svc.cluster.local"]
            : ["service_backend", "xds_cluster"];
        stats.Add(FakeStat.Gauge("cluster_manager.active_clusters", (ulong)(clusters.Length + _fillerClusters)));
        stats.Add(FakeStat.Gauge("cluster_manager.warming_clusters", 0));
        stats.Add(FakeStat.Counter("cluster_manager.cluster_added", (ulong)(clusters.Length + _fillerClusters), used: true));
        stats.Add(FakeStat.Counter("tcp.passthrough.downstream_cx_total", Reset(12)));
        stats.Add(FakeStat.Gauge("tcp.passthrough.upstream_flush_active", 0));

        for (int i = 0; i < clusters.Length; i++)
        {
            AddClusterStats(stats, clusters[i], i);
            stats.Add(FakeStat.Histogram($"cluster.{clusters[i]}.upstream_cx_connect_ms", 1, 1.5, 2));
            stats.Add(FakeStat.Histogram($"cluster.{clusters[i]}.upstream_cx_length_ms"));
        }

        for (int i = 0; i < _fillerClusters; i++)
        {
            string cluster = _istioMode
                ? $"outbound|8080||filler-{i.ToString(CultureInfo.InvariantCulture)}.default.svc.cluster.local"
                : "filler_" + i.ToString("D5", CultureInfo.InvariantCulture);
            AddClusterStats(stats, cluster, clusters.Length + i);
            if (i < 10)
            {
                stats.Add(FakeStat.Histogram($"cluster.{cluster}.upstream_rq_time", 3, 5, 8, 13, 21));
            }
        }

        if (_omitActiveGauges)
        {
            stats.RemoveAll(s => s.Name.EndsWith(".downstream_cx_active", StringComparison.Ordinal));
        }

        return stats;
    }

    private void AddClusterStats(List<FakeStat> stats, string cluster, int seed)
    {
        string[] names = ClusterStatNames.GetOrAdd(cluster, static c => ClusterStatSuffixes.Select(s => $"cluster.{c}.{s}").ToArray());
        for (int s = 0; s < names.Length; s++)
        {
            string suffix = ClusterStatSuffixes[s];
            ulong value = (ulong)(((seed + 1) * 7919) + (s * 104729)) % 100_000;
            if (ClusterGauges.Contains(suffix))
            {
                stats.Add(FakeStat.Gauge(names[s], value % 5, used: value % 3 != 0));
            }
            else
            {
                stats.Add(FakeStat.Counter(names[s], value % 7 == 0 ? 0 : Reset(value)));
            }
        }
    }

    private static void AddListenerStats(List<FakeStat> stats, string name, ulong active, ulong total, string[] perThread)
    {
        stats.Add(FakeStat.Gauge($"listener.{name}.downstream_cx_active", active));
        stats.Add(FakeStat.Counter($"listener.{name}.downstream_cx_total", total, used: true));
        stats.Add(FakeStat.Counter($"listener.{name}.downstream_cx_destroy", total - active));
        stats.Add(FakeStat.Counter($"listener.{name}.downstream_cx_overflow", 0));
        stats.Add(FakeStat.Gauge($"listener.{name}.downstream_pre_cx_active", 0, used: false));
        ulong n = (ulong)perThread.Length;
        for (int i = 0; i < perThread.Length; i++)
        {
            // Worker i gets an equal share, the first ones one more of the remainder: the copies add up to the aggregate.
            ulong share = (active / n) + ((ulong)i < active % n ? 1UL : 0UL);
            ulong shareTotal = (total / n) + ((ulong)i < total % n ? 1UL : 0UL);
            stats.Add(FakeStat.Gauge($"listener.{name}.{perThread[i]}.downstream_cx_active", share));
            stats.Add(FakeStat.Counter($"listener.{name}.{perThread[i]}.downstream_cx_total", shareTotal, used: true));
        }
    }

    private ulong Reset(ulong value) => _countersReset ? 0 : value;

    private static void ValidateListenerName(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (name == "admin")
        {
            throw new ArgumentException("the admin listener is rendered automatically", nameof(name));
        }

        if (name == IstioStatsListener)
        {
            throw new ArgumentException("the Istio stats listener is rendered automatically in IstioMode", nameof(name));
        }
    }

    // ---- connection and request handling (called by the fleet) ----

    /// <summary>Returns false when the connection must be reset (fault Refused); otherwise counts it on the admin listener.</summary>
    internal bool TryOpenAdminConnection(out bool countedOnStatsListener)
    {
        Interlocked.Increment(ref _connectionCount);
        lock (_gate)
        {
            countedOnStatsListener = false;
            if (_fault is EnvoyFault.RefusedFault)
            {
                return false;
            }

            _adminCxActive++;
            _adminCxTotal++;
            if (_istioMode || _servedThroughStatsListener)
            {
                _statsListenerCxActive++;
                _statsListenerCxTotal++;
                countedOnStatsListener = true;
            }

            return true;
        }
    }

    internal void CloseAdminConnection(bool countedOnStatsListener)
    {
        lock (_gate)
        {
            _adminCxActive = _adminCxActive > 0 ? _adminCxActive - 1 : 0;
            if (countedOnStatsListener)
            {
                _statsListenerCxActive = _statsListenerCxActive > 0 ? _statsListenerCxActive - 1 : 0;
            }
        }
    }

    internal async Task HandleAsync(HttpContext context)
    {
        Interlocked.Increment(ref _requestCount);
        EnvoyFault fault;
        lock (_gate)
        {
            fault = _fault;
            _adminRqActive++;
            _adminRqTotal++;
        }

        HttpResponse response = context.Response;
        try
        {
            response.Headers["server"] = "envoy";
            response.Headers.CacheControl = "no-cache, max-age=0";
            response.Headers["x-content-type-options"] = "nosniff";
            switch (fault)
            {
                case EnvoyFault.DelayFault delay:
                    using (var linked = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _fleetStopping))
                    {
                        try
                        {
                            await Task.Delay(delay.Duration, linked.Token).ConfigureAwait(false);
                        }
                        catch (OperationCanceledException)
                        {
                            // The client left or the fleet is stopping: never let Kestrel complete this as an empty 200.
                            context.Abort();
                            return;
                        }
                    }

                    break;
                case EnvoyFault.Status503Fault:
                    await WritePlainAsync(response, StatusCodes.Status503ServiceUnavailable, "text/plain", "no healthy upstream").ConfigureAwait(false);
                    return;
                case EnvoyFault.HtmlFault:
                    await WritePlainAsync(response, StatusCodes.Status200OK, "text/html; charset=UTF-8",
                        "<!DOCTYPE html>\n<html><head><title>Envoy Admin</title></head>\n<body><h1>Envoy Admin</h1>\n<table class=\"home-table\"><tr><td><a href=\"stats\">stats</a></td><td>print server stats</td></tr></table>\n</body></html>\n").ConfigureAwait(false);
                    return;
                case EnvoyFault.GarbageFault:
                    byte[] garbage = new byte[4096];
                    new Random(Ip.GetHashCode(StringComparison.Ordinal)).NextBytes(garbage);
                    garbage[0] = 0xC3; // an invalid UTF-8 sequence up front
                    garbage[1] = 0x28;
                    await WriteBodyAsync(response, StatusCodes.Status200OK, "text/plain; charset=UTF-8", garbage).ConfigureAwait(false);
                    return;
                case EnvoyFault.RefusedFault:
                    context.Abort();
                    return;
            }

            await RouteAsync(context, fault is EnvoyFault.TruncatedFault).ConfigureAwait(false);
        }
        finally
        {
            lock (_gate)
            {
                _adminRqActive = _adminRqActive > 0 ? _adminRqActive - 1 : 0;
                switch (response.StatusCode / 100)
                {
                    case 2: _adminRq2xx++; break;
                    case 4: _adminRq4xx++; break;
                    case 5: _adminRq5xx++; break;
                }
            }
        }
    }

    private async Task RouteAsync(HttpContext context, bool truncate)
    {
        HttpRequest request = context.Request;
        HttpResponse response = context.Response;
        string path = request.Path.Value ?? "/";
        bool istio = IstioMode;

        if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method))
        {
            await WritePlainAsync(response, StatusCodes.Status405MethodNotAllowed, "text/plain", "This admin endpoint only answers GET.\n").ConfigureAwait(false);
            return;
        }

        StatsFormat format;
        if (path == "/stats/prometheus")
        {
            format = StatsFormat.Prometheus;
        }
        else if (path == "/stats" && !istio)
        {
            string? requested = request.Query["format"];
            switch (requested)
            {
                case null or "" or "text":
                    format = StatsFormat.Text;
                    break;
                case "json":
                    format = StatsFormat.Json;
                    break;
                case "prometheus":
                    format = StatsFormat.Prometheus;
                    break;
                default:
                    await WritePlainAsync(response, StatusCodes.Status400BadRequest, "text/plain",
                        "usage: /stats?format=(json|prometheus|text)&filter=<regex>&usedonly\n").ConfigureAwait(false);
                    return;
            }
        }
        else if (path == "/ready" && !istio)
        {
            await WritePlainAsync(response, StatusCodes.Status200OK, "text/plain; charset=UTF-8", "LIVE\n").ConfigureAwait(false);
            return;
        }
        else
        {
            await WritePlainAsync(response, StatusCodes.Status404NotFound, "text/plain; charset=UTF-8",
                istio ? "" : "invalid path. admin commands are: /ready /stats /stats/prometheus\n").ConfigureAwait(false);
            return;
        }

        Regex? filter = null;
        string? filterText = request.Query["filter"];
        if (!string.IsNullOrEmpty(filterText))
        {
            try
            {
                filter = CompileFilter(filterText);
            }
            catch (ArgumentException)
            {
                await WritePlainAsync(response, StatusCodes.Status400BadRequest, "text/plain; charset=UTF-8", "Invalid re2 regex\n").ConfigureAwait(false);
                return;
            }
        }

        var output = new ArrayBufferWriter<byte>(64 * 1024);
        RenderTo(output, format, filter, request.Query.ContainsKey("usedonly"));
        ReadOnlyMemory<byte> body = output.WrittenMemory;
        if (truncate)
        {
            // Cut about half-way, right after a digit when one is near, so that a careless parser would read a shorter number.
            int cut = Math.Max(1, body.Length / 2);
            int digit = body.Span[..cut].LastIndexOfAnyInRange((byte)'0', (byte)'9');
            body = body[..(digit > 0 ? digit + 1 : cut)];
        }

        string contentType = format == StatsFormat.Json ? "application/json" : "text/plain; charset=UTF-8";
        await WriteBodyAsync(response, StatusCodes.Status200OK, contentType, body).ConfigureAwait(false);
    }

    private static Task WritePlainAsync(HttpResponse response, int status, string contentType, string body) =>
        WriteBodyAsync(response, status, contentType, Encoding.UTF8.GetBytes(body));

    /// <summary>Chunked, like Envoy: no Content-Length, so a reader must bound the body itself.</summary>
    private static async Task WriteBodyAsync(HttpResponse response, int status, string contentType, ReadOnlyMemory<byte> body)
    {
        response.StatusCode = status;
        response.ContentType = contentType;
        if (HttpMethods.IsHead(response.HttpContext.Request.Method))
        {
            return;
        }

        const int Chunk = 16 * 1024;
        for (int offset = 0; offset < body.Length; offset += Chunk)
        {
            await response.Body.WriteAsync(body.Slice(offset, Math.Min(Chunk, body.Length - offset)), response.HttpContext.RequestAborted).ConfigureAwait(false);
        }
    }

    private sealed class ListenerState
    {
        public ulong Active { get; set; }

        public ulong Total { get; set; }
    }
}
