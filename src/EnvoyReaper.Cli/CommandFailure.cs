using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using k8s.Autorest;
using k8s.Exceptions;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Cli;

/// <summary>A failure a command has already put in the user's words.</summary>
internal sealed class CommandFailedException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>How any failure of a command reaches the user: one line for stderr and the exit code, never a stack trace.</summary>
internal static partial class CommandFailure
{
    public static (int ExitCode, string Message) Describe(Exception exception) => exception switch
    {
        CommandFailedException failed => (failed.ExitCode, failed.Message),
        OptionsValidationException invalid => (ExitCodes.Configuration, string.Join("; ", invalid.Failures.Select(Unwrap))),
        KubeConfigException => (ExitCodes.Configuration, $"the kubeconfig cannot be used: {FirstLine(exception.Message)}"),
        InvalidOperationException { InnerException: { } inner } when exception.Message.Contains("KubeConfigPath", StringComparison.Ordinal) =>
            (ExitCodes.Configuration, $"the kubeconfig cannot be used: {FirstLine(inner.Message)}"),
        HttpOperationException http => (ExitCodes.Unavailable, ApiServerAnswer(http)),
        HttpRequestException => (ExitCodes.Unavailable, $"cannot reach the API server: {FirstLine(exception.Message)}"),
        Azure.RequestFailedException storage => (ExitCodes.Unavailable, Storage(storage)),
        AggregateException { InnerExceptions: [Azure.RequestFailedException storage] } => (ExitCodes.Unavailable, Storage(storage)),
        AggregateException aggregate when aggregate.InnerExceptions.All(inner => inner is Azure.RequestFailedException) =>
            (ExitCodes.Unavailable, $"storage cannot be reached: {FirstLine(aggregate.InnerExceptions[^1].Message)}"),
        TaskCanceledException or TimeoutException => (ExitCodes.Unavailable, $"no answer in time: {FirstLine(exception.Message)}"),
        _ => (ExitCodes.Usage, $"unexpected failure: {FirstLine(exception.Message)}"),
    };

    /// <summary>What the storage service said, on one line.</summary>
    public static string Storage(Azure.RequestFailedException exception) => exception.Status == 0
        ? $"storage cannot be reached: {FirstLine(exception.Message)}"
        : $"storage answered {exception.Status}{(exception.ErrorCode is { Length: > 0 } code ? $" {code}" : string.Empty)}: {FirstLine(exception.Message)}";

    public static string FirstLine(string text) => text.Split('\n', 2)[0].Trim();

    /// <summary>
    /// The status line, and the message of a Kubernetes Status body when there is one: a proxy's or a wrong server's HTML
    /// error page says nothing the status line does not.
    /// </summary>
    private static string ApiServerAnswer(HttpOperationException exception)
    {
        var status = exception.Response.StatusCode;
        var reason = exception.Response.ReasonPhrase is { Length: > 0 } phrase ? phrase : SplitWords(status.ToString());
        var line = $"the API server answered {(int)status} {reason}";
        return StatusMessage(exception.Response.Content) is { } message ? $"{line}: {message}" : line;
    }

    private static string? StatusMessage(string? content)
    {
        if (string.IsNullOrWhiteSpace(content) || !content.TrimStart().StartsWith('{'))
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(content);
            return document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.String
                ? FirstLine(message.GetString()!)
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string SplitWords(string name) => CamelCaseBoundary().Replace(name, " ");

    /// <summary>"DataAnnotation validation failed for 'X' members: 'Y' with the error: 'Z'." says Z.</summary>
    private static string Unwrap(string failure) => DataAnnotationFailure().Match(failure) is { Success: true } match ? match.Groups["error"].Value : failure;

    [GeneratedRegex("(?<=[a-z])(?=[A-Z])")]
    private static partial Regex CamelCaseBoundary();

    [GeneratedRegex("^DataAnnotation validation failed for '[^']*' members: '[^']*' with the error: '(?<error>.*)'\\.?$", RegexOptions.Singleline)]
    private static partial Regex DataAnnotationFailure();
}
