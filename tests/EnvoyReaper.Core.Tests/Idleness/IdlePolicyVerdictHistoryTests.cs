using EnvoyReaper.Idleness;
using EnvoyReaper.Workloads;

namespace EnvoyReaper.Core.Tests.Idleness;

/// <summary>The verdict before the current one, and since when, kept for the teardown breaker's mass-idle measure.</summary>
public sealed class IdlePolicyVerdictHistoryTests
{
    private const string Listener = "0.0.0.0_8080";
    private static readonly DateTimeOffset T0 = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private readonly IdlePolicy policy = new(new ReaperOptions());

    private static CheckInput Input(DateTimeOffset now, ulong active, ulong total) => new(
        "uid", T0.AddDays(-3), new WorkloadSettings(1, TimeSpan.FromMinutes(10), ReaperAction.Delete, 15090, "/stats", null, null, null, null), null,
        [new PodReading("pod-a", "web-a", true, null, active, new Dictionary<string, ulong> { [Listener] = total }, (ulong)(now - T0.AddHours(-2)).TotalSeconds)],
        0);

    [Fact]
    public void A_change_of_verdict_records_the_verdict_before_and_when_it_changed_and_an_unchanged_one_keeps_them()
    {
        var first = policy.Evaluate(Input(T0, active: 3, total: 10), null, T0).State;
        Assert.Equal((Verdict.Active, null, T0), (first.Verdict, first.PriorVerdict, first.VerdictSince));

        var stillActive = policy.Evaluate(Input(T0.AddMinutes(1), active: 3, total: 10), first, T0.AddMinutes(1));
        Assert.False(stillActive.StateChanged);
        Assert.Equal(T0, stillActive.State.VerdictSince);

        var quiet = policy.Evaluate(Input(T0.AddMinutes(2), active: 0, total: 10), stillActive.State, T0.AddMinutes(2)).State;
        Assert.Equal((Verdict.Idle, Verdict.Active, T0.AddMinutes(2)), (quiet.Verdict, quiet.PriorVerdict, quiet.VerdictSince));

        var stillIdle = policy.Evaluate(Input(T0.AddMinutes(3), active: 0, total: 10), quiet, T0.AddMinutes(3));
        Assert.False(stillIdle.StateChanged);
        Assert.Equal((Verdict.Active, T0.AddMinutes(2)), (stillIdle.State.PriorVerdict, stillIdle.State.VerdictSince));
    }
}
