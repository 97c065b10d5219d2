using System.ComponentModel.DataAnnotations;

namespace EnvoyReaper.Storage;

/// <summary>
/// The storage account of the app (queues, state table, snapshot container), read from the same settings as the
/// Functions host: a connection string in AzureWebJobsStorage, or an identity-based connection
/// (AzureWebJobsStorage__accountName or __queueServiceUri/__blobServiceUri/__tableServiceUri, with __clientId for a
/// user-assigned managed identity).
/// </summary>
public sealed class StorageOptions : IValidatableObject
{
    public string? ConnectionString { get; set; }

    public string? AccountName { get; set; }

    public Uri? QueueServiceUri { get; set; }

    public Uri? BlobServiceUri { get; set; }

    public Uri? TableServiceUri { get; set; }

    public string? ClientId { get; set; }

    public bool UsesIdentity => string.IsNullOrWhiteSpace(ConnectionString);

    public Uri ServiceUri(string service) => service switch
    {
        "queue" when QueueServiceUri is not null => QueueServiceUri,
        "blob" when BlobServiceUri is not null => BlobServiceUri,
        "table" when TableServiceUri is not null => TableServiceUri,
        _ => new Uri($"https://{AccountName}.{service}.core.windows.net"),
    };

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!UsesIdentity)
        {
            yield break;
        }

        var hasEveryUri = QueueServiceUri is not null && BlobServiceUri is not null && TableServiceUri is not null;
        if (string.IsNullOrWhiteSpace(AccountName) && !hasEveryUri)
        {
            yield return new ValidationResult(
                "AzureWebJobsStorage is required: a connection string (UseDevelopmentStorage=true for Azurite), or AzureWebJobsStorage__accountName for an identity-based connection",
                [nameof(ConnectionString)]);
        }
    }
}
