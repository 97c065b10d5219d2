using EnvoyReaper.Idleness;
using EnvoyReaper.Teardown;
using EnvoyReaper.Workloads;

namespace EnvoyReaper.Core.Tests.Teardown;

public sealed class TeardownBreakerRulesTests
{
    private static readonly DateTimeOffset T0 = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Period = TimeSpan.FromMinutes(1);

    private readonly TeardownBreakerOptions options = new();

    private static TeardownBreakerState Fleet(int monitored, params TeardownSlot[] slots) => new(slots, monitored);

    private static TeardownBreakerState Admitted(Admission admission)
    {
        Assert.True(admission.Admitted, admission.Deferral?.Detail);
        return Assert.IsType<TeardownBreakerState>(admission.Next);
    }

    [Fact]
    public void Admits_up_to_the_hourly_maximum_then_defers_until_the_oldest_slot_is_an_hour_old()
    {
        options.MaxTeardownsPerHour = 3;
        var state = Fleet(1000);
        for (var i = 0; i < 3; i++)
        {
            state = Admitted(TeardownBreakerRules.Admit(state, $"r{i}", T0.AddMinutes(i), options));
        }

        var refused = TeardownBreakerRules.Admit(state, "r3", T0.AddMinutes(59), options);
        Assert.Equal(DeferralCause.HourlyLimit, refused.Deferral?.Cause);
        Assert.Null(refused.Next);
        Assert.Contains("MaxTeardownsPerHour", refused.Deferral!.Detail);

        Assert.False(TeardownBreakerRules.Admit(state, "r3", T0.AddHours(1).AddSeconds(-1), options).Admitted);
        var later = Admitted(TeardownBreakerRules.Admit(state, "r3", T0.AddHours(1), options));
        Assert.Equal(["r1", "r2", "r3"], later.Slots.Select(slot => slot.Request));
    }

    [Theory]
    [InlineData(100, 5, 20)]
    [InlineData(80, 5, 16)]
    [InlineData(3, 5, 5)]
    [InlineData(10, 5, 5)]
    [InlineData(26, 5, 6)]
    [InlineData(3, 0, 1)]
    [InlineData(1, 0, 1)]
    [InlineData(1000, 5, 50)]
    public void The_limit_is_the_fraction_of_monitored_workloads_rounded_up_not_below_the_floor_and_never_above_the_hourly_maximum(int monitored, int floor, int allowed)
    {
        options.MinTeardownsPerHour = floor;
        Assert.Equal(allowed, TeardownBreakerRules.Allowed(options, monitored));

        var state = Fleet(monitored, Enumerable.Range(0, allowed).Select(i => new TeardownSlot($"r{i}", T0)).ToArray());
        Assert.False(TeardownBreakerRules.Admit(state, "next", T0.AddMinutes(1), options).Admitted);
        Assert.True(TeardownBreakerRules.Admit(state with { Slots = state.Slots.Skip(1).ToList() }, "next", T0.AddMinutes(1), options).Admitted);
    }

    [Fact]
    public void The_fraction_limit_names_its_setting()
    {
        options.MinTeardownsPerHour = 0;
        var refused = TeardownBreakerRules.Admit(Fleet(10, new TeardownSlot("a", T0), new TeardownSlot("b", T0)), "c", T0, options);

        Assert.Equal(DeferralCause.FractionLimit, refused.Deferral?.Cause);
        Assert.Contains("MaxTeardownFraction (0.2 of 10 monitored workloads, at least Reaper:MinTeardownsPerHour 0: 2)", refused.Deferral!.Detail);
    }

    [Fact]
    public void A_retry_of_an_admitted_request_keeps_its_slot_even_when_the_hour_is_full_or_the_breaker_opened()
    {
        var state = Fleet(5, new TeardownSlot("mine", T0)) with { OpenedAt = T0.AddMinutes(1), OpenedBecause = "test" };

        var retry = TeardownBreakerRules.Admit(state, "mine", T0.AddMinutes(2), options);

        Assert.True(retry.Admitted);
        Assert.Null(retry.Next);
    }

    [Fact]
    public void An_open_breaker_defers_every_new_teardown_however_empty_the_hour()
    {
        var refused = TeardownBreakerRules.Admit(Fleet(1000) with { OpenedAt = T0, OpenedBecause = "mass flip" }, "r", T0.AddHours(5), options);

        Assert.Equal(DeferralCause.BreakerOpen, refused.Deferral?.Cause);
        Assert.Contains("reset", refused.Deferral!.Detail);
    }

    [Fact]
    public void Before_a_discovery_cycle_has_counted_the_fleet_only_the_floor_is_allowed()
    {
        options.MinTeardownsPerHour = 2;
        var state = TeardownBreakerState.Empty;
        state = Admitted(TeardownBreakerRules.Admit(state, "r1", T0, options));
        state = Admitted(TeardownBreakerRules.Admit(state, "r2", T0, options));

        var refused = TeardownBreakerRules.Admit(state, "r3", T0, options);

        Assert.Equal(DeferralCause.FleetSizeUnknown, refused.Deferral?.Cause);
        Assert.Contains("MinTeardownsPerHour", refused.Deferral!.Detail);
        Assert.Equal(2, TeardownBreakerRules.Allowed(options, null));
    }

    [Fact]
    public void With_no_floor_nothing_is_torn_down_before_a_discovery_cycle_has_counted_the_fleet()
    {
        options.MinTeardownsPerHour = 0;

        Assert.Equal(DeferralCause.FleetSizeUnknown, TeardownBreakerRules.Admit(TeardownBreakerState.Empty, "r", T0, options).Deferral?.Cause);
    }

    [Fact]
    public void Slots_older_than_an_hour_are_dropped_when_a_new_one_is_taken()
    {
        var next = Admitted(TeardownBreakerRules.Admit(Fleet(1000, new TeardownSlot("old", T0)), "new", T0.AddHours(2), options));

        Assert.Equal(["new"], next.Slots.Select(slot => slot.Request));
    }

    private static (string, string, string)[] Counted(int count) =>
        Enumerable.Range(0, count).Select(i => ("ns", $"w{i}", $"uid-{i}")).ToArray();

    private static Dictionary<(string, string), VerdictRecord> Verdicts(int active, int flipped, DateTimeOffset flippedAt, int offset = 0)
    {
        var verdicts = new Dictionary<(string, string), VerdictRecord>();
        for (var i = 0; i < active + flipped; i++)
        {
            var n = i + offset;
            verdicts[("ns", $"w{n}")] = i < flipped
                ? new VerdictRecord($"uid-{n}", Verdict.Idle, Verdict.Active, flippedAt)
                : new VerdictRecord($"uid-{n}", Verdict.Active, Verdict.Unknown, T0.AddDays(-1));
        }

        return verdicts;
    }

    private TeardownBreakerState Measured(DateTimeOffset at, int monitored = 20) => new([], monitored, at);

    [Fact]
    public void More_than_half_of_the_active_workloads_going_idle_since_the_last_cycle_opens_the_breaker()
    {
        var (next, measure) = TeardownBreakerRules.Measure(Measured(T0), Counted(20), Verdicts(active: 9, flipped: 11, T0.AddSeconds(30)), T0.AddMinutes(1), Period, options);

        Assert.True(measure.Trips);
        Assert.Equal((20, 11), (measure.WasActive, measure.WentIdle));
        Assert.True(next.IsOpen);
        Assert.Equal(T0.AddMinutes(1), next.OpenedAt);
        Assert.Contains("11 of the 20 workloads Active", next.OpenedBecause);
        Assert.Equal(20, next.MonitoredWorkloads);
        Assert.Equal(T0.AddMinutes(1), next.MeasuredAt);
    }

    [Fact]
    public void Exactly_half_going_idle_does_not_open_the_breaker()
    {
        var (next, measure) = TeardownBreakerRules.Measure(Measured(T0), Counted(20), Verdicts(active: 10, flipped: 10, T0.AddSeconds(30)), T0.AddMinutes(1), Period, options);

        Assert.False(measure.Trips);
        Assert.False(next.IsOpen);
    }

    [Fact]
    public void Fewer_flips_than_the_minimum_do_not_open_the_breaker_even_if_all_went_idle()
    {
        var (next, measure) = TeardownBreakerRules.Measure(Measured(T0), Counted(9), Verdicts(active: 0, flipped: 9, T0.AddSeconds(30)), T0.AddMinutes(1), Period, options);

        Assert.Equal(9, measure.WentIdle);
        Assert.False(next.IsOpen);
    }

    [Fact]
    public void A_flip_whose_checks_straddle_two_cycles_is_still_seen_whole()
    {
        var verdicts = Verdicts(active: 8, flipped: 6, T0.AddSeconds(-30));
        foreach (var (key, value) in Verdicts(active: 0, flipped: 6, T0.AddSeconds(30), offset: 14))
        {
            verdicts[key] = value;
        }

        var (next, measure) = TeardownBreakerRules.Measure(Measured(T0), Counted(20), verdicts, T0.AddMinutes(1), Period, options);

        Assert.Equal((20, 12), (measure.WasActive, measure.WentIdle));
        Assert.True(next.IsOpen);
    }

    [Fact]
    public void Flips_older_than_the_window_or_before_a_reset_do_not_count()
    {
        var old = TeardownBreakerRules.Measure(Measured(T0), Counted(20), Verdicts(active: 0, flipped: 20, T0.AddMinutes(-5)), T0.AddMinutes(1), Period, options);
        Assert.False(old.Next.IsOpen);
        Assert.Equal(0, old.Measure.WasActive);

        var reset = Measured(T0) with { ClosedAt = T0.AddSeconds(40), ClosedBy = "ops" };
        var afterReset = TeardownBreakerRules.Measure(reset, Counted(20), Verdicts(active: 0, flipped: 20, T0.AddSeconds(30)), T0.AddMinutes(1), Period, options);
        Assert.False(afterReset.Next.IsOpen);
    }

    [Fact]
    public void A_fleet_that_goes_from_Active_through_Unknown_to_Idle_together_opens_the_breaker()
    {
        // A stats matcher change renames the listeners of every Envoy: one check reads Unknown (counters changed
        // listeners), the next reads Idle. The flip is Active to Idle all the same.
        var policy = new IdlePolicy(new ReaperOptions());
        var settings = new WorkloadSettings(1, TimeSpan.FromMinutes(10), ReaperAction.Delete, 15090, "/stats", null, null, null, null);
        CheckInput Input(int n, DateTimeOffset at, ulong active, string listener) => new($"uid-{n}", T0.AddDays(-3), settings, null,
            [new PodReading($"pod-{n}", $"w{n}-a", true, null, active, new Dictionary<string, ulong> { [listener] = 10 }, (ulong)(at - T0.AddHours(-2)).TotalSeconds)], 0);
        var states = Enumerable.Range(0, 20).Select(n => policy.Evaluate(Input(n, T0, 3, "0.0.0.0_8080"), null, T0).State).ToArray();
        Dictionary<(string, string), VerdictRecord> Records() => states.Select((state, n) => (n, state))
            .ToDictionary(pair => ("ns", $"w{pair.n}"), pair => new VerdictRecord(pair.state.DeploymentUid, pair.state.Verdict, pair.state.PriorVerdict, pair.state.VerdictSince));

        var breaker = Measured(T0.AddMinutes(-1));
        var opened = false;
        foreach (var (checkAt, listener) in new[] { (T0.AddSeconds(90), "ingress_http"), (T0.AddSeconds(150), "ingress_http") })
        {
            for (var n = 0; n < states.Length; n++)
            {
                states[n] = policy.Evaluate(Input(n, checkAt, 0, listener), states[n], checkAt).State;
            }

            (breaker, var measure) = TeardownBreakerRules.Measure(breaker, Counted(20), Records(), checkAt.AddSeconds(10), Period, options);
            opened |= measure.Trips;
        }

        Assert.All(states, state => Assert.Equal(Verdict.Idle, state.Verdict));
        Assert.True(opened);
        Assert.True(breaker.IsOpen);
    }

    [Fact]
    public void The_first_measure_only_records_the_fleet()
    {
        var (next, measure) = TeardownBreakerRules.Measure(TeardownBreakerState.Empty, Counted(20), Verdicts(0, 20, T0), T0.AddMinutes(1), Period, options);

        Assert.False(measure.Trips);
        Assert.Equal(20, next.MonitoredWorkloads);
        Assert.Equal(T0.AddMinutes(1), next.MeasuredAt);
    }

    [Fact]
    public void Only_counted_workloads_of_the_same_Deployment_take_part()
    {
        var verdicts = Verdicts(active: 0, flipped: 20, T0.AddSeconds(30));

        // Ten were recreated under the same name (another UID), and ten are not counted (observe, say).
        var counted = Counted(20).Take(10).Select(item => (item.Item1, item.Item2, "recreated")).ToArray();
        var (next, measure) = TeardownBreakerRules.Measure(Measured(T0), counted, verdicts, T0.AddMinutes(1), Period, options);

        Assert.Equal(0, measure.WentIdle);
        Assert.False(next.IsOpen);
        Assert.Equal(10, next.MonitoredWorkloads);
    }

    [Fact]
    public void An_open_breaker_stays_open_with_its_first_reason()
    {
        var open = Measured(T0) with { OpenedAt = T0, OpenedBecause = "first" };

        var (next, _) = TeardownBreakerRules.Measure(open, Counted(20), Verdicts(0, 20, T0.AddSeconds(1)), T0.AddMinutes(1), Period, options);

        Assert.Equal((T0, "first"), (next.OpenedAt!.Value, next.OpenedBecause));
    }

    [Theory]
    [InlineData(0.0, 0.5)]
    [InlineData(1.5, 0.5)]
    [InlineData(0.2, 1.0)]
    [InlineData(double.NaN, 0.5)]
    public void Options_out_of_range_are_rejected(double teardownFraction, double massIdleFraction)
    {
        var invalid = new TeardownBreakerOptions { MaxTeardownFraction = teardownFraction, MassIdleFraction = massIdleFraction };

        Assert.NotEmpty(invalid.Validate(new System.ComponentModel.DataAnnotations.ValidationContext(invalid)));
    }
}
