using EnvoyReaper.Envoy;
using EnvoyReaper.Workloads;

namespace EnvoyReaper.Idleness;

/// <summary>Decides which listeners carry the workload's users and turns a stats dump into a <see cref="PodReading"/>.</summary>
public static class ListenerCounting
{
    public const string AdminListener = "admin";
    public const string IstioInboundListener = "0.0.0.0_15006";

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
            if (stats.Listeners.TryGetValue(IstioInboundListener, out var inbound))
            {
                counted.Add(new(IstioInboundListener, inbound));
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
                ? $"no statistics for the Istio inbound listener {IstioInboundListener} (is downstream_cx_active in the proxy's stats matcher?)"
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

            active = checked(active + listenerActive);
            totals[name] = total;
        }

        return new PodReading(podUid, podName, true, null, active, totals, stats.UptimeSeconds);
    }
}
