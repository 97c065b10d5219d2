using System.Text.Json.Nodes;
using EnvoyReaper.Cluster;
using EnvoyReaper.Workloads;

namespace EnvoyReaper.Teardown;

public sealed record TeardownPlan(
    ClusterObject Deployment,
    IReadOnlyList<ClusterObject> Services,
    IReadOnlyList<ClusterObject> Ingresses,
    ClusterObject? SidecarConfigMap,
    IReadOnlyList<string> Notes)
{
    public IEnumerable<ClusterObject> SnapshotObjects =>
        new[] { Deployment }.Concat(Services).Concat(Ingresses).Concat(SidecarConfigMap is null ? [] : [SidecarConfigMap]);

    /// <summary>Front door first, so that no new user arrives at a Service whose pods are going away.</summary>
    public IEnumerable<ClusterObject> DeletionOrder =>
        Ingresses.Concat(Services).Concat(SidecarConfigMap is { } map && IsManagedByReaper(map) ? [map] : []).Append(Deployment);

    public static bool IsManagedByReaper(ClusterObject configMap) =>
        configMap.Manifest["metadata"]?["labels"]?["app.kubernetes.io/managed-by"]?.GetValue<string>() == "envoy-reaper";
}

public sealed record NamespaceContents(
    IReadOnlyList<ClusterObject> Services,
    IReadOnlyList<ClusterObject> Ingresses,
    IReadOnlyList<DeploymentInfo> Deployments,
    IReadOnlyList<PodInfo> Pods);

/// <summary>
/// Decides what belongs to a workload. A Service or Ingress is taken only when the settings name it, or when it
/// serves nothing but this Deployment: deleting a Service shared with another workload would cut that one off.
/// </summary>
public static class TeardownPlanner
{
    public static TeardownPlan Plan(ClusterObject deployment, DeploymentInfo info, WorkloadSettings settings, NamespaceContents contents, ClusterObject? sidecarConfigMap)
    {
        var notes = new List<string>();
        var services = new List<ClusterObject>();
        if (settings.ServiceName is { } serviceName)
        {
            var named = contents.Services.FirstOrDefault(service => service.Name == serviceName);
            if (named is null)
            {
                notes.Add($"Service {serviceName} named in the settings does not exist");
            }
            else
            {
                services.Add(named);
            }
        }
        else
        {
            services.AddRange(contents.Services.Where(service => ServesOnly(service, info, contents)));
        }

        var serviceNames = services.Select(service => service.Name).ToHashSet(StringComparer.Ordinal);
        var ingresses = new List<ClusterObject>();
        if (settings.IngressName is { } ingressName)
        {
            var named = contents.Ingresses.FirstOrDefault(ingress => ingress.Name == ingressName);
            if (named is null)
            {
                notes.Add($"Ingress {ingressName} named in the settings does not exist");
            }
            else
            {
                ingresses.Add(named);
            }
        }
        else
        {
            ingresses.AddRange(contents.Ingresses.Where(ingress =>
                BackendServices(ingress) is { Count: > 0 } backends && backends.All(serviceNames.Contains)));
        }

        return new TeardownPlan(deployment, services, ingresses, sidecarConfigMap, notes);
    }

    private static bool ServesOnly(ClusterObject service, DeploymentInfo deployment, NamespaceContents contents)
    {
        if (service.Manifest["spec"]?["selector"] is not JsonObject selectorNode || selectorNode.Count == 0)
        {
            return false; // A Service without selector routes to endpoints someone manages by hand.
        }

        var selector = LabelSelector.FromLabels(selectorNode.ToDictionary(pair => pair.Key, pair => pair.Value?.GetValue<string>() ?? string.Empty));
        if (!selector.Matches(deployment.TemplateLabels))
        {
            return false;
        }

        var otherDeployment = contents.Deployments.Any(other => other.Name != deployment.Name && selector.Matches(other.TemplateLabels));
        var otherPod = contents.Pods.Any(pod => selector.Matches(pod.Labels) && !pod.BelongsTo(deployment));
        return !otherDeployment && !otherPod;
    }

    public static IReadOnlyList<string> BackendServices(ClusterObject ingress)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        var spec = ingress.Manifest["spec"];
        AddBackend(spec?["defaultBackend"], names);
        if (spec?["rules"] is JsonArray rules)
        {
            foreach (var rule in rules)
            {
                if (rule?["http"]?["paths"] is JsonArray paths)
                {
                    foreach (var path in paths)
                    {
                        AddBackend(path?["backend"], names);
                    }
                }
            }
        }

        return names.ToList();
    }

    private static void AddBackend(JsonNode? backend, HashSet<string> names)
    {
        if (backend is null)
        {
            return;
        }

        if (backend["service"]?["name"]?.GetValue<string>() is { } name)
        {
            names.Add(name);
        }
        else
        {
            names.Add("\0resource"); // A resource backend is not a Service we could own: never matches.
        }
    }
}
