using EnvoyReaper.Envoy;
using EnvoyReaper.Messaging;
using EnvoyReaper.Workloads;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Idleness;

/// <summary>Reads the stats of a workload's pods in parallel, within a process-wide bound on concurrent reads.</summary>
public sealed class PodStatsCollector(IEnvoyStatsReader reader, IOptions<ReaperOptions> options, ReaperMetrics? metrics = null) : IDisposable
{
    private readonly SemaphoreSlim throttle = new(options.Value.MaxConcurrentStatsReads);

    public async Task<IReadOnlyList<PodReading>> ReadAsync(IReadOnlyList<PodTarget> pods, WorkloadSettings settings, CancellationToken cancellationToken)
    {
        var readings = new Task<(PodReading Reading, long ReadAt)>[pods.Count];
        for (var i = 0; i < pods.Count; i++)
        {
            readings[i] = ReadPodAsync(pods[i], settings, cancellationToken);
        }

        var done = await Task.WhenAll(readings).ConfigureAwait(false);
        var end = System.Diagnostics.Stopwatch.GetTimestamp();

        // A monotonic measure of how long before the end each pod was read: whatever clock the caller dates its sample with.
        return done.Select(read => read.Reading with { ReadBeforeSample = System.Diagnostics.Stopwatch.GetElapsedTime(read.ReadAt, end) }).ToList();
    }

    private async Task<(PodReading Reading, long ReadAt)> ReadPodAsync(PodTarget pod, WorkloadSettings settings, CancellationToken cancellationToken)
    {
        var reading = await ReadPodStatsAsync(pod, settings, cancellationToken).ConfigureAwait(false);
        return (reading with { Restarts = pod.Restarts }, System.Diagnostics.Stopwatch.GetTimestamp());
    }

    private async Task<PodReading> ReadPodStatsAsync(PodTarget pod, WorkloadSettings settings, CancellationToken cancellationToken)
    {
        var path = pod.IstioProxy && settings.StatsPath == options.Value.DefaultStatsPath ? "/stats/prometheus" : settings.StatsPath;
        await throttle.WaitAsync(cancellationToken).ConfigureAwait(false);
        StatsReadResult result;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            result = await reader.ReadAsync(new StatsEndpoint(pod.Ip, settings.StatsPort, path), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            throttle.Release();
        }

        metrics?.StatsRead(System.Diagnostics.Stopwatch.GetElapsedTime(started), result is StatsReadResult.Success);

        return result switch
        {
            StatsReadResult.Success success => ListenerCounting.Read(pod.Uid, pod.Name, success.Stats, settings, pod.IstioProxy),
            StatsReadResult.Failure failure => PodReading.Unreadable(pod.Uid, pod.Name, failure.Reason),
            _ => PodReading.Unreadable(pod.Uid, pod.Name, "unexpected read result"),
        };
    }

    public void Dispose() => throttle.Dispose();
}
