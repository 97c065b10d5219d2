using EnvoyReaper.Idleness;
using EnvoyReaper.Teardown;
using EnvoyReaper.TestSupport.Storage;
using EnvoyReaper.Workloads;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace EnvoyReaper.Storage.Tests;

/// <summary>The breaker row against Azurite: what instances racing for the hour's slots rely on.</summary>
public sealed class TableTeardownBreakerStoreTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    private readonly string tableName = AzuriteStorage.UniqueName("breakertest");
    private TableTeardownBreakerStore store = null!;
    private TableWorkloadStateStore states = null!;

    public async Task InitializeAsync()
    {
        await AzuriteStorage.EnsureReachableAsync();
        store = new TableTeardownBreakerStore(AzuriteStorage.Tables().GetTableClient(tableName));
        states = new TableWorkloadStateStore(AzuriteStorage.Tables().GetTableClient(tableName));
    }

    public async Task DisposeAsync() => await AzuriteStorage.Tables().GetTableClient(tableName).DeleteAsync();

    private TeardownBreaker Breaker(TimeProvider time, int maxPerHour) => new(
        new TableTeardownBreakerStore(AzuriteStorage.Tables().GetTableClient(tableName)), time,
        Options.Create(new TeardownBreakerOptions { MaxTeardownsPerHour = maxPerHour }), Options.Create(new ReaperOptions()), NullLogger<TeardownBreaker>.Instance);

    private static Messaging.TeardownMessage Request(int i) => new(
        Messaging.TeardownMessage.CurrentVersion, $"request-{i}", T0, "games", $"w{i}", $"uid-{i}", Messaging.OptInSource.Label, null,
        new WorkloadSettings(1, TimeSpan.FromMinutes(10), ReaperAction.Delete, 15090, "/stats", null, null, null, null), T0.AddMinutes(-10));

    [Fact]
    public async Task Reading_the_breaker_and_the_states_with_a_read_only_credential_works_and_creates_nothing()
    {
        var readOnly = new Azure.Data.Tables.TableClient(AzuriteStorage.ReadOnlyConnectionString(), tableName);
        var readOnlyBreaker = new TableTeardownBreakerStore(readOnly);
        var readOnlyStates = new TableWorkloadStateStore(readOnly);

        Assert.Null(await readOnlyBreaker.GetAsync(CancellationToken.None));
        Assert.Empty(await readOnlyBreaker.ListVerdictsAsync(CancellationToken.None));
        Assert.Null(await readOnlyStates.GetAsync("games", "arena", CancellationToken.None));
        Assert.Empty(await readOnlyStates.ListAsync(CancellationToken.None));
        var status = await new TeardownBreaker(readOnlyBreaker, new FakeTimeProvider(T0),
            Options.Create(new TeardownBreakerOptions()), Options.Create(new ReaperOptions()), NullLogger<TeardownBreaker>.Instance).StatusAsync(CancellationToken.None);
        Assert.False(status.Open);
        await foreach (var table in AzuriteStorage.Tables().QueryAsync(table => table.Name == tableName))
        {
            Assert.Fail($"a read created the table {table.Name}");
        }

        Assert.NotNull(await store.TryWriteAsync(new TeardownBreakerState([], 7, T0, T0, "mass flip"), null, CancellationToken.None));
        Assert.Equal("mass flip", (await readOnlyBreaker.GetAsync(CancellationToken.None))!.State.OpenedBecause);
    }

    [Fact]
    public async Task The_breaker_round_trips_and_a_write_with_an_old_ETag_is_refused()
    {
        Assert.Null(await store.GetAsync(CancellationToken.None));
        var state = new TeardownBreakerState([new TeardownSlot("r", T0.AddTicks(7))], 42, T0, T0, "mass flip");
        var etag = await store.TryWriteAsync(state, null, CancellationToken.None);
        Assert.NotNull(etag);
        Assert.Null(await store.TryWriteAsync(state, null, CancellationToken.None));

        var read = await store.GetAsync(CancellationToken.None);
        Assert.Equal(T0.AddTicks(7), Assert.Single(read!.State.Slots).At);
        Assert.Equal((42, "mass flip"), (read.State.MonitoredWorkloads!.Value, read.State.OpenedBecause));

        Assert.NotNull(await store.TryWriteAsync(state with { OpenedAt = null }, read.ETag, CancellationToken.None));
        Assert.Null(await store.TryWriteAsync(state, read.ETag, CancellationToken.None));
    }

    [Fact]
    public async Task Instances_racing_for_the_last_slots_take_exactly_as_many_as_the_hour_has()
    {
        Assert.NotNull(await store.TryWriteAsync(new TeardownBreakerState([new TeardownSlot("earlier", T0)], 1000, T0), null, CancellationToken.None));
        var time = new FakeTimeProvider(T0.AddMinutes(5));

        // Eight instances, each with its own client, ask at once for the last two of three slots.
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() => Breaker(time, maxPerHour: 3).TryAdmitAsync(Request(i), CancellationToken.None))));

        Assert.Equal(2, results.Count(result => result is null));
        Assert.Equal(3, (await store.GetAsync(CancellationToken.None))!.State.Slots.Count);
    }

    [Fact]
    public async Task The_verdicts_are_read_from_the_state_rows_and_the_breaker_row_is_not_one_of_them()
    {
        await store.TryWriteAsync(TeardownBreakerState.Empty, null, CancellationToken.None);
        var state = new WorkloadState("uid-1", Verdict.Idle, "quiet", 0, T0, T0, [], null, null, null, PriorVerdict: Verdict.Active, VerdictSince: T0.AddTicks(3));
        await states.TryWriteAsync("games", "arena", state, null, CancellationToken.None);
        await states.TryWriteAsync("games", "lobby", state with { DeploymentUid = "uid-2", PriorVerdict = null, VerdictSince = null }, null, CancellationToken.None);

        var verdicts = await store.ListVerdictsAsync(CancellationToken.None);

        Assert.Equal(2, verdicts.Count);
        Assert.Equal(new VerdictRecord("uid-1", Verdict.Idle, Verdict.Active, T0.AddTicks(3)), verdicts[("games", "arena")]);
        Assert.Equal(new VerdictRecord("uid-2", Verdict.Idle, null, null), verdicts[("games", "lobby")]);
        Assert.Equal(2, (await states.ListAsync(CancellationToken.None)).Count);
    }
}
