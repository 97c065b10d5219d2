using Azure.Storage.Queues;
using EnvoyReaper.Messaging;
using EnvoyReaper.Waking;

namespace EnvoyReaper.Storage;

/// <summary>The "wake" queue (the wake's own checks; the waker writes to it too).</summary>
public sealed class AzureWakeQueue(QueueServiceClient service) : IWakeQueue
{
    private readonly QueueSender sender = new(service, QueueNames.Wake);

    public Task EnqueueAsync(WakeMessage message, TimeSpan delay, TimeSpan timeToLive, CancellationToken cancellationToken) =>
        sender.SendAsync(message, delay, timeToLive, cancellationToken);
}
