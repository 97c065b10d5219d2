namespace EnvoyReaper.Idleness;

/// <summary>What one pod's Envoy told us this check, reduced to the listeners that count.</summary>
public sealed record PodReading(
    string PodUid,
    string PodName,
    bool Readable,
    string? FailureReason,
    ulong ActiveConnections,
    IReadOnlyDictionary<string, ulong> ConnectionTotals,
    ulong? UptimeSeconds)
{
    public static PodReading Unreadable(string podUid, string podName, string reason) =>
        new(podUid, podName, false, reason, 0, new Dictionary<string, ulong>(), null);
}
