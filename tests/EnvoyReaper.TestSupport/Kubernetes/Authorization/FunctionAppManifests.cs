using k8s;
using k8s.Models;
using YamlDotNet.RepresentationModel;

namespace EnvoyReaper.TestSupport.Kubernetes.Authorization;

/// <summary>
/// The manifests a user applies, read as the cluster would hold them: RBAC objects (for <see cref="RbacPolicy"/>),
/// Deployments, ConfigMaps and ServiceAccounts loaded strictly with the Kubernetes client; other kinds (KEDA's) skipped.
/// Answers which service account runs which function of the Functions host, from each Deployment's environment.
/// </summary>
public sealed class FunctionAppManifests
{
    private static readonly Dictionary<string, Type> Kinds = new(StringComparer.Ordinal)
    {
        ["v1/Namespace"] = typeof(V1Namespace),
        ["v1/ServiceAccount"] = typeof(V1ServiceAccount),
        ["v1/ConfigMap"] = typeof(V1ConfigMap),
        ["v1/Secret"] = typeof(V1Secret),
        ["v1/Service"] = typeof(V1Service),
        ["apps/v1/Deployment"] = typeof(V1Deployment),
        ["rbac.authorization.k8s.io/v1/ClusterRole"] = typeof(V1ClusterRole),
        ["rbac.authorization.k8s.io/v1/ClusterRoleBinding"] = typeof(V1ClusterRoleBinding),
        ["rbac.authorization.k8s.io/v1/Role"] = typeof(V1Role),
        ["rbac.authorization.k8s.io/v1/RoleBinding"] = typeof(V1RoleBinding),
    };

    private FunctionAppManifests(List<object> objects) => Objects = objects;

    public IReadOnlyList<object> Objects { get; }

    public IEnumerable<V1Deployment> Deployments => Objects.OfType<V1Deployment>();

    public RbacPolicy Policy(bool includeDefaultDiscovery = true) => new(Objects, includeDefaultDiscovery);

    public static FunctionAppManifests Load(IEnumerable<string> files)
    {
        ArgumentNullException.ThrowIfNull(files);
        var objects = new List<object>();
        foreach (var file in files)
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(File.ReadAllText(file)));
            foreach (var document in stream.Documents)
            {
                if (document.RootNode is not YamlMappingNode root
                    || !root.Children.TryGetValue(new YamlScalarNode("apiVersion"), out var apiVersion)
                    || !root.Children.TryGetValue(new YamlScalarNode("kind"), out var kind)
                    || !Kinds.ContainsKey($"{apiVersion}/{kind}"))
                {
                    continue;
                }

                var single = new YamlStream(new YamlDocument(root));
                using var writer = new StringWriter();
                single.Save(writer, assignAnchors: false);
                objects.AddRange(KubernetesYaml.LoadAllFromString(writer.ToString(), Kinds, strict: true));
            }
        }

        return new FunctionAppManifests(objects);
    }

    public static ServiceAccountIdentity IdentityOf(V1Deployment deployment)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        var name = deployment.Spec.Template.Spec.ServiceAccountName;
        return new ServiceAccountIdentity(deployment.Metadata.NamespaceProperty, string.IsNullOrEmpty(name) ? "default" : name);
    }

    /// <summary>
    /// The single container's environment as the Functions host reads it: envFrom ConfigMaps first, then env. Values
    /// from Secrets or the pod are placeholders ("secret:name/key", "(from the pod)").
    /// </summary>
    public Dictionary<string, string> Environment(V1Deployment deployment)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        var container = deployment.Spec.Template.Spec.Containers.Single();
        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var reference in container.EnvFrom ?? [])
        {
            if (reference.ConfigMapRef is { } configMapRef)
            {
                foreach (var (key, value) in ConfigMap(deployment.Metadata.NamespaceProperty, configMapRef.Name).Data ?? new Dictionary<string, string>())
                {
                    settings[(reference.Prefix ?? "") + key] = value;
                }
            }
        }

        foreach (var variable in container.Env ?? [])
        {
            settings[variable.Name] = variable.ValueFrom switch
            {
                { SecretKeyRef: { } secret } => $"secret:{secret.Name}/{secret.Key}",
                { ConfigMapKeyRef: { } configMap } => ConfigMap(deployment.Metadata.NamespaceProperty, configMap.Name).Data[configMap.Key],
                null => variable.Value ?? "",
                _ => "(from the pod)",
            };
        }

        return settings;
    }

    /// <summary>
    /// Whether the Functions host in this Deployment runs <paramref name="function"/>: the host loads only the functions
    /// of its allow list (host.json "functions", here AzureFunctionsJobHost__functions__N) when one is set, and never one
    /// whose AzureWebJobs.{name}.Disabled is true. Names compare case-insensitively, as the host compares them.
    /// </summary>
    public bool Runs(V1Deployment deployment, string function)
    {
        var settings = Environment(deployment);
        var allowList = AllowList(settings);
        var allowed = allowList is null || allowList.Contains(function, StringComparer.OrdinalIgnoreCase);
        var disabled = settings.FirstOrDefault(pair => string.Equals(pair.Key, $"AzureWebJobs.{function}.Disabled", StringComparison.OrdinalIgnoreCase)).Value;
        return allowed && !string.Equals(disabled, "true", StringComparison.OrdinalIgnoreCase) && disabled != "1";
    }

    /// <summary>The host's function allow list from AzureFunctionsJobHost__functions__0..N, or null when none is set.</summary>
    public static IReadOnlyList<string>? AllowList(IReadOnlyDictionary<string, string> settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        const string prefix = "AzureFunctionsJobHost__functions__";
        var entries = settings.Where(pair => pair.Key.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)).ToList();
        return entries.Count == 0 ? null : entries.Select(pair => pair.Value).ToList();
    }

    /// <summary>The service accounts under which <paramref name="function"/> runs, one per Deployment that runs it.</summary>
    public IReadOnlyList<ServiceAccountIdentity> IdentitiesRunning(string function) =>
        Deployments.Where(deployment => Runs(deployment, function)).Select(IdentityOf).Distinct().ToList();

    private V1ConfigMap ConfigMap(string @namespace, string name) =>
        Objects.OfType<V1ConfigMap>().SingleOrDefault(item => item.Metadata.Name == name && item.Metadata.NamespaceProperty == @namespace)
        ?? throw new InvalidDataException($"ConfigMap {@namespace}/{name} is not in the manifests");
}
