using EnvoyReaper.Workloads;

namespace EnvoyReaper.Core.Tests.Workloads;

public sealed class TimerLastRunTests
{
    private static readonly TimeZoneInfo Berlin = TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin");
    private static readonly TimeZoneInfo NewYork = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");
    private static readonly DateTimeOffset Instant = new(2026, 11, 25, 11, 58, 0, TimeSpan.Zero);

    [Fact]
    public void A_utc_time_is_taken_as_it_is()
    {
        Assert.Equal(Instant, TimerLastRun.ToInstant(new DateTime(2026, 11, 25, 11, 58, 0, DateTimeKind.Utc), Berlin));
    }

    [Theory]
    [InlineData(DateTimeKind.Local)]
    [InlineData(DateTimeKind.Unspecified)]
    public void A_local_or_unspecified_time_is_the_hosts_wall_clock_in_its_zone(DateTimeKind kind)
    {
        Assert.Equal(Instant, TimerLastRun.ToInstant(new DateTime(2026, 11, 25, 12, 58, 0, kind), Berlin));
        Assert.Equal(Instant, TimerLastRun.ToInstant(new DateTime(2026, 11, 25, 6, 58, 0, kind), NewYork));
    }

    [Fact]
    public void The_offset_in_force_at_that_time_is_used_not_todays()
    {
        var summer = TimerLastRun.ToInstant(new DateTime(2026, 7, 1, 12, 0, 0, DateTimeKind.Unspecified), Berlin);

        Assert.Equal(new DateTimeOffset(2026, 7, 1, 10, 0, 0, TimeSpan.Zero), summer);
    }

    [Fact]
    public void No_last_run_or_the_minimum_date_the_host_sends_before_the_first_run_is_none()
    {
        Assert.Null(TimerLastRun.ToInstant(null, Berlin));
        Assert.Null(TimerLastRun.ToInstant(DateTime.MinValue, Berlin));
        Assert.Null(TimerLastRun.ToInstant(DateTime.SpecifyKind(DateTime.MinValue, DateTimeKind.Local), Berlin));
    }
}
