using Azure.Storage.Queues;
using EnvoyReaper.Messaging;
using EnvoyReaper.Waking;

namespace EnvoyReaper.Storage;

/// <summary>The "wake" queue (the wake's own checks; the waker writes to it too), Base64-encoded like the others.</summary>
public sealed class AzureWakeQueue(QueueServiceClient service) : IWakeQueue
{
    private readonly QueueClient queue = service.GetQueueClient(QueueNames.Wake);
    private readonly CreateOnce created = new(() => service.GetQueueClient(QueueNames.Wake).CreateIfNotExistsAsync());

    public async Task EnqueueAsync(WakeMessage message, TimeSpan delay, TimeSpan timeToLive, CancellationToken cancellationToken)
    {
        await created.EnsureAsync().ConfigureAwait(false);
        await queue.SendMessageAsync(
            ReaperJson.Serialize(message),
            visibilityTimeout: delay > TimeSpan.Zero ? delay : null,
            timeToLive: timeToLive,
            cancellationToken: cancellationToken).ConfigureAwait(false);
    }
}
