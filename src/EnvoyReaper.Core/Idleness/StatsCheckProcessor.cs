using EnvoyReaper.Cluster;
using EnvoyReaper.Messaging;
using EnvoyReaper.Workloads;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Idleness;

public enum CheckOutcome
{
    Evaluated,
    Stale,
    LostRace,

    /// <summary>The stored state came from a sample taken after this one (a duplicate or overlapping check): it stands.</summary>
    Superseded,
}

public sealed record CheckResult(CheckOutcome Outcome, Evaluation? Evaluation);

/// <summary>One stats check: read every pod, decide, remember, and ask for a teardown when the idle timeout is reached.</summary>
public sealed partial class StatsCheckProcessor(
    PodStatsCollector collector,
    IdlePolicy policy,
    IWorkloadStateStore stateStore,
    WorkloadStateCache stateCache,
    IWorkQueue queue,
    IEventRecorder events,
    IWorkloadStatusWriter status,
    TimeProvider time,
    IOptions<ReaperOptions> options,
    ILogger<StatsCheckProcessor> logger,
    ReaperMetrics? metrics = null)
{
    private const int MaxStateWriteAttempts = 5;

    /// <summary>How far in the future a message may claim to be due before it is distrusted.</summary>
    public static readonly TimeSpan MaxClockSkew = TimeSpan.FromMinutes(2);

    public async Task<CheckResult> ProcessAsync(StatsCheckMessage message, string messageId, CancellationToken cancellationToken)
    {
        var age = time.GetUtcNow() - message.DueAt;
        if (age > options.Value.MessageMaxAge || age < -MaxClockSkew)
        {
            LogStale(messageId, message.Namespace, message.Deployment, age);
            return new CheckResult(CheckOutcome.Stale, null);
        }

        IReadOnlyList<PodReading> readings = message.Settings is { } settings
            ? await collector.ReadAsync(message.Pods, settings, cancellationToken).ConfigureAwait(false)
            : [];
        var input = new CheckInput(message.DeploymentUid, message.DeploymentCreatedAt, message.Settings, message.ConfigurationErrors, readings, message.NotReadyPods);

        // The time of the sample, not of the decision: server.uptime was read now, and a slow state read must not make
        // an Envoy look restarted (now - uptime moving later) or make an old sample look newer than the stored one.
        var sampledAt = time.GetUtcNow();

        for (var attempt = 1; attempt <= MaxStateWriteAttempts; attempt++)
        {
            var stored = attempt == 1 && stateCache.TryGet(message.Namespace, message.Deployment, out var cached)
                ? cached
                : await ReadStateAsync(message, cancellationToken).ConfigureAwait(false);
            if (stored?.State is { } newer && policy.IsOlderSample(input, newer, sampledAt))
            {
                // Another check stored counters read after ours (a duplicate or overlapping message): compared with them
                // ours would read as a reset, and writing ours would move the baseline back. Whatever ours saw is not
                // lost: the stored counters include it.
                LogSuperseded(messageId, message.Namespace, message.Deployment);
                return new CheckResult(CheckOutcome.Superseded, null);
            }

            var now = sampledAt;
            var evaluation = policy.Evaluate(input, stored?.State, now);
            if (evaluation.StateChanged
                && await WriteStateAsync(message, evaluation.State, stored?.ETag, cancellationToken).ConfigureAwait(false) is null)
            {
                // Another instance checked the same workload, or the copy was out of date: decide again on a fresh read,
                // and report only the decision that stands.
                continue;
            }

            // A verdict per workload per minute at Information would be most of the app's log volume (and its bill).
            if (evaluation.StateChanged)
            {
                LogVerdict(messageId, message.Namespace, message.Deployment, evaluation.Verdict, evaluation.ActiveConnections, evaluation.Reason);
            }
            else
            {
                LogVerdictUnchanged(messageId, message.Namespace, message.Deployment, evaluation.Verdict, evaluation.ActiveConnections, evaluation.Reason);
            }

            metrics?.CheckEvaluated(evaluation.Verdict.ToString());
            await ScheduleCheckAtTimeoutAsync(message, evaluation, now, cancellationToken).ConfigureAwait(false);
            if (!evaluation.StateChanged)
            {
                return new CheckResult(CheckOutcome.Evaluated, evaluation);
            }

            await AnnounceAsync(message, evaluation, cancellationToken).ConfigureAwait(false);
            // First sight is Unknown by rule (no baseline yet): not worth a write per workload on the first cycle.
            var firstSight = evaluation.PreviousVerdict is null && evaluation.Verdict == Verdict.Unknown && message.Settings is not null;
            if ((evaluation.VerdictChanged && !firstSight) || evaluation.TeardownDue)
            {
                await WriteStatusAsync(message, evaluation, now, cancellationToken).ConfigureAwait(false);
            }

            if (evaluation.TeardownDue)
            {
                await RequestTeardownAsync(message, evaluation, now, cancellationToken).ConfigureAwait(false);
            }

            return new CheckResult(CheckOutcome.Evaluated, evaluation);
        }

        LogLostRace(messageId, message.Namespace, message.Deployment);
        return new CheckResult(CheckOutcome.LostRace, null);
    }

    /// <summary>
    /// A workload whose idle timeout ends before its next regular check gets one more check at that moment, so that it
    /// is torn down at idle-since + timeout, not up to a check interval later. It is an ordinary check: it reads every
    /// pod again and decides on its own.
    /// </summary>
    private async Task ScheduleCheckAtTimeoutAsync(StatsCheckMessage message, Evaluation evaluation, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (evaluation is not { Verdict: Verdict.Idle, TeardownDue: false, State.IdleSince: { } idleSince } || message.Settings is not { } settings)
        {
            return;
        }

        // Due when the regular check would be: at the timeout, but not inside the startup grace.
        var dueAt = Max(idleSince + settings.IdleTimeout, message.DeploymentCreatedAt + options.Value.StartupGrace);
        var wait = dueAt - now;

        // Within the next timer period only: the copy carries this message's pods and settings, which must not outlive
        // the next discovery by much (a long per-workload check interval would otherwise send hours-old pod lists).
        var interval = settings.CheckInterval is { } own && own < options.Value.TimerPeriod ? own : options.Value.TimerPeriod;
        if (wait <= TimeSpan.Zero || wait >= interval)
        {
            return;
        }

        // A little after the timeout, so that the check cannot land just short of it and ask for yet another.
        var delay = wait + TimeoutCheckMargin;
        var check = message with { Id = Guid.NewGuid().ToString("n"), DueAt = now + delay };
        try
        {
            await queue.EnqueueStatsChecksAsync([new ScheduledCheck(check, delay, delay + options.Value.MessageMaxAge)], cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            // The regular check after the timeout still comes: only the extra precision is lost.
            LogTimeoutCheckFailed(exception, message.Namespace, message.Deployment);
        }
    }

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    /// <summary>How long after the idle timeout the extra check is due.</summary>
    public static readonly TimeSpan TimeoutCheckMargin = TimeSpan.FromSeconds(2);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not queue the check at the idle timeout of {Namespace}/{Name}")]
    private partial void LogTimeoutCheckFailed(Exception exception, string @namespace, string name);

    private async Task<StoredState?> ReadStateAsync(StatsCheckMessage message, CancellationToken cancellationToken)
    {
        var stored = await stateStore.GetAsync(message.Namespace, message.Deployment, cancellationToken).ConfigureAwait(false);
        if (stored is null)
        {
            stateCache.Forget(message.Namespace, message.Deployment);
        }
        else
        {
            stateCache.Set(message.Namespace, message.Deployment, stored);
        }

        return stored;
    }

    private async Task<string?> WriteStateAsync(StatsCheckMessage message, WorkloadState state, string? expectedETag, CancellationToken cancellationToken)
    {
        string? etag = null;
        try
        {
            etag = await stateStore.TryWriteAsync(message.Namespace, message.Deployment, state, expectedETag, cancellationToken).ConfigureAwait(false);
            return etag;
        }
        finally
        {
            if (string.IsNullOrEmpty(etag))
            {
                stateCache.Forget(message.Namespace, message.Deployment);
            }
            else
            {
                stateCache.Set(message.Namespace, message.Deployment, new StoredState(state, etag));
            }
        }
    }

    private async Task RequestTeardownAsync(StatsCheckMessage message, Evaluation evaluation, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var teardown = new TeardownMessage(
            TeardownMessage.CurrentVersion,
            Guid.NewGuid().ToString("n"),
            now,
            message.Namespace,
            message.Deployment,
            message.DeploymentUid,
            message.Source,
            message.Monitor,
            message.Settings!,
            evaluation.State.IdleSince!.Value,
            message.MonitorNamespace);
        await queue.EnqueueTeardownAsync(teardown, options.Value.MessageMaxAge, cancellationToken).ConfigureAwait(false);
        LogTeardownRequested(message.Namespace, message.Deployment, teardown.Id, evaluation.State.IdleSince.Value);
        await RecordAsync(message, "TeardownRequested",
            $"Idle since {evaluation.State.IdleSince.Value:u} (timeout {GoDuration.Format(message.Settings!.IdleTimeout)}): {message.Settings.Action.ToContractName()} requested",
            warning: false, cancellationToken).ConfigureAwait(false);
    }

    private Task AnnounceAsync(StatsCheckMessage message, Evaluation evaluation, CancellationToken cancellationToken)
    {
        if (!evaluation.VerdictChanged)
        {
            return Task.CompletedTask;
        }

        return evaluation.Verdict switch
        {
            Verdict.Idle => RecordAsync(message, "IdleDetected", evaluation.Reason, warning: false, cancellationToken),
            Verdict.Active when evaluation.PreviousVerdict == Verdict.Idle =>
                RecordAsync(message, "ActivityResumed", evaluation.Reason, warning: false, cancellationToken),
            Verdict.Unknown when message.Settings is null =>
                RecordAsync(message, "InvalidConfiguration", evaluation.Reason, warning: true, cancellationToken),
            Verdict.Unknown when evaluation.PreviousVerdict is not null =>
                RecordAsync(message, "StatsUnreadable", evaluation.Reason, warning: true, cancellationToken),
            _ => Task.CompletedTask,
        };
    }

    private async Task WriteStatusAsync(StatsCheckMessage message, Evaluation evaluation, DateTimeOffset now, CancellationToken cancellationToken)
    {
        try
        {
            await status.WriteAsync(
                message.Namespace,
                message.Deployment,
                message.MonitorNamespace,
                message.Source == OptInSource.Monitor ? message.Monitor : null,
                new WorkloadStatus(evaluation.Verdict.ToString(), evaluation.ActiveConnections, evaluation.State.IdleSince, now, evaluation.State.TeardownCompletedAt,
                    evaluation.TeardownDue ? $"teardown requested: {evaluation.Reason}" : evaluation.Reason),
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            LogStatusFailed(exception, message.Namespace, message.Deployment);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not write the status of {Namespace}/{Name}")]
    private partial void LogStatusFailed(Exception exception, string @namespace, string name);

    private async Task RecordAsync(StatsCheckMessage message, string reason, string text, bool warning, CancellationToken cancellationToken)
    {
        try
        {
            await events.RecordAsync(
                new ClusterEvent(ResourceKind.Deployment, message.Namespace, message.Deployment, message.DeploymentUid, reason, text, warning),
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            // An Event is a courtesy to the user; failing to write one must not undo a decision already stored.
            LogEventFailed(exception, reason, message.Namespace, message.Deployment);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Stats check {MessageId} for {Namespace}/{Name} skipped: it is {Age} old")]
    private partial void LogStale(string messageId, string @namespace, string name, TimeSpan age);

    [LoggerMessage(Level = LogLevel.Information, Message = "Stats check {MessageId}: {Namespace}/{Name} is {Verdict} ({ActiveConnections} active): {Reason}")]
    private partial void LogVerdict(string messageId, string @namespace, string name, Verdict verdict, long? activeConnections, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Stats check {MessageId}: {Namespace}/{Name} is still {Verdict} ({ActiveConnections} active): {Reason}")]
    private partial void LogVerdictUnchanged(string messageId, string @namespace, string name, Verdict verdict, long? activeConnections, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Stats check {MessageId} for {Namespace}/{Name} dropped its sample: the stored counters were read after it")]
    private partial void LogSuperseded(string messageId, string @namespace, string name);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Stats check {MessageId} for {Namespace}/{Name} gave up: the state kept changing under it")]
    private partial void LogLostRace(string messageId, string @namespace, string name);

    [LoggerMessage(Level = LogLevel.Information, Message = "Teardown {TeardownId} requested for {Namespace}/{Name}, idle since {IdleSince}")]
    private partial void LogTeardownRequested(string @namespace, string name, string teardownId, DateTimeOffset idleSince);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not record the {Reason} event on {Namespace}/{Name}")]
    private partial void LogEventFailed(Exception exception, string reason, string @namespace, string name);
}
