using EnvoyReaper.Workloads;
using Microsoft.Azure.Functions.Worker;

namespace EnvoyReaper.Functions;

/// <summary>Every cycle (ReaperSchedule), queues one stats check per monitored workload.</summary>
public sealed class DiscoverWorkloads(DiscoveryCycle cycle)
{
    [Function(nameof(DiscoverWorkloads))]
    public async Task Run([TimerTrigger("%ReaperSchedule%")] TimerInfo timer, CancellationToken cancellationToken) =>
        await cycle.RunAsync(TimerLastRun.ToInstant(timer.ScheduleStatus?.Last, TimeZoneInfo.Local), cancellationToken);
}
