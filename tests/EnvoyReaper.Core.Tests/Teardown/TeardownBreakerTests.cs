using EnvoyReaper.Cluster;
using EnvoyReaper.Idleness;
using EnvoyReaper.Messaging;
using EnvoyReaper.Teardown;
using EnvoyReaper.TestSupport.Storage;
using EnvoyReaper.Workloads;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace EnvoyReaper.Core.Tests.Teardown;

public sealed class TeardownBreakerTests
{
    private static readonly DateTimeOffset T0 = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private readonly FakeTimeProvider clock = new(T0);
    private readonly InMemoryWorkloadStateStore states = new();
    private readonly InMemoryTeardownBreakerStore store;
    private readonly ReaperOptions reaperOptions = new();
    private readonly TeardownBreakerOptions options = new();

    public TeardownBreakerTests() => store = new InMemoryTeardownBreakerStore(states);

    private TeardownBreaker Breaker() =>
        new(store, clock, Options.Create(options), Options.Create(reaperOptions), NullLogger<TeardownBreaker>.Instance);

    private static TeardownMessage Request(string id, string name = "web") => new(
        TeardownMessage.CurrentVersion, id, T0, "team-a", name, "uid-" + name, OptInSource.Label, null,
        new WorkloadSettings(1, TimeSpan.FromMinutes(10), ReaperAction.Delete, 15090, "/stats", null, null, null, null), T0.AddMinutes(-10));

    private static MonitoredWorkload Workload(string name, ReaperAction action = ReaperAction.Delete) => new(
        new DeploymentInfo("team-a", name, "uid-" + name, "1", T0.AddDays(-1), 1, new Dictionary<string, string>(), new Dictionary<string, string>(),
            LabelSelector.FromLabels(new Dictionary<string, string> { ["app"] = name }), new Dictionary<string, string> { ["app"] = name }),
        OptInSource.Label, null,
        new SettingsResult(new WorkloadSettings(1, TimeSpan.FromMinutes(10), action, 15090, "/stats", null, null, null, null), []),
        []);

    private async Task FleetOfAsync(int monitored)
    {
        Assert.NotNull(await store.TryWriteAsync(new TeardownBreakerState([], monitored, T0), null, CancellationToken.None));
    }

    [Fact]
    public async Task Two_instances_racing_for_the_last_slot_admit_exactly_one()
    {
        options.MaxTeardownsPerHour = 2;
        await FleetOfAsync(1000);
        Assert.Null(await Breaker().TryAdmitAsync(Request("first"), CancellationToken.None));

        // Instance A reads the breaker with one slot left; before it writes, instance B takes that slot.
        var other = Breaker();
        store.AfterRead = async () => Assert.Null(await other.TryAdmitAsync(Request("b", "api"), CancellationToken.None));

        var a = await Breaker().TryAdmitAsync(Request("a", "shop"), CancellationToken.None);

        Assert.Equal(DeferralCause.HourlyLimit, a?.Cause);
        Assert.Equal(["first", "b"], store.State!.Slots.Select(slot => slot.Request));
    }

    [Fact]
    public async Task Many_concurrent_teardowns_take_exactly_the_slots_the_hour_has()
    {
        options.MaxTeardownsPerHour = 5;
        await FleetOfAsync(1000);

        var results = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Task.Run(() => Breaker().TryAdmitAsync(Request($"r{i}", $"w{i}"), CancellationToken.None))));

        Assert.Equal(5, results.Count(result => result is null));
        Assert.Equal(5, store.State!.Slots.Count);
        Assert.All(results.Where(result => result is not null), result => Assert.Contains(result!.Cause, new[] { DeferralCause.HourlyLimit, DeferralCause.Contention }));
    }

    [Fact]
    public async Task Observe_workloads_and_every_workload_under_dry_run_count_toward_nothing()
    {
        var fleet = new[] { Workload("a"), Workload("b", ReaperAction.ScaleToZero), Workload("watch", ReaperAction.Observe) };

        await Breaker().MeasureAsync(fleet, CancellationToken.None);
        Assert.Equal(2, store.State!.MonitoredWorkloads);

        reaperOptions.DryRun = true;
        clock.Advance(TimeSpan.FromMinutes(1));
        await Breaker().MeasureAsync(fleet, CancellationToken.None);
        Assert.Equal(0, store.State!.MonitoredWorkloads);
    }

    [Fact]
    public async Task Observe_workloads_going_idle_together_do_not_open_the_breaker()
    {
        var fleet = Enumerable.Range(0, 20).Select(i => Workload($"w{i}", ReaperAction.Observe)).ToList();
        await Breaker().MeasureAsync(fleet, CancellationToken.None);
        clock.Advance(TimeSpan.FromSeconds(30));
        foreach (var workload in fleet)
        {
            var state = new WorkloadState(workload.Deployment.Uid, Verdict.Idle, "idle", 0, clock.GetUtcNow(), clock.GetUtcNow(), [], null, null, null,
                PriorVerdict: Verdict.Active, VerdictSince: clock.GetUtcNow());
            await states.TryWriteAsync("team-a", workload.Deployment.Name, state, null, CancellationToken.None);
        }

        clock.Advance(TimeSpan.FromSeconds(30));
        var measure = await Breaker().MeasureAsync(fleet, CancellationToken.None);

        Assert.Equal(0, measure!.WentIdle);
        Assert.False(store.State!.IsOpen);

        var counted = fleet.Select(workload => workload with { Settings = Workload("x").Settings }).ToList();
        clock.Advance(TimeSpan.FromSeconds(10));
        Assert.True((await Breaker().MeasureAsync(counted, CancellationToken.None))!.Trips); // the same flip, counted, does trip
        Assert.True(store.State!.IsOpen);
    }

    [Fact]
    public async Task Reset_closes_the_breaker_records_who_and_keeps_the_hours_slots()
    {
        await store.TryWriteAsync(new TeardownBreakerState([new TeardownSlot("r", T0)], 100, T0, T0, "mass flip"), null, CancellationToken.None);
        Assert.True((await Breaker().StatusAsync(CancellationToken.None)).Open);

        clock.Advance(TimeSpan.FromMinutes(3));
        var status = await Breaker().ResetAsync("cli:ops", CancellationToken.None);

        Assert.NotNull(status);
        Assert.False(status.Open);
        Assert.Equal(("cli:ops", T0.AddMinutes(3)), (status.ClosedBy, status.ClosedAt!.Value));
        Assert.Equal(1, status.TeardownsLastHour);
        Assert.Equal(20, status.AllowedPerHour);
        Assert.Null(await Breaker().TryAdmitAsync(Request("next"), CancellationToken.None));
    }

    [Fact]
    public async Task Status_says_when_the_next_slot_frees_and_survives_a_fleet_that_was_emptied()
    {
        options.MaxTeardownsPerHour = 2;
        options.MinTeardownsPerHour = 0;
        await store.TryWriteAsync(new TeardownBreakerState([new TeardownSlot("a", T0), new TeardownSlot("b", T0.AddMinutes(10))], 1000, T0), null, CancellationToken.None);

        var full = await Breaker().StatusAsync(CancellationToken.None);
        Assert.True(full.Refusing);
        Assert.Equal(T0.AddHours(1), full.NextSlotAt);

        await Breaker().MeasureAsync(Array.Empty<MonitoredWorkload>(), CancellationToken.None);
        var empty = await Breaker().StatusAsync(CancellationToken.None);
        Assert.Equal((0, 2, (DateTimeOffset?)null), (empty.AllowedPerHour!.Value, empty.TeardownsLastHour, empty.NextSlotAt));
    }
}
