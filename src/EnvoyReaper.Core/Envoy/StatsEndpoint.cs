namespace EnvoyReaper.Envoy;

/// <summary>Where one pod's Envoy statistics are read.</summary>
/// <param name="PodIp">IPv4 or IPv6 address (brackets optional for IPv6).</param>
/// <param name="Port">The admin port or a stats listener port (Istio: 15090).</param>
/// <param name="Path">
/// <c>/stats</c> (read as JSON unless the path's own query names a format, e.g. <c>/stats?format=text</c>) or a path
/// ending in <c>/stats/prometheus</c> (read as Prometheus).
/// </param>
public sealed record StatsEndpoint(string PodIp, int Port, string Path);
