using EnvoyReaper.Injection;

namespace EnvoyReaper.Core.Tests.Injection;

/// <summary>When a rolling-out operation counts as stalled: no check long past its due time.</summary>
public sealed class RolloutStallTests
{
    private static readonly DateTimeOffset LastCheck = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    private static RolloutRecord Record(RolloutPhase phase = RolloutPhase.RollingOut) => new(
        "op", RolloutOperation.Inject, "shop", "web", "hash", phase, "2 of 3 updated replicas of Deployment web are available", [], [],
        LastCheck.AddMinutes(-1), LastCheck, LastCheck.AddMinutes(15), 3, "next", null);

    [Theory]
    [InlineData(1, 5 * 60)]
    [InlineData(15, 5 * 60)]
    [InlineData(60, 10 * 60)]
    [InlineData(600, 100 * 60)]
    public void Stalled_after_ten_check_intervals_and_never_before_the_function_timeout(int intervalSeconds, int expectedSeconds)
    {
        var options = new RolloutOptions { CheckInterval = TimeSpan.FromSeconds(intervalSeconds) };

        Assert.Equal(TimeSpan.FromSeconds(expectedSeconds), options.StallAfter);
    }

    [Fact]
    public void A_rollout_is_stalled_only_once_no_check_has_run_past_its_due_time_plus_the_bound()
    {
        var options = new RolloutOptions { CheckInterval = TimeSpan.FromSeconds(15) };
        var due = LastCheck + options.CheckInterval;

        Assert.Null(options.StalledReason(Record(), due + options.StallAfter));
        var reason = options.StalledReason(Record(), due + options.StallAfter + TimeSpan.FromSeconds(1));

        Assert.NotNull(reason);
        Assert.Contains("FinishInjectionRollout", reason);
        Assert.Contains("inject-rollout-poison", reason);
        Assert.Contains("2 of 3 updated replicas", reason);
    }

    [Theory]
    [InlineData(RolloutPhase.Done)]
    [InlineData(RolloutPhase.Failed)]
    public void A_finished_operation_is_never_stalled(RolloutPhase phase)
    {
        var options = new RolloutOptions();

        Assert.Null(options.StalledReason(Record(phase), LastCheck.AddDays(30)));
    }
}
