using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using EnvoyReaper.Idleness;
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
            .Configure(options => options.ConnectionString = configuration[ConnectionSetting])
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton(provider => new QueueServiceClient(Connection(provider), AzureWorkQueue.ClientOptions()));
        services.AddSingleton(provider => new TableServiceClient(Connection(provider)));
        services.AddSingleton(provider => new BlobServiceClient(Connection(provider)));
        services.AddSingleton<IWorkQueue, AzureWorkQueue>();
        services.AddSingleton<IWorkloadStateStore>(provider => new TableWorkloadStateStore(
            provider.GetRequiredService<TableServiceClient>().GetTableClient(provider.GetRequiredService<IOptions<ReaperOptions>>().Value.StateTable)));
        services.AddSingleton<ISnapshotStore>(provider => new BlobSnapshotStore(
            provider.GetRequiredService<BlobServiceClient>().GetBlobContainerClient(provider.GetRequiredService<IOptions<ReaperOptions>>().Value.SnapshotContainer)));
        return services;
    }

    private static string Connection(IServiceProvider provider) => provider.GetRequiredService<IOptions<StorageOptions>>().Value.ConnectionString!;
}
