namespace EnvoyReaper.Functions.Tests.Support;

/// <summary>
/// Runs a block as if the process ran in another time zone (TZ, as on the host's machine), restoring it on dispose.
/// Process-wide: only for tests in a collection that runs alone.
/// </summary>
public sealed class LocalTimeZone : IDisposable
{
    private readonly string? previous;

    private LocalTimeZone(string zone)
    {
        previous = Environment.GetEnvironmentVariable("TZ");
        Environment.SetEnvironmentVariable("TZ", zone);
        TimeZoneInfo.ClearCachedData();
        if (TimeZoneInfo.Local.Id != zone)
        {
            Dispose();
            throw new InvalidOperationException($"could not switch the process to {zone}: local zone is {TimeZoneInfo.Local.Id}");
        }
    }

    public static LocalTimeZone Set(string zone) => new(zone);

    public void Dispose()
    {
        Environment.SetEnvironmentVariable("TZ", previous);
        TimeZoneInfo.ClearCachedData();
    }
}
