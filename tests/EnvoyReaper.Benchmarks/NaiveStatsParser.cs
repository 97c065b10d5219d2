using System.Globalization;
using System.Text;
using System.Text.Json;
using EnvoyReaper.Envoy;

namespace EnvoyReaper.Benchmarks;

/// <summary>
/// The baseline: how a first implementation would read a dump. The whole body becomes a string, every statistic becomes
/// a dictionary entry (name string, value), and the caller then looks up the few it needs.
/// </summary>
public static class NaiveStatsParser
{
    public static Dictionary<string, ulong> Parse(byte[] body, StatsFormat format) => format switch
    {
        StatsFormat.Json => ParseJson(body),
        StatsFormat.Prometheus => ParsePrometheus(body),
        _ => ParseText(body),
    };

    public static Dictionary<string, ulong> ParseJson(byte[] body)
    {
        string json = Encoding.UTF8.GetString(body);
        using JsonDocument document = JsonDocument.Parse(json);
        var stats = new Dictionary<string, ulong>();
        foreach (JsonElement stat in document.RootElement.GetProperty("stats").EnumerateArray())
        {
            if (stat.TryGetProperty("name", out JsonElement name)
                && stat.TryGetProperty("value", out JsonElement value)
                && value.ValueKind == JsonValueKind.Number
                && value.TryGetUInt64(out ulong number))
            {
                stats[name.GetString()!] = number;
            }
        }

        return stats;
    }

    public static Dictionary<string, ulong> ParseText(byte[] body)
    {
        string text = Encoding.UTF8.GetString(body);
        var stats = new Dictionary<string, ulong>();
        foreach (string line in text.Split('\n'))
        {
            string[] parts = line.Split(": ", 2);
            if (parts.Length == 2 && ulong.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out ulong number))
            {
                stats[parts[0]] = number;
            }
        }

        return stats;
    }

    /// <summary>Keys are the metric name with its labels (<c>envoy_listener_downstream_cx_active{envoy_listener_address="0.0.0.0_8080"}</c>).</summary>
    public static Dictionary<string, ulong> ParsePrometheus(byte[] body)
    {
        string text = Encoding.UTF8.GetString(body);
        var stats = new Dictionary<string, ulong>();
        foreach (string line in text.Split('\n'))
        {
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            int space = line.LastIndexOf(' ');
            if (space > 0 && double.TryParse(line.Substring(space + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out double number)
                && number >= 0 && number < ulong.MaxValue)
            {
                stats[line.Substring(0, space)] = (ulong)number;
            }
        }

        return stats;
    }
}
