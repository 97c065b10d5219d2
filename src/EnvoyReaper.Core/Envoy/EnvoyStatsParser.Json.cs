using System.Buffers;
using System.Text.Json;

namespace EnvoyReaper.Envoy;

public static partial class EnvoyStatsParser
{
    // Streaming pass with Utf8JsonReader: names are compared as bytes (ValueSpan) and a string is allocated only for
    // the key of a listener that is kept. Escaped names (never produced by Envoy for these stats) are unescaped into
    // a pooled buffer.
    private static EnvoyStats ParseJson(ReadOnlySpan<byte> utf8)
    {
        var accumulator = new Accumulator();
        byte[]? scratch = null;
        try
        {
            var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw new EnvoyStatsFormatException("JSON body is not an object");
            }

            bool sawStats = false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("stats"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.StartArray)
                    {
                        throw new EnvoyStatsFormatException("\"stats\" is not an array");
                    }

                    ReadStatsArray(ref reader, accumulator, ref scratch);
                    sawStats = true;
                }
                else
                {
                    reader.Skip();
                }
            }

            // Here the reader sits on the top-level EndObject; anything after it (other than whitespace) makes the
            // next Read throw, since multiple top-level values are not allowed.
            if (reader.Read())
            {
                throw new EnvoyStatsFormatException("unexpected content after the JSON object");
            }

            if (!sawStats)
            {
                throw new EnvoyStatsFormatException("JSON object has no \"stats\" array");
            }

            return accumulator.Build();
        }
        catch (JsonException ex)
        {
            throw new EnvoyStatsFormatException(FirstSentence(ex.Message), ex);
        }
        finally
        {
            if (scratch is not null)
            {
                ArrayPool<byte>.Shared.Return(scratch);
            }
        }
    }

    private static void ReadStatsArray(ref Utf8JsonReader reader, Accumulator accumulator, ref byte[]? scratch)
    {
        while (true)
        {
            reader.Read();
            if (reader.TokenType == JsonTokenType.EndArray)
            {
                return;
            }

            if (reader.TokenType != JsonTokenType.StartObject)
            {
                throw new EnvoyStatsFormatException($"element of \"stats\" is a {reader.TokenType}, not an object");
            }

            ReadStat(ref reader, accumulator, ref scratch);
        }
    }

    private static void ReadStat(ref Utf8JsonReader reader, Accumulator accumulator, ref byte[]? scratch)
    {
        ReadOnlySpan<byte> name = default;
        bool hasName = false;
        ReadOnlySpan<byte> value = default;
        JsonTokenType valueType = JsonTokenType.None;

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("name"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.String)
                {
                    throw new EnvoyStatsFormatException($"stat name is a {reader.TokenType}, not a string");
                }

                if (reader.ValueIsEscaped)
                {
                    int written = Unescape(ref reader, ref scratch);
                    name = scratch.AsSpan(0, written);
                }
                else
                {
                    name = reader.ValueSpan;
                }

                hasName = true;
            }
            else if (reader.ValueTextEquals("value"u8))
            {
                reader.Read();
                valueType = reader.TokenType;
                if (valueType == JsonTokenType.Number)
                {
                    value = reader.ValueSpan;
                }
                else
                {
                    reader.Skip();
                }
            }
            else
            {
                // e.g. the nameless {"histograms":{...}} element: skipped whole.
                reader.Skip();
            }
        }

        if (!hasName)
        {
            return;
        }

        StatKind kind = ClassifyEnvoyName(name, out ReadOnlySpan<byte> listener, out bool perWorkerCopy);
        if (kind is StatKind.Other)
        {
            return;
        }

        if (perWorkerCopy)
        {
            accumulator.AddPerWorkerCopy(kind, listener, name);
            return;
        }

        if (valueType == JsonTokenType.None)
        {
            throw new EnvoyStatsFormatException($"{Describe(name)} has no value");
        }

        if (valueType != JsonTokenType.Number || !TryParseUInt64(value, out ulong parsed))
        {
            throw new EnvoyStatsFormatException(
                $"{Describe(name)} is not an unsigned 64-bit integer ({(valueType == JsonTokenType.Number ? Describe(value) : valueType.ToString())})");
        }

        accumulator.Add(kind, listener, parsed);
    }

    private static int Unescape(ref Utf8JsonReader reader, [System.Diagnostics.CodeAnalysis.NotNull] ref byte[]? scratch)
    {
        int needed = reader.ValueSpan.Length; // unescaped UTF-8 is never longer than the escaped text
        if (scratch is null || scratch.Length < needed)
        {
            if (scratch is not null)
            {
                ArrayPool<byte>.Shared.Return(scratch);
            }

            scratch = ArrayPool<byte>.Shared.Rent(Math.Max(needed, 256));
        }

        return reader.CopyString(scratch);
    }

    private static string FirstSentence(string message)
    {
        int end = message.IndexOf(" Path:", StringComparison.Ordinal);
        return end > 0 ? message[..end] : message;
    }
}
