using System.Globalization;
using System.Text.Json.Nodes;

namespace EnvoyReaper.TestSupport.Kubernetes;

/// <summary>A request the fake refuses; rendered as a v1 Status body with <see cref="StatusCode"/>.</summary>
internal sealed class ApiException(int statusCode, JsonObject status, TimeSpan? retryAfter = null)
    : Exception(status["message"]?.GetValue<string>())
{
    public int StatusCode { get; } = statusCode;

    public JsonObject Status { get; } = status;

    public TimeSpan? RetryAfter { get; } = retryAfter;
}

/// <summary>Builds v1 Status bodies the way the API server words them.</summary>
internal static class ApiStatus
{
    public static JsonObject Failure(int code, string reason, string message, JsonObject? details = null)
    {
        var status = new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = "Failure",
            ["message"] = message,
            ["reason"] = reason,
        };
        if (details is not null)
        {
            status["details"] = details;
        }

        status["code"] = code;
        return status;
    }

    public static JsonObject Success(ResourceType type, string name, string? uid)
    {
        var details = Details(type, name);
        if (uid is not null)
        {
            details["uid"] = uid;
        }

        return new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = "Success",
            ["details"] = details,
        };
    }

    public static JsonObject Details(ResourceType type, string name, string? kindOverride = null)
    {
        var details = new JsonObject { ["name"] = name };
        if (type.Group.Length > 0)
        {
            details["group"] = type.Group;
        }

        details["kind"] = kindOverride ?? type.Plural;
        return details;
    }

    public static ApiException NotFound(ResourceType type, string name) =>
        new(404, Failure(404, "NotFound", $"{type.GroupResource} \"{name}\" not found", Details(type, name)));

    public static ApiException NotFoundResource() =>
        new(404, Failure(404, "NotFound", "the server could not find the requested resource", new JsonObject()));

    public static ApiException AlreadyExists(ResourceType type, string name) =>
        new(409, Failure(409, "AlreadyExists", $"{type.GroupResource} \"{name}\" already exists", Details(type, name)));

    public static ApiException Conflict(ResourceType type, string name, string detail) =>
        new(409, Failure(409, "Conflict", $"Operation cannot be fulfilled on {type.GroupResource} \"{name}\": {detail}", Details(type, name)));

    public static ApiException StaleResourceVersion(ResourceType type, string name) =>
        Conflict(type, name, "the object has been modified; please apply your changes to the latest version and try again");

    public static ApiException PreconditionFailed(ResourceType type, string name, string message) =>
        new(409, Failure(409, "Conflict", message, Details(type, name)));

    public static ApiException BadRequest(string message) =>
        new(400, Failure(400, "BadRequest", message));

    public static ApiException MethodNotAllowed() =>
        new(405, Failure(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", new JsonObject()));

    public static ApiException UnsupportedMediaType(IEnumerable<string> accepted) =>
        new(415, Failure(
            415,
            "UnsupportedMediaType",
            $"the body of the request was in an unknown format - accepted media types include: {string.Join(", ", accepted)}"));

    public static ApiException Gone(string message) =>
        new(410, Failure(410, "Expired", message));

    public static ApiException Invalid(ResourceType type, string name, IReadOnlyList<InvalidField> causes)
    {
        var causeMessages = causes.Select(cause => $"{cause.Field}: {cause.Message}").ToList();
        var summary = causeMessages.Count == 1 ? causeMessages[0] : $"[{string.Join(", ", causeMessages)}]";
        var details = Details(type, name, type.Kind);
        details["causes"] = new JsonArray(causes
            .Select(cause => (JsonNode)new JsonObject
            {
                ["reason"] = cause.Reason,
                ["message"] = cause.Message,
                ["field"] = cause.Field,
            })
            .ToArray());
        return new ApiException(422, Failure(422, "Invalid", $"{type.GroupKind} \"{name}\" is invalid: {summary}", details));
    }

    /// <summary>The 422 the server gives when a JSON patch cannot be applied; it names no object.</summary>
    public static ApiException UnprocessablePatch(string message) =>
        new(422, Failure(422, "Invalid", message, new JsonObject { ["causes"] = new JsonArray(new JsonObject { ["message"] = message }) }));

    public static ApiException Injected(int code, string reason, TimeSpan? retryAfter)
    {
        JsonObject? details = null;
        if (retryAfter is { } delay)
        {
            details = new JsonObject { ["retryAfterSeconds"] = RetryAfterSeconds(delay) };
        }

        var message = reason switch
        {
            "TooManyRequests" => "Too many requests, please try again later.",
            "InternalError" => "Internal error occurred: injected by FakeKubernetesApiServer",
            "ServiceUnavailable" => "the server is currently unable to handle the request",
            "Timeout" => "the server was unable to return a response in the time allotted, but may still be processing the request",
            "Forbidden" => "forbidden: injected by FakeKubernetesApiServer",
            "Unauthorized" => "Unauthorized",
            _ => $"injected failure: {reason}",
        };
        return new ApiException(code, Failure(code, reason, message, details), retryAfter);
    }

    public static int RetryAfterSeconds(TimeSpan delay) =>
        Math.Max(1, (int)Math.Ceiling(delay.TotalSeconds));

    public static string Format(long value) => value.ToString(CultureInfo.InvariantCulture);
}

internal sealed record InvalidField(string Field, string Reason, string Message);
