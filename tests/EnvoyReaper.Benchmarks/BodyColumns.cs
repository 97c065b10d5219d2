using System.Globalization;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using EnvoyReaper.Envoy;

namespace EnvoyReaper.Benchmarks;

/// <summary>Summary columns derived from the dump a case parses (looked up by its Format/Size/Filtered parameters).</summary>
public sealed class BodyColumns : IColumn
{
    public static readonly IColumn Stats = new BodyColumns("Stats", "Statistics in the dump", 0);

    public static readonly IColumn Body = new BodyColumns("Body", "Body size in bytes", 1);

    public static readonly IColumn Throughput = new BodyColumns("MB/s", "Body bytes (10^6) parsed per second of mean time", 2);

    public static readonly IColumn OfCeiling = new BodyColumns("Of ceiling", "Throughput as a share of the Ceiling's on the same body", 3);

    private BodyColumns(string name, string legend, int priority)
    {
        ColumnName = name;
        Legend = legend;
        PriorityInCategory = priority;
    }

    public string Id => nameof(BodyColumns) + "." + ColumnName;

    public string ColumnName { get; }

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory { get; }

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend { get; }

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public bool IsAvailable(Summary summary) => true;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, summary.Style);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        if (!TryGetDump(benchmarkCase, out StatsFormat format, out DumpSize size, out bool filtered))
        {
            return "-";
        }

        switch (ColumnName)
        {
            case "Stats":
                return StatsDumps.StatCount(size, filtered).ToString("N0", CultureInfo.InvariantCulture);
            case "Body":
                return StatsDumps.Get(format, size, filtered).Length.ToString("N0", CultureInfo.InvariantCulture);
        }

        double? mean = MeanNanoseconds(summary, benchmarkCase);
        if (mean is null)
        {
            return "-";
        }

        if (ColumnName == "MB/s")
        {
            return MegabytesPerSecond(StatsDumps.Get(format, size, filtered).Length, mean.Value).ToString("N0", CultureInfo.InvariantCulture);
        }

        BenchmarkCase? ceiling = summary.BenchmarksCases.FirstOrDefault(c =>
            c.Descriptor.WorkloadMethod.Name == nameof(StatsParsingBenchmarks.Ceiling)
            && c.Descriptor.Type == benchmarkCase.Descriptor.Type
            && c.Parameters.ValueInfo == benchmarkCase.Parameters.ValueInfo);
        double? ceilingMean = ceiling is null ? null : MeanNanoseconds(summary, ceiling);
        return ceilingMean is null ? "-" : (ceilingMean.Value / mean.Value).ToString("P0", CultureInfo.InvariantCulture);
    }

    public override string ToString() => ColumnName;

    internal static double MegabytesPerSecond(int bytes, double meanNanoseconds) => bytes / meanNanoseconds * 1e9 / 1e6;

    private static double? MeanNanoseconds(Summary summary, BenchmarkCase benchmarkCase) =>
        summary[benchmarkCase]?.ResultStatistics?.Mean;

    private static bool TryGetDump(BenchmarkCase benchmarkCase, out StatsFormat format, out DumpSize size, out bool filtered)
    {
        format = default;
        size = default;
        filtered = false;
        if (benchmarkCase.Parameters[nameof(StatsParsingBenchmarks.Format)] is not StatsFormat f
            || benchmarkCase.Parameters[nameof(StatsParsingBenchmarks.Size)] is not DumpSize s
            || benchmarkCase.Parameters[nameof(StatsParsingBenchmarks.Filtered)] is not bool b)
        {
            return false;
        }

        (format, size, filtered) = (f, s, b);
        return true;
    }
}
