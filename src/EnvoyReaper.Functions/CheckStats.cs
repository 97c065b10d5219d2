using EnvoyReaper.Idleness;
using EnvoyReaper.Messaging;
using Microsoft.Azure.Functions.Worker;

namespace EnvoyReaper.Functions;

/// <summary>Reads a workload's Envoy statistics and decides whether it is idle.</summary>
public sealed class CheckStats(MessageIntake intake, StatsCheckProcessor processor)
{
    [Function(nameof(CheckStats))]
    public async Task Run([QueueTrigger(QueueNames.StatsCheck, Connection = "AzureWebJobsStorage")] string message, FunctionContext context, CancellationToken cancellationToken)
    {
        var messageId = context.QueueMessageId();
        if (await intake.AcceptAsync<StatsCheckMessage>(QueueNames.StatsCheck, message, messageId, StatsCheckMessage.CurrentVersion, cancellationToken) is { } check)
        {
            await processor.ProcessAsync(check, messageId, cancellationToken);
        }
    }
}
