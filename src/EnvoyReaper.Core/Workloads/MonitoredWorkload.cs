using EnvoyReaper.Cluster;
using EnvoyReaper.Messaging;

namespace EnvoyReaper.Workloads;

/// <summary>A Deployment that opted in, with its settings (or why they could not be read) and its pods.</summary>
public sealed record MonitoredWorkload(
    DeploymentInfo Deployment,
    OptInSource Source,
    string? Monitor,
    SettingsResult Settings,
    IReadOnlyList<PodInfo> Pods,
    string? MonitorNamespace = null)
{
    /// <summary>The pods that serve or may serve users: all but the finished ones (Failed, evicted, Succeeded).</summary>
    public IEnumerable<PodInfo> ServingPods => Pods.Where(pod => !pod.Finished);

    public IEnumerable<PodInfo> ReadyPods => ServingPods.Where(pod => pod is { Ready: true, Terminating: false, Ip: not null });

    /// <summary>Pods that may have users but cannot be read: starting, unready, or shutting down while draining.</summary>
    public int NotReadyPods => ServingPods.Count(pod => pod.Terminating || !(pod.Ready && pod.Ip is not null));
}

/// <summary>An opt-in that does not resolve to a Deployment (e.g. an EnvoyMonitor naming a missing one).</summary>
public sealed record DiscoveryProblem(string Namespace, string Name, OptInSource Source, string Message);

public sealed record DiscoveryResult(IReadOnlyList<MonitoredWorkload> Workloads, IReadOnlyList<DiscoveryProblem> Problems);
