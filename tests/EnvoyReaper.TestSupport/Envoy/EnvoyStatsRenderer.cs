using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using EnvoyReaper.Envoy;

namespace EnvoyReaper.TestSupport.Envoy;

/// <summary>
/// Renders statistics the way Envoy's admin <c>/stats</c> handler does: text readouts first, then counters and gauges
/// merged in name order, then histograms (text and JSON); Prometheus groups by tag-extracted name, counters then
/// gauges then histograms, with a <c># TYPE</c> line per group, <c>{}</c> on label-less samples and no text readouts.
/// </summary>
internal static class EnvoyStatsRenderer
{
    internal static readonly double[] SupportedQuantiles = [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100];

    private static readonly double[] PrometheusBuckets =
        [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];

    private static readonly JsonWriterOptions JsonOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, Indented = false };

    /// <param name="stats">Already filtered, in name order.</param>
    public static void Render(IBufferWriter<byte> output, IReadOnlyList<FakeStat> stats, StatsFormat format, bool istioTags)
    {
        switch (format)
        {
            case StatsFormat.Json:
                RenderJson(output, stats);
                break;
            case StatsFormat.Prometheus:
                RenderPrometheus(output, stats, istioTags);
                break;
            default:
                RenderText(output, stats);
                break;
        }
    }

    private static void RenderText(IBufferWriter<byte> output, IReadOnlyList<FakeStat> stats)
    {
        var line = new StringBuilder(256);
        foreach (FakeStat stat in stats.Where(s => s.Type == FakeStatType.TextReadout))
        {
            Write(output, line.Clear().Append(stat.Name).Append(": \"").Append(stat.Text).Append("\"\n"));
        }

        foreach (FakeStat stat in stats.Where(s => s.Type is FakeStatType.Counter or FakeStatType.Gauge))
        {
            Write(output, line.Clear().Append(stat.Name).Append(": ").Append(stat.Value.ToString(CultureInfo.InvariantCulture)).Append('\n'));
        }

        foreach (FakeStat stat in stats.Where(s => s.Type == FakeStatType.Histogram))
        {
            line.Clear().Append(stat.Name).Append(": ");
            if (stat.Samples is not { Length: > 0 } samples)
            {
                line.Append("No recorded values");
            }
            else
            {
                for (int q = 0; q < SupportedQuantiles.Length; q++)
                {
                    line.Append(q == 0 ? "P" : " P")
                        .Append(SupportedQuantiles[q].ToString(CultureInfo.InvariantCulture))
                        .Append("(nan,")
                        .Append(FormatQuantile(Quantile(samples, SupportedQuantiles[q])))
                        .Append(')');
                }
            }

            Write(output, line.Append('\n'));
        }
    }

    private static void RenderJson(IBufferWriter<byte> output, IReadOnlyList<FakeStat> stats)
    {
        using var writer = new Utf8JsonWriter(output, JsonOptions);
        writer.WriteStartObject();
        writer.WriteStartArray("stats"u8);
        foreach (FakeStat stat in stats.Where(s => s.Type == FakeStatType.TextReadout))
        {
            writer.WriteStartObject();
            writer.WriteString("name"u8, stat.Name);
            writer.WriteString("value"u8, stat.Text);
            writer.WriteEndObject();
        }

        foreach (FakeStat stat in stats.Where(s => s.Type is FakeStatType.Counter or FakeStatType.Gauge))
        {
            writer.WriteStartObject();
            writer.WriteString("name"u8, stat.Name);
            writer.WriteNumber("value"u8, stat.Value);
            writer.WriteEndObject();
        }

        FakeStat[] histograms = stats.Where(s => s.Type == FakeStatType.Histogram).ToArray();
        if (histograms.Length > 0)
        {
            writer.WriteStartObject();
            writer.WriteStartObject("histograms"u8);
            writer.WriteStartArray("supported_quantiles"u8);
            foreach (double q in SupportedQuantiles)
            {
                writer.WriteRawValue(FormatQuantile(q), skipInputValidation: true);
            }

            writer.WriteEndArray();
            writer.WriteStartArray("computed_quantiles"u8);
            foreach (FakeStat histogram in histograms)
            {
                writer.WriteStartObject();
                writer.WriteString("name"u8, histogram.Name);
                writer.WriteStartArray("values"u8);
                foreach (double q in SupportedQuantiles)
                {
                    writer.WriteStartObject();
                    if (histogram.Samples is { Length: > 0 } samples)
                    {
                        writer.WriteNumber("cumulative"u8, Quantile(samples, q));
                    }
                    else
                    {
                        writer.WriteNull("cumulative"u8);
                    }

                    writer.WriteNull("interval"u8);
                    writer.WriteEndObject();
                }

                writer.WriteEndArray();
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    private static void RenderPrometheus(IBufferWriter<byte> output, IReadOnlyList<FakeStat> stats, bool istioTags)
    {
        var line = new StringBuilder(256);
        foreach ((FakeStatType type, string typeName) in new[] { (FakeStatType.Counter, "counter"), (FakeStatType.Gauge, "gauge"), (FakeStatType.Histogram, "histogram") })
        {
            var groups = stats
                .Where(s => s.Type == type)
                .Select(s => (Stat: s, Tags: EnvoyTagExtractor.Extract(s.Name, istioTags)))
                .GroupBy(x => x.Tags.MetricName, StringComparer.Ordinal)
                .OrderBy(g => g.Key, StringComparer.Ordinal);
            foreach (var group in groups)
            {
                Write(output, line.Clear().Append("# TYPE ").Append(group.Key).Append(' ').Append(typeName).Append('\n'));
                foreach ((FakeStat stat, EnvoyTagExtractor.Extracted tags) in group)
                {
                    if (type != FakeStatType.Histogram)
                    {
                        line.Clear().Append(group.Key);
                        AppendLabels(line, tags.Labels, null);
                        Write(output, line.Append(' ').Append(stat.Value.ToString(CultureInfo.InvariantCulture)).Append('\n'));
                        continue;
                    }

                    double[] samples = stat.Samples ?? [];
                    foreach (double bucket in PrometheusBuckets)
                    {
                        line.Clear().Append(group.Key).Append("_bucket");
                        AppendLabels(line, tags.Labels, bucket.ToString(CultureInfo.InvariantCulture));
                        Write(output, line.Append(' ').Append(samples.Count(s => s <= bucket).ToString(CultureInfo.InvariantCulture)).Append('\n'));
                    }

                    line.Clear().Append(group.Key).Append("_bucket");
                    AppendLabels(line, tags.Labels, "+Inf");
                    Write(output, line.Append(' ').Append(samples.Length.ToString(CultureInfo.InvariantCulture)).Append('\n'));
                    line.Clear().Append(group.Key).Append("_sum");
                    AppendLabels(line, tags.Labels, null);
                    Write(output, line.Append(' ').Append(samples.Sum().ToString("R", CultureInfo.InvariantCulture)).Append('\n'));
                    line.Clear().Append(group.Key).Append("_count");
                    AppendLabels(line, tags.Labels, null);
                    Write(output, line.Append(' ').Append(samples.Length.ToString(CultureInfo.InvariantCulture)).Append('\n'));
                }
            }
        }
    }

    private static void AppendLabels(StringBuilder line, KeyValuePair<string, string>[] labels, string? le)
    {
        line.Append('{');
        bool first = true;
        foreach ((string name, string value) in labels)
        {
            line.Append(first ? "" : ",").Append(name).Append("=\"");
            foreach (char c in value)
            {
                _ = c switch
                {
                    '\\' => line.Append(@"\\"),
                    '"' => line.Append("\\\""),
                    '\n' => line.Append(@"\n"),
                    _ => line.Append(c),
                };
            }

            line.Append('"');
            first = false;
        }

        if (le is not null)
        {
            line.Append(first ? "" : ",").Append("le=\"").Append(le).Append('"');
        }

        line.Append('}');
    }

    /// <summary>Nearest-rank-with-interpolation quantile of <paramref name="samples"/> (sorted copy not needed: callers keep them small).</summary>
    internal static double Quantile(double[] samples, double percent)
    {
        double[] sorted = samples.Order().ToArray();
        double rank = percent / 100 * (sorted.Length - 1);
        int lower = (int)Math.Floor(rank);
        int upper = Math.Min(lower + 1, sorted.Length - 1);
        return Math.Round(sorted[lower] + ((sorted[upper] - sorted[lower]) * (rank - lower)), 3);
    }

    /// <summary>"1.0", "1.075", "2.05": always a decimal point, as in Envoy's quantile summaries.</summary>
    internal static string FormatQuantile(double value) => value.ToString("0.0##", CultureInfo.InvariantCulture);

    private static void Write(IBufferWriter<byte> output, StringBuilder text)
    {
        foreach (ReadOnlyMemory<char> chunk in text.GetChunks())
        {
            int max = Encoding.UTF8.GetMaxByteCount(chunk.Length);
            Span<byte> span = output.GetSpan(max);
            int written = Encoding.UTF8.GetBytes(chunk.Span, span);
            output.Advance(written);
        }
    }
}
