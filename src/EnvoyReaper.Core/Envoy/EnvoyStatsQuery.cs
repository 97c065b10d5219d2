namespace EnvoyReaper.Envoy;

/// <summary>What the reaper asks Envoy for.</summary>
public static class EnvoyStatsQuery
{
    /// <summary>
    /// RE2 regex sent as <c>?filter=</c> (Envoy matches it partially against the full, untagged stat name, also for
    /// Prometheus output) so that only <c>listener.&lt;L&gt;.downstream_cx_active</c>,
    /// <c>listener.&lt;L&gt;.downstream_cx_total</c>, the UDP proxy's <c>udp.&lt;P&gt;.downstream_sess_active/total</c> and
    /// <c>server.uptime</c> travel.
    /// RE2 has no look-around, so per-worker copies (<c>listener.&lt;L&gt;.worker_N.*</c>,
    /// <c>listener.admin.main_thread.*</c>) also match; <see cref="EnvoyStatsParser"/> drops them.
    /// </summary>
    public const string Filter = @"^(listener\..+\.downstream_cx_(active|total)|udp\..+\.downstream_sess_(active|total)|server\.uptime)$";
}
