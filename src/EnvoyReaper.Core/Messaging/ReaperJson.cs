using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace EnvoyReaper.Messaging;

public static class ReaperJson
{
    public static readonly JsonSerializerOptions Options = CreateOptions();

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);

    private static JsonSerializerOptions CreateOptions()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            DefaultIgnoreCondition = JsonIgnoreCondition.Never,
            RespectNullableAnnotations = true,
            RespectRequiredConstructorParameters = true,
            UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
        };
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower, allowIntegerValues: false));
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}

/// <summary>
/// Reads queue messages strictly: a message this version of the app cannot fully understand, or whose names cannot be
/// Kubernetes names (<see cref="MessageFields"/>), is refused.
/// </summary>
public static class MessageReader
{
    /// <summary>
    /// A stats check of the current version (a batch), or of version 1 (one workload, queued before an upgrade) read as
    /// a batch of one; any other version is refused.
    /// </summary>
    public static bool TryReadStatsCheck(string? body, [NotNullWhen(true)] out StatsCheckBatchMessage? message, [NotNullWhen(false)] out string? error)
    {
        if (ReadVersion(body) == StatsCheckMessage.Version1)
        {
            var read = TryRead<StatsCheckMessage>(body, StatsCheckMessage.Version1, out var single, out error);
            message = single?.ToBatch();
            return read;
        }

        return TryRead(body, StatsCheckBatchMessage.CurrentVersion, out message, out error);
    }

    private static int? ReadVersion(string? body)
    {
        if (string.IsNullOrWhiteSpace(body))
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("version", out var field)
                && field.ValueKind == JsonValueKind.Number
                && field.TryGetInt32(out var number))
            {
                return number;
            }
        }
        catch (JsonException)
        {
            // TryRead says why.
        }

        return null;
    }

    public static bool TryRead<T>(string? body, int expectedVersion, [NotNullWhen(true)] out T? message, [NotNullWhen(false)] out string? error)
        where T : class
    {
        message = null;
        if (string.IsNullOrWhiteSpace(body))
        {
            error = "the message is empty";
            return false;
        }

        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("version", out var version)
                || version.ValueKind != JsonValueKind.Number)
            {
                error = "the message has no numeric 'version' field";
                return false;
            }

            if (!version.TryGetInt32(out var number) || number != expectedVersion)
            {
                error = $"message version {version.GetRawText()} is not supported (expected {expectedVersion})";
                return false;
            }

            message = document.RootElement.Deserialize<T>(ReaperJson.Options);
            if (message is null)
            {
                error = "the message is null";
                return false;
            }

            if (MessageFields.FindInvalid(message) is { } invalid)
            {
                message = null;
                error = invalid;
                return false;
            }

            error = null;
            return true;
        }
        catch (JsonException exception)
        {
            error = $"the message is not valid JSON for {typeof(T).Name}: {exception.Message}";
            return false;
        }
    }
}
