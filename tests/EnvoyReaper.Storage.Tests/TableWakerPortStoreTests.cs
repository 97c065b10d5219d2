using EnvoyReaper.TestSupport.Storage;
using EnvoyReaper.Waking;

namespace EnvoyReaper.Storage.Tests;

/// <summary>Waker ports against Azurite: one row per port, so concurrent teardowns never share one.</summary>
public sealed class TableWakerPortStoreTests : IAsyncLifetime
{
    private readonly string tableName = AzuriteStorage.UniqueName("wakerports");
    private TableWakerPortStore store = null!;

    public async Task InitializeAsync()
    {
        await AzuriteStorage.EnsureReachableAsync();
        store = new TableWakerPortStore(AzuriteStorage.Tables().GetTableClient(tableName));
    }

    public async Task DisposeAsync() => await AzuriteStorage.Tables().DeleteTableAsync(tableName);

    [Fact]
    public async Task An_owner_that_asks_again_gets_the_ports_it_holds()
    {
        var first = await store.AllocateAsync("previews/web", 2, 20000, 20009, CancellationToken.None);
        var again = await store.AllocateAsync("previews/web", 2, 20000, 20009, CancellationToken.None);

        Assert.Equal([20000, 20001], first);
        Assert.Equal(first, again);
    }

    [Fact]
    public async Task Concurrent_owners_never_share_a_port_and_a_full_range_is_refused()
    {
        var owners = Enumerable.Range(0, 8).Select(i => $"previews/web-{i}").ToList();
        var allocations = await Task.WhenAll(owners.Select(owner => store.AllocateAsync(owner, 1, 20000, 20007, CancellationToken.None)));

        Assert.Equal(8, allocations.SelectMany(ports => ports).Distinct().Count());
        await Assert.ThrowsAsync<WakerPortsExhaustedException>(() => store.AllocateAsync("previews/late", 1, 20000, 20007, CancellationToken.None));
    }

    [Fact]
    public async Task Released_ports_are_handed_out_again_and_the_rows_are_invisible_to_the_workload_states()
    {
        await store.AllocateAsync("previews/web", 2, 20000, 20001, CancellationToken.None);
        var table = AzuriteStorage.Tables().GetTableClient(tableName);
        Assert.Empty(await new TableWorkloadStateStore(table).ListAsync(CancellationToken.None));
        Assert.Empty(await new TableTeardownBreakerStore(table).ListVerdictsAsync(CancellationToken.None));

        await store.ReleaseAsync("previews/web", CancellationToken.None);

        Assert.Equal([20000, 20001], await store.AllocateAsync("previews/other", 2, 20000, 20001, CancellationToken.None));
    }
}
