using System.Collections.ObjectModel;

namespace EnvoyReaper.Envoy;

/// <summary>The statistics the reaper needs from one Envoy dump.</summary>
public sealed class EnvoyStats
{
    private static readonly IReadOnlyDictionary<string, ListenerStats> NoListeners =
        new ReadOnlyDictionary<string, ListenerStats>(new Dictionary<string, ListenerStats>(StringComparer.Ordinal));

    /// <summary>Creates a snapshot (also handy in tests of code that consumes parsed statistics).</summary>
    /// <param name="listeners">Listener name (as Envoy prints it between <c>listener.</c> and the stat) to its statistics.</param>
    /// <param name="uptimeSeconds"><c>server.uptime</c>, or <see langword="null"/> when it was not in the dump.</param>
    public EnvoyStats(IReadOnlyDictionary<string, ListenerStats> listeners, ulong? uptimeSeconds)
    {
        ArgumentNullException.ThrowIfNull(listeners);
        Listeners = listeners.Count == 0
            ? NoListeners
            : new ReadOnlyDictionary<string, ListenerStats>(new Dictionary<string, ListenerStats>(listeners, StringComparer.Ordinal));
        UptimeSeconds = uptimeSeconds;
    }

    private EnvoyStats(Dictionary<string, ListenerStats> ownedListeners, ulong? uptimeSeconds, bool _)
    {
        Listeners = ownedListeners.Count == 0 ? NoListeners : new ReadOnlyDictionary<string, ListenerStats>(ownedListeners);
        UptimeSeconds = uptimeSeconds;
    }

    /// <summary>
    /// Listener name to its aggregate connection statistics. Keys are the listener's stat name: an address with
    /// <c>:</c> replaced by <c>_</c> (<c>0.0.0.0_15001</c>, <c>[__]_15001</c>), a <c>stat_prefix</c>, or <c>admin</c>
    /// for the admin listener (kept here; callers must exclude it, since every poll is itself a connection on it).
    /// Empty when the dump held no listener statistics, which callers must treat as unknown.
    /// </summary>
    public IReadOnlyDictionary<string, ListenerStats> Listeners { get; }

    /// <summary><c>server.uptime</c> in seconds; a drop between two polls means Envoy restarted and its counters restarted too.</summary>
    public ulong? UptimeSeconds { get; }

    internal static EnvoyStats FromOwned(Dictionary<string, ListenerStats> listeners, ulong? uptimeSeconds) =>
        new(listeners, uptimeSeconds, false);
}
