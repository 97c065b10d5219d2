using System.ComponentModel.DataAnnotations;

namespace EnvoyReaper.Storage;

/// <summary>The storage account of the app (queues, state table, snapshot container).</summary>
public sealed class StorageOptions
{
    /// <summary>The Functions host's own storage setting; locally "UseDevelopmentStorage=true" (Azurite).</summary>
    [Required(ErrorMessage = "AzureWebJobsStorage is required (UseDevelopmentStorage=true for Azurite)")]
    public string? ConnectionString { get; set; }
}
