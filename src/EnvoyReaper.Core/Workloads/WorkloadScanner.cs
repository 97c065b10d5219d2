using EnvoyReaper.Idleness;
using EnvoyReaper.Messaging;

namespace EnvoyReaper.Workloads;

public sealed record PodScan(string Name, string? Ip, bool Ready, bool Readable, long? ActiveConnections, string? Error);

public sealed record WorkloadScan(
    string Namespace,
    string Name,
    OptInSource Source,
    string? Monitor,
    Verdict Verdict,
    long? ActiveConnections,
    string Reason,
    WorkloadSettings? Settings,
    IReadOnlyList<PodScan> Pods);

public sealed record ScanReport(IReadOnlyList<WorkloadScan> Workloads, IReadOnlyList<DiscoveryProblem> Problems);

/// <summary>One synchronous pass with the pipeline's own discovery, reads and rules, and no writes of any kind.</summary>
public sealed class WorkloadScanner(WorkloadDiscovery discovery, PodStatsCollector collector, IdlePolicy policy, TimeProvider time)
{
    public async Task<ScanReport> ScanAsync(CancellationToken cancellationToken)
    {
        var found = await discovery.DiscoverAsync(cancellationToken).ConfigureAwait(false);
        var scans = new WorkloadScan[found.Workloads.Count];
        await Parallel.ForEachAsync(
            Enumerable.Range(0, found.Workloads.Count),
            new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken },
            async (index, token) => scans[index] = await ScanAsync(found.Workloads[index], token).ConfigureAwait(false)).ConfigureAwait(false);
        return new ScanReport(scans, found.Problems);
    }

    private async Task<WorkloadScan> ScanAsync(MonitoredWorkload workload, CancellationToken cancellationToken)
    {
        var message = StatsCheckPlanner.ToCheck(workload);
        IReadOnlyList<PodReading> readings = message.Settings is { } settings
            ? await collector.ReadAsync(message.Pods, settings, cancellationToken).ConfigureAwait(false)
            : [];
        var input = new CheckInput(message.DeploymentUid, message.DeploymentCreatedAt, message.Settings, message.ConfigurationErrors, readings, message.NotReadyPods);
        var (verdict, reason, active) = policy.EvaluateSample(input, time.GetUtcNow());
        var readingsByUid = readings.ToDictionary(reading => reading.PodUid);
        var pods = workload.ServingPods
            .Where(pod => !pod.Terminating)
            .Select(pod => readingsByUid.TryGetValue(pod.Uid, out var reading)
                ? new PodScan(pod.Name, pod.Ip, pod.Ready, reading.Readable, reading.Readable ? (long)reading.ActiveConnections : null, reading.FailureReason)
                : new PodScan(pod.Name, pod.Ip, pod.Ready, false, null, pod.Ready ? "not read" : "not ready"))
            .ToList();
        return new WorkloadScan(workload.Deployment.Namespace, workload.Deployment.Name, workload.Source, workload.Monitor, verdict, active, reason, message.Settings, pods);
    }
}
