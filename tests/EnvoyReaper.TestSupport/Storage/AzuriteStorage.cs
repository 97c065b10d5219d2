using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;

namespace EnvoyReaper.TestSupport.Storage;

/// <summary>
/// The Azurite the tests run against: the one ENVOYREAPER_TEST_STORAGE names, else one this test process starts for
/// itself (see <see cref="AzuriteProcess"/>) on free ports and stops when it exits. Each test assembly runs in its own
/// process with its own Azurite, so two runs on one machine, or two assemblies of one run, never share a queue. Within an
/// assembly, tests that share the fixed queue names run in one non-parallel collection and clear the queues first;
/// tables and containers get names unique to the test.
/// </summary>
public static class AzuriteStorage
{
    public const string CollectionName = "Azurite";

    private static readonly Lazy<Task<string>> Started = new(() => Task.Run(StartAsync));

    /// <summary>The connection string; starts this process's Azurite on first use.</summary>
    public static string ConnectionString => Started.Value.GetAwaiter().GetResult();

    public static Task EnsureReachableAsync() => Started.Value;

    public static QueueServiceClient Queues(bool base64 = true) =>
        new(ConnectionString, new QueueClientOptions { MessageEncoding = base64 ? QueueMessageEncoding.Base64 : QueueMessageEncoding.None });

    public static TableServiceClient Tables() => new(ConnectionString);

    public static BlobServiceClient Blobs() => new(ConnectionString);

    /// <summary>
    /// A connection string whose account SAS may only read and list blobs and table entities: what an operator with a
    /// reader role holds. Any create or write through it is refused with 403.
    /// </summary>
    public static string ReadOnlyConnectionString()
    {
        var parts = ConnectionString.Split(';', StringSplitOptions.RemoveEmptyEntries)
            .Select(part => part.Split('=', 2))
            .ToDictionary(pair => pair[0], pair => pair.Length > 1 ? pair[1] : string.Empty, StringComparer.OrdinalIgnoreCase);
        var credential = new Azure.Storage.StorageSharedKeyCredential(parts["AccountName"], parts["AccountKey"]);
        var sas = new Azure.Storage.Sas.AccountSasBuilder(
            Azure.Storage.Sas.AccountSasPermissions.Read | Azure.Storage.Sas.AccountSasPermissions.List,
            DateTimeOffset.UtcNow.AddHours(2),
            Azure.Storage.Sas.AccountSasServices.Blobs | Azure.Storage.Sas.AccountSasServices.Tables,
            Azure.Storage.Sas.AccountSasResourceTypes.All) { Protocol = Azure.Storage.Sas.SasProtocol.HttpsAndHttp }
            .ToSasQueryParameters(credential).ToString();
        return $"BlobEndpoint={parts["BlobEndpoint"]};TableEndpoint={parts["TableEndpoint"]};SharedAccessSignature={sas}";
    }

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

    private static async Task<string> StartAsync()
    {
        if (Environment.GetEnvironmentVariable("ENVOYREAPER_TEST_STORAGE") is { Length: > 0 } configured)
        {
            return configured;
        }

        var azurite = await AzuriteProcess.StartAsync(AzuriteProcess.DefaultToolsDirectory(), CancellationToken.None).ConfigureAwait(false);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => azurite.Dispose();
        return azurite.ConnectionString;
    }
}
