using System.Collections.Concurrent;
using EnvoyReaper.Envoy;
using EnvoyReaper.TestSupport.Envoy;

namespace EnvoyReaper.Benchmarks;

/// <summary>Which sidecar the dump comes from.</summary>
public enum DumpSize
{
    /// <summary>A typical sidecar: two application listeners, the admin listener, a handful of clusters (~300 stats).</summary>
    Small,

    /// <summary>An Envoy with thousands of upstream clusters (~100,000 stats, several MB).</summary>
    Large,
}

/// <summary>
/// The bodies the benchmarks parse, rendered once per process by <see cref="FakeEnvoy"/> exactly as the fake serves
/// them; the filtered ones are what Envoy answers to <c>?filter=</c><see cref="EnvoyStatsQuery.Filter"/>.
/// </summary>
public static class StatsDumps
{
    /// <summary>Filler clusters on top of the fake's two built-in ones for <see cref="DumpSize.Small"/>: 314 stats.</summary>
    public const int SmallFillerClusters = 6;

    /// <summary>
    /// Filler clusters for <see cref="DumpSize.Large"/>. The fake renders 28 stats per cluster (a real Envoy cluster has
    /// more), so 2,000 clusters would only make ~56,000 stats; 3,600 make the ~100,000 stats / several MB the issue asks for.
    /// </summary>
    public const int LargeFillerClusters = 3_600;

    /// <summary>The listener every dump has, with these values: checked before measuring, so a broken parse cannot look fast.</summary>
    public const string CheckedListener = "0.0.0.0_8080";

    public const ulong CheckedActive = 2;

    public const ulong CheckedTotal = 57;

    public const ulong CheckedUptime = 7200;

    private static readonly ConcurrentDictionary<DumpSize, FakeEnvoy> Envoys = new();

    private static readonly ConcurrentDictionary<(StatsFormat, DumpSize, bool), byte[]> Bodies = new();

    private static readonly ConcurrentDictionary<(DumpSize, bool), int> StatCounts = new();

    public static byte[] Get(StatsFormat format, DumpSize size, bool filtered) =>
        Bodies.GetOrAdd((format, size, filtered), static key =>
            Envoy(key.Item2).Render(key.Item1, key.Item3 ? EnvoyStatsQuery.Filter : null));

    /// <summary>Statistics in the dump (one per line of the text format; histograms count once).</summary>
    public static int StatCount(DumpSize size, bool filtered) =>
        StatCounts.GetOrAdd((size, filtered), static key =>
            Get(StatsFormat.Text, key.Item1, key.Item2).AsSpan().Count((byte)'\n'));

    private static FakeEnvoy Envoy(DumpSize size) =>
        Envoys.GetOrAdd(size, static s =>
        {
            FakeEnvoy envoy = FakeEnvoy.CreateDetached();
            envoy.SetListener(CheckedListener, CheckedActive, CheckedTotal);
            envoy.SetListener("0.0.0.0_9090", 0, 13);
            envoy.UptimeSeconds = CheckedUptime;
            envoy.AddFillerClusters(s == DumpSize.Small ? SmallFillerClusters : LargeFillerClusters);
            return envoy;
        });
}
