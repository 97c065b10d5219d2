using EnvoyReaper.Workloads;
using Microsoft.Azure.Functions.Worker;

namespace EnvoyReaper.Functions;

/// <summary>Every cycle (ReaperSchedule), queues the stats checks of the monitored workloads, in batches of one namespace.</summary>
public sealed class DiscoverWorkloads(DiscoveryCycle cycle)
{
    [Function(nameof(DiscoverWorkloads))]
    public async Task Run([TimerTrigger("%ReaperSchedule%")] TimerInfo timer, CancellationToken cancellationToken) =>
        await cycle.RunAsync(TimerLastRun.ToInstant(timer.ScheduleStatus?.Last, TimeZoneInfo.Local), cancellationToken);
}
