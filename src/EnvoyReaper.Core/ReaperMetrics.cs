using System.Diagnostics.Metrics;

namespace EnvoyReaper;

/// <summary>
/// The reaper's OpenTelemetry metrics (meter "EnvoyReaper"): what it checked, what it decided, what it tore down, and
/// how its reads of Envoy and its cycles perform. Exported to Application Insights or OTLP by setting.
/// </summary>
public sealed class ReaperMetrics
{
    public const string MeterName = "EnvoyReaper";

    private readonly Counter<long> checks;
    private readonly Counter<long> teardowns;
    private readonly Histogram<double> statsReadDuration;
    private readonly Counter<long> statsReadErrors;
    private readonly Histogram<double> cycleDuration;
    private readonly Counter<long> workloadsDiscovered;
    private readonly Counter<long> teardownsDeferred;
    private readonly Counter<long> breakerTrips;
    private readonly Counter<long> wakes;
    private readonly Histogram<double> wakeDuration;

    public ReaperMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        checks = meter.CreateCounter<long>("envoy_reaper.checks", "{check}", "Stats checks evaluated, by verdict");
        teardowns = meter.CreateCounter<long>("envoy_reaper.teardowns", "{teardown}", "Teardown requests handled, by outcome");
        statsReadDuration = meter.CreateHistogram<double>("envoy_reaper.stats_read.duration", "s", "Time to read and parse one pod's Envoy statistics");
        statsReadErrors = meter.CreateCounter<long>("envoy_reaper.stats_read.errors", "{error}", "Envoy statistics that could not be read");
        cycleDuration = meter.CreateHistogram<double>("envoy_reaper.cycle.duration", "s", "Discovery cycle duration");
        workloadsDiscovered = meter.CreateCounter<long>("envoy_reaper.cycle.workloads", "{workload}", "Monitored workloads found per cycle");
        teardownsDeferred = meter.CreateCounter<long>("envoy_reaper.teardowns.deferred", "{teardown}", "Teardowns the teardown breaker deferred, by reason");
        breakerTrips = meter.CreateCounter<long>("envoy_reaper.breaker.trips", "{trip}", "Times the teardown breaker opened on a mass flip to Idle");
        wakes = meter.CreateCounter<long>("envoy_reaper.wakes", "{message}", "Wake messages handled, by outcome");
        wakeDuration = meter.CreateHistogram<double>("envoy_reaper.wake.duration", "s", "Time from the first request to a parked workload to its Service being unparked");
    }

    public void CheckEvaluated(string verdict) => checks.Add(1, new KeyValuePair<string, object?>("verdict", verdict));

    public void TeardownHandled(string outcome) => teardowns.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    public void TeardownDeferred(string reason) => teardownsDeferred.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void BreakerTripped() => breakerTrips.Add(1);

    public void WakeHandled(string outcome) => wakes.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    public void WakeCompleted(TimeSpan fromFirstRequest) => wakeDuration.Record(fromFirstRequest.TotalSeconds);

    public void StatsRead(TimeSpan elapsed, bool succeeded)
    {
        statsReadDuration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("succeeded", succeeded));
        if (!succeeded)
        {
            statsReadErrors.Add(1);
        }
    }

    public void CycleCompleted(TimeSpan elapsed, int workloads)
    {
        cycleDuration.Record(elapsed.TotalSeconds);
        workloadsDiscovered.Add(workloads);
    }
}
