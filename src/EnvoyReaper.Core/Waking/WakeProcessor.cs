using System.Globalization;
using System.Text.Json.Nodes;
using EnvoyReaper.Cluster;
using EnvoyReaper.Idleness;
using EnvoyReaper.Teardown;
using EnvoyReaper.Workloads;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Waking;

public enum WakeOutcome
{
    /// <summary>The Service is not parked by EnvoyReaper (or no longer): nothing to wake.</summary>
    Ignored,

    /// <summary>A wake of this Service is under way: this request adds nothing.</summary>
    Duplicate,

    /// <summary>The Deployment is scaled back or restored; checks follow until it is available.</summary>
    Started,

    /// <summary>A check found the Deployment not available yet and queued the next one.</summary>
    Waiting,

    /// <summary>Available: the Service has its selector back.</summary>
    Woken,

    /// <summary>The restore was refused or the Deployment was not available in time: the Service stays parked.</summary>
    Failed,
}

public sealed record WakeResult(WakeOutcome Outcome, string Detail);

/// <summary>
/// The "wake" queue: a message from the waker starts a wake of a parked Service (once: the wake record deduplicates);
/// the wake's own checks arrive on the same queue with a visibility delay, each carrying the id the record names as the
/// next check, until the Deployment is available (then the Service is unparked) or the bound is reached (it stays parked).
/// </summary>
/// <remarks>
/// The message names only a Service. What is woken comes from that Service's parking annotations, and only when the
/// teardown snapshot they name holds this very Service (its uid): a forged message, or annotations written by hand on
/// another Service, wake nothing.
/// </remarks>
public sealed partial class WakeProcessor(
    IClusterWriter writer,
    WorkloadParking parking,
    WorkloadRestorer restorer,
    ISnapshotStore snapshots,
    IWakeStore store,
    IWakeQueue queue,
    IWorkloadStateStore states,
    IEventRecorder events,
    IWorkloadStatusWriter status,
    IOptions<WakerOptions> options,
    TimeProvider time,
    ILogger<WakeProcessor> logger,
    ReaperMetrics? metrics = null)
{
    public async Task<WakeResult> ProcessAsync(WakeMessage message, string messageId, CancellationToken cancellationToken)
    {
        var result = await DecideAndActAsync(message, cancellationToken).ConfigureAwait(false);
        LogResult(messageId, message.Namespace, message.Service, result.Outcome, result.Detail);
        metrics?.WakeHandled(result.Outcome.ToString());
        return result;
    }

    private async Task<WakeResult> DecideAndActAsync(WakeMessage message, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var stored = await store.GetAsync(message.Namespace, message.Service, cancellationToken).ConfigureAwait(false);
        if (stored?.Record is { Phase: WakePhase.Waking } running)
        {
            if (running.NextCheckId == message.Id)
            {
                return await CheckAsync(stored, cancellationToken).ConfigureAwait(false);
            }

            if (running.StartedBy == message.Id)
            {
                // The queue's retry of the message that started this wake: the restore may not have happened (it is safe to run again).
                var started = await snapshots.GetAsync(running.Snapshot, cancellationToken).ConfigureAwait(false);
                return await RestoreAsync(stored, message, started?.DeploymentUid, cancellationToken).ConfigureAwait(false);
            }

            // Past its deadline a wake whose checks were lost (a failed enqueue) no longer holds the Service.
            if (now < running.Deadline + options.Value.CheckInterval)
            {
                return new(WakeOutcome.Duplicate, $"wake {running.OperationId} is under way since {running.RequestedAt:u}");
            }
        }

        var service = await writer.GetObjectAsync(ResourceKind.Service, message.Namespace, message.Service, cancellationToken).ConfigureAwait(false);
        if (service is null || !WorkloadParking.IsParked(service))
        {
            return new(WakeOutcome.Ignored, service is null ? "the Service does not exist" : "the Service is not parked");
        }

        if (WorkloadParking.Read(service) is not { } parked)
        {
            return new(WakeOutcome.Ignored, "the Service's parking annotations are incomplete");
        }

        var snapshot = await snapshots.GetAsync(parked.Snapshot, cancellationToken).ConfigureAwait(false);
        if (snapshot is null || snapshot.Namespace != message.Namespace || snapshot.Deployment != parked.Deployment || snapshot.Action != parked.Action
            || !snapshot.Objects.Any(item => item["kind"]?.GetValue<string>() == "Service" && item["metadata"]?["uid"]?.GetValue<string>() == service.Uid))
        {
            return new(WakeOutcome.Ignored, $"not parked by EnvoyReaper: snapshot {parked.Snapshot} of Deployment {parked.Deployment} does not hold this Service");
        }

        if (await OptedOutAsync(message.Namespace, parked.Deployment, cancellationToken).ConfigureAwait(false) is { } optedOut)
        {
            // Not woken, and not left answering "waking up" forever: the Service goes back to what a teardown without wake leaves.
            await parking.UnparkAsync(message.Namespace, message.Service, cancellationToken).ConfigureAwait(false);
            var refused = $"Wake of Deployment {parked.Deployment} refused: {optedOut}; Service {message.Service} unparked without waking it";
            await RecordAsync(message.Namespace, parked.Deployment, null, "WakeRefused", refused, warning: true, cancellationToken).ConfigureAwait(false);
            return new(WakeOutcome.Ignored, refused);
        }

        // The first check is queued before the record that names it: if the record cannot be written (another wake won),
        // the check is not the one named and does nothing.
        var record = new WakeRecord(
            Guid.NewGuid().ToString("N"), message.Namespace, message.Service, parked.Deployment, parked.Action, parked.Snapshot, WakePhase.Waking,
            "restoring", message.FirstRequestAt, now, now, now + options.Value.ReadyTimeout, 0, Guid.NewGuid().ToString("N"), message.Id);
        await EnqueueCheckAsync(record, cancellationToken).ConfigureAwait(false);
        var etag = await store.TryWriteAsync(record, stored?.ETag, cancellationToken).ConfigureAwait(false);
        if (etag is null)
        {
            return new(WakeOutcome.Duplicate, "another wake of this Service started first");
        }

        return await RestoreAsync(new StoredWake(record, etag), message, snapshot.DeploymentUid, cancellationToken).ConfigureAwait(false);
    }

    private async Task<WakeResult> RestoreAsync(StoredWake stored, WakeMessage message, string? snapshotDeploymentUid, CancellationToken cancellationToken)
    {
        var record = stored.Record;
        var scaleToZero = record.Action == ReaperAction.ScaleToZero.ToContractName();
        await RecordAsync(record, scaleToZero ? snapshotDeploymentUid : null, "WakeRequested",
            $"Wake requested by traffic to Service {message.Service} (first request at {message.FirstRequestAt:u}): {(scaleToZero ? "scaling back" : "restoring")} from snapshot {record.Snapshot}",
            warning: false, cancellationToken).ConfigureAwait(false);

        var restore = await restorer.RestoreAsync(message.Namespace, record.Deployment, record.Snapshot, cancellationToken).ConfigureAwait(false);
        var detail = restore.Detail;
        if (restore.Status is not (RestoreStatus.Restored or RestoreStatus.ScaledBack))
        {
            if (await RunningAsync(record, cancellationToken).ConfigureAwait(false) is not { } running)
            {
                return await FailAsync(stored, $"the restore was refused: {restore.Detail}", cancellationToken).ConfigureAwait(false);
            }

            detail = $"Deployment {record.Deployment} runs already ({running}), nothing restored over it: its Service is unparked once it is available";
        }

        await WriteStatusAsync(record, $"Waking on traffic: {detail}", cancellationToken).ConfigureAwait(false);
        return new(WakeOutcome.Started, detail);
    }

    /// <summary>
    /// Why a Deployment that opted in by its label no longer does (its wake annotation was removed or turned off since the
    /// parking); null when it still does, or is gone (its snapshot's opt-in stands), or is opted in by an EnvoyMonitor.
    /// </summary>
    private async Task<string?> OptedOutAsync(string @namespace, string deployment, CancellationToken cancellationToken)
    {
        var current = await writer.GetObjectAsync(ResourceKind.Deployment, @namespace, deployment, cancellationToken).ConfigureAwait(false);
        var metadata = current?.Manifest["metadata"];
        if (metadata?["labels"]?[ReaperLabels.Enabled]?.GetValue<string>() != "true")
        {
            return null;
        }

        return metadata["annotations"]?[ParkingContract.WakeAnnotation]?.GetValue<string>()?.Trim() == "true"
            ? null
            : $"the Deployment no longer carries {ParkingContract.WakeAnnotation}: \"true\"";
    }

    /// <summary>
    /// A Deployment of that name that someone scaled up or recreated since the teardown: nothing is restored over it, but
    /// its Service must not stay parked away from it. Null when there is none with a replica asked for.
    /// </summary>
    private async Task<string?> RunningAsync(WakeRecord record, CancellationToken cancellationToken)
    {
        if (await writer.GetObjectAsync(ResourceKind.Deployment, record.Namespace, record.Deployment, cancellationToken).ConfigureAwait(false) is not { } current)
        {
            return null;
        }

        var replicas = current.Manifest["spec"]?["replicas"]?.GetValue<int>() ?? 1;
        return replicas > 0 ? $"UID {current.Uid}, {replicas} replica(s)" : null;
    }

    private async Task<WakeResult> CheckAsync(StoredWake stored, CancellationToken cancellationToken)
    {
        var record = stored.Record;
        var now = time.GetUtcNow();
        var deployment = await writer.GetObjectAsync(ResourceKind.Deployment, record.Namespace, record.Deployment, cancellationToken).ConfigureAwait(false);
        var (available, detail) = Availability(deployment);
        if (available)
        {
            await parking.UnparkAsync(record.Namespace, record.Service, cancellationToken).ConfigureAwait(false);

            // Before the record says Woken: a retry after a failure here finds the check still named and does it again.
            await RestartIdleStateAsync(record, deployment!, now, cancellationToken).ConfigureAwait(false);
            var tookFor = now - record.FirstRequestAt;
            var woken = $"Woken on traffic: Deployment {record.Deployment} available {tookFor.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture)} s after the first request ({record.FirstRequestAt:u}); Service {record.Service} unparked";
            if (await store.TryWriteAsync(record with { Phase = WakePhase.Woken, Detail = woken, UpdatedAt = now, Checks = record.Checks + 1 }, stored.ETag, cancellationToken).ConfigureAwait(false) is null)
            {
                return new(WakeOutcome.Duplicate, "the wake record changed during the check; the newer one stands");
            }

            metrics?.WakeCompleted(tookFor);
            await RecordAsync(record, deployment!.Uid, "Woken", woken, warning: false, cancellationToken).ConfigureAwait(false);
            await WriteStatusAsync(record, woken, cancellationToken).ConfigureAwait(false);
            return new(WakeOutcome.Woken, woken);
        }

        var interval = options.Value.CheckInterval;
        var maxChecks = (int)Math.Ceiling((record.Deadline - record.RequestedAt) / interval) + 1;
        if (now >= record.Deadline || record.Checks + 1 >= maxChecks)
        {
            return await FailAsync(stored, $"the Deployment was not available by {record.Deadline:u} (Waker:ReadyTimeout; last seen: {detail})", cancellationToken).ConfigureAwait(false);
        }

        var next = record with { Detail = detail, UpdatedAt = now, Checks = record.Checks + 1, NextCheckId = Guid.NewGuid().ToString("N") };
        await EnqueueCheckAsync(next, cancellationToken).ConfigureAwait(false);
        return await store.TryWriteAsync(next, stored.ETag, cancellationToken).ConfigureAwait(false) is null
            ? new(WakeOutcome.Duplicate, "the wake record changed during the check; the newer one stands")
            : new(WakeOutcome.Waiting, detail);
    }

    /// <summary>Available as the Deployment controller reports it for the current generation, with at least one replica.</summary>
    public static (bool Available, string Detail) Availability(ClusterObject? deployment)
    {
        if (deployment is null)
        {
            return (false, "the Deployment does not exist");
        }

        var manifest = deployment.Manifest;
        var replicas = manifest["spec"]?["replicas"]?.GetValue<int>() ?? 1;
        var generation = manifest["metadata"]?["generation"]?.GetValue<long>() ?? 0;
        var statusNode = manifest["status"];
        var observed = statusNode?["observedGeneration"]?.GetValue<long>() ?? 0;
        var availableReplicas = statusNode?["availableReplicas"]?.GetValue<int>() ?? 0;
        var availableCondition = (statusNode?["conditions"] as JsonArray ?? [])
            .Any(condition => condition?["type"]?.GetValue<string>() == "Available" && condition["status"]?.GetValue<string>() == "True");
        if (replicas == 0)
        {
            return (false, "the Deployment has 0 replicas");
        }

        if (observed < generation)
        {
            return (false, $"the Deployment controller has not observed generation {generation} yet");
        }

        return availableReplicas >= 1 && availableCondition
            ? (true, $"{availableReplicas} of {replicas} replica(s) available")
            : (false, $"{availableReplicas} of {replicas} replica(s) available");
    }

    /// <summary>
    /// A scaled-back Deployment keeps its uid and creation time: its idle state starts over from the wake, which the idle
    /// policy's startup grace counts from. A restored one is a new Deployment with a grace of its own.
    /// </summary>
    private async Task RestartIdleStateAsync(WakeRecord record, ClusterObject deployment, DateTimeOffset now, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var current = await states.GetAsync(record.Namespace, record.Deployment, cancellationToken).ConfigureAwait(false);
            if (current is null || current.State.DeploymentUid != deployment.Uid)
            {
                return;
            }

            var restarted = current.State with
            {
                Verdict = Verdict.Unknown,
                Reason = "woken on traffic",
                ActiveConnections = null,
                IdleSince = null,
                LastChange = now,
                Pods = [],
                TeardownRequestedAt = null,
                TeardownCompletedAt = null,
                TeardownAction = null,
                QuietSince = null,
                QuietBelow = null,
                VerdictSince = now,
                WokenAt = now,
            };
            if (await states.TryWriteAsync(record.Namespace, record.Deployment, restarted, current.ETag, cancellationToken).ConfigureAwait(false) is not null)
            {
                return;
            }
        }
    }

    private async Task<WakeResult> FailAsync(StoredWake stored, string why, CancellationToken cancellationToken)
    {
        var record = stored.Record;
        var text = $"Wake of Deployment {record.Deployment} failed: {why}; Service {record.Service} stays parked (a later request asks again)";
        await store.TryWriteAsync(record with { Phase = WakePhase.Failed, Detail = text, UpdatedAt = time.GetUtcNow(), Checks = record.Checks + 1 }, stored.ETag, cancellationToken).ConfigureAwait(false);
        await RecordAsync(record, null, "WakeFailed", text, warning: true, cancellationToken).ConfigureAwait(false);
        await WriteStatusAsync(record, text, cancellationToken).ConfigureAwait(false);
        return new(WakeOutcome.Failed, text);
    }

    private Task EnqueueCheckAsync(WakeRecord record, CancellationToken cancellationToken) =>
        queue.EnqueueAsync(
            new WakeMessage(WakeMessage.CurrentVersion, record.NextCheckId, record.FirstRequestAt, record.Namespace, record.Service),
            options.Value.CheckInterval,
            record.Deadline - time.GetUtcNow() + options.Value.CheckInterval + TimeSpan.FromHours(1),
            cancellationToken);

    private Task RecordAsync(WakeRecord record, string? uid, string reason, string text, bool warning, CancellationToken cancellationToken) =>
        RecordAsync(record.Namespace, record.Deployment, uid, reason, text, warning, cancellationToken);

    private async Task RecordAsync(string @namespace, string deployment, string? uid, string reason, string text, bool warning, CancellationToken cancellationToken)
    {
        try
        {
            await events.RecordAsync(new ClusterEvent(ResourceKind.Deployment, @namespace, deployment, uid, reason, text, warning), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            LogEventFailed(exception, reason, @namespace, deployment);
        }
    }

    /// <summary>As annotations on the Deployment (when it exists): the parking annotations name no EnvoyMonitor.</summary>
    private async Task WriteStatusAsync(WakeRecord record, string message, CancellationToken cancellationToken)
    {
        try
        {
            var now = time.GetUtcNow();
            await status.WriteAsync(record.Namespace, record.Deployment, null, null,
                new WorkloadStatus(Verdict.Unknown.ToString(), null, null, now, null, message), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            LogEventFailed(exception, "status", record.Namespace, record.Deployment);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Wake {MessageId} of {Namespace}/{Service}: {Outcome}: {Detail}")]
    private partial void LogResult(string messageId, string @namespace, string service, WakeOutcome outcome, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not record the {Reason} event on {Namespace}/{Name}")]
    private partial void LogEventFailed(Exception exception, string reason, string @namespace, string name);
}
