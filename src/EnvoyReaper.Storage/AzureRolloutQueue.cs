using Azure.Storage.Queues;
using EnvoyReaper.Injection;
using EnvoyReaper.Messaging;

namespace EnvoyReaper.Storage;

/// <summary>The "inject-rollout" queue, Base64-encoded like the others (see <see cref="AzureWorkQueue"/>).</summary>
public sealed class AzureRolloutQueue(QueueServiceClient service) : IRolloutQueue
{
    private readonly QueueClient queue = service.GetQueueClient(QueueNames.InjectRollout);
    private readonly CreateOnce created = new(() => service.GetQueueClient(QueueNames.InjectRollout).CreateIfNotExistsAsync());

    public async Task EnqueueAsync(RolloutCheckMessage message, TimeSpan delay, TimeSpan timeToLive, CancellationToken cancellationToken)
    {
        await created.EnsureAsync().ConfigureAwait(false);
        await queue.SendMessageAsync(
            ReaperJson.Serialize(message),
            visibilityTimeout: delay > TimeSpan.Zero ? delay : null,
            timeToLive: timeToLive,
            cancellationToken: cancellationToken).ConfigureAwait(false);
    }
}
