using System.Collections.Concurrent;
using EnvoyReaper.Waking;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Waker;

public enum WakeOutcome
{
    /// <summary>The wake message is on the queue (sent for this request or an earlier one of the same parking).</summary>
    Sent,

    /// <summary>Over Waker:WakesPerMinute: nothing was sent; a later request tries again.</summary>
    RateLimited,

    /// <summary>The queue could not be reached: nothing was sent; a later request tries again.</summary>
    Failed,
}

/// <summary>
/// Asks for a wake once per parking: the first request of a parking sends the message, every request of the same
/// parking meanwhile shares that one send, and only a workload still parked <see cref="WakerOptions.WakeResendAfter"/>
/// later gets another. Sends are rate-limited across all workloads.
/// </summary>
public sealed partial class WakeRequester(
    IWakeQueue queue,
    WakeRateLimiter limiter,
    IOptions<WakerOptions> options,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    ILogger<WakeRequester> logger)
{
    private static readonly TimeSpan SendTimeout = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, Attempt> attempts = new(StringComparer.Ordinal);

    /// <summary>One wake of a parking: its send starts on first use and is shared by every request that finds it.</summary>
    private sealed class Attempt(DateTimeOffset firstRequestAt, DateTimeOffset startedAt, Func<Task<WakeOutcome>> send)
    {
        private readonly Lazy<Task<WakeOutcome>> outcome = new(send, LazyThreadSafetyMode.ExecutionAndPublication);

        public DateTimeOffset FirstRequestAt => firstRequestAt;

        public DateTimeOffset StartedAt => startedAt;

        public Task<WakeOutcome> Outcome => outcome.Value;
    }

    /// <summary>The outcome of this parking's current wake, sending it if none is due yet.</summary>
    public Task<WakeOutcome> RequestAsync(ParkedWorkload workload)
    {
        ArgumentNullException.ThrowIfNull(workload);
        var now = time.GetUtcNow();
        var attempt = attempts.AddOrUpdate(
            workload.Key,
            _ => NewAttempt(workload, now, now),
            (_, existing) => IsDue(existing, now) ? NewAttempt(workload, existing.FirstRequestAt, now) : existing);
        return attempt.Outcome;
    }

    /// <summary>Drops the bookkeeping of parkings that are gone (woken, or parked anew under another parked-at).</summary>
    public void Forget(IReadOnlySet<string> parkedKeys)
    {
        ArgumentNullException.ThrowIfNull(parkedKeys);
        foreach (var key in attempts.Keys)
        {
            if (!parkedKeys.Contains(key))
            {
                attempts.TryRemove(key, out _);
            }
        }
    }

    private bool IsDue(Attempt existing, DateTimeOffset now)
    {
        var outcome = existing.Outcome;
        if (!outcome.IsCompleted)
        {
            return false;
        }

        var wait = outcome.IsCompletedSuccessfully && outcome.Result == WakeOutcome.Sent ? options.Value.WakeResendAfter : options.Value.WakeRetryAfter;
        return now - existing.StartedAt >= wait;
    }

    private Attempt NewAttempt(ParkedWorkload workload, DateTimeOffset firstRequestAt, DateTimeOffset now) =>
        new(firstRequestAt, now, () => Task.Run(() => SendAsync(workload, firstRequestAt)));

    private async Task<WakeOutcome> SendAsync(ParkedWorkload workload, DateTimeOffset firstRequestAt)
    {
        if (!limiter.TryAcquire())
        {
            LogRateLimited(logger, workload.Namespace, workload.Service, options.Value.WakesPerMinute);
            return WakeOutcome.RateLimited;
        }

        // Not the request's token: one request giving up must not cancel the send every request of the parking shares.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(lifetime.ApplicationStopping);
        timeout.CancelAfter(SendTimeout);
        var message = new WakeMessage(WakeMessage.CurrentVersion, Guid.NewGuid().ToString("N"), firstRequestAt, workload.Namespace, workload.Service);
        try
        {
            await queue.SendAsync(message, options.Value.WakeMessageTimeToLive, timeout.Token).ConfigureAwait(false);
            LogSent(logger, workload.Namespace, workload.Service, workload.Deployment, message.Id);
            return WakeOutcome.Sent;
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            LogSendFailed(logger, workload.Namespace, workload.Service, exception.Message, exception);
            return WakeOutcome.Failed;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Wake requested for {Namespace}/{Service} (Deployment {Deployment}), message {Id}")]
    private static partial void LogSent(ILogger logger, string @namespace, string service, string deployment, string id);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Wake for {Namespace}/{Service} not sent: more than Waker:WakesPerMinute ({Limit}) wakes this minute")]
    private static partial void LogRateLimited(ILogger logger, string @namespace, string service, int limit);

    [LoggerMessage(Level = LogLevel.Error, Message = "Wake for {Namespace}/{Service} could not be sent: {Reason}")]
    private static partial void LogSendFailed(ILogger logger, string @namespace, string service, string reason, Exception exception);
}

/// <summary>A token bucket on <see cref="TimeProvider"/>: <see cref="WakerOptions.WakesPerMinute"/> at once, refilled evenly over a minute.</summary>
public sealed class WakeRateLimiter(IOptions<WakerOptions> options, TimeProvider time)
{
    private readonly Lock gate = new();
    private double tokens = options.Value.WakesPerMinute;
    private long lastRefill = time.GetTimestamp();

    public bool TryAcquire()
    {
        lock (gate)
        {
            var capacity = options.Value.WakesPerMinute;
            var now = time.GetTimestamp();
            tokens = Math.Min(capacity, tokens + (time.GetElapsedTime(lastRefill, now).TotalMinutes * capacity));
            lastRefill = now;
            if (tokens < 1)
            {
                return false;
            }

            tokens--;
            return true;
        }
    }
}
