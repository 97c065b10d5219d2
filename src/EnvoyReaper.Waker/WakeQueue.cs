using Azure;
using Azure.Identity;
using Azure.Storage.Queues;
using EnvoyReaper.Messaging;
using EnvoyReaper.Waking;

namespace EnvoyReaper.Waker;

/// <summary>Where wake requests go.</summary>
public interface IWakeQueue
{
    Task SendAsync(WakeMessage message, TimeSpan timeToLive, CancellationToken cancellationToken);
}

/// <summary>
/// The "wake" Azure Storage queue. Base64-encoded like every queue of the reaper: the Functions queue trigger decodes
/// Base64 by default and would poison a plain-text message unread.
/// </summary>
public sealed class AzureWakeQueue(QueueClient queue) : IWakeQueue
{
    private readonly Lock gate = new();
    private Task? creation;

    public static QueueClientOptions ClientOptions() => new() { MessageEncoding = QueueMessageEncoding.Base64 };

    public static AzureWakeQueue Create(WakerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var service = string.IsNullOrWhiteSpace(options.QueueConnection)
            ? new QueueServiceClient(
                options.QueueServiceUri,
                string.IsNullOrWhiteSpace(options.QueueClientId) ? new DefaultAzureCredential() : new ManagedIdentityCredential(ManagedIdentityId.FromUserAssignedClientId(options.QueueClientId)),
                ClientOptions())
            : new QueueServiceClient(options.QueueConnection, ClientOptions());
        return new AzureWakeQueue(service.GetQueueClient(QueueNames.Wake));
    }

    public async Task SendAsync(WakeMessage message, TimeSpan timeToLive, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        await EnsureCreatedAsync().ConfigureAwait(false);
        await queue.SendMessageAsync(ReaperJson.Serialize(message), timeToLive: timeToLive, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    private async Task EnsureCreatedAsync()
    {
        Task task;
        lock (gate)
        {
            // A create that failed is tried again by the next send, not remembered.
            if (creation is null || creation.IsFaulted || creation.IsCanceled)
            {
                creation = queue.CreateIfNotExistsAsync();
            }

            task = creation;
        }

        try
        {
            await task.ConfigureAwait(false);
        }
        catch (RequestFailedException exception) when (exception.Status == 403)
        {
            // An add-only SAS (what the waker should hold) may not create queues: the wake function has created it.
        }
    }
}
