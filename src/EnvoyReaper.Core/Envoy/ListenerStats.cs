namespace EnvoyReaper.Envoy;

/// <summary>
/// Connection statistics of one listener; per-worker copies (<c>worker_N</c>, <c>main_thread</c>) are never included.
/// A <see langword="null"/> value means the statistic was not in the dump (for example Istio's default stats matcher
/// drops <c>downstream_cx_active</c>): it is unknown, never zero.
/// </summary>
/// <param name="ActiveConnections"><c>listener.&lt;L&gt;.downstream_cx_active</c> (gauge): connections open now.</param>
/// <param name="TotalConnections"><c>listener.&lt;L&gt;.downstream_cx_total</c> (counter): connections ever accepted since Envoy started.</param>
public readonly record struct ListenerStats(ulong? ActiveConnections, ulong? TotalConnections);
