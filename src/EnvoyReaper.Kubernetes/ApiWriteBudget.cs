using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EnvoyReaper.Kubernetes;

/// <summary>Which writes go first when the write budget is short.</summary>
public enum ApiWritePriority
{
    /// <summary>The teardown path and everything not marked otherwise: deletes, scaling, restores, injection.</summary>
    High,

    /// <summary>Courtesy writes (workload status, Events): they wait behind every high one and may be dropped.</summary>
    Low,
}

/// <summary>
/// The priority of the Kubernetes writes made in the current async flow; <see cref="ApiWritePriority.High"/> unless a
/// <see cref="Low"/> scope is open, so that a write nobody classified is never the one that gets dropped.
/// </summary>
public static class ApiWritePriorityScope
{
    private static readonly AsyncLocal<(ApiWritePriority Priority, string? Subject)> CurrentSlot = new();

    public static ApiWritePriority Current => CurrentSlot.Value.Priority;

    /// <summary>What the low-priority writes of the current flow are about (namespace/name), for the log of dropped writes.</summary>
    public static string? CurrentSubject => CurrentSlot.Value.Subject;

    /// <summary>Marks the writes of the current flow, about <paramref name="subject"/>, as low priority until the returned scope is disposed.</summary>
    public static Scope Low(string? subject = null)
    {
        var previous = CurrentSlot.Value;
        CurrentSlot.Value = (ApiWritePriority.Low, subject);
        return new Scope(previous);
    }

    public readonly struct Scope((ApiWritePriority Priority, string? Subject) previous) : IDisposable
    {
        public void Dispose() => CurrentSlot.Value = previous;
    }
}

/// <summary>
/// The client-side write budget: <paramref name="WritesPerSecond"/> on average, up to <paramref name="Burst"/> at once.
/// A high-priority write waits at most <paramref name="HighPriorityMaxWait"/> (then fails), a low-priority one at most
/// <paramref name="LowPriorityMaxWait"/> (then is dropped).
/// </summary>
public sealed record ApiWriteBudgetPolicy(double WritesPerSecond, int Burst, TimeSpan HighPriorityMaxWait, TimeSpan LowPriorityMaxWait)
{
    /// <summary>
    /// The policy of <paramref name="options"/>. The client's request timeout covers the wait too; a high-priority
    /// write may spend half of it here, leaving the other half to the request and its throttle retries.
    /// </summary>
    public static ApiWriteBudgetPolicy From(ClusterAccessOptions options) => new(
        options.ApiWritesPerSecond,
        options.ApiWriteBurst,
        TimeSpan.FromSeconds(options.RequestTimeoutSeconds / 2.0),
        TimeSpan.FromSeconds(options.ApiLowPriorityWriteMaxWaitSeconds));
}

/// <summary>A write the budget did not let through; nothing was sent to the API server.</summary>
public sealed class ApiWriteBudgetException(string message) : Exception(message)
{
    public ApiWritePriority Priority { get; init; }
}

/// <summary>
/// A token bucket with two queues. A write takes a token at once when nobody of its class or above is waiting and one
/// is there; otherwise it queues, and each token as it comes goes to the oldest high-priority waiter, and to a
/// low-priority one only when no high-priority write waits. A low-priority write whose wait would exceed its bound
/// by the queue already ahead of it is dropped at once, so that a storm of courtesy writes holds no caller for long.
/// Dropped writes are logged one by one at Debug and in one Warning per <see cref="DropReportInterval"/> (count and a
/// few examples): a cycle of 100,000 workloads may drop tens of thousands of them.
/// </summary>
public sealed partial class ApiWriteBudget : IDisposable
{
    /// <summary>The timer function's cycle: one Warning per cycle at most for the writes it dropped.</summary>
    public static readonly TimeSpan DropReportInterval = TimeSpan.FromMinutes(1);

    private const int DropExamples = 5;

    private static readonly TimeSpan MinimumTimerDelay = TimeSpan.FromMilliseconds(1);

    /// <summary>A whole token, less the rounding of summed fractions (ten tenths must make one).</summary>
    private const double WholeToken = 1 - 1e-9;

    private readonly ApiWriteBudgetPolicy policy;
    private readonly TimeProvider time;
    private readonly Lock gate = new();
    private readonly Queue<Waiter> high = new();
    private readonly Queue<Waiter> low = new();
    private readonly ITimer timer;
    private readonly ILogger<ApiWriteBudget> logger;
    private readonly ITimer dropReportTimer;
    private readonly List<string> dropExamples = [];
    private int dropped;
    private double tokens;
    private long refilledAt;
    private int highWaiting;
    private int lowWaiting;

    public ApiWriteBudget(ApiWriteBudgetPolicy policy, TimeProvider time, ILogger<ApiWriteBudget>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(policy.WritesPerSecond);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(policy.Burst);
        this.policy = policy;
        this.time = time;
        tokens = policy.Burst;
        refilledAt = time.GetTimestamp();
        this.logger = logger ?? NullLogger<ApiWriteBudget>.Instance;
        timer = time.CreateTimer(_ => Pump(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        dropReportTimer = time.CreateTimer(_ => ReportDrops(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Writes waiting for a token now, by class.</summary>
    public (int High, int Low) Waiting
    {
        get
        {
            lock (gate)
            {
                return (highWaiting, lowWaiting);
            }
        }
    }

    /// <summary>Takes one write's token, waiting in its class's queue if need be.</summary>
    /// <exception cref="ApiWriteBudgetException">The wait would exceed, or exceeded, the bound of its class.</exception>
    public Task AcquireAsync(ApiWritePriority priority, CancellationToken cancellationToken) => AcquireAsync(priority, subject: null, cancellationToken);

    /// <summary>Takes one write's token, waiting in its class's queue if need be.</summary>
    /// <param name="priority">The write's class.</param>
    /// <param name="subject">What the write is about (namespace/name), named in the log when it is dropped.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <exception cref="ApiWriteBudgetException">The wait would exceed, or exceeded, the bound of its class.</exception>
    public async Task AcquireAsync(ApiWritePriority priority, string? subject, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var maxWait = priority == ApiWritePriority.High ? policy.HighPriorityMaxWait : policy.LowPriorityMaxWait;
        Waiter waiter;
        lock (gate)
        {
            Refill();
            var ahead = priority == ApiWritePriority.High ? highWaiting : highWaiting + lowWaiting;
            if (ahead == 0 && tokens >= WholeToken)
            {
                tokens -= 1;
                return;
            }

            if (priority == ApiWritePriority.Low && TimeSpan.FromSeconds((ahead + 1 - tokens) / policy.WritesPerSecond) > maxWait)
            {
                throw Refused(priority, maxWait, subject);
            }

            waiter = new Waiter(priority);
            (priority == ApiWritePriority.High ? high : low).Enqueue(waiter);
            if (priority == ApiWritePriority.High)
            {
                highWaiting++;
            }
            else
            {
                lowWaiting++;
            }

            ArmTimer();
        }

        try
        {
            await waiter.Granted.Task.WaitAsync(maxWait, time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            if (Abandon(waiter))
            {
                throw Refused(priority, maxWait, subject);
            }

            // Granted as the wait timed out: the token is this write's.
        }
        catch (OperationCanceledException) when (Abandon(waiter))
        {
            throw;
        }
    }

    public void Dispose()
    {
        timer.Dispose();
        dropReportTimer.Dispose();
        ReportDrops();
    }

    private ApiWriteBudgetException Refused(ApiWritePriority priority, TimeSpan maxWait, string? subject)
    {
        if (priority == ApiWritePriority.High)
        {
            return new ApiWriteBudgetException($"Kubernetes write not sent: no room in the write budget within {maxWait} (Kubernetes:ApiWritesPerSecond, Kubernetes:ApiWriteBurst)") { Priority = priority };
        }

        CountDrop(subject);
        return new ApiWriteBudgetException($"Low-priority Kubernetes write (status or Event) dropped: the write budget had no room for it within {maxWait} (Kubernetes:ApiLowPriorityWriteMaxWaitSeconds)") { Priority = priority };
    }

    private void CountDrop(string? subject)
    {
        LogDropped(subject ?? "(unnamed)");
        lock (gate)
        {
            if (dropped++ == 0)
            {
                dropReportTimer.Change(DropReportInterval, Timeout.InfiniteTimeSpan);
            }

            if (subject is not null && dropExamples.Count < DropExamples && !dropExamples.Contains(subject))
            {
                dropExamples.Add(subject);
            }
        }
    }

    private void ReportDrops()
    {
        int count;
        string examples;
        lock (gate)
        {
            count = dropped;
            examples = string.Join(", ", dropExamples);
            dropped = 0;
            dropExamples.Clear();
        }

        if (count > 0)
        {
            LogDropsInInterval(count, DropReportInterval, examples);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Low-priority Kubernetes write (status or Event) for {Subject} dropped: no room in the write budget")]
    private partial void LogDropped(string subject);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Count} low-priority Kubernetes writes (status, Events) dropped by the write budget in the last {Interval}, among them for {Examples} (Kubernetes:ApiWritesPerSecond, Kubernetes:ApiLowPriorityWriteMaxWaitSeconds)")]
    private partial void LogDropsInInterval(int count, TimeSpan interval, string examples);

    /// <summary>False when the waiter was granted its token after all (the timeout or cancellation lost the race).</summary>
    private bool Abandon(Waiter waiter)
    {
        lock (gate)
        {
            if (waiter.Done)
            {
                return false;
            }

            waiter.Done = true;
            if (waiter.Priority == ApiWritePriority.High)
            {
                highWaiting--;
            }
            else
            {
                lowWaiting--;
            }

            return true;
        }
    }

    private void Pump()
    {
        lock (gate)
        {
            Refill();
            while (tokens >= WholeToken && Next() is { } waiter)
            {
                tokens -= 1;
                waiter.Done = true;
                if (waiter.Priority == ApiWritePriority.High)
                {
                    highWaiting--;
                }
                else
                {
                    lowWaiting--;
                }

                waiter.Granted.TrySetResult();
            }

            ArmTimer();
        }
    }

    private Waiter? Next()
    {
        foreach (var queue in new[] { high, low })
        {
            while (queue.TryPeek(out var waiter))
            {
                if (!waiter.Done)
                {
                    queue.Dequeue();
                    return waiter;
                }

                queue.Dequeue(); // abandoned: timed out or cancelled
            }
        }

        return null;
    }

    private void ArmTimer()
    {
        if (highWaiting + lowWaiting == 0)
        {
            timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            return;
        }

        var untilNextToken = TimeSpan.FromSeconds(Math.Max(0, WholeToken - tokens) / policy.WritesPerSecond);
        timer.Change(untilNextToken < MinimumTimerDelay ? MinimumTimerDelay : untilNextToken, Timeout.InfiniteTimeSpan);
    }

    private void Refill()
    {
        var now = time.GetTimestamp();
        tokens = Math.Min(policy.Burst, tokens + (time.GetElapsedTime(refilledAt, now).TotalSeconds * policy.WritesPerSecond));
        refilledAt = now;
    }

    private sealed class Waiter(ApiWritePriority priority)
    {
        public ApiWritePriority Priority { get; } = priority;

        public TaskCompletionSource Granted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Granted, timed out or cancelled: under the budget's lock.</summary>
        public bool Done { get; set; }
    }
}

/// <summary>
/// Puts every write request (anything but GET and HEAD) of the client through the <see cref="ApiWriteBudget"/>, in the
/// priority of <see cref="ApiWritePriorityScope.Current"/>. Outside the 429 retries: a write costs one token however
/// many times the API server asks it to come back.
/// </summary>
public sealed class ApiWriteBudgetHandler(ApiWriteBudget budget) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.Method != HttpMethod.Get && request.Method != HttpMethod.Head)
        {
            await budget.AcquireAsync(ApiWritePriorityScope.Current, ApiWritePriorityScope.CurrentSubject, cancellationToken).ConfigureAwait(false);
        }

        return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
    }
}
