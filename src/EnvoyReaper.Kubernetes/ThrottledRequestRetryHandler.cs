using System.Net;
using Microsoft.Extensions.Logging;

namespace EnvoyReaper.Kubernetes;

/// <summary>How long a request refused with 429 may be tried again: at most <paramref name="MaxRetries"/> times, waiting at most <paramref name="MaxTotalWait"/> in all.</summary>
public sealed record ThrottleRetryPolicy(int MaxRetries, TimeSpan MaxTotalWait)
{
    /// <summary>
    /// The policy of <paramref name="options"/>. The client's request timeout covers the retries too, so the waiting is
    /// kept within half of it.
    /// </summary>
    public static ThrottleRetryPolicy From(ClusterAccessOptions options) => new(
        options.ThrottleRetries,
        TimeSpan.FromSeconds(Math.Min(options.ThrottleRetryBudgetSeconds, options.RequestTimeoutSeconds / 2.0)));
}

/// <summary>
/// Tries a request the API server refused with 429 Too Many Requests again after the Retry-After it names, within
/// <see cref="ThrottleRetryPolicy"/>; past the bound the 429 goes to the caller, which reports it as a failure.
/// </summary>
/// <remarks>
/// A 429 with Retry-After comes from API Priority and Fairness (or the max-in-flight filter), which refuse a request
/// before any handler sees it: nothing was done, so a write is as safe to send again as a read. A 429 without
/// Retry-After may come from a request that was processed and refused (an eviction blocked by a disruption budget),
/// so only a read is tried again then, after a second.
/// </remarks>
public sealed partial class ThrottledRequestRetryHandler(ThrottleRetryPolicy policy, TimeProvider time, ILogger<ThrottledRequestRetryHandler> logger) : DelegatingHandler
{
    private static readonly TimeSpan ReadRetryWithoutRetryAfter = TimeSpan.FromSeconds(1);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var method = request.Method.Method;
        var path = request.RequestUri?.AbsolutePath ?? string.Empty;
        var waited = TimeSpan.Zero;
        for (var retry = 1; ; retry++)
        {
            var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.TooManyRequests)
            {
                return response;
            }

            var retryAfter = RetryAfter(response);
            if (retryAfter is null && !IsRead(request.Method))
            {
                LogWriteNotRetried(method, path);
                return response;
            }

            var delay = retryAfter ?? ReadRetryWithoutRetryAfter;
            if (retry > policy.MaxRetries)
            {
                LogRetriesExhausted(method, path, policy.MaxRetries, waited);
                return response;
            }

            if (waited + delay > policy.MaxTotalWait)
            {
                LogBudgetExhausted(method, path, delay, policy.MaxTotalWait, waited);
                return response;
            }

            LogRetrying(method, path, delay, retry, policy.MaxRetries);
            response.Dispose();
            await Task.Delay(delay, time, cancellationToken).ConfigureAwait(false);
            waited += delay;
        }
    }

    private static bool IsRead(HttpMethod method) => method == HttpMethod.Get || method == HttpMethod.Head;

    private TimeSpan? RetryAfter(HttpResponseMessage response) => response.Headers.RetryAfter switch
    {
        { Delta: { } delta } => delta < TimeSpan.Zero ? TimeSpan.Zero : delta,
        { Date: { } date } => date > time.GetUtcNow() ? date - time.GetUtcNow() : TimeSpan.Zero,
        _ => null,
    };

    [LoggerMessage(Level = LogLevel.Information, Message = "Kubernetes API {Method} {Path} throttled (429): retry {Retry} of {MaxRetries} in {Delay}")]
    private partial void LogRetrying(string method, string path, TimeSpan delay, int retry, int maxRetries);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kubernetes API {Method} {Path} still throttled (429) after {MaxRetries} retries and {Waited} of waiting: giving up (Kubernetes:ThrottleRetries)")]
    private partial void LogRetriesExhausted(string method, string path, int maxRetries, TimeSpan waited);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kubernetes API {Method} {Path} throttled (429) with Retry-After {Delay}, beyond the {Budget} of waiting allowed ({Waited} spent): giving up (Kubernetes:ThrottleRetryBudgetSeconds)")]
    private partial void LogBudgetExhausted(string method, string path, TimeSpan delay, TimeSpan budget, TimeSpan waited);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kubernetes API {Method} {Path} refused with 429 without Retry-After: a write that may have been processed is not sent again")]
    private partial void LogWriteNotRetried(string method, string path);
}
