using Azure.Storage.Queues.Models;
using EnvoyReaper.Messaging;
using EnvoyReaper.Waking;
using Microsoft.Azure.Functions.Worker;

namespace EnvoyReaper.Functions;

/// <summary>Wakes a parked workload on its first request, and checks it until it is available (see <see cref="WakeProcessor"/>).</summary>
public sealed class Wake(MessageIntake intake, WakeProcessor processor)
{
    // Bound to the QueueMessage itself for its real message id (see CheckStats).
    [Function(nameof(Wake))]
    public async Task Run([QueueTrigger(QueueNames.Wake, Connection = "AzureWebJobsStorage")] QueueMessage message, CancellationToken cancellationToken)
    {
        if (await intake.AcceptAsync<WakeMessage>(QueueNames.Wake, message.Body.ToString(), message.MessageId, WakeMessage.CurrentVersion, cancellationToken) is { } wake)
        {
            await processor.ProcessAsync(wake, message.MessageId, cancellationToken);
        }
    }
}
