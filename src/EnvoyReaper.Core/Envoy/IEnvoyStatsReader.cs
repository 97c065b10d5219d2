namespace EnvoyReaper.Envoy;

/// <summary>Reads one pod's Envoy statistics.</summary>
public interface IEnvoyStatsReader
{
    /// <summary>
    /// Reads and parses the statistics at <paramref name="endpoint"/>. Network, HTTP and parse problems (and an invalid
    /// endpoint) come back as <see cref="StatsReadResult.Failure"/>; only cancellation through
    /// <paramref name="cancellationToken"/> throws (<see cref="OperationCanceledException"/>).
    /// </summary>
    Task<StatsReadResult> ReadAsync(StatsEndpoint endpoint, CancellationToken cancellationToken);
}
