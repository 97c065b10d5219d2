using Azure.Storage.Queues;
using EnvoyReaper.Messaging;
using EnvoyReaper.Waking;

namespace EnvoyReaper.Storage;

/// <summary>The "park" queue, Base64-encoded like the others.</summary>
public sealed class AzureParkQueue(QueueServiceClient service) : IParkQueue
{
    private readonly QueueClient queue = service.GetQueueClient(QueueNames.Park);
    private readonly CreateOnce created = new(() => service.GetQueueClient(QueueNames.Park).CreateIfNotExistsAsync());

    public async Task EnqueueAsync(ParkMessage message, CancellationToken cancellationToken)
    {
        await created.EnsureAsync().ConfigureAwait(false);
        await queue.SendMessageAsync(ReaperJson.Serialize(message), cancellationToken: cancellationToken).ConfigureAwait(false);
    }
}
