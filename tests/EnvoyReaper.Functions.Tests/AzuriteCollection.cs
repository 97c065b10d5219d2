using EnvoyReaper.TestSupport.Storage;

namespace EnvoyReaper.Functions.Tests;

/// <summary>Tests on the fixed queue names share Azurite's queues, so they run one at a time.</summary>
[CollectionDefinition(AzuriteStorage.CollectionName, DisableParallelization = true)]
public sealed class AzuriteCollection;
