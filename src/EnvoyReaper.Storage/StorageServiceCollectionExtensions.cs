using Azure.Core;
using Azure.Data.Tables;
using Azure.Identity;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using EnvoyReaper.Idleness;
using EnvoyReaper.Injection;
using EnvoyReaper.Messaging;
using EnvoyReaper.Teardown;
using EnvoyReaper.Workloads;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Storage;

public static class StorageServiceCollectionExtensions
{
    /// <summary>The Functions host's storage connection setting, shared with the queue triggers.</summary>
    public const string ConnectionSetting = "AzureWebJobsStorage";

    public static IServiceCollection AddReaperStorage(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<StorageOptions>()
            .Configure(options =>
            {
                var section = configuration.GetSection(ConnectionSetting);
                options.ConnectionString = configuration[ConnectionSetting];
                options.AccountName = section["accountName"];
                options.QueueServiceUri = Uri(section["queueServiceUri"]);
                options.BlobServiceUri = Uri(section["blobServiceUri"]);
                options.TableServiceUri = Uri(section["tableServiceUri"]);
                options.ClientId = section["clientId"];
            })
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton(provider => Options(provider) is { UsesIdentity: true } storage
            ? new QueueServiceClient(storage.ServiceUri("queue"), Credential(storage), AzureWorkQueue.ClientOptions())
            : new QueueServiceClient(Options(provider).ConnectionString, AzureWorkQueue.ClientOptions()));
        services.AddSingleton(provider => Options(provider) is { UsesIdentity: true } storage
            ? new TableServiceClient(storage.ServiceUri("table"), Credential(storage))
            : new TableServiceClient(Options(provider).ConnectionString));
        services.AddSingleton(provider => Options(provider) is { UsesIdentity: true } storage
            ? new BlobServiceClient(storage.ServiceUri("blob"), Credential(storage))
            : new BlobServiceClient(Options(provider).ConnectionString));
        services.AddSingleton<IWorkQueue, AzureWorkQueue>();
        services.AddSingleton<IWorkloadStateStore>(provider => new TableWorkloadStateStore(
            provider.GetRequiredService<TableServiceClient>().GetTableClient(provider.GetRequiredService<IOptions<ReaperOptions>>().Value.StateTable)));
        services.AddSingleton<ITeardownBreakerStore>(provider => new TableTeardownBreakerStore(
            provider.GetRequiredService<TableServiceClient>().GetTableClient(provider.GetRequiredService<IOptions<ReaperOptions>>().Value.StateTable)));
        services.AddSingleton<IRolloutQueue>(provider => new AzureRolloutQueue(provider.GetRequiredService<QueueServiceClient>()));
        services.AddSingleton<IRolloutStore>(provider => new TableRolloutStore(
            provider.GetRequiredService<TableServiceClient>().GetTableClient(provider.GetRequiredService<IOptions<ReaperOptions>>().Value.StateTable)));
        services.AddSingleton<Waking.IWakeQueue>(provider => new AzureWakeQueue(provider.GetRequiredService<QueueServiceClient>()));
        services.AddSingleton<Waking.IParkQueue>(provider => new AzureParkQueue(provider.GetRequiredService<QueueServiceClient>()));
        services.AddSingleton<Waking.IWakeStore>(provider => new TableWakeStore(
            provider.GetRequiredService<TableServiceClient>().GetTableClient(provider.GetRequiredService<IOptions<ReaperOptions>>().Value.StateTable)));
        services.AddSingleton<Waking.IWakerPortStore>(provider => new TableWakerPortStore(
            provider.GetRequiredService<TableServiceClient>().GetTableClient(provider.GetRequiredService<IOptions<ReaperOptions>>().Value.StateTable)));
        services.AddSingleton<ISnapshotStore>(provider => new BlobSnapshotStore(
            provider.GetRequiredService<BlobServiceClient>().GetBlobContainerClient(provider.GetRequiredService<IOptions<ReaperOptions>>().Value.SnapshotContainer)));
        return services;
    }

    private static StorageOptions Options(IServiceProvider provider) => provider.GetRequiredService<IOptions<StorageOptions>>().Value;

    private static TokenCredential Credential(StorageOptions storage) =>
        string.IsNullOrWhiteSpace(storage.ClientId)
            ? new DefaultAzureCredential()
            : new ManagedIdentityCredential(ManagedIdentityId.FromUserAssignedClientId(storage.ClientId));

    private static Uri? Uri(string? value) => string.IsNullOrWhiteSpace(value) ? null : new Uri(value);
}
