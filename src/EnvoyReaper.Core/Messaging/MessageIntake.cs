using Microsoft.Extensions.Logging;

namespace EnvoyReaper.Messaging;

/// <summary>
/// The door of both queue functions: a message that cannot be read is logged with its id and parked, unchanged, in
/// the poison queue at once. Retrying it would only fail the same way, and nothing may act on it.
/// </summary>
public sealed partial class MessageIntake(IWorkQueue queue, ILogger<MessageIntake> logger)
{
    public async Task<T?> AcceptAsync<T>(string queueName, string? body, string messageId, int expectedVersion, CancellationToken cancellationToken)
        where T : class
    {
        if (MessageReader.TryRead<T>(body, expectedVersion, out var message, out var error))
        {
            return message;
        }

        LogRejected(messageId, queueName, error);
        await queue.MoveToPoisonAsync(queueName, body ?? string.Empty, cancellationToken).ConfigureAwait(false);
        return null;
    }

    /// <summary>A stats check of either version still read (see <see cref="MessageReader.TryReadStatsCheck"/>), as a batch.</summary>
    public async Task<StatsCheckBatchMessage?> AcceptStatsCheckAsync(string? body, string messageId, CancellationToken cancellationToken)
    {
        if (MessageReader.TryReadStatsCheck(body, out var message, out var error))
        {
            return message;
        }

        LogRejected(messageId, QueueNames.StatsCheck, error);
        await queue.MoveToPoisonAsync(QueueNames.StatsCheck, body ?? string.Empty, cancellationToken).ConfigureAwait(false);
        return null;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Message {MessageId} on {Queue} rejected and moved to the poison queue: {Error}")]
    private partial void LogRejected(string messageId, string queue, string error);
}
