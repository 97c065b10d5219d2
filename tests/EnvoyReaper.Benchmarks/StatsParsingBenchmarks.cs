using System.Text.Json;
using BenchmarkDotNet.Attributes;
using EnvoyReaper.Envoy;

namespace EnvoyReaper.Benchmarks;

/// <summary>
/// Issue 5, part 1: <see cref="EnvoyStatsParser.Parse"/> against the naive way (whole body to a string, every stat into
/// a dictionary) and against the ceiling, per format, dump size and with or without the reaper's <c>filter</c>.
/// </summary>
/// <remarks>
/// <para>The ceiling (baseline) for JSON is a bare <see cref="Utf8JsonReader"/> pass that only calls <c>Read()</c> to
/// the end. Text and Prometheus have no tokenizer to compare with; their ceiling is the least any line parser must do:
/// find every newline (a vectorised <c>IndexOf</c>), so their ratio to it is a floor, not a target.</para>
/// <para>Columns: MB/s is the body size (10^6 bytes) over the mean time; "Of ceiling" is that throughput as a share of
/// the ceiling's on the same body; Stats and Body describe the dump.</para>
/// </remarks>
[Config(typeof(ShortRunConfig))]
public class StatsParsingBenchmarks
{
    private byte[] _body = [];

    [ParamsAllValues]
    public StatsFormat Format { get; set; }

    [ParamsAllValues]
    public DumpSize Size { get; set; }

    [Params(false, true)]
    public bool Filtered { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _body = StatsDumps.Get(Format, Size, Filtered);

        // A parser that fails or reads the wrong thing must not produce a figure.
        EnvoyStats stats = EnvoyStatsParser.Parse(_body, Format);
        if (!stats.Listeners.TryGetValue(StatsDumps.CheckedListener, out ListenerStats listener)
            || listener.ActiveConnections != StatsDumps.CheckedActive
            || listener.TotalConnections != StatsDumps.CheckedTotal
            || stats.UptimeSeconds != StatsDumps.CheckedUptime)
        {
            throw new InvalidOperationException($"EnvoyStatsParser misread the {Format}/{Size}/filtered={Filtered} dump");
        }

        if (NaiveStatsParser.Parse(_body, Format).Count == 0)
        {
            throw new InvalidOperationException($"the naive parser read nothing from the {Format}/{Size}/filtered={Filtered} dump");
        }
    }

    [Benchmark(Baseline = true)]
    public long Ceiling() => Format == StatsFormat.Json ? BareJsonPass(_body) : BareLinePass(_body);

    [Benchmark]
    public EnvoyStats Parse() => EnvoyStatsParser.Parse(_body, Format);

    [Benchmark]
    public Dictionary<string, ulong> Naive() => NaiveStatsParser.Parse(_body, Format);

    /// <summary>Tokenises the whole body and does nothing with the tokens.</summary>
    internal static long BareJsonPass(ReadOnlySpan<byte> body)
    {
        var reader = new Utf8JsonReader(body);
        while (reader.Read())
        {
        }

        return reader.BytesConsumed;
    }

    /// <summary>Finds every line end and does nothing with the lines.</summary>
    internal static long BareLinePass(ReadOnlySpan<byte> body)
    {
        long lines = 0;
        int newline;
        while ((newline = body.IndexOf((byte)'\n')) >= 0)
        {
            lines++;
            body = body[(newline + 1)..];
        }

        return lines;
    }
}
