using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using EnvoyReaper.Functions.Tests.Support;
using EnvoyReaper.TestSupport.Envoy;
using EnvoyReaper.TestSupport.Kubernetes;
using EnvoyReaper.TestSupport.Storage;

namespace EnvoyReaper.Functions.Tests;

[Collection(AzuriteStorage.CollectionName)]
public sealed class TelemetryTests
{
    [Fact]
    public async Task A_cycle_reports_checks_by_verdict_stats_reads_and_its_duration_on_the_EnvoyReaper_meter()
    {
        var measurements = new ConcurrentBag<(string Instrument, double Value, string? Verdict)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, meterListener) =>
        {
            if (instrument.Meter.Name == ReaperMetrics.MeterName)
            {
                meterListener.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => measurements.Add((instrument.Name, value, Verdict(tags))));
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => measurements.Add((instrument.Name, value, Verdict(tags))));
        listener.Start();

        await using var host = await ReaperTestHost.StartAsync();
        await using var envoys = await FakeEnvoyFleet.StartAsync(1);
        envoys.Pods[0].SetListener("0.0.0.0_15001", active: 2, total: 2);
        host.Api.SeedWorkload("telemetry", "busy", [envoys.Pods[0].Ip],
            new Dictionary<string, string> { ["envoy-reaper/stats-port"] = envoys.Port.ToString(System.Globalization.CultureInfo.InvariantCulture) });

        await host.RunCycleAsync();

        Assert.Contains(measurements, m => m.Instrument == "envoy_reaper.checks" && m.Verdict == "Active");
        Assert.Contains(measurements, m => m.Instrument == "envoy_reaper.stats_read.duration" && m.Value > 0);
        Assert.Contains(measurements, m => m.Instrument == "envoy_reaper.cycle.workloads" && m.Value >= 1);
        Assert.Contains(measurements, m => m.Instrument == "envoy_reaper.cycle.duration");
    }

    private static string? Verdict(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        foreach (var tag in tags)
        {
            if (tag.Key == "verdict")
            {
                return tag.Value as string;
            }
        }

        return null;
    }
}
