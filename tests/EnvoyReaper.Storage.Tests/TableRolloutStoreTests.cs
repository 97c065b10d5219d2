using EnvoyReaper.Injection;
using EnvoyReaper.TestSupport.Storage;

namespace EnvoyReaper.Storage.Tests;

/// <summary>Injection rollout records against Azurite: the ETags that keep two checks or requests from both advancing one.</summary>
public sealed class TableRolloutStoreTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    private readonly string tableName = AzuriteStorage.UniqueName("rollouttest");
    private TableRolloutStore store = null!;

    public async Task InitializeAsync()
    {
        await AzuriteStorage.EnsureReachableAsync();
        store = new TableRolloutStore(AzuriteStorage.Tables().GetTableClient(tableName));
    }

    public async Task DisposeAsync() => await AzuriteStorage.Tables().DeleteTableAsync(tableName);

    private static RolloutRecord Record(string deployment = "web.v2") => new(
        "op-1", RolloutOperation.Inject, "previews", deployment, "3f0c9a0b1c2d3e4f", RolloutPhase.RollingOut, "waiting for the rollout",
        ["inject the sidecar into Deployment web"], ["point Service web-svc at Envoy once the rollout is complete"], T0, T0, T0.AddMinutes(15), 0, "check-1",
        new ValidInjection("previews", deployment, 8080, SidecarProtocol.Http, null, null, true, "10m", null, null));

    [Fact]
    public async Task A_record_round_trips_and_a_write_with_an_old_ETag_is_refused()
    {
        Assert.Null(await store.GetAsync("previews", "web.v2", CancellationToken.None));
        Assert.NotNull(await store.TryWriteAsync(Record(), null, CancellationToken.None));
        Assert.Null(await store.TryWriteAsync(Record(), null, CancellationToken.None));

        var read = await store.GetAsync("previews", "web.v2", CancellationToken.None);
        Assert.Equal(Record().Request, read!.Record.Request);
        Assert.Equal(Record().Pending, read.Record.Pending);
        Assert.Equal((RolloutPhase.RollingOut, "check-1"), (read.Record.Phase, read.Record.NextCheckId));

        Assert.NotNull(await store.TryWriteAsync(read.Record with { Phase = RolloutPhase.Done }, read.ETag, CancellationToken.None));
        Assert.Null(await store.TryWriteAsync(read.Record with { Checks = 9 }, read.ETag, CancellationToken.None));
        Assert.Equal(RolloutPhase.Done, (await store.GetAsync("previews", "web.v2", CancellationToken.None))!.Record.Phase);
    }

    [Fact]
    public async Task Rollout_rows_are_invisible_to_the_workload_states_and_the_breakers_measure_in_the_same_table()
    {
        await store.TryWriteAsync(Record(), null, CancellationToken.None);
        var table = AzuriteStorage.Tables().GetTableClient(tableName);

        Assert.Empty(await new TableWorkloadStateStore(table).ListAsync(CancellationToken.None));
        Assert.Empty(await new TableTeardownBreakerStore(table).ListVerdictsAsync(CancellationToken.None));
    }
}
