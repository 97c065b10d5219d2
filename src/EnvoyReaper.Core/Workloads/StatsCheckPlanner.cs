using EnvoyReaper.Messaging;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Workloads;

/// <summary>Turns discovered workloads into the stats-check messages of one timer cycle.</summary>
public sealed class StatsCheckPlanner(IOptions<ReaperOptions> options)
{
    public IReadOnlyList<ScheduledCheck> Plan(DiscoveryResult discovery, DateTimeOffset now, TimeSpan period)
    {
        var checks = new List<ScheduledCheck>(discovery.Workloads.Count);
        foreach (var workload in discovery.Workloads)
        {
            if (workload.Deployment.Replicas == 0)
            {
                continue; // Scaled to zero (perhaps by us): nothing runs, nothing to reap.
            }

            var interval = workload.Settings.Settings?.CheckInterval;
            foreach (var delay in CheckSchedule.DelaysWithin(now, period, interval))
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
        workload.ReadyPods.Select(pod => new PodTarget(pod.Name, pod.Uid, pod.Ip!, pod.HasIstioProxy)).ToList(),
        workload.NotReadyPods);
}
