using System.Text;
using EnvoyReaper.Messaging;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Workloads;

/// <summary>Turns discovered workloads into the stats-check messages of one timer cycle.</summary>
public sealed class StatsCheckPlanner(IOptions<ReaperOptions> options)
{
    /// <summary>
    /// A queue message holds 64 KiB, and Base64 takes a quarter of it; a workload whose message would not fit even alone
    /// is not checked (so it can never be torn down) and is reported instead.
    /// </summary>
    public const int MaxMessageJsonBytes = 46 * 1024;

    public IReadOnlyList<ScheduledCheck> Plan(DiscoveryResult discovery, DateTimeOffset now, TimeSpan period, ICollection<DiscoveryProblem> problems)
    {
        // Insertion-ordered: the checks of a namespace go out in the order the workloads were listed.
        var groups = new Dictionary<(string Namespace, TimeSpan Delay), List<SizedCheck>>();
        foreach (var workload in discovery.Workloads)
        {
            if (workload.Deployment.Replicas == 0)
            {
                continue; // Scaled to zero (perhaps by us): nothing runs, nothing to reap.
            }

            var interval = workload.Settings.Settings?.CheckInterval;
            var delays = CheckSchedule.DelaysWithin(now, period, interval);
            if (delays.Count == 0)
            {
                continue;
            }

            var check = ToCheck(workload);
            var sized = new SizedCheck(check, Encoding.UTF8.GetByteCount(ReaperJson.Serialize(check)));
            if (EnvelopeBytes(workload.Deployment.Namespace, now) + sized.JsonBytes > MaxMessageJsonBytes)
            {
                problems.Add(new DiscoveryProblem(workload.Deployment.Namespace, workload.Deployment.Name, workload.Source,
                    $"{workload.Pods.Count} pods do not fit in one stats-check message; the workload is not checked"));
                continue;
            }

            foreach (var delay in delays)
            {
                var key = (workload.Deployment.Namespace, delay);
                if (!groups.TryGetValue(key, out var group))
                {
                    groups[key] = group = [];
                }

                group.Add(sized);
            }
        }

        var checks = new List<ScheduledCheck>();
        foreach (var ((@namespace, delay), group) in groups)
        {
            foreach (var batch in Batches(@namespace, now + delay, group, options.Value.StatsCheckBatchSize))
            {
                checks.Add(new ScheduledCheck(batch, delay, delay + options.Value.MessageMaxAge));
            }
        }

        return checks;
    }

    /// <summary>
    /// Cuts the checks of one namespace due at one time into messages of at most <paramref name="batchSize"/> workloads
    /// and <see cref="MaxMessageJsonBytes"/> of JSON each, in order. Every check given must fit in a message alone.
    /// </summary>
    public static IEnumerable<StatsCheckBatchMessage> Batches(string @namespace, DateTimeOffset dueAt, IReadOnlyList<WorkloadCheck> checks, int batchSize) =>
        Batches(@namespace, dueAt, checks.Select(check => new SizedCheck(check, Encoding.UTF8.GetByteCount(ReaperJson.Serialize(check)))).ToList(), batchSize);

    private static IEnumerable<StatsCheckBatchMessage> Batches(string @namespace, DateTimeOffset dueAt, IReadOnlyList<SizedCheck> checks, int batchSize)
    {
        var envelope = EnvelopeBytes(@namespace, dueAt);
        var batch = new List<WorkloadCheck>(Math.Min(batchSize, checks.Count));
        var bytes = envelope;
        foreach (var check in checks)
        {
            // A comma between list items.
            var added = batch.Count == 0 ? check.JsonBytes : check.JsonBytes + 1;
            if (batch.Count > 0 && (batch.Count >= batchSize || bytes + added > MaxMessageJsonBytes))
            {
                yield return Message(@namespace, dueAt, batch);
                batch = new List<WorkloadCheck>(batchSize);
                bytes = envelope;
                added = check.JsonBytes;
            }

            batch.Add(check.Check);
            bytes += added;
        }

        if (batch.Count > 0)
        {
            yield return Message(@namespace, dueAt, batch);
        }
    }

    private static StatsCheckBatchMessage Message(string @namespace, DateTimeOffset dueAt, IReadOnlyList<WorkloadCheck> workloads) =>
        new(StatsCheckBatchMessage.CurrentVersion, Guid.NewGuid().ToString("n"), dueAt, @namespace, workloads);

    /// <summary>The JSON of a message without workloads: what every message costs before its first one.</summary>
    private static int EnvelopeBytes(string @namespace, DateTimeOffset dueAt) =>
        Encoding.UTF8.GetByteCount(ReaperJson.Serialize(Message(@namespace, dueAt, [])));

    public static WorkloadCheck ToCheck(MonitoredWorkload workload) => new(
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

    private sealed record SizedCheck(WorkloadCheck Check, int JsonBytes);
}
