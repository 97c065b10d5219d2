using EnvoyReaper.Messaging;
using EnvoyReaper.Teardown;
using Microsoft.Azure.Functions.Worker;

namespace EnvoyReaper.Functions;

/// <summary>Snapshots and removes (or scales down) a workload that stayed idle for its timeout.</summary>
public sealed class TearDown(MessageIntake intake, TeardownProcessor processor)
{
    [Function(nameof(TearDown))]
    public async Task Run([QueueTrigger(QueueNames.Teardown, Connection = "AzureWebJobsStorage")] string message, FunctionContext context, CancellationToken cancellationToken)
    {
        var messageId = context.QueueMessageId();
        if (await intake.AcceptAsync<TeardownMessage>(QueueNames.Teardown, message, messageId, TeardownMessage.CurrentVersion, cancellationToken) is { } teardown)
        {
            await processor.ProcessAsync(teardown, messageId, cancellationToken);
        }
    }
}
