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
    public static InjectionResult Failed(InjectionStatus status, string detail, bool dryRun) => new(status, false, [], null, detail, dryRun);
}

/// <summary>
/// Reads what exists, plans with <see cref="SidecarPlanner"/>, and writes with the resourceVersion it read: when
/// someone else wrote in between (409), it reads again and re-plans, a bounded number of times.
/// </summary>
public sealed partial class SidecarInjector(IKubernetes client, IOptions<InjectionOptions> options, ILogger<SidecarInjector> logger)
{
    private const string DryRunAll = "All";

    public Task<InjectionResult> InjectAsync(ValidInjection request, bool dryRun, CancellationToken cancellationToken) =>
        RunAsync(request.Namespace, request.Deployment, dryRun, cancellationToken, (deployment, services, configMap, deployments) =>
        {
            var (plan, refusal) = SidecarPlanner.PlanInjection(request, deployment, services, configMap, options.Value, deployments: deployments);
            return (plan, refusal);
        });

    public Task<InjectionResult> RemoveAsync(string @namespace, string deployment, bool dryRun, CancellationToken cancellationToken) =>
        RunAsync(@namespace, deployment, dryRun, cancellationToken, (current, services, configMap, deployments) =>
            (SidecarPlanner.PlanRemoval(current, services, configMap, deployments), null));

    private async Task<InjectionResult> RunAsync(
        string @namespace,
        string name,
        bool dryRun,
        CancellationToken cancellationToken,
        Func<V1Deployment, IReadOnlyList<V1Service>, V1ConfigMap?, IReadOnlyList<V1Deployment>, (SidecarPlan? Plan, Refusal? Refusal)> plan)
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

                var services = (await client.CoreV1.ListNamespacedServiceAsync(@namespace, cancellationToken: cancellationToken).ConfigureAwait(false)).Items.ToList();
                var configMap = await NullIfNotFound(client.CoreV1.ReadNamespacedConfigMapAsync(SidecarPlanner.ConfigMapName(name), @namespace, cancellationToken: cancellationToken)).ConfigureAwait(false);
                // The other Deployments, so that a Service shared with them is never pointed at a port their pods lack.
                var deployments = (await client.AppsV1.ListNamespacedDeploymentAsync(@namespace, cancellationToken: cancellationToken).ConfigureAwait(false)).Items.ToList();
                var (changes, refusal) = plan(deployment, services, configMap, deployments);
                if (refusal is not null)
                {
                    return InjectionResult.Failed(refusal.Kind == RefusalKind.NotFound ? InjectionStatus.NotFound : InjectionStatus.Unprocessable, refusal.Message, dryRun);
                }

                var warnings = changes!.Warnings.Select(warning => $"warning: {warning}").ToList();
                if (!changes.Changed)
                {
                    return new InjectionResult(InjectionStatus.Done, false, warnings, changes.Hash, null, dryRun);
                }

                await WriteAsync(@namespace, name, changes, dryRun, cancellationToken).ConfigureAwait(false);
                LogChanged(@namespace, name, dryRun, string.Join("; ", changes.Changes));
                return new InjectionResult(InjectionStatus.Done, true, [.. changes.Changes, .. warnings], changes.Hash, null, dryRun);
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
    /// Injection: ConfigMap (the new pods mount it), Deployment, then Service (its named target port reaches only pods
    /// that run Envoy). Removal: Service first (back to the app's port, which every pod serves), then Deployment, then
    /// the ConfigMap nothing mounts any more.
    /// </summary>
    private async Task WriteAsync(string @namespace, string name, SidecarPlan plan, bool dryRun, CancellationToken cancellationToken)
    {
        var dryRunValue = dryRun ? DryRunAll : null;
        if (plan.ConfigMap is { } configMap)
        {
            if (configMap.Metadata.ResourceVersion is null)
            {
                await client.CoreV1.CreateNamespacedConfigMapAsync(configMap, @namespace, dryRun: dryRunValue, fieldManager: KubernetesCluster.Component, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await client.CoreV1.ReplaceNamespacedConfigMapAsync(configMap, configMap.Metadata.Name, @namespace, dryRun: dryRunValue, fieldManager: KubernetesCluster.Component, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
        }

        if (plan.Removal)
        {
            foreach (var restored in plan.Services)
            {
                await client.CoreV1.ReplaceNamespacedServiceAsync(restored, restored.Metadata.Name, @namespace, dryRun: dryRunValue, fieldManager: KubernetesCluster.Component, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
        }

        if (plan.Deployment is { } deployment)
        {
            // A replace carries the resourceVersion the plan was computed from: the server refuses it (409) if stale.
            await client.AppsV1.ReplaceNamespacedDeploymentAsync(deployment, deployment.Metadata.Name, @namespace, dryRun: dryRunValue, fieldManager: KubernetesCluster.Component, cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        if (!plan.Removal)
        {
            foreach (var service in plan.Services)
            {
                await client.CoreV1.ReplaceNamespacedServiceAsync(service, service.Metadata.Name, @namespace, dryRun: dryRunValue, fieldManager: KubernetesCluster.Component, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
        }

        if (plan.DeleteConfigMap)
        {
            await NullIfNotFound(client.CoreV1.DeleteNamespacedConfigMapAsync(SidecarPlanner.ConfigMapName(name), @namespace, dryRun: dryRunValue, cancellationToken: cancellationToken)).ConfigureAwait(false);
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

    [LoggerMessage(Level = LogLevel.Information, Message = "Injection on {Namespace}/{Name} (dry run {DryRun}): {Changes}")]
    private partial void LogChanged(string @namespace, string name, bool dryRun, string changes);

    [LoggerMessage(Level = LogLevel.Information, Message = "Injection on {Namespace}/{Name}: conflict on attempt {Attempt}, reading again")]
    private partial void LogRetry(string @namespace, string name, int attempt);
}
