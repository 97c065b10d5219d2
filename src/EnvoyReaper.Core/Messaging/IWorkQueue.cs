namespace EnvoyReaper.Messaging;

public sealed record ScheduledCheck(StatsCheckBatchMessage Message, TimeSpan Delay, TimeSpan TimeToLive);

/// <summary>The two queues of the pipeline and their poison queues.</summary>
public interface IWorkQueue
{
    Task EnqueueStatsChecksAsync(IReadOnlyList<ScheduledCheck> checks, CancellationToken cancellationToken);

    Task EnqueueTeardownAsync(TeardownMessage message, TimeSpan timeToLive, CancellationToken cancellationToken);

    /// <summary>Parks a message that cannot be processed, unchanged, in "&lt;queue&gt;-poison".</summary>
    Task MoveToPoisonAsync(string queueName, string body, CancellationToken cancellationToken);
}
