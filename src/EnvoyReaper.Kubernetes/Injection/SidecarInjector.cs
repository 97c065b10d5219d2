using System.Net;
using EnvoyReaper.Injection;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Kubernetes.Injection;

public enum InjectionStatus
{
    Done,
    Forbidden,
    NotFound,
    Unprocessable,
    Conflict,
    ApiServerFailed,
}

public sealed record InjectionResult(InjectionStatus Status, bool Changed, IReadOnlyList<string> Changes, string? Hash, string? Detail, bool DryRun)
{
    /// <summary>Changes not made yet because they must wait for the Deployment's rollout (see <see cref="InjectionRollouts"/>).</summary>
    public IReadOnlyList<string> Deferred { get; init; } = [];

    /// <summary>When finishing: the rollout as found; the deferred changes were made only if it is complete.</summary>
    public RolloutCheck? Rollout { get; init; }

    public static InjectionResult Failed(InjectionStatus status, string detail, bool dryRun) => new(status, false, [], null, detail, dryRun);
}

/// <summary>
/// Apply: what may change at once (the ConfigMap and Deployment; on removal the Service too). Finish: only the changes
/// that waited for a complete rollout (the Service retarget; on removal the ConfigMap deletion).
/// </summary>
internal enum InjectionStep
{
    /// <summary>Read and plan only: nothing is written.</summary>
    Plan,
    Apply,
    Finish,
}

/// <summary>
/// Reads what exists, plans with <see cref="SidecarPlanner"/>, and writes with the resourceVersion it read: when
/// someone else wrote in between (409), it reads again and re-plans, a bounded number of times.
/// </summary>
public sealed partial class SidecarInjector(IKubernetes client, IOptions<InjectionOptions> options, ILogger<SidecarInjector> logger)
{
    private const string DryRunAll = "All";

    /// <summary>Writes the ConfigMap and Deployment; the Service retarget is deferred (in <see cref="InjectionResult.Deferred"/>) unless dry run.</summary>
    /// <param name="injectedTogether">The Deployments of the same request, whose pods will run Envoy too (a Service they share may be retargeted).</param>
    public Task<InjectionResult> InjectAsync(ValidInjection request, bool dryRun, CancellationToken cancellationToken, IReadOnlyCollection<string>? injectedTogether = null) =>
        RunAsync(request.Namespace, request.Deployment, dryRun, InjectionStep.Apply, cancellationToken, (deployment, services, configMap, deployments, otherPods) =>
            SidecarPlanner.PlanInjection(request, deployment, services, configMap, options.Value, deployments: deployments, injectedTogether: injectedTogether, otherPods: otherPods));

    /// <summary>Reads and plans as <see cref="InjectAsync"/> would, and writes nothing: whether the injection would be refused.</summary>
    public Task<InjectionResult> PlanInjectionAsync(ValidInjection request, IReadOnlyCollection<string>? injectedTogether, CancellationToken cancellationToken) =>
        RunAsync(request.Namespace, request.Deployment, dryRun: false, InjectionStep.Plan, cancellationToken, (deployment, services, configMap, deployments, otherPods) =>
            SidecarPlanner.PlanInjection(request, deployment, services, configMap, options.Value, deployments: deployments, injectedTogether: injectedTogether, otherPods: otherPods));

    /// <summary>
    /// Restores the Service and removes the sidecar; the ConfigMap deletion is deferred unless dry run. Once the sidecar
    /// is out, the Services are read again: an injection's finish that read the Deployment before this removal wrote it
    /// may have pointed one at Envoy after this removal read them, and it is put back too.
    /// </summary>
    public async Task<InjectionResult> RemoveAsync(string @namespace, string deployment, bool dryRun, CancellationToken cancellationToken)
    {
        var removed = await RunAsync(@namespace, deployment, dryRun, InjectionStep.Apply, cancellationToken, (current, services, configMap, deployments, _) =>
            (SidecarPlanner.PlanRemoval(current, services, configMap, deployments), null)).ConfigureAwait(false);
        if (dryRun || removed is not { Status: InjectionStatus.Done, Changed: true })
        {
            return removed;
        }

        var raced = await RunAsync(@namespace, deployment, dryRun: false, InjectionStep.Apply, cancellationToken, (current, services, _, deployments, _) =>
        {
            var plan = SidecarPlanner.PlanRemoval(current, services, null, deployments);
            return plan.Deployment is null && plan.Services.Count > 0
                ? (plan with { Warnings = [] }, null)
                : (new SidecarPlan(null, null, false, [], string.Empty, [], Removal: true), null);
        }).ConfigureAwait(false);
        return raced is { Status: InjectionStatus.Done, Changed: true }
            ? removed with { Changes = [.. removed.Changes, .. raced.Changes.Select(change => $"{change} (pointed at Envoy by an injection that finished meanwhile)")] }
            : removed;
    }

    /// <summary>
    /// Once the rollout of injection <paramref name="hash"/> is complete, points the Service at Envoy: only if the
    /// Deployment and ConfigMap are still exactly what that injection wrote (re-planned on what exists now).
    /// </summary>
    /// <param name="stillCurrent">
    /// Asked right before the Service write: false when a newer operation (a removal) has replaced this one.
    /// </param>
    /// <remarks>
    /// Right before the Service write the operation and the Deployment are checked again, the write carries the
    /// Service's resourceVersion, and the Deployment is read once more after it: a removal that took the sidecar out
    /// meanwhile gets its Service put back here (or, if it read the Services later, by its own second look at them).
    /// </remarks>
    public Task<InjectionResult> FinishInjectionAsync(ValidInjection request, string hash, Func<CancellationToken, Task<bool>> stillCurrent, CancellationToken cancellationToken) =>
        RunAsync(request.Namespace, request.Deployment, dryRun: false, InjectionStep.Finish, cancellationToken, new FinishGuard(hash, stillCurrent), (deployment, services, configMap, deployments, otherPods) =>
        {
            if (deployment.Metadata.Annotations is not { } annotations || !annotations.TryGetValue(SidecarPlanner.HashAnnotation, out var current) || current != hash)
            {
                return (null, new Refusal(RefusalKind.Unprocessable,
                    $"Deployment {request.Namespace}/{request.Deployment} changed during the rollout (it no longer carries injection {hash}); the Service was not changed"));
            }

            var (plan, refusal) = SidecarPlanner.PlanInjection(request, deployment, services, configMap, options.Value, deployments: deployments, otherPods: otherPods);
            if (plan is { Deployment: not null } or { ConfigMap: not null })
            {
                return (null, new Refusal(RefusalKind.Unprocessable,
                    $"the Deployment or ConfigMap of {request.Namespace}/{request.Deployment} changed during the rollout ({string.Join("; ", plan.Changes)} would be needed again); the Service was not changed"));
            }

            return (plan, refusal);
        });

    /// <summary>Once the rollout of a removal is complete (no pod mounts the bootstrap any more), deletes the ConfigMap.</summary>
    public Task<InjectionResult> FinishRemovalAsync(string @namespace, string name, CancellationToken cancellationToken) =>
        RunAsync(@namespace, name, dryRun: false, InjectionStep.Finish, cancellationToken, (deployment, services, configMap, deployments, _) =>
        {
            var plan = SidecarPlanner.PlanRemoval(deployment, services, configMap, deployments);
            return plan.Deployment is not null
                ? (null, new Refusal(RefusalKind.Unprocessable, $"Deployment {@namespace}/{name} runs the sidecar again; its ConfigMap was kept"))
                : (plan, null);
        });

    private Task<InjectionResult> RunAsync(
        string @namespace,
        string name,
        bool dryRun,
        InjectionStep step,
        CancellationToken cancellationToken,
        Func<V1Deployment, IReadOnlyList<V1Service>, V1ConfigMap?, IReadOnlyList<V1Deployment>, IReadOnlyList<OtherPods>, (SidecarPlan? Plan, Refusal? Refusal)> plan) =>
        RunAsync(@namespace, name, dryRun, step, cancellationToken, null, plan);

    private async Task<InjectionResult> RunAsync(
        string @namespace,
        string name,
        bool dryRun,
        InjectionStep step,
        CancellationToken cancellationToken,
        FinishGuard? guard,
        Func<V1Deployment, IReadOnlyList<V1Service>, V1ConfigMap?, IReadOnlyList<V1Deployment>, IReadOnlyList<OtherPods>, (SidecarPlan? Plan, Refusal? Refusal)> plan)
    {
        if (!options.Value.IsNamespaceAllowed(@namespace))
        {
            return InjectionResult.Failed(InjectionStatus.Forbidden, $"namespace {@namespace} is not allowed for injection (Injection:AllowedNamespaces / DeniedNamespaces)", dryRun);
        }

        var attempts = options.Value.MaxConflictRetries + 1;
        for (var attempt = 1; attempt <= attempts; attempt++)
        {
            try
            {
                var deployment = await NullIfNotFound(client.AppsV1.ReadNamespacedDeploymentAsync(name, @namespace, cancellationToken: cancellationToken)).ConfigureAwait(false);
                if (deployment is null)
                {
                    return InjectionResult.Failed(InjectionStatus.NotFound, $"Deployment {@namespace}/{name} not found", dryRun);
                }

                RolloutCheck? rollout = null;
                if (step == InjectionStep.Finish)
                {
                    rollout = DeploymentRolloutStatus.Evaluate(deployment);
                    if (rollout.State != RolloutState.Complete)
                    {
                        return new InjectionResult(InjectionStatus.Done, false, [], null, rollout.Detail, dryRun) { Rollout = rollout };
                    }
                }

                var services = (await client.CoreV1.ListNamespacedServiceAsync(@namespace, cancellationToken: cancellationToken).ConfigureAwait(false)).Items.ToList();
                var configMap = await NullIfNotFound(client.CoreV1.ReadNamespacedConfigMapAsync(SidecarPlanner.ConfigMapName(name), @namespace, cancellationToken: cancellationToken)).ConfigureAwait(false);
                // The other Deployments, so that a Service shared with them is never pointed at a port their pods lack.
                var deployments = (await client.AppsV1.ListNamespacedDeploymentAsync(@namespace, cancellationToken: cancellationToken).ConfigureAwait(false)).Items.ToList();
                // The pods no Deployment owns (a StatefulSet's, a bare Pod...): a Service that selects them stays as it is.
                var pods = (await client.CoreV1.ListNamespacedPodAsync(@namespace, cancellationToken: cancellationToken).ConfigureAwait(false)).Items;
                var (changes, refusal) = plan(deployment, services, configMap, deployments, PodsOfOtherWorkloads(pods, deployments));
                if (refusal is not null)
                {
                    return InjectionResult.Failed(refusal.Kind == RefusalKind.NotFound ? InjectionStatus.NotFound : InjectionStatus.Unprocessable, refusal.Message, dryRun) with { Rollout = rollout };
                }

                if (step == InjectionStep.Finish && !changes!.Removal && changes.Services.Count > 0)
                {
                    // A Service pointed at envoy-inbound has endpoints only on pods that run Envoy: every Deployment behind it
                    // must have rolled out with the sidecar, not only this one.
                    var behind = SidecarPlanner.DeploymentsBehind(changes.Services, deployments).Where(other => other.Metadata.Name != name).ToList();
                    rollout = Together(rollout!, behind, changes.Services);
                    if (rollout.State != RolloutState.Complete)
                    {
                        return new InjectionResult(InjectionStatus.Done, false, [], null, rollout.Detail, dryRun) { Rollout = rollout };
                    }
                }

                var deferred = step == InjectionStep.Apply && !dryRun ? Deferred(changes!, name) : [];
                var warnings = changes!.Warnings.Select(warning => $"warning: {warning}").ToList();
                if (!changes.Changed || step == InjectionStep.Plan)
                {
                    return new InjectionResult(InjectionStatus.Done, false, warnings, changes.Hash, rollout?.Detail, dryRun) { Rollout = rollout };
                }

                bool written;
                try
                {
                    written = await WriteAsync(@namespace, name, changes, services, dryRun, step, guard, cancellationToken).ConfigureAwait(false);
                }
                catch (SupersededException superseded)
                {
                    return InjectionResult.Failed(InjectionStatus.Unprocessable, superseded.Message, dryRun) with { Rollout = rollout };
                }

                LogChanged(@namespace, name, dryRun, step.ToString(), string.Join("; ", changes.Changes), string.Join("; ", deferred));
                return new InjectionResult(InjectionStatus.Done, written, [.. changes.Changes, .. warnings], changes.Hash, rollout?.Detail, dryRun) { Deferred = deferred, Rollout = rollout };
            }
            catch (HttpOperationException exception) when (exception.Response.StatusCode == HttpStatusCode.Conflict && attempt < attempts)
            {
                LogRetry(@namespace, name, attempt);
            }
            catch (HttpOperationException exception) when (exception.Response.StatusCode == HttpStatusCode.Conflict)
            {
                return InjectionResult.Failed(InjectionStatus.Conflict, $"the objects kept changing during {attempts} attempts: {exception.Response.Content}", dryRun);
            }
            catch (HttpOperationException exception)
            {
                return InjectionResult.Failed(InjectionStatus.ApiServerFailed, $"the API server answered {(int)exception.Response.StatusCode}: {exception.Response.Content}", dryRun);
            }
            catch (HttpRequestException exception)
            {
                return InjectionResult.Failed(InjectionStatus.ApiServerFailed, $"the API server could not be reached: {exception.Message}", dryRun);
            }
        }

        return InjectionResult.Failed(InjectionStatus.Conflict, "the objects kept changing", dryRun);
    }

    /// <summary>
    /// The running pods that are not a Deployment's, by what created them: a Deployment's pods belong to a ReplicaSet
    /// named after it and their pod-template-hash label.
    /// </summary>
    private static List<OtherPods> PodsOfOtherWorkloads(IEnumerable<V1Pod> pods, IReadOnlyList<V1Deployment> deployments)
    {
        var others = new List<OtherPods>();
        foreach (var pod in pods.Where(pod => pod.Status?.Phase is not ("Succeeded" or "Failed")))
        {
            var labels = pod.Metadata.Labels ?? new Dictionary<string, string>();
            var owner = pod.Metadata.OwnerReferences?.FirstOrDefault(reference => reference.Controller == true);
            var ownedByDeployment = owner is { Kind: "ReplicaSet" } && labels.TryGetValue("pod-template-hash", out var hash)
                && deployments.Any(deployment => owner.Name == $"{deployment.Metadata.Name}-{hash}");
            if (!ownedByDeployment)
            {
                others.Add(new OtherPods(owner?.Kind ?? "Pod", owner?.Name ?? pod.Metadata.Name, new Dictionary<string, string>(labels)));
            }
        }

        return others;
    }

    /// <summary>
    /// This Deployment's rollout (complete) together with those of the other Deployments behind the Services: failed if
    /// any failed (naming it), in progress while any is, complete when all are. The longest progress deadline counts.
    /// </summary>
    private static RolloutCheck Together(RolloutCheck own, IReadOnlyList<V1Deployment> others, IReadOnlyList<V1Service> services)
    {
        if (others.Count == 0)
        {
            return own;
        }

        var checks = others.Select(DeploymentRolloutStatus.Evaluate).ToList();
        var deadline = checks.Select(check => check.ProgressDeadline).Append(own.ProgressDeadline).Max();
        var shared = string.Join(", ", services.Select(service => service.Metadata.Name));
        if (checks.FirstOrDefault(check => check.State == RolloutState.Failed) is { } failed)
        {
            return new RolloutCheck(RolloutState.Failed, $"{failed.Detail} (Service {shared} selects its pods too)", deadline);
        }

        var waiting = checks.Where(check => check.State == RolloutState.InProgress).Select(check => check.Detail).ToList();
        return waiting.Count > 0
            ? new RolloutCheck(RolloutState.InProgress, $"{own.Detail}; Service {shared} also waits for the other Deployments behind it: {string.Join("; ", waiting)}", deadline)
            : new RolloutCheck(RolloutState.Complete, $"{own.Detail}, and so did {string.Join(", ", others.Select(other => other.Metadata.Name))} behind Service {shared}", deadline);
    }

    /// <summary>What waits for the rollout: the Service retarget (its named target port exists only on pods that run Envoy, so
    /// pointing it there before every pod does would leave it without endpoints), and on removal the ConfigMap that pods
    /// of the old ReplicaSet still mount (one recreated before the rollout ends would not start without it).</summary>
    private static IReadOnlyList<string> Deferred(SidecarPlan plan, string name)
    {
        if (plan.Removal)
        {
            return plan.DeleteConfigMap ? [$"delete ConfigMap {SidecarPlanner.ConfigMapName(name)} once the rollout is complete"] : [];
        }

        return plan.Services.Select(service => $"point Service {service.Metadata.Name} at Envoy once the rollout is complete").ToList();
    }

    /// <summary>
    /// Apply: the ConfigMap (the new pods mount it) and the Deployment; on removal the Service first (back to the app's
    /// port, which every pod, old or new, serves), then the Deployment. Finish: the injection's Service retarget, or the
    /// removal's ConfigMap deletion. A dry run sends every write with dryRun=All. Returns whether anything was written.
    /// </summary>
    /// <param name="retargeted">The Services as read, to put back if a removal cannot take the sidecar out after restoring them.</param>
    private async Task<bool> WriteAsync(string @namespace, string name, SidecarPlan plan, IReadOnlyList<V1Service> retargeted, bool dryRun, InjectionStep step, FinishGuard? guard, CancellationToken cancellationToken)
    {
        var dryRunValue = dryRun ? DryRunAll : null;
        var apply = dryRun || step == InjectionStep.Apply;
        var finish = dryRun || step == InjectionStep.Finish;
        var written = false;
        if (apply && plan.ConfigMap is { } configMap)
        {
            if (configMap.Metadata.ResourceVersion is null)
            {
                await client.CoreV1.CreateNamespacedConfigMapAsync(configMap, @namespace, dryRun: dryRunValue, fieldManager: KubernetesCluster.Component, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await client.CoreV1.ReplaceNamespacedConfigMapAsync(configMap, configMap.Metadata.Name, @namespace, dryRun: dryRunValue, fieldManager: KubernetesCluster.Component, cancellationToken: cancellationToken).ConfigureAwait(false);
            }

            written = true;
        }

        var restoredServices = new List<V1Service>();
        foreach (var restored in apply && plan.Removal ? plan.Services : [])
        {
            restoredServices.Add(await client.CoreV1.ReplaceNamespacedServiceAsync(restored, restored.Metadata.Name, @namespace, dryRun: dryRunValue, fieldManager: KubernetesCluster.Component, cancellationToken: cancellationToken).ConfigureAwait(false));
            written = true;
        }

        if (apply && plan.Deployment is { } deployment)
        {
            try
            {
                // A replace carries the resourceVersion the plan was computed from: the server refuses it (409) if stale.
                await client.AppsV1.ReplaceNamespacedDeploymentAsync(deployment, deployment.Metadata.Name, @namespace, dryRun: dryRunValue, fieldManager: KubernetesCluster.Component, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (HttpOperationException) when (!dryRun && restoredServices.Count > 0)
            {
                // The pods keep the sidecar and stay monitored: a Service left on the app port would send their users past
                // Envoy, and the workload in use would look idle. Put the Services back on Envoy before reporting the failure.
                await PutBackOnEnvoyAsync(@namespace, restoredServices, retargeted, cancellationToken).ConfigureAwait(false);
                throw;
            }

            written = true;
        }

        var pointedAtEnvoy = new List<V1Service>();
        if (finish && !plan.Removal && plan.Services.Count > 0 && guard is not null)
        {
            await guard.CheckAsync(client, @namespace, name, cancellationToken).ConfigureAwait(false);
        }

        foreach (var service in finish && !plan.Removal ? plan.Services : [])
        {
            // The replace carries the resourceVersion the plan read: a Service changed meanwhile (a removal restoring it) is a 409.
            pointedAtEnvoy.Add(await client.CoreV1.ReplaceNamespacedServiceAsync(service, service.Metadata.Name, @namespace, dryRun: dryRunValue, fieldManager: KubernetesCluster.Component, cancellationToken: cancellationToken).ConfigureAwait(false));
            written = true;
        }

        if (pointedAtEnvoy.Count > 0 && guard is not null && await guard.SidecarGoneAsync(client, @namespace, name, cancellationToken).ConfigureAwait(false) is { } gone)
        {
            await PutBackAsync(@namespace, pointedAtEnvoy, retargeted, cancellationToken).ConfigureAwait(false);
            throw new SupersededException($"{gone}; the Service was put back as it was");
        }

        if (finish && plan.DeleteConfigMap)
        {
            await NullIfNotFound(client.CoreV1.DeleteNamespacedConfigMapAsync(SidecarPlanner.ConfigMapName(name), @namespace, dryRun: dryRunValue, cancellationToken: cancellationToken)).ConfigureAwait(false);
            written = true;
        }

        return written;
    }

    /// <summary>Puts Services just pointed at Envoy back as they were read; one changed since (a removal restored it) is left alone.</summary>
    private async Task PutBackAsync(string @namespace, IReadOnlyList<V1Service> written, IReadOnlyList<V1Service> before, CancellationToken cancellationToken)
    {
        foreach (var service in written)
        {
            if (before.FirstOrDefault(candidate => candidate.Metadata.Name == service.Metadata.Name) is not { } original)
            {
                continue;
            }

            var putBack = k8s.KubernetesJson.Deserialize<V1Service>(k8s.KubernetesJson.Serialize(original));
            putBack.Metadata.ResourceVersion = service.Metadata.ResourceVersion;
            try
            {
                await client.CoreV1.ReplaceNamespacedServiceAsync(putBack, putBack.Metadata.Name, @namespace, fieldManager: KubernetesCluster.Component, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (HttpOperationException exception) when (exception.Response.StatusCode == HttpStatusCode.Conflict)
            {
                LogPutBackConflict(@namespace, putBack.Metadata.Name);
            }
        }
    }

    /// <summary>Whether a Deployment still runs injection <paramref name="hash"/>: on itself, on its pod template, and with the container.</summary>
    private static bool RunsInjection(V1Deployment deployment, string hash) =>
        deployment.Metadata.Annotations?.TryGetValue(SidecarPlanner.HashAnnotation, out var onDeployment) == true && onDeployment == hash
        && deployment.Spec?.Template?.Metadata?.Annotations?.TryGetValue(SidecarPlanner.HashAnnotation, out var onTemplate) == true && onTemplate == hash
        && (deployment.Spec.Template.Spec?.Containers ?? []).Concat(deployment.Spec.Template.Spec?.InitContainers ?? []).Any(container => container.Name == SidecarPlanner.ContainerName);

    /// <summary>The checks around an injection's Service write against a concurrent removal (or any newer operation).</summary>
    private sealed class FinishGuard(string hash, Func<CancellationToken, Task<bool>> stillCurrent)
    {
        public async Task CheckAsync(IKubernetes client, string @namespace, string name, CancellationToken cancellationToken)
        {
            if (!await stillCurrent(cancellationToken).ConfigureAwait(false))
            {
                throw new SupersededException($"a newer operation on Deployment {@namespace}/{name} replaced injection {hash} during the rollout; the Service was not changed");
            }

            if (await SidecarGoneAsync(client, @namespace, name, cancellationToken).ConfigureAwait(false) is { } gone)
            {
                throw new SupersededException($"{gone}; the Service was not changed");
            }
        }

        public async Task<string?> SidecarGoneAsync(IKubernetes client, string @namespace, string name, CancellationToken cancellationToken)
        {
            var deployment = await NullIfNotFound(client.AppsV1.ReadNamespacedDeploymentAsync(name, @namespace, cancellationToken: cancellationToken)).ConfigureAwait(false);
            return deployment is not null && RunsInjection(deployment, hash)
                ? null
                : $"Deployment {@namespace}/{name} no longer runs injection {hash} (removed or changed during the rollout)";
        }
    }

    private sealed class SupersededException(string message) : Exception(message);

    private async Task PutBackOnEnvoyAsync(string @namespace, IReadOnlyList<V1Service> restored, IReadOnlyList<V1Service> retargeted, CancellationToken cancellationToken)
    {
        foreach (var service in restored)
        {
            if (retargeted.FirstOrDefault(before => before.Metadata.Name == service.Metadata.Name) is not { } before)
            {
                continue;
            }

            var putBack = k8s.KubernetesJson.Deserialize<V1Service>(k8s.KubernetesJson.Serialize(before));
            putBack.Metadata.ResourceVersion = service.Metadata.ResourceVersion;
            await client.CoreV1.ReplaceNamespacedServiceAsync(putBack, putBack.Metadata.Name, @namespace, fieldManager: KubernetesCluster.Component, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task<T?> NullIfNotFound<T>(Task<T> read)
        where T : class
    {
        try
        {
            return await read.ConfigureAwait(false);
        }
        catch (HttpOperationException exception) when (exception.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Injection on {Namespace}/{Name} (dry run {DryRun}, step {Step}): {Changes}; waiting for the rollout: {Deferred}")]
    private partial void LogChanged(string @namespace, string name, bool dryRun, string step, string changes, string deferred);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Service {Namespace}/{Name} changed before it could be put back as it was; left as it is now")]
    private partial void LogPutBackConflict(string @namespace, string name);

    [LoggerMessage(Level = LogLevel.Information, Message = "Injection on {Namespace}/{Name}: conflict on attempt {Attempt}, reading again")]
    private partial void LogRetry(string @namespace, string name, int attempt);
}
