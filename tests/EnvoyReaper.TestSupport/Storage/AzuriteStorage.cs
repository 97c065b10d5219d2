using System.Net.Sockets;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;

namespace EnvoyReaper.TestSupport.Storage;

/// <summary>
/// The Azurite instance the tests run against (started by .ci/run, or by you: see README). Tests that share the
/// fixed queue names run in one non-parallel collection and clear the queues first; tables and containers get
/// names unique to the test.
/// </summary>
public static class AzuriteStorage
{
    public const string CollectionName = "Azurite";

    public static string ConnectionString =>
        Environment.GetEnvironmentVariable("ENVOYREAPER_TEST_STORAGE") is { Length: > 0 } configured ? configured : "UseDevelopmentStorage=true";

    private static readonly Lazy<Task> Reachable = new(CheckReachableAsync);

    public static Task EnsureReachableAsync() => Reachable.Value;

    public static QueueServiceClient Queues(bool base64 = true) =>
        new(ConnectionString, new QueueClientOptions { MessageEncoding = base64 ? QueueMessageEncoding.Base64 : QueueMessageEncoding.None });

    public static TableServiceClient Tables() => new(ConnectionString);

    public static BlobServiceClient Blobs() => new(ConnectionString);

    public static string UniqueName(string prefix) => $"{prefix}{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 12, 60)];

    /// <summary>Empties (creating if needed) the given queues, so a test sees only its own messages.</summary>
    public static async Task ResetQueuesAsync(params string[] names)
    {
        await EnsureReachableAsync();
        var service = Queues();
        foreach (var name in names)
        {
            var queue = service.GetQueueClient(name);
            await queue.CreateIfNotExistsAsync();
            await queue.ClearMessagesAsync();
        }
    }

    /// <summary>Reads (without removing) up to 32 raw messages as the trigger would see them before decoding.</summary>
    public static async Task<IReadOnlyList<PeekedMessage>> PeekRawAsync(string queueName, int max = 32)
    {
        var queue = Queues(base64: false).GetQueueClient(queueName);
        if (!await queue.ExistsAsync())
        {
            return [];
        }

        var peeked = await queue.PeekMessagesAsync(Math.Min(max, 32));
        return peeked.Value;
    }

    private static async Task CheckReachableAsync()
    {
        if (Environment.GetEnvironmentVariable("ENVOYREAPER_TEST_STORAGE") is { Length: > 0 })
        {
            return;
        }

        foreach (var port in new[] { 10000, 10001, 10002 })
        {
            using var client = new TcpClient();
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3));
                await client.ConnectAsync("127.0.0.1", port, timeout.Token);
            }
            catch (Exception exception) when (exception is SocketException or OperationCanceledException)
            {
                throw new InvalidOperationException(
                    $"Azurite is not listening on 127.0.0.1:{port}. Start it (`npx azurite@3.37.0 --silent --inMemoryPersistence`) or run .ci/run, which installs and starts it.",
                    exception);
            }
        }
    }
}
