using EnvoyReaper.Cluster;
using EnvoyReaper.Messaging;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Workloads;

/// <summary>
/// Finds every monitored workload with a number of API requests that grows with pages, not with workloads:
/// one labelled-Deployment list, one EnvoyMonitor list, and per namespace involved one Deployment list (for monitors)
/// and one pod list.
/// </summary>
public sealed class WorkloadDiscovery(IClusterReader cluster, IOptions<ReaperOptions> options)
{
    private readonly WorkloadSettingsParser parser = new(options.Value);

    public async Task<DiscoveryResult> DiscoverAsync(CancellationToken cancellationToken)
    {
        var found = new Dictionary<ObjectRef, (DeploymentInfo Deployment, OptInSource Source, string? Monitor, SettingsResult Settings)>();
        var problems = new List<DiscoveryProblem>();

        await foreach (var deployment in cluster.ListDeploymentsAsync(null, ReaperLabels.EnabledSelector, cancellationToken))
        {
            found[deployment.Ref] = (deployment, OptInSource.Label, null, parser.FromAnnotations(deployment.Annotations));
        }

        var monitors = new List<MonitorInfo>();
        await foreach (var monitor in cluster.ListMonitorsAsync(cancellationToken))
        {
            monitors.Add(monitor);
        }

        if (!options.Value.AllowCrossNamespaceMonitors)
        {
            foreach (var crossing in monitors.Where(monitor => monitor.EffectiveNamespace != monitor.Namespace))
            {
                problems.Add(new DiscoveryProblem(crossing.Namespace, crossing.Name, OptInSource.Monitor,
                    $"spec.namespace '{crossing.EffectiveNamespace}' is another namespace; set Reaper:AllowCrossNamespaceMonitors to allow it"));
            }

            monitors.RemoveAll(monitor => monitor.EffectiveNamespace != monitor.Namespace);
        }

        foreach (var namespaceMonitors in monitors.GroupBy(monitor => monitor.EffectiveNamespace))
        {
            var deployments = new Dictionary<string, DeploymentInfo>();
            if (KubernetesNames.IsDns1123Label(namespaceMonitors.Key))
            {
                await foreach (var deployment in cluster.ListDeploymentsAsync(namespaceMonitors.Key, null, cancellationToken))
                {
                    deployments[deployment.Name] = deployment;
                }
            }

            foreach (var monitor in namespaceMonitors.OrderBy(monitor => monitor.Namespace).ThenBy(monitor => monitor.Name))
            {
                var settings = parser.FromMonitor(monitor);
                if (monitor.DeploymentName is null || !deployments.TryGetValue(monitor.DeploymentName, out var deployment))
                {
                    problems.Add(new DiscoveryProblem(monitor.Namespace, monitor.Name, OptInSource.Monitor,
                        settings.IsValid
                            ? $"Deployment {monitor.EffectiveNamespace}/{monitor.DeploymentName} not found"
                            : string.Join("; ", settings.Errors)));
                    continue;
                }

                // A monitor is the more explicit opt-in, so it wins over the label when both name a Deployment.
                found[deployment.Ref] = (deployment, OptInSource.Monitor, monitor.Name, settings);
            }
        }

        var workloads = new List<MonitoredWorkload>(found.Count);
        foreach (var namespaceGroup in found.Values.GroupBy(entry => entry.Deployment.Namespace).OrderBy(group => group.Key, StringComparer.Ordinal))
        {
            var pods = new List<PodInfo>();
            await foreach (var pod in cluster.ListPodsAsync(namespaceGroup.Key, null, cancellationToken))
            {
                pods.Add(pod);
            }

            foreach (var entry in namespaceGroup.OrderBy(entry => entry.Deployment.Name, StringComparer.Ordinal))
            {
                workloads.Add(new MonitoredWorkload(
                    entry.Deployment,
                    entry.Source,
                    entry.Monitor,
                    entry.Settings,
                    pods.Where(pod => pod.BelongsTo(entry.Deployment)).ToList()));
            }
        }

        return new DiscoveryResult(workloads, problems);
    }
}
