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

    /// <summary>
    /// The Deployment first, under uid and resourceVersion preconditions: it is the strongest guard, and when it refuses
    /// nothing else was touched. Then what only served it: Services, Ingresses, the reaper's own sidecar ConfigMap.
    /// </summary>
    public IEnumerable<ClusterObject> DeletionOrder =>
        new[] { Deployment }.Concat(Services).Concat(Ingresses).Concat(SidecarConfigMap is { } map && IsManagedByReaper(map) ? [map] : []);

    public static bool IsManagedByReaper(ClusterObject configMap) =>
        configMap.Manifest["metadata"]?["labels"]?["app.kubernetes.io/managed-by"]?.GetValue<string>() == "envoy-reaper";
}

public sealed record NamespaceContents(
    IReadOnlyList<ClusterObject> Services,
    IReadOnlyList<ClusterObject> Ingresses,
    IReadOnlyList<DeploymentInfo> Deployments,
    IReadOnlyList<PodInfo> Pods);

/// <summary>
/// Decides what belongs to a workload. A Service or Ingress is taken only when it serves nothing but this Deployment:
/// deleting one shared with another workload would cut that one off. Names in the settings choose which objects are
/// considered, never past that rule: anyone who can edit the Deployment can write them.
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
            else if (SelectedElsewhere(named, info, contents) is { } others)
            {
                notes.Add($"Service {serviceName} named in the settings also serves {others}: kept");
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
            var otherBackends = named is null
                ? []
                : BackendServices(named)
                    .Where(backend => !serviceNames.Contains(backend) && (backend == ResourceBackend || contents.Services.Any(service => service.Name == backend)))
                    .Select(backend => backend == ResourceBackend ? "a resource backend" : $"Service {backend}")
                    .ToList();
            if (named is null)
            {
                notes.Add($"Ingress {ingressName} named in the settings does not exist");
            }
            else if (otherBackends.Count > 0)
            {
                notes.Add($"Ingress {ingressName} named in the settings also routes to {string.Join(", ", otherBackends)}, which this teardown keeps: kept");
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
        if (Selector(service) is not { } selector || !selector.Matches(deployment.TemplateLabels))
        {
            return false; // A Service without selector routes to endpoints someone manages by hand.
        }

        return SelectedElsewhere(service, deployment, contents) is null;
    }

    /// <summary>What else the Service's selector selects: other Deployments' pod templates, pods not of this Deployment.</summary>
    private static string? SelectedElsewhere(ClusterObject service, DeploymentInfo deployment, NamespaceContents contents)
    {
        if (Selector(service) is not { } selector)
        {
            return null;
        }

        var others = contents.Deployments
            .Where(other => other.Name != deployment.Name && selector.Matches(other.TemplateLabels))
            .Select(other => $"Deployment {other.Name}")
            .ToList();
        var otherPods = contents.Pods.Count(pod => selector.Matches(pod.Labels) && !pod.BelongsTo(deployment));
        if (otherPods > 0)
        {
            others.Add($"{otherPods} pod(s) not of Deployment {deployment.Name}");
        }

        return others.Count > 0 ? string.Join(", ", others) : null;
    }

    private static LabelSelector? Selector(ClusterObject service) =>
        service.Manifest["spec"]?["selector"] is JsonObject selectorNode && selectorNode.Count > 0
            ? LabelSelector.FromLabels(selectorNode.ToDictionary(pair => pair.Key, pair => pair.Value?.GetValue<string>() ?? string.Empty))
            : null;

    private const string ResourceBackend = "\0resource";

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
            names.Add(ResourceBackend); // A resource backend is not a Service we could own: never matches.
        }
    }
}
