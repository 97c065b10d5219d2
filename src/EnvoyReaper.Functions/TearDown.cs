using Azure.Storage.Queues.Models;
using EnvoyReaper.Messaging;
using EnvoyReaper.Teardown;
using Microsoft.Azure.Functions.Worker;

namespace EnvoyReaper.Functions;

/// <summary>Snapshots and removes (or scales down) a workload that stayed idle for its timeout.</summary>
public sealed class TearDown(MessageIntake intake, TeardownProcessor processor)
{
    // Bound to the QueueMessage itself for its real message id (see CheckStats).
    [Function(nameof(TearDown))]
    public async Task Run([QueueTrigger(QueueNames.Teardown, Connection = "AzureWebJobsStorage")] QueueMessage message, CancellationToken cancellationToken)
    {
        if (await intake.AcceptAsync<TeardownMessage>(QueueNames.Teardown, message.Body.ToString(), message.MessageId, TeardownMessage.CurrentVersion, cancellationToken) is { } teardown)
        {
            await processor.ProcessAsync(teardown, message.MessageId, cancellationToken);
        }
    }
}
