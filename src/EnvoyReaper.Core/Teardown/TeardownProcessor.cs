using System.Text.Json.Nodes;
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
    Deferred,
    Deleted,
    ScaledToZero,

    /// <summary>The workload opted in to wake on traffic but cannot be parked (no HTTP Service): not torn down.</summary>
    WakeRefused,
}

public sealed record TeardownResult(TeardownOutcome Outcome, string Detail, string? Snapshot = null);

/// <summary>
/// Acts on a teardown request, but only after proving, on fresh data, that the workload is still the one that was
/// found idle and is still idle: the request is current, the Deployment has the same UID, the same pods are running
/// and not one counter moved. Then it snapshots (once per teardown), proves that the state is still the one it claimed,
/// and only then deletes (the Deployment first, under preconditions) or scales.
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
    TeardownBreaker breaker,
    ReaperMetrics? metrics = null,
    Waking.WorkloadParking? parking = null)
{
    private readonly WorkloadSettingsParser parser = new(options.Value);

    public async Task<TeardownResult> ProcessAsync(TeardownMessage message, string messageId, CancellationToken cancellationToken)
    {
        var result = await DecideAndActAsync(message, cancellationToken).ConfigureAwait(false);
        LogResult(messageId, message.Namespace, message.Deployment, result.Outcome, result.Detail);
        metrics?.TeardownHandled(result.Outcome.ToString());
        if (result.Outcome is TeardownOutcome.Deleted or TeardownOutcome.ScaledToZero or TeardownOutcome.Observed or TeardownOutcome.WakeRefused)
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
            // A stale request decides nothing new. But a teardown that already deleted its Deployment is no longer a
            // decision, it is half an action: left as is, the workload's Service and Ingress would stay, with no
            // Deployment for the stats check to find and ask again about.
            return await FinishStartedTeardownAsync(message, cancellationToken).ConfigureAwait(false)
                ?? new(TeardownOutcome.Stale, $"the request is {age} old; the stats check will ask again if still idle");
        }

        var stored = await stateStore.GetAsync(message.Namespace, message.Deployment, cancellationToken).ConfigureAwait(false);
        if (stored?.State is not { } state || !HoldsThisRequest(state, message))
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
            // A retry of this very teardown after its Deployment was deleted and a later delete failed: finish it.
            if (await snapshots.GetAsync(SnapshotName(message), cancellationToken).ConfigureAwait(false) is { } started)
            {
                return await FinishAsync(message, SnapshotName(message), started, cancellationToken).ConfigureAwait(false);
            }

            await CompleteAsync(message, snapshot: null, "gone", cancellationToken).ConfigureAwait(false);
            return new(TeardownOutcome.Gone, "the Deployment no longer exists");
        }

        if (deployment.Uid != message.DeploymentUid)
        {
            return new(TeardownOutcome.Superseded, $"the Deployment was recreated (UID {deployment.Uid})");
        }

        // A retry of this very teardown after its scale to zero was applied and the attempt failed before finishing (the
        // answer lost, the worker gone): its pods are going, so it cannot be proven idle again; finish it, parking included.
        if (await ScaledByThisTeardownAsync(message, deployment, cancellationToken).ConfigureAwait(false) is { } scaledEarlier)
        {
            return await FinishScaleToZeroAsync(message, SnapshotName(message), scaledEarlier, deployment, cancellationToken).ConfigureAwait(false);
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
        var targets = workload.ReadyPods.Select(PodTarget.From).ToList();
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

        // Written with the ETag read at the start: if a stats check recorded anything since, this fails and we stop. The
        // claim is for this request, even if the read took it past its age and the policy would ask for a new one.
        var claimed = recheck.Verdict == Verdict.Idle ? recheck.State with { TeardownRequestedAt = message.RequestedAt } : recheck.State;
        var claim = await stateStore.TryWriteAsync(message.Namespace, message.Deployment, claimed, stored.ETag, cancellationToken).ConfigureAwait(false);
        if (recheck.Verdict != Verdict.Idle)
        {
            return new(TeardownOutcome.Aborted, $"a fresh read found the workload {recheck.Verdict}: {recheck.Reason}");
        }

        if (claim is null)
        {
            return new(TeardownOutcome.Aborted, "another check updated the workload during the teardown");
        }

        var deploymentObject = await writer.GetObjectAsync(ResourceKind.Deployment, message.Namespace, message.Deployment, cancellationToken).ConfigureAwait(false);
        if (deploymentObject is null || deploymentObject.Uid != deployment.Uid || deploymentObject.ResourceVersion != deployment.ResourceVersion)
        {
            return new(TeardownOutcome.Aborted, "the Deployment changed during the teardown");
        }

        var plan = await PlanAsync(message, deploymentObject, deployment, settings, namespacePods, cancellationToken).ConfigureAwait(false);
        var action = options.Value.DryRun ? ReaperAction.Observe : settings.Action;
        var idleFor = $"idle since {message.IdleSince:u} (timeout {GoDuration.Format(settings.IdleTimeout)})";

        if (action == ReaperAction.Observe)
        {
            var would = options.Value.DryRun && settings.Action != ReaperAction.Observe
                ? $"Would {settings.Action.ToContractName()} {Describe(plan.DeletionOrder)} (Reaper:DryRun is on): {idleFor}{NotesOf(plan.Notes)}"
                : $"Would tear down {Describe(plan.DeletionOrder)} (action is observe): {idleFor}{NotesOf(plan.Notes)}";
            await RecordAsync(message, "WouldTearDown", would, cancellationToken).ConfigureAwait(false);
            await CompleteAsync(message, snapshot: null, ReaperAction.Observe.ToContractName(), cancellationToken).ConfigureAwait(false);
            return new(TeardownOutcome.Observed, would);
        }

        // Wake is a promise that the next request brings the workload back: a workload that cannot be parked is not torn
        // down, as any other invalid configuration, until its owner fixes it or drops the opt-in.
        if (settings.Wake && (parking is null ? "this EnvoyReaper has no waker configured" : Waking.WorkloadParking.Refusal(plan.Services)) is { } refusal)
        {
            var refused = $"Wake on traffic refused: {refusal}. Not torn down; remove {Waking.ParkingContract.WakeAnnotation} (or spec.wake) to tear it down without waking, or give it an HTTP Service";
            await RecordAsync(message, "WakeRefused", refused, cancellationToken, warning: true).ConfigureAwait(false);
            return new(TeardownOutcome.WakeRefused, refused);
        }

        // The workload stays Idle with its request stored: the stats check asks again after Reaper:MessageMaxAge.
        if (await breaker.TryAdmitAsync(message, cancellationToken).ConfigureAwait(false) is { } deferral)
        {
            await RecordAsync(message, "TeardownDeferred", $"Teardown deferred: {deferral.Detail}", cancellationToken).ConfigureAwait(false);
            return new(TeardownOutcome.Deferred, deferral.Detail);
        }

        // One teardown, one snapshot: a retry finds the one its first attempt wrote, which holds all that it removes.
        var snapshotName = SnapshotName(message);
        var snapshot = await snapshots.SaveOnceAsync(snapshotName,
            new WorkloadSnapshot(WorkloadSnapshot.CurrentVersion, message.Namespace, message.Deployment, message.DeploymentUid,
                time.GetUtcNow(), action.ToContractName(), idleFor, plan.SnapshotObjects.Select(item => item.Manifest).ToList()),
            cancellationToken).ConfigureAwait(false);

        // Last look before the first irreversible step: the snapshot upload took time. The state must be the very one
        // this teardown claimed (a check that saw a user since has written it), and the Deployment the one it read.
        var current = await stateStore.GetAsync(message.Namespace, message.Deployment, cancellationToken).ConfigureAwait(false);
        if (claim.Length == 0 || current is null || current.ETag != claim)
        {
            var now = current is null ? "deleted" : $"{current.State.Verdict}{(current.State.Reason is { } reason ? $" ({reason})" : string.Empty)}";
            return await AbortAsync(message, $"the workload's state changed since the teardown claimed it (now {now})", snapshotName, cancellationToken).ConfigureAwait(false);
        }

        var beforeActing = await reader.GetDeploymentAsync(message.Namespace, message.Deployment, cancellationToken).ConfigureAwait(false);
        if (beforeActing is null || beforeActing.Uid != deployment.Uid || beforeActing.ResourceVersion != deployment.ResourceVersion)
        {
            return await AbortAsync(message, "the Deployment changed during the teardown", snapshotName, cancellationToken).ConfigureAwait(false);
        }

        // A retry finds the snapshot of its first attempt: if the Deployment was edited since, acting would lose the edit.
        if (ResourceVersionOf(snapshot.Objects.FirstOrDefault(item => item["kind"]?.GetValue<string>() == "Deployment")) != ResourceVersionOf(deploymentObject.Manifest))
        {
            return await AbortAsync(message, "the Deployment changed since this teardown's snapshot was taken", snapshotName, cancellationToken).ConfigureAwait(false);
        }

        if (action == ReaperAction.ScaleToZero)
        {
            await writer.ScaleToZeroAsync(message.Namespace, message.Deployment, deploymentObject.ResourceVersion, deployment.Replicas ?? 1, snapshotName, cancellationToken).ConfigureAwait(false);
            var parked = settings.Wake ? await ParkAsync(message, snapshotName, settings, plan.Services.Concat(plan.Ingresses), cancellationToken).ConfigureAwait(false) : string.Empty;
            var scaled = $"Scaled to zero from {deployment.Replicas ?? 1} replica(s), {idleFor}; snapshot {snapshotName}{parked}";
            await RecordAsync(message, "TornDown", scaled, cancellationToken).ConfigureAwait(false);
            await CompleteAsync(message, snapshotName, action.ToContractName(), cancellationToken).ConfigureAwait(false);
            return new(TeardownOutcome.ScaledToZero, scaled, snapshotName);
        }

        var deploymentDeleted = await writer.DeleteAsync(
            ResourceKind.Deployment, message.Namespace, message.Deployment, deployment.Uid, deploymentObject.ResourceVersion, cancellationToken).ConfigureAwait(false);
        if (deploymentDeleted == DeleteOutcome.PreconditionFailed)
        {
            return await AbortAsync(message, "the Deployment changed since it was read (its delete preconditions failed)", snapshotName, cancellationToken).ConfigureAwait(false);
        }

        return await DeleteTheRestAsync(message, plan, snapshotName, snapshot, idleFor, settings, cancellationToken).ConfigureAwait(false);
    }

    private static bool HoldsThisRequest(WorkloadState state, TeardownMessage message) =>
        state.DeploymentUid == message.DeploymentUid && state.TeardownRequestedAt == message.RequestedAt;

    /// <summary>
    /// Finishes this very teardown when its first attempt deleted the Deployment (its snapshot exists) or scaled it to
    /// zero (its mark is there), the state still holding the request and not complete; null for anything else, which a
    /// stale request must leave alone.
    /// </summary>
    private async Task<TeardownResult?> FinishStartedTeardownAsync(TeardownMessage message, CancellationToken cancellationToken)
    {
        var stored = await stateStore.GetAsync(message.Namespace, message.Deployment, cancellationToken).ConfigureAwait(false);
        if (stored?.State is not { } state || !HoldsThisRequest(state, message) || state.TeardownCompletedAt is not null)
        {
            return null;
        }

        var snapshotName = SnapshotName(message);
        if (await reader.GetDeploymentAsync(message.Namespace, message.Deployment, cancellationToken).ConfigureAwait(false) is { } deployment)
        {
            return deployment.Uid == message.DeploymentUid && await ScaledByThisTeardownAsync(message, deployment, cancellationToken).ConfigureAwait(false) is { } scaled
                ? await FinishScaleToZeroAsync(message, snapshotName, scaled, deployment, cancellationToken).ConfigureAwait(false)
                : null;
        }

        return await snapshots.GetAsync(snapshotName, cancellationToken).ConfigureAwait(false) is { } started
            ? await FinishAsync(message, snapshotName, started, cancellationToken).ConfigureAwait(false)
            : null;
    }

    /// <summary>
    /// This teardown's snapshot when the Deployment is at zero by this teardown's own scale: only the mark that scale
    /// wrote proves it (a person's scale to zero, or an older teardown's leftover replica count, is not its work).
    /// </summary>
    private async Task<WorkloadSnapshot?> ScaledByThisTeardownAsync(TeardownMessage message, DeploymentInfo deployment, CancellationToken cancellationToken) =>
        deployment.Replicas == 0
        && deployment.Annotations.ContainsKey(ReaperLabels.ReplicasBeforeTeardown)
        && deployment.Annotations.TryGetValue(ReaperLabels.ScaledToZeroBy, out var scaledBy) && scaledBy == SnapshotName(message)
        && await snapshots.GetAsync(SnapshotName(message), cancellationToken).ConfigureAwait(false) is { } snapshot
        && snapshot.Action == ReaperAction.ScaleToZero.ToContractName()
            ? snapshot
            : null;

    private static string? ResourceVersionOf(JsonObject? manifest) => manifest?["metadata"]?["resourceVersion"]?.GetValue<string>();

    private static string SnapshotName(TeardownMessage message) =>
        WorkloadSnapshot.NameFor(message.Namespace, message.Deployment, message.DeploymentUid, message.RequestedAt);

    /// <param name="deletedEarlier">
    /// On a retry, the snapshot's Services that an earlier attempt already deleted: still part of the workload, so that an
    /// Ingress routing only to them is taken as on the first attempt.
    /// </param>
    private async Task<TeardownPlan> PlanAsync(
        TeardownMessage message, ClusterObject deploymentObject, DeploymentInfo deployment, WorkloadSettings settings, IReadOnlyList<PodInfo> namespacePods,
        CancellationToken cancellationToken, IReadOnlyList<ClusterObject>? deletedEarlier = null)
    {
        var services = await writer.ListObjectsAsync(ResourceKind.Service, message.Namespace, cancellationToken).ConfigureAwait(false);
        var contents = new NamespaceContents(
            services.Concat((deletedEarlier ?? []).Where(gone => services.All(live => live.Name != gone.Name))).ToList(),
            await writer.ListObjectsAsync(ResourceKind.Ingress, message.Namespace, cancellationToken).ConfigureAwait(false),
            await ToListAsync(reader.ListDeploymentsAsync(message.Namespace, null, cancellationToken)).ConfigureAwait(false),
            namespacePods);
        var sidecarConfigMap = await writer.GetObjectAsync(ResourceKind.ConfigMap, message.Namespace, $"{message.Deployment}-envoy", cancellationToken).ConfigureAwait(false);
        return TeardownPlanner.Plan(deploymentObject, deployment, settings, contents, sidecarConfigMap);
    }

    /// <summary>
    /// The retry of a teardown that deleted the Deployment and failed on a later object: plans again from the snapshot's
    /// Deployment (the sharing rule on today's namespace) and deletes what is left of that snapshot.
    /// </summary>
    private async Task<TeardownResult> FinishAsync(TeardownMessage message, string snapshotName, WorkloadSnapshot snapshot, CancellationToken cancellationToken)
    {
        var manifest = snapshot.Objects.FirstOrDefault(item => item["kind"]?.GetValue<string>() == "Deployment");
        if (manifest is null || snapshot.DeploymentUid != message.DeploymentUid)
        {
            await CompleteAsync(message, snapshot: null, "gone", cancellationToken).ConfigureAwait(false);
            return new(TeardownOutcome.Gone, "the Deployment no longer exists");
        }

        var deployment = DeploymentFromManifest(message.Namespace, manifest);
        var deploymentObject = new ClusterObject(ResourceKind.Deployment, message.Namespace, message.Deployment, deployment.Uid, deployment.ResourceVersion, manifest);
        var namespacePods = await ToListAsync(reader.ListPodsAsync(message.Namespace, null, cancellationToken)).ConfigureAwait(false);
        var snapshotServices = snapshot.Objects
            .Where(item => item["kind"]?.GetValue<string>() == "Service")
            .Select(item => new ClusterObject(ResourceKind.Service, message.Namespace, item["metadata"]?["name"]?.GetValue<string>() ?? string.Empty,
                item["metadata"]?["uid"]?.GetValue<string>() ?? string.Empty, item["metadata"]?["resourceVersion"]?.GetValue<string>() ?? string.Empty, item))
            .ToList();
        var plan = await PlanAsync(message, deploymentObject, deployment, message.Settings, namespacePods, cancellationToken, snapshotServices).ConfigureAwait(false);
        return await DeleteTheRestAsync(message, plan, snapshotName, snapshot, snapshot.Reason, message.Settings, cancellationToken).ConfigureAwait(false);
    }

    private async Task<TeardownResult> FinishScaleToZeroAsync(TeardownMessage message, string snapshotName, WorkloadSnapshot snapshot, DeploymentInfo deployment, CancellationToken cancellationToken)
    {
        var kept = snapshot.Objects
            .Where(item => item["kind"]?.GetValue<string>() is "Service" or "Ingress")
            .Select(item => new ClusterObject(item["kind"]!.GetValue<string>() == "Service" ? ResourceKind.Service : ResourceKind.Ingress, message.Namespace,
                item["metadata"]?["name"]?.GetValue<string>() ?? string.Empty, item["metadata"]?["uid"]?.GetValue<string>() ?? string.Empty, string.Empty, item))
            .ToList();
        var parked = message.Settings.Wake ? await ParkAsync(message, snapshotName, message.Settings, kept, cancellationToken).ConfigureAwait(false) : string.Empty;
        var scaled = $"Scaled to zero from {deployment.Annotations[ReaperLabels.ReplicasBeforeTeardown]} replica(s), {snapshot.Reason}; snapshot {snapshotName}{parked}";
        await RecordAsync(message, "TornDown", scaled, cancellationToken).ConfigureAwait(false);
        await CompleteAsync(message, snapshotName, ReaperAction.ScaleToZero.ToContractName(), cancellationToken).ConfigureAwait(false);
        return new(TeardownOutcome.ScaledToZero, scaled, snapshotName);
    }

    /// <summary>Deletes, after the Deployment, what the plan takes and the snapshot holds (the same uid), each with its uid.</summary>
    private async Task<TeardownResult> DeleteTheRestAsync(
        TeardownMessage message, TeardownPlan plan, string snapshotName, WorkloadSnapshot snapshot, string idleFor, WorkloadSettings settings, CancellationToken cancellationToken)
    {
        var inSnapshot = snapshot.Objects.Select(item => item["metadata"]?["uid"]?.GetValue<string>()).OfType<string>().ToHashSet(StringComparer.Ordinal);
        var deleted = new List<ClusterObject> { plan.Deployment };
        var kept = new List<string>();
        var wake = settings.Wake;
        foreach (var item in plan.DeletionOrder.Skip(1))
        {
            if (wake && item.Kind is ResourceKind.Service or ResourceKind.Ingress)
            {
                continue; // parked: the next request reaches the waker through them
            }

            if (!inSnapshot.Contains(item.Uid))
            {
                kept.Add($"{item.Kind} {item.Name} (not in the snapshot)");
                continue;
            }

            var outcome = await writer.DeleteAsync(item.Kind, item.Namespace, item.Name, item.Uid, null, cancellationToken).ConfigureAwait(false);
            if (outcome == DeleteOutcome.PreconditionFailed)
            {
                kept.Add($"{item.Kind} {item.Name} (replaced since)"); // the name now belongs to a newer object: not ours
            }
            else
            {
                deleted.Add(item);
            }
        }

        var notes = plan.Notes.Concat(kept.Count > 0 ? [$"kept {string.Join(", ", kept)}"] : []).ToList();
        var parked = wake ? await ParkAsync(message, snapshotName, settings, plan.Services.Concat(plan.Ingresses), cancellationToken).ConfigureAwait(false) : string.Empty;
        var text = $"Deleted {Describe(deleted)}, {idleFor}; snapshot {snapshotName}{NotesOf(notes)}{parked}";
        await RecordAsync(message, "TornDown", text, cancellationToken).ConfigureAwait(false);
        await CompleteAsync(message, snapshotName, ReaperAction.Delete.ToContractName(), cancellationToken).ConfigureAwait(false);
        return new(TeardownOutcome.Deleted, text, snapshotName);
    }

    /// <summary>
    /// Asks for the kept Services to be parked (the Park function writes them, under an identity allowed to). A failure
    /// leaves the workload torn down (the snapshot restores it) and not wakeable, and says so in a Warning Event: the
    /// Deployment is gone or at zero already, and undoing that is a restore.
    /// </summary>
    private async Task<string> ParkAsync(TeardownMessage message, string snapshotName, WorkloadSettings settings, IEnumerable<ClusterObject> kept, CancellationToken cancellationToken)
    {
        try
        {
            await parking!.RequestAsync(message.Namespace, message.Deployment, snapshotName, settings.WakeHold, cancellationToken).ConfigureAwait(false);
            return $"; kept {Describe(kept)} to wake on traffic (parking requested)";
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            LogParkingFailed(exception, message.Namespace, message.Deployment);
            var text = $"Parking for wake on traffic failed: {exception.Message}. The workload is torn down and will not wake; restore it from snapshot {snapshotName}";
            await RecordAsync(message, "ParkingFailed", text, cancellationToken, warning: true).ConfigureAwait(false);
            return $"; parking failed, it will not wake: {exception.Message}";
        }
    }

    private async Task<TeardownResult> AbortAsync(TeardownMessage message, string reason, string snapshotName, CancellationToken cancellationToken)
    {
        var text = $"Teardown aborted: {reason}; nothing was deleted (snapshot {snapshotName})";
        await RecordAsync(message, "TeardownAborted", text, cancellationToken).ConfigureAwait(false);
        return new(TeardownOutcome.Aborted, text, snapshotName);
    }

    private static DeploymentInfo DeploymentFromManifest(string @namespace, JsonObject manifest)
    {
        static IReadOnlyDictionary<string, string> Map(JsonNode? node) =>
            node is JsonObject map ? map.ToDictionary(pair => pair.Key, pair => pair.Value?.GetValue<string>() ?? string.Empty) : new Dictionary<string, string>();

        var selector = manifest["spec"]?["selector"];
        var expressions = (selector?["matchExpressions"] as JsonArray ?? []).OfType<JsonObject>()
            .Select(expression => new LabelRequirement(
                expression["key"]?.GetValue<string>() ?? string.Empty,
                expression["operator"]?.GetValue<string>() ?? string.Empty,
                (expression["values"] as JsonArray ?? []).Select(value => value?.GetValue<string>() ?? string.Empty).ToList()))
            .ToList();
        var metadata = manifest["metadata"];
        return new DeploymentInfo(
            @namespace,
            metadata?["name"]?.GetValue<string>() ?? string.Empty,
            metadata?["uid"]?.GetValue<string>() ?? string.Empty,
            metadata?["resourceVersion"]?.GetValue<string>() ?? string.Empty,
            DateTimeOffset.MinValue,
            manifest["spec"]?["replicas"]?.GetValue<int>(),
            Map(metadata?["labels"]),
            Map(metadata?["annotations"]),
            new LabelSelector(Map(selector?["matchLabels"]), expressions),
            Map(manifest["spec"]?["template"]?["metadata"]?["labels"]));
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
                new WorkloadStatus(Verdict.Idle.ToString(), 0, message.IdleSince, now, result.Outcome is TeardownOutcome.Observed or TeardownOutcome.WakeRefused ? null : now, result.Detail),
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            LogEventFailed(exception, "status", message.Namespace, message.Deployment);
        }
    }

    private static string Describe(IEnumerable<ClusterObject> objects) => string.Join(", ", objects.Select(item => $"{item.Kind} {item.Name}"));

    private static string NotesOf(IReadOnlyList<string> notes) => notes.Count > 0 ? $" ({string.Join("; ", notes)})" : string.Empty;

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

    private async Task RecordAsync(TeardownMessage message, string reason, string text, CancellationToken cancellationToken, bool warning = false)
    {
        try
        {
            await events.RecordAsync(
                new ClusterEvent(ResourceKind.Deployment, message.Namespace, message.Deployment, message.DeploymentUid, reason, text, Warning: warning),
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Parking {Namespace}/{Name} for wake on traffic failed")]
    private partial void LogParkingFailed(Exception exception, string @namespace, string name);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not record the {Reason} event on {Namespace}/{Name}")]
    private partial void LogEventFailed(Exception exception, string reason, string @namespace, string name);
}
