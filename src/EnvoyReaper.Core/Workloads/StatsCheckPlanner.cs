using EnvoyReaper.Messaging;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Workloads;

/// <summary>Turns discovered workloads into the stats-check messages of one timer cycle.</summary>
public sealed class StatsCheckPlanner(IOptions<ReaperOptions> options)
{
    /// <summary>
    /// A queue message holds 64 KiB, and Base64 takes a quarter of it; a workload whose message would not fit is not
    /// checked (so it can never be torn down) and is reported instead.
    /// </summary>
    public const int MaxMessageJsonBytes = 46 * 1024;

    public IReadOnlyList<ScheduledCheck> Plan(DiscoveryResult discovery, DateTimeOffset now, TimeSpan period, ICollection<DiscoveryProblem> problems)
    {
        var checks = new List<ScheduledCheck>(discovery.Workloads.Count);
        foreach (var workload in discovery.Workloads)
        {
            if (workload.Deployment.Replicas == 0)
            {
                continue; // Scaled to zero (perhaps by us): nothing runs, nothing to reap.
            }

            var interval = workload.Settings.Settings?.CheckInterval;
            var delays = CheckSchedule.DelaysWithin(now, period, interval);
            if (delays.Count > 0 && System.Text.Encoding.UTF8.GetByteCount(ReaperJson.Serialize(ToMessage(workload, now))) > MaxMessageJsonBytes)
            {
                problems.Add(new DiscoveryProblem(workload.Deployment.Namespace, workload.Deployment.Name, workload.Source,
                    $"{workload.Pods.Count} pods do not fit in one stats-check message; the workload is not checked"));
                continue;
            }

            foreach (var delay in delays)
            {
                checks.Add(new ScheduledCheck(ToMessage(workload, now + delay), delay, delay + options.Value.MessageMaxAge));
            }
        }

        return checks;
    }

    public static StatsCheckMessage ToMessage(MonitoredWorkload workload, DateTimeOffset dueAt) => new(
        StatsCheckMessage.CurrentVersion,
        Guid.NewGuid().ToString("n"),
        dueAt,
        workload.Deployment.Namespace,
        workload.Deployment.Name,
        workload.Deployment.Uid,
        workload.Deployment.CreatedAt,
        workload.Source,
        workload.Monitor,
        workload.Settings.Settings,
        workload.Settings.IsValid ? null : workload.Settings.Errors,
        workload.ReadyPods.Select(PodTarget.From).ToList(),
        workload.NotReadyPods,
        workload.MonitorNamespace);
}
