using Azure.Storage.Queues;
using EnvoyReaper.Injection;
using EnvoyReaper.Messaging;

namespace EnvoyReaper.Storage;

/// <summary>The "inject-rollout" queue.</summary>
public sealed class AzureRolloutQueue(QueueServiceClient service) : IRolloutQueue
{
    private readonly QueueSender sender = new(service, QueueNames.InjectRollout);

    public Task EnqueueAsync(RolloutCheckMessage message, TimeSpan delay, TimeSpan timeToLive, CancellationToken cancellationToken) =>
        sender.SendAsync(message, delay, timeToLive, cancellationToken);
}
