using EnvoyReaper.Workloads;

namespace EnvoyReaper.Core.Tests.Workloads;

public sealed class CheckScheduleTests
{
    private static readonly DateTimeOffset Now = new(2025, 3, 1, 12, 0, 17, 250, TimeSpan.Zero);
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    [Fact]
    public void No_interval_is_one_check_now()
    {
        Assert.Equal(new[] { TimeSpan.Zero }, CheckSchedule.DelaysWithin(Now, Minute, null));
    }

    [Fact]
    public void Interval_equal_to_the_period_is_one_check_now()
    {
        Assert.Equal(new[] { TimeSpan.Zero }, CheckSchedule.DelaysWithin(Now, Minute, Minute));
    }

    [Fact]
    public void Interval_shorter_than_the_period_spreads_checks_spaced_by_the_interval()
    {
        var delays = CheckSchedule.DelaysWithin(Now, Minute, TimeSpan.FromSeconds(20));

        Assert.Equal(new[] { TimeSpan.Zero, TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(40) }, delays);
    }

    [Theory]
    [InlineData(15)]
    [InlineData(25)]
    [InlineData(30)]
    [InlineData(45)]
    public void Shorter_interval_delays_start_now_are_spaced_by_the_interval_and_stay_within_the_period(int seconds)
    {
        var interval = TimeSpan.FromSeconds(seconds);

        var delays = CheckSchedule.DelaysWithin(Now, Minute, interval);

        Assert.True(delays.Count > 1);
        Assert.Equal(TimeSpan.Zero, delays[0]);
        for (var i = 1; i < delays.Count; i++)
        {
            Assert.Equal(interval, delays[i] - delays[i - 1]);
        }

        Assert.All(delays, delay => Assert.True(delay < Minute, $"{delay} spills into the next period"));
    }

    [Fact]
    public void A_very_short_interval_is_capped()
    {
        var delays = CheckSchedule.DelaysWithin(Now, TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(1));

        Assert.Equal(CheckSchedule.MaxChecksPerPeriod, delays.Count);
        Assert.Equal(TimeSpan.FromSeconds(CheckSchedule.MaxChecksPerPeriod - 1), delays[^1]);
    }

    [Fact]
    public void Longer_interval_checks_only_in_the_period_that_contains_an_interval_boundary()
    {
        var fiveMinutes = TimeSpan.FromMinutes(5);
        var boundary = new DateTimeOffset(2025, 3, 1, 12, 5, 0, TimeSpan.Zero); // a multiple of 5 minutes since the epoch

        Assert.Equal(new[] { TimeSpan.Zero }, CheckSchedule.DelaysWithin(boundary.AddSeconds(10), Minute, fiveMinutes));
        Assert.Empty(CheckSchedule.DelaysWithin(boundary.AddSeconds(-10), Minute, fiveMinutes));
        Assert.Empty(CheckSchedule.DelaysWithin(boundary.AddSeconds(70), Minute, fiveMinutes));
    }

    [Fact]
    public void A_boundary_on_the_tick_itself_is_checked_once_not_twice()
    {
        var fiveMinutes = TimeSpan.FromMinutes(5);
        var boundary = new DateTimeOffset(2025, 3, 1, 12, 5, 0, TimeSpan.Zero);

        var atBoundary = CheckSchedule.DelaysWithin(boundary, Minute, fiveMinutes);
        var next = CheckSchedule.DelaysWithin(boundary + Minute, Minute, fiveMinutes);

        Assert.Single(atBoundary);
        Assert.Empty(next);
    }

    [Theory]
    [InlineData(60, 300, 600)] // 1-minute timer, 5-minute interval, 10 hours
    [InlineData(60, 420, 420)] // 7-minute interval, not aligned with the hour
    [InlineData(60, 90, 180)] // 90 s interval: some periods hold a boundary, some do not
    [InlineData(60, 3_600, 1_440)] // hourly, over a day
    [InlineData(300, 1_800, 288)] // 5-minute timer, 30-minute interval, a day
    public void Over_consecutive_periods_the_number_of_checks_matches_elapsed_time_over_the_interval(int periodSeconds, int intervalSeconds, int periods)
    {
        var period = TimeSpan.FromSeconds(periodSeconds);
        var interval = TimeSpan.FromSeconds(intervalSeconds);
        var now = Now;
        var checks = 0;

        for (var i = 0; i < periods; i++)
        {
            now += period;
            var delays = CheckSchedule.DelaysWithin(now, period, interval);
            Assert.True(delays.Count <= 1);
            Assert.All(delays, delay => Assert.Equal(TimeSpan.Zero, delay));
            checks += delays.Count;
        }

        Assert.Equal(periods * periodSeconds / intervalSeconds, checks);
    }

    [Fact]
    public void Irregular_timer_ticks_still_give_one_check_per_interval_elapsed()
    {
        // The discovery cycle passes the real time since the last run as the period; ticks drift by a few seconds.
        var interval = TimeSpan.FromMinutes(5);
        var random = new Random(12345);
        var start = Now;
        var last = start;
        var checks = 0;

        for (var i = 0; i < 2_000; i++)
        {
            var now = last + TimeSpan.FromMilliseconds(60_000 + random.Next(-7_000, 7_000));
            var delays = CheckSchedule.DelaysWithin(now, now - last, interval);
            Assert.True(delays.Count <= 1);
            checks += delays.Count;
            last = now;
        }

        var expected = (last - start) / interval;
        Assert.InRange(checks, (int)Math.Floor(expected), (int)Math.Ceiling(expected));
    }
}
