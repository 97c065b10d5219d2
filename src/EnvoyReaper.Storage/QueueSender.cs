using Azure.Storage.Queues;
using EnvoyReaper.Messaging;

namespace EnvoyReaper.Storage;

/// <summary>Sends JSON messages to one queue (Base64-encoded by the client, see <see cref="AzureWorkQueue"/>), creating it once.</summary>
internal sealed class QueueSender(QueueServiceClient service, string queueName)
{
    private readonly QueueClient queue = service.GetQueueClient(queueName);
    private readonly CreateOnce created = new(() => service.GetQueueClient(queueName).CreateIfNotExistsAsync());

    /// <param name="delay">How long the message stays invisible (a re-check later); zero for at once.</param>
    /// <param name="timeToLive">Null for the service's default.</param>
    public async Task SendAsync<T>(T message, TimeSpan delay, TimeSpan? timeToLive, CancellationToken cancellationToken)
    {
        await created.EnsureAsync().ConfigureAwait(false);
        await queue.SendMessageAsync(
            ReaperJson.Serialize(message),
            visibilityTimeout: delay > TimeSpan.Zero ? delay : null,
            timeToLive: timeToLive,
            cancellationToken: cancellationToken).ConfigureAwait(false);
    }
}
