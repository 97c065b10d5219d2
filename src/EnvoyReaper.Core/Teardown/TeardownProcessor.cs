using EnvoyReaper.Cluster;
using EnvoyReaper.Idleness;
using EnvoyReaper.Messaging;
using EnvoyReaper.Workloads;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Teardown;

public enum TeardownOutcome
{
    Stale,
    Superseded,
    AlreadyDone,
    Gone,
    Aborted,
    Observed,
    Deleted,
    ScaledToZero,
}

public sealed record TeardownResult(TeardownOutcome Outcome, string Detail, string? Snapshot = null);

/// <summary>
/// Acts on a teardown request, but only after proving, on fresh data, that the workload is still the one that was
/// found idle and is still idle: the request is current, the Deployment has the same UID, the same pods are running
/// and not one counter moved. Then it snapshots, and only then deletes or scales.
/// </summary>
public sealed partial class TeardownProcessor(
    IClusterReader reader,
    IClusterWriter writer,
    PodStatsCollector collector,
    IdlePolicy policy,
    IWorkloadStateStore stateStore,
    ISnapshotStore snapshots,
    IEventRecorder events,
    IWorkloadStatusWriter status,
    TimeProvider time,
    IOptions<ReaperOptions> options,
    ILogger<TeardownProcessor> logger,
    ReaperMetrics? metrics = null)
{
    private readonly WorkloadSettingsParser parser = new(options.Value);

    public async Task<TeardownResult> ProcessAsync(TeardownMessage message, string messageId, CancellationToken cancellationToken)
    {
        var result = await DecideAndActAsync(message, cancellationToken).ConfigureAwait(false);
        LogResult(messageId, message.Namespace, message.Deployment, result.Outcome, result.Detail);
        metrics?.TeardownHandled(result.Outcome.ToString());
        if (result.Outcome is TeardownOutcome.Deleted or TeardownOutcome.ScaledToZero or TeardownOutcome.Observed)
        {
            await WriteStatusAsync(message, result, cancellationToken).ConfigureAwait(false);
        }

        return result;
    }

    private async Task<TeardownResult> DecideAndActAsync(TeardownMessage message, CancellationToken cancellationToken)
    {
        var age = time.GetUtcNow() - message.RequestedAt;
        if (age > options.Value.MessageMaxAge)
        {
            return new(TeardownOutcome.Stale, $"the request is {age} old; the stats check will ask again if still idle");
        }

        var stored = await stateStore.GetAsync(message.Namespace, message.Deployment, cancellationToken).ConfigureAwait(false);
        if (stored?.State is not { } state || state.DeploymentUid != message.DeploymentUid || state.TeardownRequestedAt != message.RequestedAt)
        {
            return new(TeardownOutcome.Superseded, "the workload's state no longer holds this request");
        }

        if (state.TeardownCompletedAt is not null)
        {
            return new(TeardownOutcome.AlreadyDone, $"already done at {state.TeardownCompletedAt:u}", state.LastSnapshot);
        }

        if (state.Verdict != Verdict.Idle)
        {
            return new(TeardownOutcome.Superseded, $"the workload is {state.Verdict} now");
        }

        var deployment = await reader.GetDeploymentAsync(message.Namespace, message.Deployment, cancellationToken).ConfigureAwait(false);
        if (deployment is null)
        {
            await CompleteAsync(message, snapshot: null, "gone", cancellationToken).ConfigureAwait(false);
            return new(TeardownOutcome.Gone, "the Deployment no longer exists");
        }

        if (deployment.Uid != message.DeploymentUid)
        {
            return new(TeardownOutcome.Superseded, $"the Deployment was recreated (UID {deployment.Uid})");
        }

        // The request carries the settings of its time; the owner may have opted out or changed them since.
        var (settings, optInProblem) = await CurrentSettingsAsync(message, deployment, cancellationToken).ConfigureAwait(false);
        if (settings is null)
        {
            return new(TeardownOutcome.Superseded, optInProblem!);
        }

        var namespacePods = await ToListAsync(reader.ListPodsAsync(message.Namespace, null, cancellationToken)).ConfigureAwait(false);
        var workload = new MonitoredWorkload(deployment, message.Source, message.Monitor, new SettingsResult(settings, []),
            namespacePods.Where(pod => pod.BelongsTo(deployment)).ToList());
        var targets = workload.ReadyPods.Select(pod => new PodTarget(pod.Name, pod.Uid, pod.Ip!, pod.HasIstioProxy)).ToList();
        var known = state.Pods.Select(pod => pod.PodUid).ToHashSet(StringComparer.Ordinal);
        if (targets.Count != known.Count || !targets.All(pod => known.Contains(pod.Uid)) || workload.NotReadyPods > 0)
        {
            return new(TeardownOutcome.Aborted, "the workload's pods changed since it was found idle");
        }

        var readings = await collector.ReadAsync(targets, settings, cancellationToken).ConfigureAwait(false);
        var recheck = policy.Evaluate(
            new CheckInput(deployment.Uid, deployment.CreatedAt, settings, null, readings, workload.NotReadyPods),
            state,
            time.GetUtcNow());

        // Written with the ETag read at the start: if a stats check recorded anything since, this fails and we stop.
        var claimed = await stateStore.TryWriteAsync(message.Namespace, message.Deployment, recheck.State, stored.ETag, cancellationToken).ConfigureAwait(false) is not null;
        if (recheck.Verdict != Verdict.Idle)
        {
            return new(TeardownOutcome.Aborted, $"a fresh read found the workload {recheck.Verdict}: {recheck.Reason}");
        }

        if (!claimed)
        {
            return new(TeardownOutcome.Aborted, "another check updated the workload during the teardown");
        }

        var deploymentObject = await writer.GetObjectAsync(ResourceKind.Deployment, message.Namespace, message.Deployment, cancellationToken).ConfigureAwait(false);
        if (deploymentObject is null || deploymentObject.Uid != deployment.Uid || deploymentObject.ResourceVersion != deployment.ResourceVersion)
        {
            return new(TeardownOutcome.Aborted, "the Deployment changed during the teardown");
        }

        var contents = new NamespaceContents(
            await writer.ListObjectsAsync(ResourceKind.Service, message.Namespace, cancellationToken).ConfigureAwait(false),
            await writer.ListObjectsAsync(ResourceKind.Ingress, message.Namespace, cancellationToken).ConfigureAwait(false),
            await ToListAsync(reader.ListDeploymentsAsync(message.Namespace, null, cancellationToken)).ConfigureAwait(false),
            namespacePods);
        var sidecarConfigMap = await writer.GetObjectAsync(ResourceKind.ConfigMap, message.Namespace, $"{message.Deployment}-envoy", cancellationToken).ConfigureAwait(false);
        var plan = TeardownPlanner.Plan(deploymentObject, deployment, settings, contents, sidecarConfigMap);
        var action = options.Value.DryRun ? ReaperAction.Observe : settings.Action;
        var idleFor = $"idle since {message.IdleSince:u} (timeout {GoDuration.Format(settings.IdleTimeout)})";

        if (action == ReaperAction.Observe)
        {
            var would = options.Value.DryRun && settings.Action != ReaperAction.Observe
                ? $"Would {settings.Action.ToContractName()} {Describe(plan)} (Reaper:DryRun is on): {idleFor}"
                : $"Would tear down {Describe(plan)} (action is observe): {idleFor}";
            await RecordAsync(message, "WouldTearDown", would, cancellationToken).ConfigureAwait(false);
            await CompleteAsync(message, snapshot: null, ReaperAction.Observe.ToContractName(), cancellationToken).ConfigureAwait(false);
            return new(TeardownOutcome.Observed, would);
        }

        var snapshot = WorkloadSnapshot.NameFor(message.Namespace, message.Deployment, message.DeploymentUid, time.GetUtcNow());
        await snapshots.SaveOnceAsync(snapshot,
            new WorkloadSnapshot(WorkloadSnapshot.CurrentVersion, message.Namespace, message.Deployment, message.DeploymentUid,
                time.GetUtcNow(), action.ToContractName(), idleFor, plan.SnapshotObjects.Select(item => item.Manifest).ToList()),
            cancellationToken).ConfigureAwait(false);

        // Last look before the first irreversible step: the snapshot upload took time, and a scale-up or an edit of the
        // Deployment since then means its owner is at work.
        var beforeActing = await reader.GetDeploymentAsync(message.Namespace, message.Deployment, cancellationToken).ConfigureAwait(false);
        if (beforeActing is null || beforeActing.Uid != deployment.Uid || beforeActing.ResourceVersion != deployment.ResourceVersion)
        {
            return new(TeardownOutcome.Aborted, $"the Deployment changed during the teardown; nothing was deleted (snapshot {snapshot})", snapshot);
        }

        if (action == ReaperAction.ScaleToZero)
        {
            await writer.ScaleToZeroAsync(message.Namespace, message.Deployment, deploymentObject.ResourceVersion, deployment.Replicas ?? 1, cancellationToken).ConfigureAwait(false);
            var scaled = $"Scaled to zero from {deployment.Replicas ?? 1} replica(s), {idleFor}; snapshot {snapshot}";
            await RecordAsync(message, "TornDown", scaled, cancellationToken).ConfigureAwait(false);
            await CompleteAsync(message, snapshot, action.ToContractName(), cancellationToken).ConfigureAwait(false);
            return new(TeardownOutcome.ScaledToZero, scaled, snapshot);
        }

        var skipped = new List<string>();
        foreach (var item in plan.DeletionOrder)
        {
            var outcome = await writer.DeleteAsync(item.Kind, item.Namespace, item.Name, item.Uid, null, cancellationToken).ConfigureAwait(false);
            if (outcome == DeleteOutcome.PreconditionFailed)
            {
                // The name now belongs to a newer object than the one found idle: it is not ours to delete.
                skipped.Add($"{item.Kind} {item.Name}");
                if (item.Kind == ResourceKind.Deployment)
                {
                    return new(TeardownOutcome.Aborted, $"the Deployment was replaced during teardown; deleted the rest of {Describe(plan)}", snapshot);
                }
            }
        }

        var deleted = $"Deleted {Describe(plan)}{(skipped.Count > 0 ? $" (kept replaced {string.Join(", ", skipped)})" : string.Empty)}, {idleFor}; snapshot {snapshot}";
        await RecordAsync(message, "TornDown", deleted, cancellationToken).ConfigureAwait(false);
        await CompleteAsync(message, snapshot, action.ToContractName(), cancellationToken).ConfigureAwait(false);
        return new(TeardownOutcome.Deleted, deleted, snapshot);
    }

    private async Task<(WorkloadSettings? Settings, string? Problem)> CurrentSettingsAsync(TeardownMessage message, DeploymentInfo deployment, CancellationToken cancellationToken)
    {
        SettingsResult current;
        if (message.Source == OptInSource.Monitor)
        {
            var monitorNamespace = message.MonitorNamespace ?? message.Namespace;
            var monitor = message.Monitor is null ? null : await reader.GetMonitorAsync(monitorNamespace, message.Monitor, cancellationToken).ConfigureAwait(false);
            if (monitor is null || monitor.DeploymentName != deployment.Name || monitor.EffectiveNamespace != deployment.Namespace)
            {
                return (null, $"EnvoyMonitor {monitorNamespace}/{message.Monitor} no longer names this Deployment");
            }

            current = parser.FromMonitor(monitor);
        }
        else
        {
            if (!deployment.Labels.TryGetValue(ReaperLabels.Enabled, out var enabled) || enabled != "true")
            {
                return (null, $"the Deployment no longer carries {ReaperLabels.EnabledSelector}");
            }

            current = parser.FromAnnotations(deployment.Annotations);
        }

        if (current.Settings is null)
        {
            return (null, "the Deployment's settings are now invalid: " + string.Join("; ", current.Errors));
        }

        return ReaperJson.Serialize(current.Settings) == ReaperJson.Serialize(message.Settings)
            ? (current.Settings, null)
            : (null, "the settings changed since the teardown was requested");
    }

    private async Task WriteStatusAsync(TeardownMessage message, TeardownResult result, CancellationToken cancellationToken)
    {
        var monitor = message.Source == OptInSource.Monitor ? message.Monitor : null;
        if (monitor is null && result.Outcome == TeardownOutcome.Deleted)
        {
            return; // the annotations went with the Deployment; the TornDown Event and the snapshot remain
        }

        var now = time.GetUtcNow();
        try
        {
            await status.WriteAsync(message.Namespace, message.Deployment, message.MonitorNamespace, monitor,
                new WorkloadStatus(Verdict.Idle.ToString(), 0, message.IdleSince, now, result.Outcome == TeardownOutcome.Observed ? null : now, result.Detail),
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            LogEventFailed(exception, "status", message.Namespace, message.Deployment);
        }
    }

    private static string Describe(TeardownPlan plan)
    {
        var parts = new List<string> { $"Deployment {plan.Deployment.Name}" };
        parts.AddRange(plan.Services.Select(service => $"Service {service.Name}"));
        parts.AddRange(plan.Ingresses.Select(ingress => $"Ingress {ingress.Name}"));
        return string.Join(", ", parts);
    }

    /// <summary>Marks the request done, on the state that still holds this very request and no other.</summary>
    private async Task CompleteAsync(TeardownMessage message, string? snapshot, string action, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var current = await stateStore.GetAsync(message.Namespace, message.Deployment, cancellationToken).ConfigureAwait(false);
            if (current is null || current.State.DeploymentUid != message.DeploymentUid || current.State.TeardownRequestedAt != message.RequestedAt)
            {
                return;
            }

            var completed = current.State with
            {
                TeardownCompletedAt = time.GetUtcNow(),
                TeardownAction = action,
                LastSnapshot = snapshot ?? current.State.LastSnapshot,
            };
            if (await stateStore.TryWriteAsync(message.Namespace, message.Deployment, completed, current.ETag, cancellationToken).ConfigureAwait(false) is not null)
            {
                return;
            }
        }
    }

    private async Task RecordAsync(TeardownMessage message, string reason, string text, CancellationToken cancellationToken)
    {
        try
        {
            await events.RecordAsync(
                new ClusterEvent(ResourceKind.Deployment, message.Namespace, message.Deployment, message.DeploymentUid, reason, text, Warning: false),
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            LogEventFailed(exception, reason, message.Namespace, message.Deployment);
        }
    }

    private static async Task<List<T>> ToListAsync<T>(IAsyncEnumerable<T> items)
    {
        var list = new List<T>();
        await foreach (var item in items.ConfigureAwait(false))
        {
            list.Add(item);
        }

        return list;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Teardown {MessageId} of {Namespace}/{Name}: {Outcome}: {Detail}")]
    private partial void LogResult(string messageId, string @namespace, string name, TeardownOutcome outcome, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not record the {Reason} event on {Namespace}/{Name}")]
    private partial void LogEventFailed(Exception exception, string reason, string @namespace, string name);
}
