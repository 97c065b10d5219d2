using EnvoyReaper.TestSupport.Storage;

namespace EnvoyReaper.Waker.Tests;

/// <summary>Tests on the "wake" queue share Azurite's queues, so they run one at a time.</summary>
[CollectionDefinition(AzuriteStorage.CollectionName, DisableParallelization = true)]
public sealed class AzuriteCollection;
