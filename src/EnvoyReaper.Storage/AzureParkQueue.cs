using Azure.Storage.Queues;
using EnvoyReaper.Messaging;
using EnvoyReaper.Waking;

namespace EnvoyReaper.Storage;

/// <summary>The "park" queue.</summary>
public sealed class AzureParkQueue(QueueServiceClient service) : IParkQueue
{
    private readonly QueueSender sender = new(service, QueueNames.Park);

    public Task EnqueueAsync(ParkMessage message, CancellationToken cancellationToken) =>
        sender.SendAsync(message, TimeSpan.Zero, timeToLive: null, cancellationToken);
}
