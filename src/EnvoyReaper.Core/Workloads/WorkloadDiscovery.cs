using System.Runtime.CompilerServices;
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
        var selection = await SelectAsync(cancellationToken).ConfigureAwait(false);
        var workloads = new List<MonitoredWorkload>(selection.Count);
        await foreach (var namespaceWorkloads in WithPodsAsync(selection, cancellationToken).ConfigureAwait(false))
        {
            workloads.AddRange(namespaceWorkloads);
        }

        return new DiscoveryResult(workloads, selection.Problems);
    }

    /// <summary>The opted-in Deployments and the problems of their opt-ins, from the Deployment and EnvoyMonitor lists.</summary>
    public async Task<OptedInDeployments> SelectAsync(CancellationToken cancellationToken)
    {
        var found = new Dictionary<ObjectRef, OptedIn>();
        var problems = new List<DiscoveryProblem>();
        var unmonitored = new HashSet<ObjectRef>();

        await foreach (var deployment in cluster.ListDeploymentsAsync(null, ReaperLabels.EnabledSelector, cancellationToken))
        {
            found[deployment.Ref] = new OptedIn(deployment, OptInSource.Label, null, parser.FromAnnotations(deployment.Annotations), null);
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

            // Two monitors of one Deployment may disagree (observe vs delete): neither is followed until one is removed.
            var contested = namespaceMonitors.Where(monitor => monitor.DeploymentName is not null)
                .GroupBy(monitor => monitor.DeploymentName!)
                .Where(group => group.Count() > 1)
                .ToDictionary(group => group.Key, group => string.Join(", ", group.Select(monitor => $"{monitor.Namespace}/{monitor.Name}").Order()));
            foreach (var monitor in namespaceMonitors.OrderBy(monitor => monitor.Namespace).ThenBy(monitor => monitor.Name))
            {
                if (monitor.DeploymentName is not null && contested.TryGetValue(monitor.DeploymentName, out var rivals))
                {
                    problems.Add(new DiscoveryProblem(monitor.Namespace, monitor.Name, OptInSource.Monitor,
                        $"EnvoyMonitors {rivals} all name Deployment {monitor.EffectiveNamespace}/{monitor.DeploymentName}; none is followed"));
                    if (deployments.TryGetValue(monitor.DeploymentName, out var contestedDeployment))
                    {
                        found.Remove(contestedDeployment.Ref);
                        unmonitored.Add(contestedDeployment.Ref);
                    }

                    continue;
                }

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
                if (!unmonitored.Contains(deployment.Ref))
                {
                    found[deployment.Ref] = new OptedIn(deployment, OptInSource.Monitor, monitor.Name, settings, monitor.Namespace);
                }
            }
        }

        return new OptedInDeployments(found.Values.ToList(), problems);
    }

    /// <summary>
    /// The workloads of <paramref name="selection"/> with their pods, one namespace at a time (one pod list each), so that
    /// a caller can act on a namespace while the next one is listed.
    /// </summary>
    public async IAsyncEnumerable<IReadOnlyList<MonitoredWorkload>> WithPodsAsync(OptedInDeployments selection, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(selection);
        foreach (var namespaceGroup in selection.Deployments.GroupBy(entry => entry.Deployment.Namespace).OrderBy(group => group.Key, StringComparer.Ordinal))
        {
            var workloads = new List<MonitoredWorkload>();
            // Index by the Deployment each pod's ReplicaSet is named after, so matching is one pass over the pods.
            var podsByDeployment = new Dictionary<string, List<PodInfo>>(StringComparer.Ordinal);
            await foreach (var pod in cluster.ListPodsAsync(namespaceGroup.Key, null, cancellationToken))
            {
                if (pod.OwnerDeploymentName is { } owner)
                {
                    if (!podsByDeployment.TryGetValue(owner, out var owned))
                    {
                        podsByDeployment[owner] = owned = [];
                    }

                    owned.Add(pod);
                }
            }

            foreach (var entry in namespaceGroup.OrderBy(entry => entry.Deployment.Name, StringComparer.Ordinal))
            {
                var pods = podsByDeployment.TryGetValue(entry.Deployment.Name, out var owned)
                    ? owned.Where(pod => pod.BelongsTo(entry.Deployment)).ToList()
                    : [];
                workloads.Add(new MonitoredWorkload(entry.Deployment, entry.Source, entry.Monitor, entry.Settings, pods, entry.MonitorNamespace));
            }

            yield return workloads;
        }
    }
}

/// <summary>A Deployment opted in, by its label or by an EnvoyMonitor, before its pods are listed.</summary>
public sealed record OptedIn(DeploymentInfo Deployment, OptInSource Source, string? Monitor, SettingsResult Settings, string? MonitorNamespace);

/// <summary>What <see cref="WorkloadDiscovery.SelectAsync"/> found: the Deployments to check and the opt-ins it cannot follow.</summary>
public sealed record OptedInDeployments(IReadOnlyList<OptedIn> Deployments, IReadOnlyList<DiscoveryProblem> Problems)
{
    public int Count => Deployments.Count;
}
