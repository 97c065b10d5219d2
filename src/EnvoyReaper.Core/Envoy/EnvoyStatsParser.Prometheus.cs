using System.Globalization;

namespace EnvoyReaper.Envoy;

public static partial class EnvoyStatsParser
{
    // Prometheus text exposition as Envoy writes it: "# TYPE" lines, then "name{label="value",...} value".
    // Envoy tag-extracts names: listener.0.0.0.0_15001.downstream_cx_active becomes
    // envoy_listener_downstream_cx_active{envoy_listener_address="0.0.0.0_15001"} (Istio's bootstrap names the label
    // listener_address). A listener the extractor does not match keeps its name in the metric name
    // (envoy_listener_admin_downstream_cx_active{}).
    private static EnvoyStats ParsePrometheus(ReadOnlySpan<byte> body)
    {
        var accumulator = new Accumulator();
        var lines = new LineReader(body);
        while (lines.TryRead(out var line, out var lineNumber))
        {

            if (line.IsEmpty || line[0] == (byte)'#' || line.TrimStart(" \t"u8).IsEmpty)
            {
                continue;
            }

            ParsePrometheusLine(line, lineNumber, accumulator);
        }

        return accumulator.Build();
    }

    private static void ParsePrometheusLine(ReadOnlySpan<byte> line, int lineNumber, Accumulator accumulator)
    {
        // Vectorized scans: names and label values are most of the bytes of a Prometheus dump.
        int i = line.IsEmpty || IsDigit(line[0]) ? 0 : EndOf(line, 0, MetricNameChars);
        if (i == 0)
        {
            throw Malformed(lineNumber, "expected a metric name");
        }

        ReadOnlySpan<byte> name = line[..i];
        ReadOnlySpan<byte> address = default;
        bool hasAddress = false;
        bool addressEscaped = false;
        bool hasWorkerId = false;

        if (i < line.Length && line[i] == (byte)'{')
        {
            i++;
            while (true)
            {
                if (i < line.Length && line[i] == (byte)'}')
                {
                    i++;
                    break;
                }

                int labelStart = i;
                i = i < line.Length && IsDigit(line[i]) ? i : EndOf(line, i, LabelNameChars);

                ReadOnlySpan<byte> labelName = line[labelStart..i];
                if (labelName.IsEmpty || i + 1 >= line.Length || line[i] != (byte)'=' || line[i + 1] != (byte)'"')
                {
                    throw Malformed(lineNumber, "bad label");
                }

                i += 2;
                int valueStart = i;
                bool escaped = false;
                while (true)
                {
                    if (i >= line.Length)
                    {
                        throw Malformed(lineNumber, "unterminated label value");
                    }

                    int special = line[i..].IndexOfAny((byte)'"', (byte)'\\');
                    if (special < 0)
                    {
                        throw Malformed(lineNumber, "unterminated label value");
                    }

                    i += special;
                    byte b = line[i];
                    if (b == (byte)'"')
                    {
                        break;
                    }

                    if (b == (byte)'\\')
                    {
                        if (i + 1 >= line.Length || line[i + 1] is not ((byte)'\\' or (byte)'"' or (byte)'n'))
                        {
                            throw Malformed(lineNumber, "bad escape in label value");
                        }

                        escaped = true;
                        i++;
                    }

                    i++;
                }

                ReadOnlySpan<byte> labelValue = line[valueStart..i];
                i++; // closing quote
                if (labelName.SequenceEqual("envoy_listener_address"u8) || labelName.SequenceEqual("listener_address"u8))
                {
                    address = labelValue;
                    addressEscaped = escaped;
                    hasAddress = true;
                }
                else if (labelName.SequenceEqual("envoy_worker_id"u8))
                {
                    hasWorkerId = true;
                }

                if (i < line.Length && line[i] == (byte)',')
                {
                    i++;
                }
                else if (i >= line.Length || line[i] != (byte)'}')
                {
                    throw Malformed(lineNumber, "expected ',' or '}' after a label");
                }
            }
        }

        // One or more blanks, the value, optionally blanks and a timestamp.
        int blanks = SkipBlanks(line, i);
        if (blanks == i)
        {
            throw Malformed(lineNumber, "expected a blank before the value");
        }

        i = blanks;
        int valueEnd = i;
        while (valueEnd < line.Length && line[valueEnd] is not ((byte)' ' or (byte)'\t'))
        {
            valueEnd++;
        }

        ReadOnlySpan<byte> value = line[i..valueEnd];
        if (value.IsEmpty || !IsPrometheusFloat(value))
        {
            throw Malformed(lineNumber, $"value '{Describe(value)}' is not a number");
        }

        i = SkipBlanks(line, valueEnd);
        if (i < line.Length)
        {
            int tsEnd = i;
            if (line[tsEnd] == (byte)'-')
            {
                tsEnd++;
            }

            while (tsEnd < line.Length && (uint)(line[tsEnd] - '0') <= 9)
            {
                tsEnd++;
            }

            if (tsEnd == i || SkipBlanks(line, tsEnd) != line.Length)
            {
                throw Malformed(lineNumber, "unexpected text after the value");
            }
        }

        if (name.StartsWith("envoy_udp_"u8) && name.IndexOf("downstream_sess_"u8) >= 0)
        {
            // Never drop users we cannot name: the UDP prefix's tag rules are not mapped back here.
            throw new EnvoyStatsFormatException(
                $"line {lineNumber}: UDP session statistics ({Describe(name)}) are not read in Prometheus format; read /stats (JSON) instead");
        }

        StatKind kind = ClassifyPrometheusName(name, hasAddress, out ReadOnlySpan<byte> middle, out bool perWorkerCopy);
        if (kind is StatKind.Other || (hasWorkerId && kind is not StatKind.Uptime))
        {
            return; // Envoy's tag extraction put a worker id on it: certainly a per-worker copy.
        }

        if (!TryParseIntegralPrometheusValue(value, out ulong parsed))
        {
            throw new EnvoyStatsFormatException(
                $"line {lineNumber}: {Describe(name)} is not a non-negative integer ({Describe(value)})");
        }

        if (kind == StatKind.Uptime)
        {
            accumulator.SetUptime(parsed);
            return;
        }

        if (!hasAddress)
        {
            if (middle.IsEmpty)
            {
                throw Malformed(lineNumber, $"{Describe(name)} names no listener");
            }

            if (perWorkerCopy)
            {
                accumulator.AddPerWorkerCopy(kind, middle, name);
                return;
            }

            accumulator.Add(kind, middle, parsed);
            return;
        }

        // Key = the address label, plus ".<rest>" when the tag extractor took only the first dot-separated part of a
        // stat_prefix (current Envoy extracts any single segment): listener.my.listener.X -> label "my", name
        // envoy_listener_listener_X. Dots after the first segment are underscores in a metric name and cannot be
        // recovered.
        int length = address.Length + (middle.IsEmpty ? 0 : middle.Length + 1);
        Span<char> key = length <= 256 ? stackalloc char[256] : new char[length];
        int written = DecodeLabelValue(address, addressEscaped, key);
        if (!middle.IsEmpty)
        {
            key[written++] = '.';
            for (int m = 0; m < middle.Length; m++)
            {
                key[written++] = (char)middle[m]; // metric-name characters are ASCII
            }
        }

        if (perWorkerCopy)
        {
            accumulator.AddPerWorkerCopy(kind, key[..written], name);
            return;
        }

        accumulator.AddListener(kind, key[..written], parsed);
    }

    /// <summary>
    /// Classifies a Prometheus metric name. <paramref name="middle"/> is what stands between <c>envoy_listener_</c> and
    /// <c>_downstream_cx_*</c>: empty when the listener name is in a label. For a per-worker copy whose worker is in the
    /// name (<paramref name="perWorkerCopy"/>), what stands there for the listener it is a copy of.
    /// </summary>
    internal static StatKind ClassifyPrometheusName(ReadOnlySpan<byte> name, bool hasAddress, out ReadOnlySpan<byte> middle, out bool perWorkerCopy)
    {
        middle = default;
        perWorkerCopy = false;
        if (name.SequenceEqual("envoy_server_uptime"u8))
        {
            return StatKind.Uptime;
        }

        if (!name.StartsWith("envoy_listener_"u8))
        {
            return StatKind.Other;
        }

        ReadOnlySpan<byte> rest = name["envoy_listener_".Length..];
        StatKind kind;
        if (rest.EndsWith("downstream_cx_active"u8))
        {
            kind = StatKind.ListenerActive;
            rest = rest[..^"downstream_cx_active".Length];
        }
        else if (rest.EndsWith("downstream_cx_total"u8))
        {
            kind = StatKind.ListenerTotal;
            rest = rest[..^"downstream_cx_total".Length];
        }
        else
        {
            return StatKind.Other;
        }

        if (!rest.IsEmpty)
        {
            if (rest[^1] != (byte)'_')
            {
                return StatKind.Other; // e.g. envoy_listener_xdownstream_cx_active: not a listener stat
            }

            rest = rest[..^1];
            if (rest.IsEmpty)
            {
                return StatKind.Other;
            }
        }

        // A worker Envoy did not turn into a label (Istio's tags have no worker id; Envoy's take it only after an address
        // or a one-segment name): the per-worker segment "worker_<N>" or "main_thread" follows the listener's name in the
        // metric name, as the whole rest (the listener is in a label) or after an underscore (a former dot).
        if (hasAddress && IsWorkerSegment(rest))
        {
            perWorkerCopy = true;
            rest = default;
        }
        else if (WorkerSuffixLength(rest) is > 0 and var suffix && suffix < rest.Length)
        {
            perWorkerCopy = true;
            rest = rest[..^suffix];
        }

        middle = rest;
        return kind;
    }

    /// <summary>The length of a trailing <c>_worker_&lt;N&gt;</c> or <c>_main_thread</c>, or 0.</summary>
    private static int WorkerSuffixLength(ReadOnlySpan<byte> rest)
    {
        if (rest.EndsWith("_main_thread"u8))
        {
            return "_main_thread".Length;
        }

        int digits = rest.Length;
        while (digits > 0 && (uint)(rest[digits - 1] - '0') <= 9)
        {
            digits--;
        }

        return digits < rest.Length && rest[..digits].EndsWith("_worker_"u8) ? rest.Length - digits + "_worker_".Length : 0;
    }

    private static int DecodeLabelValue(ReadOnlySpan<byte> raw, bool escaped, Span<char> destination)
    {
        if (!escaped)
        {
            try
            {
                return StrictUtf8.GetChars(raw, destination);
            }
            catch (System.Text.DecoderFallbackException ex)
            {
                throw new EnvoyStatsFormatException("listener label is not valid UTF-8", ex);
            }
        }

        Span<byte> unescaped = raw.Length <= 256 ? stackalloc byte[256] : new byte[raw.Length];
        int n = 0;
        for (int i = 0; i < raw.Length; i++)
        {
            byte b = raw[i];
            if (b == (byte)'\\')
            {
                i++;
                b = raw[i] == (byte)'n' ? (byte)'\n' : raw[i];
            }

            unescaped[n++] = b;
        }

        return DecodeLabelValue(unescaped[..n], escaped: false, destination);
    }

    private static int SkipBlanks(ReadOnlySpan<byte> line, int i)
    {
        while (i < line.Length && line[i] is (byte)' ' or (byte)'\t')
        {
            i++;
        }

        return i;
    }

    private static readonly System.Buffers.SearchValues<byte> MetricNameChars =
        System.Buffers.SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:"u8);

    private static readonly System.Buffers.SearchValues<byte> LabelNameChars =
        System.Buffers.SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"u8);

    private static bool IsDigit(byte b) => (uint)(b - '0') <= 9;

    /// <summary>The index of the first byte at or after <paramref name="start"/> that is not in <paramref name="allowed"/>.</summary>
    private static int EndOf(ReadOnlySpan<byte> line, int start, System.Buffers.SearchValues<byte> allowed)
    {
        int end = line[start..].IndexOfAnyExcept(allowed);
        return end < 0 ? line.Length : start + end;
    }

    private static bool IsPrometheusFloat(ReadOnlySpan<byte> value) =>
        value.SequenceEqual("NaN"u8) || value.SequenceEqual("+Inf"u8) || value.SequenceEqual("-Inf"u8)
        || TryParseUInt64(value, out _)
        || (IsFloatSyntax(value) && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _));

    /// <summary>Digits, sign, '.', exponent only: keeps "Infinity", "∞" and friends out of double.TryParse.</summary>
    private static bool IsFloatSyntax(ReadOnlySpan<byte> value)
    {
        foreach (byte b in value)
        {
            if (!((uint)(b - '0') <= 9 || b is (byte)'.' or (byte)'e' or (byte)'E' or (byte)'+' or (byte)'-'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Accepts <c>3</c>, <c>3.0</c>, <c>3e0</c>; rejects NaN, infinities, negatives, fractions and values of 2^64 or more.</summary>
    internal static bool TryParseIntegralPrometheusValue(ReadOnlySpan<byte> value, out ulong result)
    {
        if (TryParseUInt64(value, out result))
        {
            return true;
        }

        result = 0;
        if (!IsFloatSyntax(value) || !double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double d))
        {
            return false;
        }

        // 18446744073709551616.0 is 2^64, the first double above ulong.MaxValue.
        if (!double.IsFinite(d) || d < 0 || d != Math.Floor(d) || d >= 18446744073709551616.0)
        {
            return false;
        }

        result = (ulong)d;
        return true;
    }

    private static EnvoyStatsFormatException Malformed(int lineNumber, string what) =>
        new($"line {lineNumber}: {what}");
}
