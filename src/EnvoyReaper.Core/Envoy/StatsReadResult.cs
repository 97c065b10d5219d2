namespace EnvoyReaper.Envoy;

/// <summary>The outcome of reading one pod's statistics: parsed statistics, or why they could not be read.</summary>
public abstract record StatsReadResult
{
    private StatsReadResult()
    {
    }

    /// <summary>The body was read in full and parsed in the requested format.</summary>
    /// <param name="Stats">The statistics; an empty <see cref="EnvoyStats.Listeners"/> means nothing is known.</param>
    /// <param name="BytesRead">Size of the response body.</param>
    public sealed record Success(EnvoyStats Stats, long BytesRead) : StatsReadResult;

    /// <summary>Nothing usable was read; the pod's state is unknown.</summary>
    /// <param name="Reason">Short, human-readable: "connection refused", "timed out after 2s", "HTTP 503", "unparseable JSON: ...".</param>
    public sealed record Failure(string Reason) : StatsReadResult;
}
