using EnvoyReaper.Idleness;
using EnvoyReaper.TestSupport.Storage;

namespace EnvoyReaper.Storage.Tests;

/// <summary>The state store against Azurite: what two scaled-out instances rely on.</summary>
public sealed class TableWorkloadStateStoreTests : IAsyncLifetime
{
    private readonly string tableName = AzuriteStorage.UniqueName("statetest");
    private TableWorkloadStateStore store = null!;

    public async Task InitializeAsync()
    {
        await AzuriteStorage.EnsureReachableAsync();
        store = new TableWorkloadStateStore(AzuriteStorage.Tables().GetTableClient(tableName));
    }

    public async Task DisposeAsync() => await AzuriteStorage.Tables().DeleteTableAsync(tableName);

    private static WorkloadState State(Verdict verdict, DateTimeOffset at) => new(
        "uid-1", verdict, "reason", 0, verdict == Verdict.Idle ? at : null, at,
        [new PodBaseline("pod-uid", at.AddHours(-2), new Dictionary<string, ulong> { ["0.0.0.0_15001"] = 18_446_744_073_709_551_615 })],
        null, null, null);

    [Fact]
    public async Task A_missing_workload_has_no_state()
    {
        Assert.Null(await store.GetAsync("games", "nothing", CancellationToken.None));
    }

    [Fact]
    public async Task State_round_trips_exactly_including_sub_millisecond_times_and_uint64_counters()
    {
        var at = new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero).AddTicks(1234567);
        var state = State(Verdict.Idle, at) with { TeardownRequestedAt = at.AddTicks(1) };

        Assert.NotNull(await store.TryWriteAsync("games", "arena", state, null, CancellationToken.None));
        var read = await store.GetAsync("games", "arena", CancellationToken.None);

        Assert.NotNull(read);
        Assert.Equal(state.IdleSince, read.State.IdleSince);
        Assert.Equal(state.TeardownRequestedAt, read.State.TeardownRequestedAt);
        Assert.Equal(18_446_744_073_709_551_615UL, read.State.Pods[0].ConnectionTotals["0.0.0.0_15001"]);
        Assert.Equal(state.Pods[0].EnvoyStartedAt, read.State.Pods[0].EnvoyStartedAt);
    }

    [Fact]
    public async Task Only_one_of_two_instances_creating_the_same_state_wins()
    {
        var at = DateTimeOffset.UnixEpoch;
        Assert.NotNull(await store.TryWriteAsync("games", "arena", State(Verdict.Idle, at), null, CancellationToken.None));
        Assert.Null(await store.TryWriteAsync("games", "arena", State(Verdict.Active, at), null, CancellationToken.None));

        Assert.Equal(Verdict.Idle, (await store.GetAsync("games", "arena", CancellationToken.None))!.State.Verdict);
    }

    [Fact]
    public async Task A_write_based_on_a_stale_read_is_refused()
    {
        var at = DateTimeOffset.UnixEpoch;
        await store.TryWriteAsync("games", "arena", State(Verdict.Idle, at), null, CancellationToken.None);
        var first = (await store.GetAsync("games", "arena", CancellationToken.None))!;
        var second = (await store.GetAsync("games", "arena", CancellationToken.None))!;

        Assert.NotNull(await store.TryWriteAsync("games", "arena", State(Verdict.Active, at), first.ETag, CancellationToken.None));
        Assert.Null(await store.TryWriteAsync("games", "arena", State(Verdict.Idle, at.AddMinutes(1)), second.ETag, CancellationToken.None));

        Assert.Equal(Verdict.Active, (await store.GetAsync("games", "arena", CancellationToken.None))!.State.Verdict);
    }

    [Fact]
    public async Task A_write_returns_the_ETag_the_stored_row_now_has()
    {
        var at = DateTimeOffset.UnixEpoch;
        var created = await store.TryWriteAsync("games", "arena", State(Verdict.Idle, at), null, CancellationToken.None);
        Assert.Equal((await store.GetAsync("games", "arena", CancellationToken.None))!.ETag, created);

        var replaced = await store.TryWriteAsync("games", "arena", State(Verdict.Active, at), created, CancellationToken.None);
        Assert.NotNull(replaced);
        Assert.NotEqual(created, replaced);
        Assert.Equal((await store.GetAsync("games", "arena", CancellationToken.None))!.ETag, replaced);

        // The ETag a write returned is good for the next write without a read in between, and the one before it is not.
        Assert.Null(await store.TryWriteAsync("games", "arena", State(Verdict.Idle, at), created, CancellationToken.None));
        Assert.NotNull(await store.TryWriteAsync("games", "arena", State(Verdict.Idle, at), replaced, CancellationToken.None));
    }

    [Fact]
    public async Task A_replace_of_a_row_deleted_since_it_was_read_is_refused_not_thrown()
    {
        var at = DateTimeOffset.UnixEpoch;
        var etag = await store.TryWriteAsync("games", "arena", State(Verdict.Idle, at), null, CancellationToken.None);
        await AzuriteStorage.Tables().GetTableClient(tableName).DeleteEntityAsync("games", "arena");

        Assert.Null(await store.TryWriteAsync("games", "arena", State(Verdict.Active, at), etag, CancellationToken.None));
        Assert.Null(await store.GetAsync("games", "arena", CancellationToken.None));
    }

    [Fact]
    public async Task A_write_to_a_table_that_is_gone_fails_loudly()
    {
        var at = DateTimeOffset.UnixEpoch;
        var etag = await store.TryWriteAsync("games", "arena", State(Verdict.Idle, at), null, CancellationToken.None);
        await AzuriteStorage.Tables().DeleteTableAsync(tableName);

        await Assert.ThrowsAsync<Azure.RequestFailedException>(() => store.TryWriteAsync("games", "arena", State(Verdict.Active, at), etag, CancellationToken.None));
    }
}
