using EnvoyReaper.Cluster;

namespace EnvoyReaper.Idleness;

/// <summary>What one pod's Envoy told us this check, reduced to the listeners that count.</summary>
/// <param name="Restarts">The pod's container restarts as listed with it (null when the list did not say).</param>
/// <param name="ReadBeforeSample">
/// How long before the check's sample time this pod's stats were read (reads wait for each other and for the bound on
/// concurrent reads): its <c>server.uptime</c> belongs to that earlier moment.
/// </param>
public sealed record PodReading(
    string PodUid,
    string PodName,
    bool Readable,
    string? FailureReason,
    ulong ActiveConnections,
    IReadOnlyDictionary<string, ulong> ConnectionTotals,
    ulong? UptimeSeconds,
    ContainerRestarts? Restarts = null,
    TimeSpan ReadBeforeSample = default)
{
    public static PodReading Unreadable(string podUid, string podName, string reason) =>
        new(podUid, podName, false, reason, 0, new Dictionary<string, ulong>(), null);
}
