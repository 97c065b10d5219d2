using System.Collections.Concurrent;
using Azure.Storage.Queues;
using EnvoyReaper.Messaging;

namespace EnvoyReaper.Storage;

/// <summary>
/// Azure Storage queues. Messages are Base64-encoded, as the queue trigger expects by default (host.json
/// extensions.queues.messageEncoding): a plain-text message would be poisoned by the trigger unread.
/// </summary>
public sealed class AzureWorkQueue(QueueServiceClient service) : IWorkQueue
{
    public const int MaxParallelSends = 32;

    private readonly ConcurrentDictionary<string, (QueueClient Queue, CreateOnce Created)> queues = new(StringComparer.Ordinal);

    public static QueueClientOptions ClientOptions() => new() { MessageEncoding = QueueMessageEncoding.Base64 };

    public async Task EnqueueStatsChecksAsync(IReadOnlyList<ScheduledCheck> checks, CancellationToken cancellationToken)
    {
        var queue = await GetQueueAsync(QueueNames.StatsCheck).ConfigureAwait(false);
        await Parallel.ForEachAsync(
            checks,
            new ParallelOptions { MaxDegreeOfParallelism = MaxParallelSends, CancellationToken = cancellationToken },
            async (check, token) => await queue.SendMessageAsync(
                ReaperJson.Serialize(check.Message),
                visibilityTimeout: check.Delay > TimeSpan.Zero ? check.Delay : null,
                timeToLive: check.TimeToLive,
                cancellationToken: token).ConfigureAwait(false)).ConfigureAwait(false);
    }

    public async Task EnqueueTeardownAsync(TeardownMessage message, TimeSpan timeToLive, CancellationToken cancellationToken)
    {
        var queue = await GetQueueAsync(QueueNames.Teardown).ConfigureAwait(false);
        await queue.SendMessageAsync(ReaperJson.Serialize(message), timeToLive: timeToLive, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    public async Task MoveToPoisonAsync(string queueName, string body, CancellationToken cancellationToken)
    {
        var queue = await GetQueueAsync(queueName + "-poison").ConfigureAwait(false);
        await queue.SendMessageAsync(body, timeToLive: TimeSpan.FromSeconds(-1), cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    private async Task<QueueClient> GetQueueAsync(string name)
    {
        var (queue, created) = queues.GetOrAdd(name, queueName =>
        {
            var client = service.GetQueueClient(queueName);
            return (client, new CreateOnce(() => client.CreateIfNotExistsAsync()));
        });
        await created.EnsureAsync().ConfigureAwait(false);
        return queue;
    }
}
