namespace EnvoyReaper.TestSupport.Kubernetes;

internal enum NameRule
{
    Dns1123Subdomain,
    Dns1123Label,
    Dns1035Label,
}

/// <summary>One row of the fake's resource table: what a real API server learns from its registry and discovery.</summary>
internal sealed record ResourceType(
    string Group,
    string Version,
    string Plural,
    string Kind,
    bool Namespaced,
    bool HasStatusSubresource,
    bool HasScaleSubresource,
    bool IsCustomResource,
    NameRule NameRule,
    bool ReturnsDeletedObject,
    IReadOnlyDictionary<string, string> ExtraFieldSelectors)
{
    public string ApiVersion => Group.Length == 0 ? Version : $"{Group}/{Version}";

    /// <summary>"deployments.apps" or "pods": how the API server names a resource in error messages.</summary>
    public string GroupResource => Group.Length == 0 ? Plural : $"{Plural}.{Group}";

    /// <summary>"Deployment.apps" or "Pod": how validation errors name the kind.</summary>
    public string GroupKind => Group.Length == 0 ? Kind : $"{Kind}.{Group}";

    public string ListKind => Kind + "List";

    // Built-in types allow PUT without a resourceVersion (last write wins); custom resources do not.
    public bool AllowsUnconditionalUpdate => !IsCustomResource;

    // The real server rejects strategic merge patches for custom resources: there is no Go struct to read patch strategies from.
    public bool SupportsStrategicMergePatch => !IsCustomResource;
}

internal static class ResourceTypeRegistry
{
    private static readonly Dictionary<string, string> NoExtraFields = new(StringComparer.Ordinal);

    private static readonly Dictionary<string, string> PodFields = new(StringComparer.Ordinal)
    {
        ["status.phase"] = "status.phase",
        ["status.podIP"] = "status.podIP",
        ["status.nominatedNodeName"] = "status.nominatedNodeName",
        ["spec.nodeName"] = "spec.nodeName",
        ["spec.restartPolicy"] = "spec.restartPolicy",
        ["spec.schedulerName"] = "spec.schedulerName",
        ["spec.serviceAccountName"] = "spec.serviceAccountName",
        ["spec.hostNetwork"] = "spec.hostNetwork",
    };

    private static readonly Dictionary<string, string> CoreEventFields = new(StringComparer.Ordinal)
    {
        ["involvedObject.kind"] = "involvedObject.kind",
        ["involvedObject.namespace"] = "involvedObject.namespace",
        ["involvedObject.name"] = "involvedObject.name",
        ["involvedObject.uid"] = "involvedObject.uid",
        ["involvedObject.apiVersion"] = "involvedObject.apiVersion",
        ["involvedObject.resourceVersion"] = "involvedObject.resourceVersion",
        ["involvedObject.fieldPath"] = "involvedObject.fieldPath",
        ["reason"] = "reason",
        ["reportingComponent"] = "reportingComponent",
        ["source"] = "source.component",
        ["type"] = "type",
    };

    // events.k8s.io/v1 shares the core event field labels, which name the core fields.
    private static readonly Dictionary<string, string> EventsV1Fields = new(StringComparer.Ordinal)
    {
        ["involvedObject.kind"] = "regarding.kind",
        ["involvedObject.namespace"] = "regarding.namespace",
        ["involvedObject.name"] = "regarding.name",
        ["involvedObject.uid"] = "regarding.uid",
        ["involvedObject.apiVersion"] = "regarding.apiVersion",
        ["involvedObject.resourceVersion"] = "regarding.resourceVersion",
        ["involvedObject.fieldPath"] = "regarding.fieldPath",
        ["reason"] = "reason",
        ["reportingComponent"] = "reportingController",
        ["source"] = "deprecatedSource.component",
        ["type"] = "type",
    };

    private static readonly Dictionary<string, string> ReplicaSetFields = new(StringComparer.Ordinal)
    {
        ["status.replicas"] = "status.replicas",
    };

    private static readonly Dictionary<string, string> NamespaceFields = new(StringComparer.Ordinal)
    {
        ["status.phase"] = "status.phase",
    };

    public static IReadOnlyList<ResourceType> All { get; } =
    [
        new("", "v1", "pods", "Pod", Namespaced: true, HasStatusSubresource: true, HasScaleSubresource: false, IsCustomResource: false, NameRule.Dns1123Subdomain, ReturnsDeletedObject: true, PodFields),
        new("", "v1", "services", "Service", Namespaced: true, HasStatusSubresource: true, HasScaleSubresource: false, IsCustomResource: false, NameRule.Dns1035Label, ReturnsDeletedObject: true, NoExtraFields),
        new("", "v1", "configmaps", "ConfigMap", Namespaced: true, HasStatusSubresource: false, HasScaleSubresource: false, IsCustomResource: false, NameRule.Dns1123Subdomain, ReturnsDeletedObject: false, NoExtraFields),
        new("", "v1", "events", "Event", Namespaced: true, HasStatusSubresource: false, HasScaleSubresource: false, IsCustomResource: false, NameRule.Dns1123Subdomain, ReturnsDeletedObject: false, CoreEventFields),
        new("", "v1", "namespaces", "Namespace", Namespaced: false, HasStatusSubresource: true, HasScaleSubresource: false, IsCustomResource: false, NameRule.Dns1123Label, ReturnsDeletedObject: true, NamespaceFields),
        new("apps", "v1", "deployments", "Deployment", Namespaced: true, HasStatusSubresource: true, HasScaleSubresource: true, IsCustomResource: false, NameRule.Dns1123Subdomain, ReturnsDeletedObject: false, NoExtraFields),
        new("apps", "v1", "replicasets", "ReplicaSet", Namespaced: true, HasStatusSubresource: true, HasScaleSubresource: true, IsCustomResource: false, NameRule.Dns1123Subdomain, ReturnsDeletedObject: false, ReplicaSetFields),
        // Registry of discovery.k8s.io: no status subresource, a delete answers with a Status.
        new("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", Namespaced: true, HasStatusSubresource: false, HasScaleSubresource: false, IsCustomResource: false, NameRule.Dns1123Subdomain, ReturnsDeletedObject: false, NoExtraFields),
        new("networking.k8s.io", "v1", "ingresses", "Ingress", Namespaced: true, HasStatusSubresource: true, HasScaleSubresource: false, IsCustomResource: false, NameRule.Dns1123Subdomain, ReturnsDeletedObject: false, NoExtraFields),
        new("events.k8s.io", "v1", "events", "Event", Namespaced: true, HasStatusSubresource: false, HasScaleSubresource: false, IsCustomResource: false, NameRule.Dns1123Subdomain, ReturnsDeletedObject: false, EventsV1Fields),
        new("monitoring.example.com", "v1alpha1", "envoymonitors", "EnvoyMonitor", Namespaced: true, HasStatusSubresource: true, HasScaleSubresource: false, IsCustomResource: true, NameRule.Dns1123Subdomain, ReturnsDeletedObject: true, NoExtraFields),
    ];

    public static bool IsKnownGroupVersion(string group, string version) =>
        All.Any(type => type.Group == group && type.Version == version);

    public static ResourceType? Find(string group, string version, string plural) =>
        All.FirstOrDefault(type => type.Group == NormalizeGroup(group) && type.Version == version && type.Plural == plural);

    public static ResourceType? FindByKind(string group, string version, string kind) =>
        All.FirstOrDefault(type => type.Group == NormalizeGroup(group) && type.Version == version && type.Kind == kind);

    public static ResourceType Require(string group, string version, string plural) =>
        Find(group, version, plural)
        ?? throw new ArgumentException($"The fake API server has no resource {plural} in {(NormalizeGroup(group).Length == 0 ? "core" : group)}/{version}.");

    public static string NormalizeGroup(string group) => group is "core" ? "" : group;

    public static (string Group, string Version) SplitApiVersion(string apiVersion)
    {
        var slash = apiVersion.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? ("", apiVersion) : (apiVersion[..slash], apiVersion[(slash + 1)..]);
    }
}
