namespace EnvoyReaper.Workloads;

/// <summary>The timer's last run as the host reports it (ScheduleStatus.Last), as an instant.</summary>
public static class TimerLastRun
{
    /// <summary>
    /// The host serializes its local time with the local offset and the worker reads it back as a local DateTime; a
    /// time without offset is the host's wall clock too. Only a UTC DateTime is already an instant.
    /// </summary>
    public static DateTimeOffset? ToInstant(DateTime? last, TimeZoneInfo hostZone)
    {
        if (last is not { } value || value == DateTime.MinValue)
        {
            return null;
        }

        try
        {
            if (value.Kind == DateTimeKind.Utc)
            {
                return new DateTimeOffset(value, TimeSpan.Zero);
            }

            var wallClock = DateTime.SpecifyKind(value, DateTimeKind.Unspecified);
            return new DateTimeOffset(wallClock, hostZone.GetUtcOffset(wallClock));
        }
        catch (ArgumentOutOfRangeException)
        {
            return null;
        }
    }
}
