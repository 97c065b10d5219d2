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

    /// <summary>The check of this workload failed (logged with its name): Unknown this time, nothing decided.</summary>
    Failed,
}

public sealed record CheckResult(CheckOutcome Outcome, Evaluation? Evaluation);

/// <summary>
/// One stats check of a batch of workloads: read every pod, decide, remember, and ask for a teardown (one message per
/// workload) when the idle timeout is reached.
/// </summary>
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

    /// <summary>
    /// Checks every workload of the batch concurrently (pod reads stay within the process-wide bound), writes the states
    /// that changed together, and isolates the workloads: one that fails is logged and Unknown for this check, the others
    /// complete. The results are in the order of the message's workloads.
    /// </summary>
    public async Task<IReadOnlyList<CheckResult>> ProcessAsync(StatsCheckBatchMessage message, string messageId, CancellationToken cancellationToken)
    {
        var age = time.GetUtcNow() - message.DueAt;
        if (age > options.Value.MessageMaxAge || age < -MaxClockSkew)
        {
            foreach (var workload in message.Workloads)
            {
                LogStale(messageId, message.Namespace, workload.Deployment, age);
            }

            return message.Workloads.Select(_ => new CheckResult(CheckOutcome.Stale, null)).ToList();
        }

        var checks = message.Workloads.Select(workload => new WorkloadRun(message, workload, messageId)).ToList();
        await Task.WhenAll(checks.Select(check => IsolatedAsync(check, () => SampleAsync(check, cancellationToken)))).ConfigureAwait(false);
        await ReadStatesAsync(message, checks, cancellationToken).ConfigureAwait(false);
        await Task.WhenAll(checks.Select(check => IsolatedAsync(check, () => DecideAsync(check, cancellationToken)))).ConfigureAwait(false);
        await WriteChangedStatesAsync(message, checks.Where(check => check.Pending is not null).ToList(), cancellationToken).ConfigureAwait(false);
        await Task.WhenAll(checks.Select(check => IsolatedAsync(check, () => FinishAsync(check, cancellationToken)))).ConfigureAwait(false);
        await ScheduleChecksAtTimeoutAsync(message, checks, cancellationToken).ConfigureAwait(false);
        return checks.Select(check => check.Result ?? new CheckResult(CheckOutcome.Failed, null)).ToList();
    }

    private async Task IsolatedAsync(WorkloadRun check, Func<Task> step)
    {
        if (check.Result is not null)
        {
            return;
        }

        try
        {
            await step().ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            check.Pending = null;
            check.Result = new CheckResult(CheckOutcome.Failed, null);
            metrics?.CheckEvaluated(nameof(Verdict.Unknown));
            LogWorkloadFailed(exception, check.MessageId, check.Namespace, check.Workload.Deployment, exception.Message);
        }
    }

    /// <summary>Reads the workload's pods.</summary>
    private async Task SampleAsync(WorkloadRun check, CancellationToken cancellationToken)
    {
        var workload = check.Workload;
        IReadOnlyList<PodReading> readings = workload.Settings is { } settings
            ? await ReadPodsAsync(check, settings, cancellationToken).ConfigureAwait(false)
            : [];
        check.Input = new CheckInput(workload.DeploymentUid, workload.DeploymentCreatedAt, workload.Settings, workload.ConfigurationErrors, readings, workload.NotReadyPods);

        // The time of the sample, not of the decision: server.uptime was read now, and a slow state read must not make
        // an Envoy look restarted (now - uptime moving later) or make an old sample look newer than the stored one.
        check.SampledAt = time.GetUtcNow();
    }

    /// <summary>
    /// The states of the batch's workloads: this instance's copy where it has one, and the others read together (one
    /// query of the namespace's partition). A workload whose state that query did not bring reads it on its own.
    /// </summary>
    private async Task ReadStatesAsync(StatsCheckBatchMessage message, IReadOnlyList<WorkloadRun> checks, CancellationToken cancellationToken)
    {
        var uncached = new List<WorkloadRun>();
        foreach (var check in checks.Where(check => check.Result is null))
        {
            if (stateCache.TryGet(check.Namespace, check.Workload.Deployment, out var cached))
            {
                check.Stored = cached;
                check.StateRead = true;
            }
            else
            {
                uncached.Add(check);
            }
        }

        if (uncached.Count < 2)
        {
            return;
        }

        IReadOnlyDictionary<string, StoredState> states;
        try
        {
            states = await stateStore.GetManyAsync(message.Namespace, uncached.Select(check => check.Workload.Deployment).ToList(), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            LogBatchReadFailed(exception, message.Namespace, uncached.Count);
            return;
        }

        foreach (var check in uncached)
        {
            check.StateRead = true;
            check.Stored = states.GetValueOrDefault(check.Workload.Deployment);
            if (check.Stored is null)
            {
                stateCache.Forget(check.Namespace, check.Workload.Deployment);
            }
            else
            {
                stateCache.Set(check.Namespace, check.Workload.Deployment, check.Stored);
            }
        }
    }

    /// <summary>Decides on the stored state, and leaves a changed state for the batch's write.</summary>
    private async Task DecideAsync(WorkloadRun check, CancellationToken cancellationToken)
    {
        var stored = check.StateRead ? check.Stored : await ReadStateAsync(check, cancellationToken).ConfigureAwait(false);
        if (Decide(check, stored) is { } evaluation)
        {
            check.Pending = evaluation.StateChanged ? new PendingWrite(evaluation, stored?.ETag) : null;
            check.Unchanged = evaluation.StateChanged ? null : evaluation;
        }
    }

    /// <summary>A read that throws (rather than reporting the pod unreadable) makes every pod of the workload unreadable.</summary>
    private async Task<IReadOnlyList<PodReading>> ReadPodsAsync(WorkloadRun check, WorkloadSettings settings, CancellationToken cancellationToken)
    {
        try
        {
            return await collector.ReadAsync(check.Workload.Pods, settings, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            LogWorkloadFailed(exception, check.MessageId, check.Namespace, check.Workload.Deployment, exception.Message);
            return check.Workload.Pods.Select(pod => PodReading.Unreadable(pod.Uid, pod.Name, $"the read failed: {exception.Message}")).ToList();
        }
    }

    /// <summary>The evaluation on <paramref name="stored"/>, or null (and the result Superseded) when ours is the older sample.</summary>
    private Evaluation? Decide(WorkloadRun check, StoredState? stored)
    {
        if (stored?.State is { } newer && policy.IsOlderSample(check.Input, newer, check.SampledAt))
        {
            // Another check stored counters read after ours (a duplicate or overlapping message): compared with them
            // ours would read as a reset, and writing ours would move the baseline back. Whatever ours saw is not
            // lost: the stored counters include it.
            LogSuperseded(check.MessageId, check.Namespace, check.Workload.Deployment);
            check.Result = new CheckResult(CheckOutcome.Superseded, null);
            return null;
        }

        return policy.Evaluate(check.Input, stored?.State, check.SampledAt);
    }

    /// <summary>
    /// The first writes of the batch's changed states, together (one Table transaction where the store can). A write
    /// refused, or lost with the whole call, is decided again on a fresh read by its own workload.
    /// </summary>
    private async Task WriteChangedStatesAsync(StatsCheckBatchMessage message, IReadOnlyList<WorkloadRun> changed, CancellationToken cancellationToken)
    {
        if (changed.Count == 0)
        {
            return;
        }

        if (changed.Count == 1)
        {
            await IsolatedAsync(changed[0], async () =>
                changed[0].WrittenETag = await WriteStateAsync(changed[0], changed[0].Pending!.Evaluation.State, changed[0].Pending!.ExpectedETag, cancellationToken).ConfigureAwait(false)).ConfigureAwait(false);
            return;
        }

        IReadOnlyList<string?> etags;
        try
        {
            etags = await stateStore.TryWriteManyAsync(
                message.Namespace,
                changed.Select(check => new StateWrite(check.Workload.Deployment, check.Pending!.Evaluation.State, check.Pending.ExpectedETag)).ToList(),
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            LogBatchWriteFailed(exception, message.Namespace, changed.Count);
            etags = new string?[changed.Count];
        }

        for (var i = 0; i < changed.Count; i++)
        {
            var check = changed[i];
            check.WrittenETag = etags[i];
            if (string.IsNullOrEmpty(etags[i]))
            {
                stateCache.Forget(check.Namespace, check.Workload.Deployment);
            }
            else
            {
                stateCache.Set(check.Namespace, check.Workload.Deployment, new StoredState(check.Pending!.Evaluation.State, etags[i]!));
            }
        }
    }

    private async Task FinishAsync(WorkloadRun check, CancellationToken cancellationToken)
    {
        if (check.Unchanged is { } unchanged)
        {
            await ConcludeAsync(check, unchanged, cancellationToken).ConfigureAwait(false);
            return;
        }

        if (check.Pending is { } pending && check.WrittenETag is not null)
        {
            await ConcludeAsync(check, pending.Evaluation, cancellationToken).ConfigureAwait(false);
            return;
        }

        // Another instance checked the same workload, or the copy was out of date: decide again on a fresh read, and
        // report only the decision that stands.
        for (var attempt = 2; attempt <= MaxStateWriteAttempts; attempt++)
        {
            var stored = await ReadStateAsync(check, cancellationToken).ConfigureAwait(false);
            if (Decide(check, stored) is not { } evaluation)
            {
                return;
            }

            if (evaluation.StateChanged
                && await WriteStateAsync(check, evaluation.State, stored?.ETag, cancellationToken).ConfigureAwait(false) is null)
            {
                continue;
            }

            await ConcludeAsync(check, evaluation, cancellationToken).ConfigureAwait(false);
            return;
        }

        LogLostRace(check.MessageId, check.Namespace, check.Workload.Deployment);
        check.Result = new CheckResult(CheckOutcome.LostRace, null);
    }

    /// <summary>What follows a decision that stands: the log line, and for a change its Event, status and teardown request.</summary>
    private async Task ConcludeAsync(WorkloadRun check, Evaluation evaluation, CancellationToken cancellationToken)
    {
        var workload = check.Workload;
        var now = check.SampledAt;

        // A verdict per workload per minute at Information would be most of the app's log volume (and its bill).
        if (evaluation.StateChanged)
        {
            LogVerdict(check.MessageId, check.Namespace, workload.Deployment, evaluation.Verdict, evaluation.ActiveConnections, evaluation.Reason);
        }
        else
        {
            LogVerdictUnchanged(check.MessageId, check.Namespace, workload.Deployment, evaluation.Verdict, evaluation.ActiveConnections, evaluation.Reason);
        }

        metrics?.CheckEvaluated(evaluation.Verdict.ToString());
        check.Result = new CheckResult(CheckOutcome.Evaluated, evaluation);
        check.CheckAtTimeout = CheckAtTimeout(check, evaluation, now);
        if (!evaluation.StateChanged)
        {
            return;
        }

        await AnnounceAsync(check, evaluation, cancellationToken).ConfigureAwait(false);
        // First sight is Unknown by rule (no baseline yet): not worth a write per workload on the first cycle.
        var firstSight = evaluation.PreviousVerdict is null && evaluation.Verdict == Verdict.Unknown && workload.Settings is not null;
        if ((evaluation.VerdictChanged && !firstSight) || evaluation.TeardownDue)
        {
            await WriteStatusAsync(check, evaluation, now, cancellationToken).ConfigureAwait(false);
        }

        if (evaluation.TeardownDue)
        {
            await RequestTeardownAsync(check, evaluation, now, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A workload whose idle timeout ends before its next regular check gets one more check at that moment, so that it
    /// is torn down at idle-since + timeout, not up to a check interval later. It is an ordinary check: it reads every
    /// pod again and decides on its own. Returns when it is due, or null when none is needed.
    /// </summary>
    private DateTimeOffset? CheckAtTimeout(WorkloadRun check, Evaluation evaluation, DateTimeOffset now)
    {
        if (evaluation is not { Verdict: Verdict.Idle, TeardownDue: false, State.IdleSince: { } idleSince } || check.Workload.Settings is not { } settings)
        {
            return null;
        }

        // Due when the regular check would be: at the timeout, but not inside the startup grace.
        var dueAt = Max(idleSince + settings.IdleTimeout, check.Workload.DeploymentCreatedAt + options.Value.StartupGrace);
        var wait = dueAt - now;

        // Within the next timer period only: the copy carries this message's pods and settings, which must not outlive
        // the next discovery by much (a long per-workload check interval would otherwise send hours-old pod lists).
        var interval = settings.CheckInterval is { } own && own < options.Value.TimerPeriod ? own : options.Value.TimerPeriod;
        if (wait <= TimeSpan.Zero || wait >= interval)
        {
            return null;
        }

        // A little after the timeout, so that the check cannot land just short of it and ask for yet another; on a whole
        // second, so that the workloads of a batch whose timeouts end within the same second share a message.
        var at = now + wait + TimeoutCheckMargin;
        return new DateTimeOffset(at.UtcTicks + (TimeSpan.TicksPerSecond - (at.UtcTicks % TimeSpan.TicksPerSecond)) % TimeSpan.TicksPerSecond, TimeSpan.Zero);
    }

    /// <summary>The extra checks at the idle timeout of the batch's workloads, as batches of those due at the same moment.</summary>
    private async Task ScheduleChecksAtTimeoutAsync(StatsCheckBatchMessage message, IReadOnlyList<WorkloadRun> checks, CancellationToken cancellationToken)
    {
        var due = checks.Where(check => check.CheckAtTimeout is not null).GroupBy(check => check.CheckAtTimeout!.Value).ToList();
        if (due.Count == 0)
        {
            return;
        }

        var now = time.GetUtcNow();
        var scheduled = new List<ScheduledCheck>();
        foreach (var group in due)
        {
            var delay = group.Key - now;
            if (delay < TimeSpan.Zero)
            {
                delay = TimeSpan.Zero;
            }

            foreach (var batch in StatsCheckPlanner.Batches(message.Namespace, group.Key, group.Select(check => check.Workload).ToList(), options.Value.StatsCheckBatchSize))
            {
                scheduled.Add(new ScheduledCheck(batch, delay, delay + options.Value.MessageMaxAge));
            }
        }

        try
        {
            await queue.EnqueueStatsChecksAsync(scheduled, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            // The regular check after the timeout still comes: only the extra precision is lost.
            foreach (var check in due.SelectMany(group => group))
            {
                LogTimeoutCheckFailed(exception, check.Namespace, check.Workload.Deployment);
            }
        }
    }

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    /// <summary>How long after the idle timeout the extra check is due.</summary>
    public static readonly TimeSpan TimeoutCheckMargin = TimeSpan.FromSeconds(2);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not queue the check at the idle timeout of {Namespace}/{Name}")]
    private partial void LogTimeoutCheckFailed(Exception exception, string @namespace, string name);

    private async Task<StoredState?> ReadStateAsync(WorkloadRun check, CancellationToken cancellationToken)
    {
        var stored = await stateStore.GetAsync(check.Namespace, check.Workload.Deployment, cancellationToken).ConfigureAwait(false);
        if (stored is null)
        {
            stateCache.Forget(check.Namespace, check.Workload.Deployment);
        }
        else
        {
            stateCache.Set(check.Namespace, check.Workload.Deployment, stored);
        }

        return stored;
    }

    private async Task<string?> WriteStateAsync(WorkloadRun check, WorkloadState state, string? expectedETag, CancellationToken cancellationToken)
    {
        string? etag = null;
        try
        {
            etag = await stateStore.TryWriteAsync(check.Namespace, check.Workload.Deployment, state, expectedETag, cancellationToken).ConfigureAwait(false);
            return etag;
        }
        finally
        {
            if (string.IsNullOrEmpty(etag))
            {
                stateCache.Forget(check.Namespace, check.Workload.Deployment);
            }
            else
            {
                stateCache.Set(check.Namespace, check.Workload.Deployment, new StoredState(state, etag));
            }
        }
    }

    private async Task RequestTeardownAsync(WorkloadRun check, Evaluation evaluation, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var workload = check.Workload;
        var teardown = new TeardownMessage(
            TeardownMessage.CurrentVersion,
            Guid.NewGuid().ToString("n"),
            now,
            check.Namespace,
            workload.Deployment,
            workload.DeploymentUid,
            workload.Source,
            workload.Monitor,
            workload.Settings!,
            evaluation.State.IdleSince!.Value,
            workload.MonitorNamespace);
        await queue.EnqueueTeardownAsync(teardown, options.Value.MessageMaxAge, cancellationToken).ConfigureAwait(false);
        LogTeardownRequested(check.Namespace, workload.Deployment, teardown.Id, evaluation.State.IdleSince.Value);
        await RecordAsync(check, "TeardownRequested",
            $"Idle since {evaluation.State.IdleSince.Value:u} (timeout {GoDuration.Format(workload.Settings!.IdleTimeout)}): {workload.Settings.Action.ToContractName()} requested",
            warning: false, cancellationToken).ConfigureAwait(false);
    }

    private Task AnnounceAsync(WorkloadRun check, Evaluation evaluation, CancellationToken cancellationToken)
    {
        if (!evaluation.VerdictChanged)
        {
            return Task.CompletedTask;
        }

        return evaluation.Verdict switch
        {
            Verdict.Idle => RecordAsync(check, "IdleDetected", evaluation.Reason, warning: false, cancellationToken),
            Verdict.Active when evaluation.PreviousVerdict == Verdict.Idle =>
                RecordAsync(check, "ActivityResumed", evaluation.Reason, warning: false, cancellationToken),
            Verdict.Unknown when check.Workload.Settings is null =>
                RecordAsync(check, "InvalidConfiguration", evaluation.Reason, warning: true, cancellationToken),
            Verdict.Unknown when evaluation.PreviousVerdict is not null =>
                RecordAsync(check, "StatsUnreadable", evaluation.Reason, warning: true, cancellationToken),
            _ => Task.CompletedTask,
        };
    }

    private async Task WriteStatusAsync(WorkloadRun check, Evaluation evaluation, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var workload = check.Workload;
        try
        {
            await status.WriteAsync(
                check.Namespace,
                workload.Deployment,
                workload.MonitorNamespace,
                workload.Source == OptInSource.Monitor ? workload.Monitor : null,
                new WorkloadStatus(evaluation.Verdict.ToString(), evaluation.ActiveConnections, evaluation.State.IdleSince, now, evaluation.State.TeardownCompletedAt,
                    evaluation.TeardownDue ? $"teardown requested: {evaluation.Reason}" : evaluation.Reason),
                cancellationToken).ConfigureAwait(false);
        }
        catch (ClusterWriteDroppedException)
        {
            LogStatusDropped(check.Namespace, workload.Deployment);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            LogStatusFailed(exception, check.Namespace, workload.Deployment);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "The status of {Namespace}/{Name} was not written this time: the API write budget dropped it")]
    private partial void LogStatusDropped(string @namespace, string name);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not write the status of {Namespace}/{Name}")]
    private partial void LogStatusFailed(Exception exception, string @namespace, string name);

    private async Task RecordAsync(WorkloadRun check, string reason, string text, bool warning, CancellationToken cancellationToken)
    {
        try
        {
            await events.RecordAsync(
                new ClusterEvent(ResourceKind.Deployment, check.Namespace, check.Workload.Deployment, check.Workload.DeploymentUid, reason, text, warning, MayLag: true),
                cancellationToken).ConfigureAwait(false);
        }
        catch (ClusterWriteDroppedException)
        {
            LogEventDropped(reason, check.Namespace, check.Workload.Deployment);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            // An Event is a courtesy to the user; failing to write one must not undo a decision already stored.
            LogEventFailed(exception, reason, check.Namespace, check.Workload.Deployment);
        }
    }

    /// <summary>One workload of a batch on its way through a check.</summary>
    private sealed class WorkloadRun(StatsCheckBatchMessage message, WorkloadCheck workload, string messageId)
    {
        public string Namespace => message.Namespace;

        public WorkloadCheck Workload => workload;

        public string MessageId => messageId;

        public CheckInput Input { get; set; } = null!;

        public DateTimeOffset SampledAt { get; set; }

        /// <summary>Whether <see cref="Stored"/> holds the state to decide on (null: none stored).</summary>
        public bool StateRead { get; set; }

        public StoredState? Stored { get; set; }

        /// <summary>A decision that changed the state, waiting for the batch's write.</summary>
        public PendingWrite? Pending { get; set; }

        /// <summary>A decision that changed nothing: nothing to write.</summary>
        public Evaluation? Unchanged { get; set; }

        public string? WrittenETag { get; set; }

        public DateTimeOffset? CheckAtTimeout { get; set; }

        public CheckResult? Result { get; set; }
    }

    private sealed record PendingWrite(Evaluation Evaluation, string? ExpectedETag);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Stats check {MessageId}: {Namespace}/{Name} could not be checked and is Unknown this time: {Error}")]
    private partial void LogWorkloadFailed(Exception exception, string messageId, string @namespace, string name, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The states of {Count} workloads in {Namespace} could not be read together; each is read on its own")]
    private partial void LogBatchReadFailed(Exception exception, string @namespace, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The states of {Count} workloads in {Namespace} could not be written together; each is decided again on its own")]
    private partial void LogBatchWriteFailed(Exception exception, string @namespace, int count);

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

    [LoggerMessage(Level = LogLevel.Debug, Message = "The {Reason} event on {Namespace}/{Name} was not recorded: the API write budget dropped it")]
    private partial void LogEventDropped(string reason, string @namespace, string name);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not record the {Reason} event on {Namespace}/{Name}")]
    private partial void LogEventFailed(Exception exception, string reason, string @namespace, string name);
}
