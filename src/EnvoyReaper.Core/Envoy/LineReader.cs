namespace EnvoyReaper.Envoy;

/// <summary>
/// Lines of a text or Prometheus dump. Every line must end with a newline: a body cut short would otherwise end in a
/// line whose value lost digits ("12" from "123") and still looked valid.
/// </summary>
internal ref struct LineReader(ReadOnlySpan<byte> body)
{
    private ReadOnlySpan<byte> remaining = body;
    private int lineNumber;

    public bool TryRead(out ReadOnlySpan<byte> line, out int number)
    {
        if (remaining.IsEmpty)
        {
            line = default;
            number = lineNumber;
            return false;
        }

        number = ++lineNumber;
        var end = remaining.IndexOf((byte)'\n');
        if (end < 0)
        {
            throw new EnvoyStatsFormatException($"truncated: line {number} has no final newline");
        }

        line = remaining[..end];
        remaining = remaining[(end + 1)..];
        if (!line.IsEmpty && line[^1] == (byte)'\r')
        {
            line = line[..^1];
        }

        return true;
    }
}
