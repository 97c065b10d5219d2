using Azure.Storage.Queues.Models;
using EnvoyReaper.Idleness;
using EnvoyReaper.Messaging;
using Microsoft.Azure.Functions.Worker;

namespace EnvoyReaper.Functions;

/// <summary>Reads the Envoy statistics of a batch of workloads and decides, for each, whether it is idle.</summary>
public sealed class CheckStats(MessageIntake intake, StatsCheckProcessor processor)
{
    // Bound to the QueueMessage itself: the host merges a JSON body's own fields into the binding data, so a body field
    // "id" would hide the queue's message id there.
    [Function(nameof(CheckStats))]
    public async Task Run([QueueTrigger(QueueNames.StatsCheck, Connection = "AzureWebJobsStorage")] QueueMessage message, CancellationToken cancellationToken)
    {
        if (await intake.AcceptStatsCheckAsync(message.Body.ToString(), message.MessageId, cancellationToken) is { } check)
        {
            await processor.ProcessAsync(check, message.MessageId, cancellationToken);
        }
    }
}
