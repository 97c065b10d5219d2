namespace EnvoyReaper.TestSupport.Envoy;

internal enum FakeStatType
{
    Counter,
    Gauge,
    TextReadout,
    Histogram,
}

/// <summary>One statistic as Envoy's store holds it: full (untagged) name, type, and value.</summary>
/// <param name="Used">Whether the stat was ever written (what <c>usedonly</c> keeps).</param>
internal readonly record struct FakeStat(string Name, FakeStatType Type, ulong Value, bool Used, string? Text = null, double[]? Samples = null)
{
    public static FakeStat Counter(string name, ulong value, bool? used = null) => new(name, FakeStatType.Counter, value, used ?? value != 0);

    public static FakeStat Gauge(string name, ulong value, bool used = true) => new(name, FakeStatType.Gauge, value, used);

    public static FakeStat TextReadout(string name, string text) => new(name, FakeStatType.TextReadout, 0, true, text);

    public static FakeStat Histogram(string name, params double[] samples) =>
        new(name, FakeStatType.Histogram, 0, samples.Length > 0, Samples: samples);
}
