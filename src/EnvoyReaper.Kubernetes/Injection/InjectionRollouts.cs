using EnvoyReaper.Injection;
using EnvoyReaper.Messaging;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Kubernetes.Injection;

/// <param name="Rollout">The operation that waits for the rollout (null: nothing waits, the result is final).</param>
public sealed record RolloutStart(InjectionResult Result, RolloutRecord? Rollout);

/// <summary>Several Deployments injected together: each one's start, in the order asked, or the failure that stopped them.</summary>
/// <param name="Started">The Deployments injected (all of them, or those before <paramref name="Failure"/>).</param>
public sealed record GroupStart(IReadOnlyList<(string Deployment, RolloutStart Start)> Started, InjectionResult? Failure);

/// <summary>
/// The two-phase injection: the request writes the ConfigMap and Deployment and records the operation; checks queued on
/// "inject-rollout" with a visibility delay look at the rollout until it is complete (then make the deferred change),
/// failed or past its deadline (then leave it undone and say why). A Service is never pointed at a port that not every
/// ready pod serves.
/// </summary>
/// <remarks>
/// Each check is queued before the record that names it as the next one is written (with its ETag): a check that is not
/// the next one named (a duplicate delivery, a retry of a check already recorded, a superseded operation) does nothing,
/// and a failure between the two leaves the current check in place to be retried by the trigger.
/// </remarks>
public sealed partial class InjectionRollouts(
    SidecarInjector injector,
    IRolloutStore store,
    IRolloutQueue queue,
    IOptions<RolloutOptions> options,
    TimeProvider time,
    ILogger<InjectionRollouts> logger)
{
    public async Task<RolloutStart> InjectAsync(ValidInjection request, bool dryRun, CancellationToken cancellationToken, IReadOnlyCollection<string>? injectedTogether = null)
    {
        var result = await injector.InjectAsync(request, dryRun, cancellationToken, injectedTogether).ConfigureAwait(false);
        return await StartAsync(RolloutOperation.Inject, request.Namespace, request.Deployment, request, result, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Injects several Deployments of one namespace together, so that a Service they share is pointed at Envoy: every one
    /// is planned first (one refused, none is written), then each is written and gets its own operation. Each one's
    /// finish waits for the rollouts of every Deployment behind the Services it retargets.
    /// </summary>
    public async Task<GroupStart> InjectTogetherAsync(ValidInjection request, IReadOnlyList<string> deployments, bool dryRun, CancellationToken cancellationToken)
    {
        foreach (var name in deployments)
        {
            var planned = await injector.PlanInjectionAsync(request with { Deployment = name }, deployments, cancellationToken).ConfigureAwait(false);
            if (planned.Status != InjectionStatus.Done)
            {
                return new GroupStart([], planned with { Detail = $"Deployment {name}: {planned.Detail}; nothing was changed" });
            }
        }

        var started = new List<(string, RolloutStart)>();
        foreach (var name in deployments)
        {
            var start = await InjectAsync(request with { Deployment = name }, dryRun, cancellationToken, deployments).ConfigureAwait(false);
            if (start.Result.Status != InjectionStatus.Done)
            {
                var written = started.Count == 0
                    ? "nothing was changed"
                    : $"{string.Join(", ", started.Select(item => item.Item1))} {(started.Count > 1 ? "were" : "was")} injected already, their Service change waits for {name} (send the same request again)";
                return new GroupStart(started, start.Result with { Detail = $"Deployment {name}: {start.Result.Detail}; {written}" });
            }

            started.Add((name, start));
        }

        return new GroupStart(started, null);
    }

    public async Task<RolloutStart> RemoveAsync(string @namespace, string deployment, bool dryRun, CancellationToken cancellationToken)
    {
        var result = await injector.RemoveAsync(@namespace, deployment, dryRun, cancellationToken).ConfigureAwait(false);
        return await StartAsync(RolloutOperation.Remove, @namespace, deployment, null, result, cancellationToken).ConfigureAwait(false);
    }

    public async Task<RolloutRecord?> GetAsync(string @namespace, string deployment, CancellationToken cancellationToken) =>
        (await store.GetAsync(@namespace, deployment, cancellationToken).ConfigureAwait(false))?.Record;

    /// <summary>The record, and why it is stalled if no check has run long past its due time.</summary>
    public async Task<(RolloutRecord Record, string? Stalled)?> GetStatusAsync(string @namespace, string deployment, CancellationToken cancellationToken) =>
        await GetAsync(@namespace, deployment, cancellationToken).ConfigureAwait(false) is { } record
            ? (record, options.Value.StalledReason(record, time.GetUtcNow()))
            : null;

    private async Task<RolloutStart> StartAsync(
        RolloutOperation operation, string @namespace, string deployment, ValidInjection? request, InjectionResult result, CancellationToken cancellationToken)
    {
        if (result.Status != InjectionStatus.Done || result.Deferred.Count == 0)
        {
            return new RolloutStart(result, null);
        }

        var hash = result.Hash ?? string.Empty;
        var existing = await store.GetAsync(@namespace, deployment, cancellationToken).ConfigureAwait(false);
        if (existing?.Record is { Phase: RolloutPhase.RollingOut } running && running.Operation == operation && running.Hash == hash && running.Request == request
            && options.Value.StalledReason(running, time.GetUtcNow()) is null)
        {
            LogAlreadyRollingOut(@namespace, deployment, running.OperationId);
            return new RolloutStart(result, running);
        }

        var now = time.GetUtcNow();
        var record = new RolloutRecord(
            Guid.NewGuid().ToString("N"),
            operation,
            @namespace,
            deployment,
            hash,
            RolloutPhase.RollingOut,
            "waiting for the rollout",
            result.Changes,
            result.Deferred,
            now,
            now,
            now + options.Value.Timeout,
            0,
            Guid.NewGuid().ToString("N"),
            request);
        await EnqueueAsync(record, cancellationToken).ConfigureAwait(false);
        if (await store.TryWriteAsync(record, existing?.ETag, cancellationToken).ConfigureAwait(false) is null)
        {
            // A concurrent request recorded its operation first: that one is the operation now, and its check will act.
            var winner = await store.GetAsync(@namespace, deployment, cancellationToken).ConfigureAwait(false);
            return new RolloutStart(result, winner?.Record ?? record);
        }

        LogStarted(@namespace, deployment, record.OperationId, operation.ToString(), string.Join("; ", record.Pending));
        return new RolloutStart(result, record);
    }

    /// <summary>One check of the rollout, from a message on "inject-rollout".</summary>
    public async Task ProcessAsync(RolloutCheckMessage message, CancellationToken cancellationToken)
    {
        var stored = await store.GetAsync(message.Namespace, message.Deployment, cancellationToken).ConfigureAwait(false);
        if (stored is null || stored.Record.OperationId != message.OperationId || stored.Record.Phase != RolloutPhase.RollingOut || stored.Record.NextCheckId != message.Id)
        {
            LogIgnored(message.Namespace, message.Deployment, message.Id, message.OperationId, stored?.Record.OperationId, stored?.Record.Phase.ToString());
            return;
        }

        var record = stored.Record;
        var result = record.Operation == RolloutOperation.Inject
            ? await injector.FinishInjectionAsync(record.Request!, record.Hash, token => IsCurrentAsync(record, token), cancellationToken).ConfigureAwait(false)
            : await injector.FinishRemovalAsync(record.Namespace, record.Deployment, cancellationToken).ConfigureAwait(false);
        var now = time.GetUtcNow();
        var untouched = record.Operation == RolloutOperation.Inject ? "the Service was not changed" : "the ConfigMap was kept";
        var next = result switch
        {
            { Status: InjectionStatus.Done, Rollout.State: RolloutState.Complete } => record with
            {
                Phase = RolloutPhase.Done,
                Detail = result.Changes.Count > 0 ? $"{result.Rollout.Detail}; done: {string.Join("; ", result.Changes)}" : $"{result.Rollout.Detail}; nothing left to change",
            },
            { Status: InjectionStatus.Done, Rollout.State: RolloutState.Failed } => record with { Phase = RolloutPhase.Failed, Detail = $"{result.Rollout.Detail}; {untouched}" },
            { Status: InjectionStatus.Done or InjectionStatus.ApiServerFailed or InjectionStatus.Conflict } => Pending(record, result, now, untouched),
            _ => record with { Phase = RolloutPhase.Failed, Detail = result.Detail ?? "the rollout could not be finished" },
        };
        next = next with { UpdatedAt = now, Checks = record.Checks + 1 };
        if (next.Phase == RolloutPhase.RollingOut)
        {
            next = next with { NextCheckId = Guid.NewGuid().ToString("N") };
            await EnqueueAsync(next, cancellationToken).ConfigureAwait(false);
        }

        if (await store.TryWriteAsync(next, stored.ETag, cancellationToken).ConfigureAwait(false) is null)
        {
            LogRecordChanged(record.Namespace, record.Deployment, record.OperationId);
            return;
        }

        LogChecked(record.Namespace, record.Deployment, record.OperationId, next.Checks, next.Phase.ToString(), next.Detail);
    }

    /// <summary>Whether the record still names this operation, rolling out: a newer one (a removal) supersedes it.</summary>
    private async Task<bool> IsCurrentAsync(RolloutRecord record, CancellationToken cancellationToken) =>
        await store.GetAsync(record.Namespace, record.Deployment, cancellationToken).ConfigureAwait(false) is { Record: { Phase: RolloutPhase.RollingOut } current }
        && current.OperationId == record.OperationId;

    /// <summary>Not complete yet: check again after the interval, unless the deadline (or the bound on checks) is reached.</summary>
    private RolloutRecord Pending(RolloutRecord record, InjectionResult result, DateTimeOffset now, string untouched)
    {
        var interval = options.Value.CheckInterval;
        var deadline = result.Rollout is { } rollout && record.RequestedAt + rollout.ProgressDeadline + interval > record.Deadline
            ? record.RequestedAt + rollout.ProgressDeadline + interval
            : record.Deadline;
        var detail = result.Rollout?.Detail ?? result.Detail ?? "the rollout could not be read";
        var maxChecks = (int)Math.Ceiling((deadline - record.RequestedAt) / interval) + 1;
        return now >= deadline || record.Checks + 1 >= maxChecks
            ? record with
            {
                Phase = RolloutPhase.Failed,
                Deadline = deadline,
                Detail = $"the rollout did not complete by {deadline:u} (last seen: {detail}); {untouched}; send the same request again to resume once it is fixed",
            }
            : record with { Deadline = deadline, Detail = detail };
    }

    private Task EnqueueAsync(RolloutRecord record, CancellationToken cancellationToken)
    {
        var interval = options.Value.CheckInterval;
        var timeToLive = record.Deadline - time.GetUtcNow() + interval + TimeSpan.FromHours(1);
        return queue.EnqueueAsync(
            new RolloutCheckMessage(RolloutCheckMessage.CurrentVersion, record.NextCheckId, record.OperationId, record.Namespace, record.Deployment),
            interval,
            timeToLive,
            cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Injection rollout {OperationId} ({Operation}) on {Namespace}/{Name} started; waiting for the rollout: {Pending}")]
    private partial void LogStarted(string @namespace, string name, string operationId, string operation, string pending);

    [LoggerMessage(Level = LogLevel.Information, Message = "Injection rollout {OperationId} on {Namespace}/{Name} is already rolling out the same change; nothing queued")]
    private partial void LogAlreadyRollingOut(string @namespace, string name, string operationId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Rollout check {MessageId} of operation {OperationId} on {Namespace}/{Name} ignored: the record names operation {Current} in phase {Phase} and another next check")]
    private partial void LogIgnored(string @namespace, string name, string messageId, string operationId, string? current, string? phase);

    [LoggerMessage(Level = LogLevel.Information, Message = "Injection rollout {OperationId} on {Namespace}/{Name}, check {Checks}: {Phase}: {Detail}")]
    private partial void LogChecked(string @namespace, string name, string operationId, int checks, string phase, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Injection rollout {OperationId} on {Namespace}/{Name}: the record changed during the check; the newer one stands")]
    private partial void LogRecordChanged(string @namespace, string name, string operationId);
}
