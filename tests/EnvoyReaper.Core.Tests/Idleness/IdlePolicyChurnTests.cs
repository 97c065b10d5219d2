using EnvoyReaper.Idleness;
using EnvoyReaper.Workloads;

namespace EnvoyReaper.Core.Tests.Idleness;

/// <summary>Short connections over several checks (only the counters move), then silence: the workload must go idle.</summary>
public sealed class IdlePolicyChurnTests
{
    private static readonly WorkloadSettings Settings = new(1, TimeSpan.FromMinutes(10), ReaperAction.Delete, 15090, "/stats", null, null, null, null);
    private static readonly DateTimeOffset Start = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    private static CheckInput Input(ulong active, ulong total, DateTimeOffset now) => new(
        "uid", Start.AddDays(-1), Settings, null,
        [new PodReading("pod", "pod-a", true, null, active, new Dictionary<string, ulong> { ["0.0.0.0_15001"] = total }, (ulong)(now - Start.AddHours(-1)).TotalSeconds)],
        0);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void After_churn_stops_the_workload_is_idle_within_two_checks(bool gaugeActiveDuringChurn)
    {
        var policy = new IdlePolicy(new ReaperOptions());
        WorkloadState? state = null;
        ulong total = 10;
        var now = Start;
        for (var check = 0; check < 6; check++)
        {
            total += 5; // users came and went between polls
            state = policy.Evaluate(Input(gaugeActiveDuringChurn ? 1UL : 0UL, total, now), state, now).State;
            now += TimeSpan.FromMinutes(1);
        }

        Assert.Equal(Verdict.Active, state!.Verdict);
        var verdicts = new List<Verdict>();
        for (var check = 0; check < 3; check++)
        {
            state = policy.Evaluate(Input(0, total, now), state, now).State;
            verdicts.Add(state.Verdict);
            now += TimeSpan.FromMinutes(1);
        }

        Assert.Equal(Verdict.Idle, verdicts[^1]);
        Assert.Contains(Verdict.Idle, verdicts.Take(2));
    }
}
