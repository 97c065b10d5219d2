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

        var selection = await discovery.SelectAsync(cancellationToken).ConfigureAwait(false);
        var problems = selection.Problems.ToList();
        var workloads = new List<MonitoredWorkload>(selection.Count);
        var (checksQueued, messagesQueued) = (0, 0);

        // A namespace's checks leave as soon as its pods are listed, and run while the next namespace is listed: one
        // namespace's sends in flight at a time. A list that fails later leaves the namespaces before it queued; their
        // checks read every pod afresh, so they are as sound as in a whole cycle.
        // The breaker's measure of the fleet is written before the first check is queued (as the pods are listed), so
        // that a mass flip it sees stops the teardowns those checks would ask for.
        var measuring = MeasureForBreakerAsync(selection.Deployments, cancellationToken);
        var sending = Task.CompletedTask;
        try
        {
            await foreach (var namespaceWorkloads in discovery.WithPodsAsync(selection, cancellationToken).ConfigureAwait(false))
            {
                workloads.AddRange(namespaceWorkloads);
                var checks = planner.Plan(new DiscoveryResult(namespaceWorkloads, []), now, period, problems);
                await measuring.ConfigureAwait(false);
                await sending.ConfigureAwait(false);
                sending = queue.EnqueueStatsChecksAsync(checks, cancellationToken);
                checksQueued += checks.Sum(check => check.Message.Workloads.Count);
                messagesQueued += checks.Count;
            }
        }
        catch
        {
            await measuring.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await sending.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            throw;
        }

        await measuring.ConfigureAwait(false);
        await sending.ConfigureAwait(false);
        foreach (var problem in problems)
        {
            LogProblem(problem.Source, problem.Namespace, problem.Name, problem.Message);
        }

        await ReconcileParkedAsync(cancellationToken).ConfigureAwait(false);
        LogCycle(workloads.Count, checksQueued, messagesQueued, problems.Count, time.GetUtcNow() - now);
        metrics?.CycleCompleted(time.GetUtcNow() - now, workloads.Count);
        return new CycleSummary(workloads.Count, messagesQueued, problems.Count);
    }

    /// <summary>
    /// A failed measure only widens the next one's window (it compares with the last measure that was written), so the
    /// checks of this cycle are still queued.
    /// </summary>
    private async Task MeasureForBreakerAsync(IReadOnlyList<OptedIn> workloads, CancellationToken cancellationToken)
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
