using System.Globalization;

namespace EnvoyReaper.Workloads;

/// <summary>Durations as Kubernetes users write them (Go's time.ParseDuration): "10s", "1m30s", "1.5h", "500ms".</summary>
public static class GoDuration
{
    public static bool TryParse(string? text, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var span = text.AsSpan().Trim();
        if (span is "0")
        {
            return true;
        }

        double totalMilliseconds = 0;
        var position = 0;
        while (position < span.Length)
        {
            var numberStart = position;
            while (position < span.Length && (char.IsAsciiDigit(span[position]) || span[position] == '.'))
            {
                position++;
            }

            if (position == numberStart
                || !double.TryParse(span[numberStart..position], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            {
                return false;
            }

            var unitStart = position;
            while (position < span.Length && char.IsAsciiLetter(span[position]))
            {
                position++;
            }

            double? unitMilliseconds = span[unitStart..position] switch
            {
                "ms" => 1,
                "s" => 1_000,
                "m" => 60_000,
                "h" => 3_600_000,
                _ => null,
            };
            if (unitMilliseconds is null)
            {
                return false;
            }

            totalMilliseconds += number * unitMilliseconds.Value;
        }

        if (totalMilliseconds > TimeSpan.FromDays(365).TotalMilliseconds)
        {
            return false;
        }

        duration = TimeSpan.FromMilliseconds(totalMilliseconds);
        return true;
    }

    public static string Format(TimeSpan duration)
    {
        if (duration == TimeSpan.Zero)
        {
            return "0s";
        }

        var parts = new List<string>(3);
        if (duration.TotalHours >= 1)
        {
            parts.Add($"{(int)duration.TotalHours}h");
        }

        if (duration.Minutes > 0)
        {
            parts.Add($"{duration.Minutes}m");
        }

        if (duration.Seconds > 0 || duration.Milliseconds > 0)
        {
            parts.Add(duration.Milliseconds > 0
                ? string.Create(CultureInfo.InvariantCulture, $"{duration.Seconds + (duration.Milliseconds / 1000.0):0.###}s")
                : $"{duration.Seconds}s");
        }

        return string.Concat(parts);
    }
}
