using EnvoyReaper.Envoy;
using EnvoyReaper.Workloads;

namespace EnvoyReaper.Idleness;

/// <summary>Decides which listeners carry the workload's users and turns a stats dump into a <see cref="PodReading"/>.</summary>
public static class ListenerCounting
{
    public const string AdminListener = "admin";
    public const string IstioInboundListener = "0.0.0.0_15006";

    /// <summary>
    /// Istio's inbound listener under every name its stats give it: <c>0.0.0.0:15006</c> and <c>[::]:15006</c> (IPv6-only
    /// and dual-stack pods) with <c>:</c> turned into <c>_</c>, and the same names sanitized into a Prometheus metric name
    /// (every character but <c>[a-zA-Z0-9_]</c> becomes <c>_</c>) when no tag extraction took the address into a label.
    /// </summary>
    public static readonly IReadOnlyList<string> IstioInboundListeners = [IstioInboundListener, "[__]_15006", "0_0_0_0_15006", "____15006"];

    /// <summary>
    /// No Envoy holds more connections than fit in a signed 64-bit count: a gauge above it is a gauge decremented below
    /// zero (it wraps to nearly 2^64), which says nothing about the users.
    /// </summary>
    private const ulong MaxPlausibleConnections = long.MaxValue;

    public static PodReading Read(string podUid, string podName, EnvoyStats stats, WorkloadSettings settings, bool istioProxy)
    {
        var counted = new List<KeyValuePair<string, ListenerStats>>();
        if (settings.Listeners is { } wanted)
        {
            foreach (var name in wanted)
            {
                if (!stats.Listeners.TryGetValue(name, out var listener))
                {
                    return PodReading.Unreadable(podUid, podName, $"listener '{name}' named in the settings has no statistics");
                }

                counted.Add(new(name, listener));
            }
        }
        else if (istioProxy)
        {
            foreach (var name in IstioInboundListeners)
            {
                if (stats.Listeners.TryGetValue(name, out var inbound))
                {
                    counted.Add(new(name, inbound));
                }
            }
        }
        else
        {
            var statsPortSuffix = "_" + settings.StatsPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
            foreach (var pair in stats.Listeners)
            {
                if (pair.Key != AdminListener && !pair.Key.EndsWith(statsPortSuffix, StringComparison.Ordinal))
                {
                    counted.Add(pair);
                }
            }
        }

        if (counted.Count == 0)
        {
            return PodReading.Unreadable(podUid, podName, istioProxy
                ? $"no statistics for the Istio inbound listener {IstioInboundListener} or [__]_15006 (is downstream_cx_active in the proxy's stats matcher?)"
                : "no listener statistics besides admin and the stats listener");
        }

        ulong active = 0;
        var totals = new Dictionary<string, ulong>(counted.Count, StringComparer.Ordinal);
        foreach (var (name, listener) in counted)
        {
            if (listener.ActiveConnections is not { } listenerActive)
            {
                return PodReading.Unreadable(podUid, podName, $"listener '{name}' has no downstream_cx_active gauge");
            }

            if (listener.TotalConnections is not { } total)
            {
                // Without the counter, connections that opened and closed between two polls would go unseen.
                return PodReading.Unreadable(podUid, podName, $"listener '{name}' has no downstream_cx_total counter");
            }

            if (listenerActive > MaxPlausibleConnections - active)
            {
                return PodReading.Unreadable(podUid, podName,
                    $"listener '{name}' reports an implausible downstream_cx_active of {listenerActive} (a gauge that went below zero?)");
            }

            active += listenerActive;
            totals[name] = total;
        }

        return new PodReading(podUid, podName, true, null, active, totals, stats.UptimeSeconds);
    }
}
