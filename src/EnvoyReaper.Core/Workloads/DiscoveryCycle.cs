using EnvoyReaper.Messaging;
using EnvoyReaper.Teardown;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Workloads;

public sealed record CycleSummary(int Workloads, int MessagesQueued, int Problems);

/// <summary>One timer cycle: discover the monitored workloads and queue their stats checks, in batches of one namespace.</summary>
public sealed partial class DiscoveryCycle(
    WorkloadDiscovery discovery,
    StatsCheckPlanner planner,
    IWorkQueue queue,
    TimeProvider time,
    IOptions<ReaperOptions> options,
    ILogger<DiscoveryCycle> logger,
    TeardownBreaker breaker,
    ReaperMetrics? metrics = null,
    Waking.WorkloadParking? parking = null)
{
    public async Task<CycleSummary> RunAsync(DateTimeOffset? lastRun, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var period = options.Value.TimerPeriod;
        if (lastRun is { } last)
        {
            var sinceLast = now - last;
            if (sinceLast > TimeSpan.Zero && sinceLast < period * 3)
            {
                period = sinceLast;
            }
        }

        var found = await discovery.DiscoverAsync(cancellationToken).ConfigureAwait(false);
        await MeasureForBreakerAsync(found.Workloads, cancellationToken).ConfigureAwait(false);
        var problems = found.Problems.ToList();
        var checks = planner.Plan(found, now, period, problems);
        foreach (var problem in problems)
        {
            LogProblem(problem.Source, problem.Namespace, problem.Name, problem.Message);
        }

        await queue.EnqueueStatsChecksAsync(checks, cancellationToken).ConfigureAwait(false);
        await ReconcileParkedAsync(cancellationToken).ConfigureAwait(false);
        LogCycle(found.Workloads.Count, checks.Sum(check => check.Message.Workloads.Count), checks.Count, problems.Count, time.GetUtcNow() - now);
        metrics?.CycleCompleted(time.GetUtcNow() - now, found.Workloads.Count);
        return new CycleSummary(found.Workloads.Count, checks.Count, problems.Count);
    }

    /// <summary>
    /// A failed measure only widens the next one's window (it compares with the last measure that was written), so the
    /// checks of this cycle are still queued.
    /// </summary>
    private async Task MeasureForBreakerAsync(IReadOnlyList<MonitoredWorkload> workloads, CancellationToken cancellationToken)
    {
        try
        {
            await breaker.MeasureAsync(workloads, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            LogMeasureFailed(exception);
        }
    }

    /// <summary>Parked Services follow the waker's pods as they come and go (re-parked by the Park function); a failure waits for the next cycle.</summary>
    private async Task ReconcileParkedAsync(CancellationToken cancellationToken)
    {
        if (parking is null)
        {
            return;
        }

        try
        {
            var requested = await parking.ReconcileAsync(cancellationToken).ConfigureAwait(false);
            if (requested > 0)
            {
                LogParkedReconciled(requested);
            }
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            LogReconcileFailed(exception);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Asked to park {Count} workload(s) again: their EndpointSlices no longer point at the waker's ready endpoints")]
    private partial void LogParkedReconciled(int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The parked EndpointSlices could not be reconciled with the waker's endpoints this cycle")]
    private partial void LogReconcileFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The teardown breaker could not measure this cycle")]
    private partial void LogMeasureFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Source} opt-in {Namespace}/{Name} is not monitored: {Problem}")]
    private partial void LogProblem(OptInSource source, string @namespace, string name, string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "Discovery found {Workloads} workloads, queued {Checks} workload checks in {Messages} stats-check messages, {Problems} problems, in {Elapsed}")]
    private partial void LogCycle(int workloads, int checks, int messages, int problems, TimeSpan elapsed);
}
