using EnvoyReaper.TestSupport.Kubernetes.Authorization;
using k8s;
using k8s.Models;

namespace EnvoyReaper.Kubernetes.Tests.Authorization;

/// <summary>The tests' RBAC evaluator and request attributes follow kube-apiserver's rules, so that they can fail.</summary>
public sealed class RbacPolicyTests
{
    private static readonly ServiceAccountIdentity Worker = new("envoy-reaper", "worker");
    private static readonly ServiceAccountIdentity Other = new("envoy-reaper", "other");

    private static RequestAttributes Request(string method, string path, string query = "") => RequestAttributes.Parse(method, path, query);

    private static RbacPolicy Policy(string yaml) => new(KubernetesYaml.LoadAllFromString(yaml, new Dictionary<string, Type>
    {
        ["rbac.authorization.k8s.io/v1/ClusterRole"] = typeof(V1ClusterRole),
        ["rbac.authorization.k8s.io/v1/ClusterRoleBinding"] = typeof(V1ClusterRoleBinding),
        ["rbac.authorization.k8s.io/v1/Role"] = typeof(V1Role),
        ["rbac.authorization.k8s.io/v1/RoleBinding"] = typeof(V1RoleBinding),
    }, strict: true));

    private const string ReaderRole = """
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRole
        metadata:
          name: reader
        rules:
          - apiGroups: ["apps"]
            resources: ["deployments"]
            verbs: ["get", "list"]
          - apiGroups: ["monitoring.example.com"]
            resources: ["envoymonitors/status"]
            verbs: ["patch"]
          - apiGroups: [""]
            resources: ["configmaps"]
            resourceNames: ["settings"]
            verbs: ["get", "update", "create", "list"]
        """;

    private const string ClusterWide = ReaderRole + """

        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRoleBinding
        metadata:
          name: reader
        roleRef:
          apiGroup: rbac.authorization.k8s.io
          kind: ClusterRole
          name: reader
        subjects:
          - kind: ServiceAccount
            name: worker
            namespace: envoy-reaper
        """;

    private const string InShopOnly = ReaderRole + """

        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: RoleBinding
        metadata:
          name: reader
          namespace: shop
        roleRef:
          apiGroup: rbac.authorization.k8s.io
          kind: ClusterRole
          name: reader
        subjects:
          - kind: ServiceAccount
            name: worker
            namespace: envoy-reaper
        """;

    [Theory]
    [InlineData("GET", "/apis/apps/v1/deployments", "labelSelector=envoy-reaper%2Fenabled%3Dtrue&limit=500", "list", "apps", "deployments", "", "", "")]
    [InlineData("GET", "/apis/apps/v1/namespaces/shop/deployments", "", "list", "apps", "deployments", "", "shop", "")]
    [InlineData("GET", "/apis/apps/v1/namespaces/shop/deployments", "watch=true", "watch", "apps", "deployments", "", "shop", "")]
    [InlineData("GET", "/api/v1/watch/namespaces/shop/pods", "", "watch", "", "pods", "", "shop", "")]
    [InlineData("GET", "/api/v1/namespaces/shop/pods", "fieldSelector=metadata.name%3Dweb-0", "list", "", "pods", "", "shop", "web-0")]
    [InlineData("GET", "/apis/apps/v1/namespaces/shop/deployments/web", "", "get", "apps", "deployments", "", "shop", "web")]
    [InlineData("POST", "/api/v1/namespaces/shop/events", "", "create", "", "events", "", "shop", "")]
    [InlineData("PUT", "/api/v1/namespaces/shop/services/web", "fieldManager=envoy-reaper", "update", "", "services", "", "shop", "web")]
    [InlineData("PATCH", "/apis/monitoring.example.com/v1alpha1/namespaces/shop/envoymonitors/web/status", "", "patch", "monitoring.example.com", "envoymonitors", "status", "shop", "web")]
    [InlineData("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web/scale", "", "patch", "apps", "deployments", "scale", "shop", "web")]
    [InlineData("DELETE", "/apis/networking.k8s.io/v1/namespaces/shop/ingresses/web", "", "delete", "networking.k8s.io", "ingresses", "", "shop", "web")]
    [InlineData("DELETE", "/api/v1/namespaces/shop/configmaps", "labelSelector=a%3Db", "deletecollection", "", "configmaps", "", "shop", "")]
    [InlineData("GET", "/api/v1/namespaces/shop", "", "get", "", "namespaces", "", "shop", "shop")]
    [InlineData("PUT", "/api/v1/namespaces/shop/finalize", "", "update", "", "namespaces", "finalize", "shop", "shop")]
    [InlineData("GET", "/apis/monitoring.example.com/v1alpha1/envoymonitors", "continue=abc&limit=2", "list", "monitoring.example.com", "envoymonitors", "", "", "")]
    public void Requests_get_the_attributes_the_API_server_authorizes(string method, string path, string query, string verb, string group, string resource, string subresource, string @namespace, string name)
    {
        var attributes = Request(method, path, query);

        Assert.True(attributes.IsResourceRequest);
        Assert.Equal((verb, group, resource, subresource, @namespace, name), (attributes.Verb, attributes.ApiGroup, attributes.Resource, attributes.Subresource, attributes.Namespace, attributes.Name));
    }

    [Theory]
    [InlineData("/api")]
    [InlineData("/api/v1")]
    [InlineData("/apis/apps/v1")]
    [InlineData("/version")]
    [InlineData("/healthz")]
    public void Discovery_and_other_paths_are_non_resource_requests(string path)
    {
        var attributes = Request("GET", path);

        Assert.False(attributes.IsResourceRequest);
        Assert.Equal("get", attributes.Verb);
    }

    [Fact]
    public void A_ClusterRoleBinding_grants_its_rules_in_every_namespace_and_at_cluster_scope()
    {
        var policy = Policy(ClusterWide);

        Assert.True(policy.Authorize(Worker, Request("GET", "/apis/apps/v1/deployments")).Allowed);
        Assert.True(policy.Authorize(Worker, Request("GET", "/apis/apps/v1/namespaces/kube-system/deployments/coredns")).Allowed);
        Assert.True(policy.Authorize(Worker, Request("PATCH", "/apis/monitoring.example.com/v1alpha1/namespaces/shop/envoymonitors/web/status")).Allowed);
    }

    [Fact]
    public void A_missing_verb_resource_or_group_is_denied_and_the_reason_names_the_request()
    {
        var policy = Policy(ClusterWide);

        var delete = policy.Authorize(Worker, Request("DELETE", "/apis/apps/v1/namespaces/shop/deployments/web"));
        var pods = policy.Authorize(Worker, Request("GET", "/api/v1/namespaces/shop/pods"));
        var otherGroup = policy.Authorize(Worker, Request("GET", "/apis/extensions/v1beta1/namespaces/shop/deployments/web"));

        Assert.False(delete.Allowed);
        Assert.Contains("delete apps/deployments web in namespace shop", delete.Reason);
        Assert.Contains(Worker.UserName, delete.Reason);
        Assert.False(pods.Allowed);
        Assert.False(otherGroup.Allowed);
    }

    [Fact]
    public void A_subresource_needs_its_own_rule_and_the_resource_rule_does_not_grant_it()
    {
        var policy = Policy(ClusterWide);

        Assert.False(policy.Authorize(Worker, Request("PATCH", "/apis/monitoring.example.com/v1alpha1/namespaces/shop/envoymonitors/web")).Allowed);
        Assert.False(policy.Authorize(Worker, Request("GET", "/apis/apps/v1/namespaces/shop/deployments/web/scale")).Allowed);
        Assert.True(Policy("""
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRole
            metadata:
              name: any-scale
            rules:
              - apiGroups: ["*"]
                resources: ["*/scale"]
                verbs: ["*"]
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRoleBinding
            metadata:
              name: any-scale
            roleRef:
              apiGroup: rbac.authorization.k8s.io
              kind: ClusterRole
              name: any-scale
            subjects:
              - kind: ServiceAccount
                name: worker
                namespace: envoy-reaper
            """).Authorize(Worker, Request("GET", "/apis/apps/v1/namespaces/shop/deployments/web/scale")).Allowed);
    }

    [Fact]
    public void ResourceNames_limit_a_rule_to_named_requests_so_create_and_list_are_not_granted_by_it()
    {
        var policy = Policy(ClusterWide);

        Assert.True(policy.Authorize(Worker, Request("PUT", "/api/v1/namespaces/shop/configmaps/settings")).Allowed);
        Assert.False(policy.Authorize(Worker, Request("PUT", "/api/v1/namespaces/shop/configmaps/other")).Allowed);
        Assert.False(policy.Authorize(Worker, Request("POST", "/api/v1/namespaces/shop/configmaps")).Allowed);
        Assert.False(policy.Authorize(Worker, Request("GET", "/api/v1/namespaces/shop/configmaps")).Allowed);
        Assert.True(policy.Authorize(Worker, Request("GET", "/api/v1/namespaces/shop/configmaps", "fieldSelector=metadata.name%3Dsettings")).Allowed);
    }

    [Fact]
    public void A_RoleBinding_grants_only_inside_its_namespace_and_never_at_cluster_scope()
    {
        var policy = Policy(InShopOnly);

        Assert.True(policy.Authorize(Worker, Request("GET", "/apis/apps/v1/namespaces/shop/deployments/web")).Allowed);
        Assert.False(policy.Authorize(Worker, Request("GET", "/apis/apps/v1/namespaces/kube-system/deployments/coredns")).Allowed);
        Assert.False(policy.Authorize(Worker, Request("GET", "/apis/apps/v1/deployments")).Allowed);
    }

    [Fact]
    public void Bindings_apply_only_to_their_subjects_and_an_unbound_role_grants_nothing()
    {
        Assert.False(Policy(ClusterWide).Authorize(Other, Request("GET", "/apis/apps/v1/deployments")).Allowed);
        Assert.False(Policy(ClusterWide).Authorize(new ServiceAccountIdentity("elsewhere", "worker"), Request("GET", "/apis/apps/v1/deployments")).Allowed);
        Assert.False(Policy(ReaderRole).Authorize(Worker, Request("GET", "/apis/apps/v1/deployments")).Allowed);
    }

    [Fact]
    public void Group_subjects_and_wildcards_match_as_the_API_server_matches_them()
    {
        var policy = Policy("""
            apiVersion: rbac.authorization.k8s.io/v1
            kind: Role
            metadata:
              name: everything
              namespace: shop
            rules:
              - apiGroups: ["*"]
                resources: ["*"]
                verbs: ["*"]
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: RoleBinding
            metadata:
              name: everything
              namespace: shop
            roleRef:
              apiGroup: rbac.authorization.k8s.io
              kind: Role
              name: everything
            subjects:
              - kind: Group
                name: system:serviceaccounts:envoy-reaper
            """);

        Assert.True(policy.Authorize(Other, Request("DELETE", "/api/v1/namespaces/shop/configmaps")).Allowed);
        Assert.True(policy.Authorize(Other, Request("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web/status")).Allowed);
        Assert.False(policy.Authorize(Other, Request("GET", "/api/v1/namespaces/other/configmaps")).Allowed);
        Assert.False(policy.Authorize(new ServiceAccountIdentity("elsewhere", "x"), Request("GET", "/api/v1/namespaces/shop/configmaps")).Allowed);
    }

    [Fact]
    public void Discovery_URLs_are_granted_to_every_identity_and_other_non_resource_URLs_to_none()
    {
        var policy = Policy(ReaderRole);

        Assert.True(policy.Authorize(Other, Request("GET", "/apis")).Allowed);
        Assert.False(policy.Authorize(Other, Request("GET", "/metrics")).Allowed);
        Assert.False(new RbacPolicy([], includeDefaultDiscovery: false).Authorize(Other, Request("GET", "/apis")).Allowed);
    }
}
