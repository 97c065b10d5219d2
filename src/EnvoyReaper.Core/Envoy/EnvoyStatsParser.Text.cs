namespace EnvoyReaper.Envoy;

public static partial class EnvoyStatsParser
{
    // Plain text: "name: value" lines. Counters and gauges are integers; histograms ("P0(nan,1.0) P25(...)" or
    // "No recorded values") and text readouts (quoted strings) are skipped with every other statistic we do not need.
    private static EnvoyStats ParseText(ReadOnlySpan<byte> body)
    {
        var accumulator = new Accumulator();
        var lines = new LineReader(body);
        while (lines.TryRead(out var line, out var lineNumber))
        {

            if (line.IsEmpty)
            {
                continue;
            }

            int separator = line.IndexOf(": "u8);
            if (separator <= 0)
            {
                throw new EnvoyStatsFormatException($"line {lineNumber}: not a 'name: value' line");
            }

            ReadOnlySpan<byte> name = line[..separator];
            foreach (byte b in name)
            {
                if (b <= (byte)' ' || b == 0x7F)
                {
                    throw new EnvoyStatsFormatException($"line {lineNumber}: stat name contains a blank or control character");
                }
            }

            StatKind kind = ClassifyEnvoyName(name, out ReadOnlySpan<byte> listener, out bool perWorkerCopy);
            if (kind is StatKind.Other)
            {
                continue;
            }

            if (perWorkerCopy)
            {
                accumulator.AddPerWorkerCopy(kind, listener, name);
                continue;
            }

            ReadOnlySpan<byte> value = line[(separator + 2)..];
            if (!TryParseUInt64(value, out ulong parsed))
            {
                throw new EnvoyStatsFormatException(
                    $"line {lineNumber}: {Describe(name)} is not an unsigned 64-bit integer ({Describe(value)})");
            }

            accumulator.Add(kind, listener, parsed);
        }

        return accumulator.Build();
    }
}
