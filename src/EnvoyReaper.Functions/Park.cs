using Azure.Storage.Queues.Models;
using EnvoyReaper.Messaging;
using EnvoyReaper.Waking;
using Microsoft.Azure.Functions.Worker;

namespace EnvoyReaper.Functions;

/// <summary>Parks the Services of a wake-enabled workload's teardown on the waker (see <see cref="WorkloadParking"/>).</summary>
public sealed class Park(MessageIntake intake, WorkloadParking parking)
{
    // Bound to the QueueMessage itself for its real message id (see CheckStats).
    [Function(nameof(Park))]
    public async Task Run([QueueTrigger(QueueNames.Park, Connection = "AzureWebJobsStorage")] QueueMessage message, CancellationToken cancellationToken)
    {
        if (await intake.AcceptAsync<ParkMessage>(QueueNames.Park, message.Body.ToString(), message.MessageId, ParkMessage.CurrentVersion, cancellationToken) is { } park)
        {
            await parking.ProcessAsync(park, cancellationToken);
        }
    }
}
