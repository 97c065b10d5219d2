namespace EnvoyReaper.Workloads;

/// <summary>
/// Spreads a workload's checks over one timer period so that its own check interval is honoured: shorter intervals
/// get several delayed messages per period, longer ones a message only in the period where an interval boundary falls.
/// </summary>
public static class CheckSchedule
{
    public const int MaxChecksPerPeriod = 60;

    public static IReadOnlyList<TimeSpan> DelaysWithin(DateTimeOffset now, TimeSpan period, TimeSpan? interval)
    {
        if (interval is not { } every || every == period || period <= TimeSpan.Zero)
        {
            return [TimeSpan.Zero];
        }

        if (every < period)
        {
            var count = (int)Math.Min(MaxChecksPerPeriod, Math.Ceiling(period / every));
            var delays = new TimeSpan[count];
            for (var i = 0; i < count; i++)
            {
                delays[i] = every * i;
            }

            return delays;
        }

        // Check when a multiple of the interval (counted from the Unix epoch) lies in this period.
        var sinceEpoch = now.ToUnixTimeMilliseconds();
        var previousRun = sinceEpoch - (long)period.TotalMilliseconds;
        var intervalMs = (long)every.TotalMilliseconds;
        return sinceEpoch / intervalMs != previousRun / intervalMs ? [TimeSpan.Zero] : [];
    }
}
