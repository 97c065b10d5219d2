using System.Text;

namespace EnvoyReaper.Envoy;

/// <summary>
/// Parses an Envoy statistics dump into <see cref="EnvoyStats"/>. Only listener <c>downstream_cx_active</c> /
/// <c>downstream_cx_total</c> and <c>server.uptime</c> are kept; everything else is validated for shape and skipped.
/// </summary>
/// <remarks>
/// <para>Per-worker copies are dropped, so nothing is counted twice. They are recognised by Envoy's structure only: an
/// <c>envoy_worker_id</c> label (Envoy's tag extraction), or a <c>worker_&lt;N&gt;</c> / <c>main_thread</c> segment right
/// after a listener name (<c>listener.L.worker_N.*</c>, <c>listener.admin.main_thread.*</c>; in Prometheus without a
/// worker label, e.g. Istio's tags, <c>L_worker_N</c> in the metric name). Such a segment could also end a listener's own
/// name, so a copy is dropped only when its listener's own statistic is in the dump; otherwise the dump is rejected as
/// ambiguous. A name that merely ends in <c>worker</c> is a listener.</para>
/// <para>A statistic that appears twice with the same value is accepted; with different values the dump is ambiguous
/// and rejected.</para>
/// <para>Text and Prometheus bodies must end with a newline: Envoy ends every line with one, and a body cut mid-line
/// could otherwise yield a truncated number (<c>12</c> for <c>123</c>).</para>
/// </remarks>
public static partial class EnvoyStatsParser
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Parses <paramref name="utf8"/> as <paramref name="format"/>.</summary>
    /// <exception cref="EnvoyStatsFormatException">The body is not a valid dump in that format (garbage, HTML, empty,
    /// truncated, a needed statistic that is not a non-negative integer, conflicting duplicates, ...).</exception>
    public static EnvoyStats Parse(ReadOnlySpan<byte> utf8, StatsFormat format)
    {
        int first = 0;
        while (first < utf8.Length && IsWhitespace(utf8[first]))
        {
            first++;
        }

        if (first == utf8.Length)
        {
            throw new EnvoyStatsFormatException("empty body");
        }

        if (utf8[first] == (byte)'<')
        {
            throw new EnvoyStatsFormatException("got HTML/XML instead of statistics");
        }

        return format switch
        {
            StatsFormat.Json => ParseJson(utf8),
            StatsFormat.Prometheus => ParsePrometheus(utf8),
            StatsFormat.Text => ParseText(utf8),
            _ => throw new ArgumentOutOfRangeException(nameof(format), format, "unknown stats format"),
        };
    }

    private static bool IsWhitespace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n';

    internal enum StatKind : byte
    {
        Other,
        ListenerActive,
        ListenerTotal,
        Uptime,
    }

    /// <summary>Classifies an Envoy (untagged) stat name as printed by the JSON and text formats.</summary>
    /// <param name="listener">The listener; for a per-worker copy, the listener it is a copy of.</param>
    internal static StatKind ClassifyEnvoyName(ReadOnlySpan<byte> name, out ReadOnlySpan<byte> listener, out bool perWorkerCopy)
    {
        listener = default;
        perWorkerCopy = false;
        if (name.Length < 13)
        {
            return StatKind.Other;
        }

        byte head = name[0];
        if (head == (byte)'s')
        {
            return name.SequenceEqual("server.uptime"u8) ? StatKind.Uptime : StatKind.Other;
        }

        if (head == (byte)'u')
        {
            return ClassifyUdpSessions(name, out listener);
        }

        if (head != (byte)'l' || !name.StartsWith("listener."u8))
        {
            return StatKind.Other;
        }

        ReadOnlySpan<byte> rest = name["listener.".Length..];
        StatKind kind;
        if (rest.EndsWith(".downstream_cx_active"u8))
        {
            kind = StatKind.ListenerActive;
            rest = rest[..^".downstream_cx_active".Length];
        }
        else if (rest.EndsWith(".downstream_cx_total"u8))
        {
            kind = StatKind.ListenerTotal;
            rest = rest[..^".downstream_cx_total".Length];
        }
        else
        {
            return StatKind.Other;
        }

        if (rest.IsEmpty)
        {
            return StatKind.Other;
        }

        int dot = rest.LastIndexOf((byte)'.');
        if (dot > 0 && IsWorkerSegment(rest[(dot + 1)..]))
        {
            perWorkerCopy = true;
            rest = rest[..dot];
        }

        listener = rest;
        return kind;
    }

    /// <summary>
    /// UDP has no connections: a udp_proxy's users are its sessions (<c>udp.&lt;prefix&gt;.downstream_sess_active</c>,
    /// <c>..._total</c>), which stand in the results as the pseudo-listener <c>udp.&lt;prefix&gt;</c>, so that a game
    /// server with players on UDP is never read as idle.
    /// </summary>
    private static StatKind ClassifyUdpSessions(ReadOnlySpan<byte> name, out ReadOnlySpan<byte> listener)
    {
        listener = default;
        if (!name.StartsWith("udp."u8))
        {
            return StatKind.Other;
        }

        StatKind kind;
        if (name.EndsWith(".downstream_sess_active"u8))
        {
            kind = StatKind.ListenerActive;
            listener = name[..^".downstream_sess_active".Length];
        }
        else if (name.EndsWith(".downstream_sess_total"u8))
        {
            kind = StatKind.ListenerTotal;
            listener = name[..^".downstream_sess_total".Length];
        }
        else
        {
            return StatKind.Other;
        }

        return listener.Length > "udp.".Length ? kind : StatKind.Other;
    }

    /// <summary><c>main_thread</c> or <c>worker_&lt;digits&gt;</c>.</summary>
    private static bool IsWorkerSegment(ReadOnlySpan<byte> segment) =>
        segment.SequenceEqual("main_thread"u8)
        || (segment.Length > "worker_".Length && segment.StartsWith("worker_"u8) && AllDigits(segment["worker_".Length..]));

    private static bool AllDigits(ReadOnlySpan<byte> s)
    {
        if (s.IsEmpty)
        {
            return false;
        }

        foreach (byte b in s)
        {
            if ((uint)(b - '0') > 9)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Strict unsigned decimal integer: digits only, no sign, no exponent, no overflow.</summary>
    internal static bool TryParseUInt64(ReadOnlySpan<byte> s, out ulong value)
    {
        value = 0;
        if (s.IsEmpty || s.Length > 20)
        {
            return false;
        }

        ulong v = 0;
        foreach (byte b in s)
        {
            uint d = (uint)(b - '0');
            if (d > 9)
            {
                return false;
            }

            if (v > (ulong.MaxValue - d) / 10)
            {
                return false;
            }

            v = (v * 10) + d;
        }

        value = v;
        return true;
    }

    private static string Describe(ReadOnlySpan<byte> name)
    {
        const int Max = 120;
        try
        {
            string s = StrictUtf8.GetString(name.Length > Max ? name[..Max] : name);
            return name.Length > Max ? s + "..." : s;
        }
        catch (DecoderFallbackException)
        {
            return "(invalid UTF-8)";
        }
    }

    private static string DescribeKind(StatKind kind, string key) => kind switch
    {
        StatKind.ListenerActive => $"listener {key} downstream_cx_active",
        StatKind.ListenerTotal => $"listener {key} downstream_cx_total",
        StatKind.Uptime => "server.uptime",
        _ => key,
    };

    private static string StatName(StatKind kind) => kind == StatKind.ListenerActive ? "downstream_cx_active" : "downstream_cx_total";

    /// <summary>Collects the kept statistics; allocates a key string only for the first statistic of each listener.</summary>
    private sealed class Accumulator
    {
        private readonly Dictionary<string, ListenerStats> _listeners = new(StringComparer.Ordinal);
        private readonly Dictionary<string, ListenerStats>.AlternateLookup<ReadOnlySpan<char>> _lookup;
        private readonly Dictionary<string, string> _activeCopies = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string> _totalCopies = new(StringComparer.Ordinal);
        private ulong? _uptime;

        public Accumulator() => _lookup = _listeners.GetAlternateLookup<ReadOnlySpan<char>>();

        /// <summary>Notes a per-worker copy of <paramref name="listenerUtf8"/>: dropped, once its listener's own statistic is seen.</summary>
        public void AddPerWorkerCopy(StatKind kind, ReadOnlySpan<byte> listenerUtf8, ReadOnlySpan<byte> statName)
        {
            char[] chars = new char[listenerUtf8.Length];
            int n = DecodeKey(listenerUtf8, chars);
            AddPerWorkerCopy(kind, chars.AsSpan(0, n), statName);
        }

        public void AddPerWorkerCopy(StatKind kind, ReadOnlySpan<char> listener, ReadOnlySpan<byte> statName)
        {
            var copies = kind == StatKind.ListenerActive ? _activeCopies : _totalCopies;
            var lookup = copies.GetAlternateLookup<ReadOnlySpan<char>>();
            if (!lookup.ContainsKey(listener))
            {
                lookup[listener] = Describe(statName);
            }
        }

        public void Add(StatKind kind, ReadOnlySpan<byte> keyUtf8, ulong value)
        {
            if (kind == StatKind.Uptime)
            {
                SetUptime(value);
                return;
            }

            if (keyUtf8.Length <= 256)
            {
                Span<char> chars = stackalloc char[256];
                int n = DecodeKey(keyUtf8, chars);
                AddListener(kind, chars[..n], value);
            }
            else
            {
                char[] chars = new char[keyUtf8.Length];
                int n = DecodeKey(keyUtf8, chars);
                AddListener(kind, chars.AsSpan(0, n), value);
            }
        }

        public void AddListener(StatKind kind, ReadOnlySpan<char> key, ulong value)
        {
            if (key.IsEmpty)
            {
                throw new EnvoyStatsFormatException("listener statistic with an empty listener name");
            }

            _lookup.TryGetValue(key, out ListenerStats current);
            ListenerStats updated;
            if (kind == StatKind.ListenerActive)
            {
                if (current.ActiveConnections is { } existing && existing != value)
                {
                    throw Conflict(kind, key);
                }

                updated = current with { ActiveConnections = value };
            }
            else
            {
                if (current.TotalConnections is { } existing && existing != value)
                {
                    throw Conflict(kind, key);
                }

                updated = current with { TotalConnections = value };
            }

            _lookup[key] = updated;
        }

        public void SetUptime(ulong value)
        {
            if (_uptime is { } existing && existing != value)
            {
                throw Conflict(StatKind.Uptime, default);
            }

            _uptime = value;
        }

        public EnvoyStats Build()
        {
            CheckCopies(_activeCopies, StatKind.ListenerActive);
            CheckCopies(_totalCopies, StatKind.ListenerTotal);
            return EnvoyStats.FromOwned(_listeners, _uptime);
        }

        /// <summary>A copy whose listener has no statistic of its own may be a listener of that very name: never drop its users.</summary>
        private void CheckCopies(Dictionary<string, string> copies, StatKind kind)
        {
            foreach (var (listener, statName) in copies)
            {
                var own = _listeners.TryGetValue(listener, out var stats)
                    && (kind == StatKind.ListenerActive ? stats.ActiveConnections : stats.TotalConnections) is not null;
                if (!own)
                {
                    throw new EnvoyStatsFormatException(
                        $"{statName} is shaped like a per-worker copy of listener '{listener}', which has no {StatName(kind)} of its own: "
                        + "a copy cannot be told from a listener of that name");
                }
            }
        }

        private static EnvoyStatsFormatException Conflict(StatKind kind, ReadOnlySpan<char> key) =>
            new($"{DescribeKind(kind, key.ToString())} appears twice with different values");

        private static int DecodeKey(ReadOnlySpan<byte> utf8, Span<char> chars)
        {
            try
            {
                return StrictUtf8.GetChars(utf8, chars);
            }
            catch (DecoderFallbackException ex)
            {
                throw new EnvoyStatsFormatException("listener name is not valid UTF-8", ex);
            }
        }
    }
}
