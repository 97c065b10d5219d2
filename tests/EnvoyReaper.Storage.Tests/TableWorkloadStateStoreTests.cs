using EnvoyReaper.Idleness;
using EnvoyReaper.TestSupport.Storage;

namespace EnvoyReaper.Storage.Tests;

/// <summary>The state store against Azurite: what two scaled-out instances rely on.</summary>
public sealed class TableWorkloadStateStoreTests : IAsyncLifetime
{
    private readonly string tableName = AzuriteStorage.UniqueName("statetest");
    private readonly StorageRequestCounter requests = new();
    private TableWorkloadStateStore store = null!;

    public async Task InitializeAsync()
    {
        await AzuriteStorage.EnsureReachableAsync();
        var options = new Azure.Data.Tables.TableClientOptions();
        options.AddPolicy(requests, Azure.Core.HttpPipelinePosition.PerRetry);
        store = new TableWorkloadStateStore(new Azure.Data.Tables.TableServiceClient(AzuriteStorage.ConnectionString, options).GetTableClient(tableName));
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

    private static IReadOnlyList<StateWrite> FirstSights(int count, DateTimeOffset at) =>
        Enumerable.Range(0, count).Select(i => new StateWrite($"web-{i}", State(Verdict.Unknown, at), null)).ToList();

    [Fact]
    public async Task The_first_sights_of_a_batch_are_written_in_one_transaction_per_hundred_rows_with_their_ETags()
    {
        var at = DateTimeOffset.UnixEpoch;
        await store.TryWriteAsync("games", "warm-up", State(Verdict.Idle, at), null, CancellationToken.None); // creates the table
        requests.Reset();

        var etags = await store.TryWriteManyAsync("games", FirstSights(150, at), CancellationToken.None);

        Assert.Equal(2, requests.Total); // 100 + 50 rows
        Assert.Equal(2, requests.ByKind["POST $batch"]);
        Assert.Equal(150, etags.Count);
        for (var i = 0; i < 150; i++)
        {
            var read = await store.GetAsync("games", $"web-{i}", CancellationToken.None);
            Assert.Equal(read!.ETag, etags[i]);
            Assert.Equal(Verdict.Unknown, read.State.Verdict);
        }
    }

    [Fact]
    public async Task A_batch_with_one_row_changed_since_it_was_read_writes_the_others_and_refuses_that_one_as_a_single_write_would()
    {
        var at = DateTimeOffset.UnixEpoch;
        var first = await store.TryWriteManyAsync("games", FirstSights(5, at), CancellationToken.None);
        Assert.All(first, etag => Assert.False(string.IsNullOrEmpty(etag)));

        // Another instance wrote web-2 after this one read it.
        var theirs = await store.TryWriteAsync("games", "web-2", State(Verdict.Active, at.AddSeconds(30)), first[2], CancellationToken.None);
        Assert.NotNull(theirs);
        // And a first sight that another instance made first: an insert of a row that now exists.
        Assert.NotNull(await store.TryWriteAsync("games", "web-new", State(Verdict.Active, at.AddSeconds(30)), null, CancellationToken.None));

        var writes = Enumerable.Range(0, 5).Select(i => new StateWrite($"web-{i}", State(Verdict.Idle, at.AddMinutes(1)), first[i]))
            .Append(new StateWrite("web-new", State(Verdict.Idle, at.AddMinutes(1)), null))
            .ToList();
        var etags = await store.TryWriteManyAsync("games", writes, CancellationToken.None);

        Assert.Null(etags[2]);
        Assert.Null(etags[5]);
        Assert.Equal(Verdict.Active, (await store.GetAsync("games", "web-2", CancellationToken.None))!.State.Verdict);
        Assert.Equal(Verdict.Active, (await store.GetAsync("games", "web-new", CancellationToken.None))!.State.Verdict);
        foreach (var i in new[] { 0, 1, 3, 4 })
        {
            var read = (await store.GetAsync("games", $"web-{i}", CancellationToken.None))!;
            Assert.Equal(Verdict.Idle, read.State.Verdict);
            Assert.Equal(read.ETag, etags[i]);
        }
    }

    [Fact]
    public async Task A_batch_replacing_a_row_deleted_since_it_was_read_refuses_that_one_and_writes_the_others()
    {
        var at = DateTimeOffset.UnixEpoch;
        var first = await store.TryWriteManyAsync("games", FirstSights(3, at), CancellationToken.None);
        await AzuriteStorage.Tables().GetTableClient(tableName).DeleteEntityAsync("games", "web-1");

        var etags = await store.TryWriteManyAsync("games", Enumerable.Range(0, 3).Select(i => new StateWrite($"web-{i}", State(Verdict.Idle, at), first[i])).ToList(), CancellationToken.None);

        Assert.NotNull(etags[0]);
        Assert.Null(etags[1]);
        Assert.NotNull(etags[2]);
        Assert.Null(await store.GetAsync("games", "web-1", CancellationToken.None));
    }

    [Fact]
    public async Task The_states_of_several_workloads_are_read_in_one_query_with_their_ETags_and_only_those_asked_for()
    {
        var at = DateTimeOffset.UnixEpoch;
        var etags = await store.TryWriteManyAsync("games", FirstSights(6, at), CancellationToken.None);
        await store.TryWriteAsync("other", "web-2", State(Verdict.Active, at), null, CancellationToken.None);
        requests.Reset();

        var states = await store.GetManyAsync("games", ["web-1", "web-3", "web-5", "web-missing"], CancellationToken.None);

        Assert.Equal(1, requests.Total);
        Assert.Equal(["web-1", "web-3", "web-5"], states.Keys.Order());
        Assert.Equal(etags[3], states["web-3"].ETag);
        Assert.Equal(Verdict.Unknown, states["web-5"].State.Verdict);
    }

    [Fact]
    public async Task Reading_several_states_from_a_table_that_does_not_exist_finds_none()
    {
        Assert.Empty(await store.GetManyAsync("games", ["web-1", "web-2"], CancellationToken.None));
    }
}
