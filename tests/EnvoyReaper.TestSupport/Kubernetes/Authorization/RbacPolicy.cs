using k8s.Models;

namespace EnvoyReaper.TestSupport.Kubernetes.Authorization;

/// <summary>A service account as the API server authenticates it: its user name and the groups every token carries.</summary>
public sealed record ServiceAccountIdentity(string Namespace, string Name)
{
    public string UserName => $"system:serviceaccount:{Namespace}:{Name}";

    public IReadOnlyList<string> Groups => ["system:serviceaccounts", $"system:serviceaccounts:{Namespace}", "system:authenticated"];

    public override string ToString() => UserName;
}

/// <summary>Why a request was allowed (the binding and role that grant it) or denied.</summary>
public sealed record RbacDecision(bool Allowed, string Reason);

/// <summary>
/// The RBAC authorizer of kube-apiserver over a fixed set of roles and bindings (plugin/pkg/auth/authorizer/rbac):
/// ClusterRoleBindings grant their ClusterRole's rules in every namespace and at cluster scope; a RoleBinding grants
/// its Role's or ClusterRole's rules only inside its own namespace. A rule matches when a verb, an API group, a
/// resource ("resource/subresource" for a subresource, "*/subresource", "*") and, when it lists any, a resource name
/// match; non-resource URLs only through ClusterRoleBindings. Aggregated ClusterRoles are not expanded. The default
/// discovery role every authenticated user holds (system:discovery) can be included.
/// </summary>
public sealed class RbacPolicy
{
    private static readonly V1PolicyRule[] DiscoveryRules =
    [
        new V1PolicyRule
        {
            NonResourceURLs = ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz", "/openapi", "/openapi/*", "/version", "/version/"],
            Verbs = ["get"],
        },
    ];

    private readonly List<V1ClusterRole> clusterRoles = [];
    private readonly List<V1Role> roles = [];
    private readonly List<V1ClusterRoleBinding> clusterRoleBindings = [];
    private readonly List<V1RoleBinding> roleBindings = [];
    private readonly bool includeDefaultDiscovery;

    public RbacPolicy(IEnumerable<object> objects, bool includeDefaultDiscovery = true)
    {
        ArgumentNullException.ThrowIfNull(objects);
        this.includeDefaultDiscovery = includeDefaultDiscovery;
        foreach (var item in objects)
        {
            switch (item)
            {
                case V1ClusterRole clusterRole:
                    clusterRoles.Add(clusterRole);
                    break;
                case V1Role role:
                    roles.Add(role);
                    break;
                case V1ClusterRoleBinding binding:
                    clusterRoleBindings.Add(binding);
                    break;
                case V1RoleBinding binding:
                    roleBindings.Add(binding);
                    break;
            }
        }
    }

    public IReadOnlyList<V1ClusterRole> ClusterRoles => clusterRoles;

    public IReadOnlyList<V1Role> Roles => roles;

    public IReadOnlyList<V1ClusterRoleBinding> ClusterRoleBindings => clusterRoleBindings;

    public IReadOnlyList<V1RoleBinding> RoleBindings => roleBindings;

    public RbacDecision Authorize(ServiceAccountIdentity identity, RequestAttributes request)
    {
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(request);
        if (includeDefaultDiscovery && DiscoveryRules.Any(rule => RuleAllows(rule, request)))
        {
            return new RbacDecision(true, "ClusterRoleBinding system:discovery (every authenticated user)");
        }

        foreach (var binding in clusterRoleBindings.Where(binding => AppliesTo(binding.Subjects, identity, bindingNamespace: "")))
        {
            if (binding.RoleRef.Kind == "ClusterRole" && FindClusterRole(binding.RoleRef.Name) is { } role
                && role.Rules?.FirstOrDefault(rule => RuleAllows(rule, request)) is { } rule)
            {
                return new RbacDecision(true, $"ClusterRoleBinding {binding.Metadata.Name} of ClusterRole {role.Metadata.Name}: {Describe(rule)}");
            }
        }

        // Namespaced bindings never authorize cluster-scoped requests (nor non-resource URLs).
        if (request.Namespace.Length > 0)
        {
            foreach (var binding in roleBindings.Where(binding => binding.Metadata.NamespaceProperty == request.Namespace && AppliesTo(binding.Subjects, identity, binding.Metadata.NamespaceProperty)))
            {
                var rules = binding.RoleRef.Kind switch
                {
                    "ClusterRole" => FindClusterRole(binding.RoleRef.Name)?.Rules,
                    "Role" => roles.FirstOrDefault(role => role.Metadata.NamespaceProperty == binding.Metadata.NamespaceProperty && role.Metadata.Name == binding.RoleRef.Name)?.Rules,
                    _ => null,
                };
                if (rules?.FirstOrDefault(rule => RuleAllows(rule, request)) is { } rule)
                {
                    return new RbacDecision(true, $"RoleBinding {binding.Metadata.NamespaceProperty}/{binding.Metadata.Name} of {binding.RoleRef.Kind} {binding.RoleRef.Name}: {Describe(rule)}");
                }
            }
        }

        return new RbacDecision(false, $"{identity} may not {request}");
    }

    public static bool RuleAllows(V1PolicyRule rule, RequestAttributes request)
    {
        ArgumentNullException.ThrowIfNull(rule);
        ArgumentNullException.ThrowIfNull(request);
        if (!VerbMatches(rule, request.Verb))
        {
            return false;
        }

        if (!request.IsResourceRequest)
        {
            return (rule.NonResourceURLs ?? []).Any(url => url == "*" || url == request.Path
                || (url.EndsWith('*') && request.Path.StartsWith(url.TrimEnd('*'), StringComparison.Ordinal)));
        }

        return (rule.ApiGroups ?? []).Any(group => group == "*" || group == request.ApiGroup)
            && ResourceMatches(rule, request.ResourceWithSubresource, request.Subresource)
            && (rule.ResourceNames is not { Count: > 0 } names || names.Contains(request.Name));
    }

    private static bool VerbMatches(V1PolicyRule rule, string verb) => (rule.Verbs ?? []).Any(candidate => candidate == "*" || candidate == verb);

    private static bool ResourceMatches(V1PolicyRule rule, string combined, string subresource) =>
        (rule.Resources ?? []).Any(resource => resource == "*" || resource == combined
            || (subresource.Length > 0 && resource == $"*/{subresource}"));

    private V1ClusterRole? FindClusterRole(string name) => clusterRoles.FirstOrDefault(role => role.Metadata.Name == name);

    private static bool AppliesTo(IList<Rbacv1Subject>? subjects, ServiceAccountIdentity identity, string bindingNamespace) =>
        (subjects ?? []).Any(subject => subject.Kind switch
        {
            // A ServiceAccount subject without a namespace takes the RoleBinding's (kubectl fills it in); a
            // ClusterRoleBinding's has none to give, and the API server rejects it.
            "ServiceAccount" => subject.Name == identity.Name && (string.IsNullOrEmpty(subject.NamespaceProperty) ? bindingNamespace : subject.NamespaceProperty) == identity.Namespace,
            "User" => subject.Name == identity.UserName,
            "Group" => identity.Groups.Contains(subject.Name),
            _ => false,
        });

    private static string Describe(V1PolicyRule rule) =>
        rule.NonResourceURLs is { Count: > 0 } urls
            ? $"{string.Join(",", rule.Verbs)} on {string.Join(",", urls)}"
            : $"{string.Join(",", rule.Verbs)} on [{string.Join(",", rule.ApiGroups ?? [])}] {string.Join(",", rule.Resources ?? [])}{(rule.ResourceNames is { Count: > 0 } names ? " named " + string.Join(",", names) : "")}";
}
