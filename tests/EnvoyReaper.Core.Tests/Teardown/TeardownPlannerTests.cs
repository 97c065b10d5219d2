using System.Text.Json.Nodes;
using EnvoyReaper.Cluster;
using EnvoyReaper.Teardown;
using EnvoyReaper.Workloads;

namespace EnvoyReaper.Core.Tests.Teardown;

public sealed class TeardownPlannerTests
{
    private const string Namespace = "team-a";

    private static readonly DeploymentInfo Web = Deployment("web", new() { ["app"] = "web", ["track"] = "stable" });
    private static readonly ClusterObject WebObject = Object(ResourceKind.Deployment, "web", new JsonObject());

    private static DeploymentInfo Deployment(string name, Dictionary<string, string> templateLabels) => new(
        Namespace,
        name,
        name + "-uid",
        "100",
        new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero),
        1,
        new Dictionary<string, string>(),
        new Dictionary<string, string>(),
        LabelSelector.FromLabels(templateLabels),
        templateLabels);

    private static PodInfo PodOf(DeploymentInfo deployment, string hash = "5d8f7c") => new(
        Namespace,
        $"{deployment.Name}-{hash}-abcde",
        $"{deployment.Name}-pod-uid",
        "10.0.0.9",
        true,
        false,
        new Dictionary<string, string>(deployment.TemplateLabels) { ["pod-template-hash"] = hash },
        $"{deployment.Name}-{hash}",
        ["app"]);

    private static ClusterObject Object(ResourceKind kind, string name, JsonObject spec, JsonObject? labels = null) => new(
        kind,
        Namespace,
        name,
        name + "-uid",
        "7",
        new JsonObject
        {
            ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = Namespace, ["labels"] = labels ?? new JsonObject() },
            ["spec"] = spec,
        });

    private static ClusterObject Service(string name, JsonObject? selector) =>
        Object(ResourceKind.Service, name, selector is null
            ? new JsonObject { ["ports"] = new JsonArray(new JsonObject { ["port"] = 80 }) }
            : new JsonObject { ["selector"] = selector, ["ports"] = new JsonArray(new JsonObject { ["port"] = 80 }) });

    private static JsonObject ServiceBackend(string service) =>
        new() { ["service"] = new JsonObject { ["name"] = service, ["port"] = new JsonObject { ["number"] = 80 } } };

    private static JsonObject ResourceBackend() =>
        new() { ["resource"] = new JsonObject { ["apiGroup"] = "storage.example.com", ["kind"] = "Bucket", ["name"] = "static" } };

    private static ClusterObject Ingress(string name, JsonObject? defaultBackend, params JsonObject[] pathBackends)
    {
        var spec = new JsonObject();
        if (defaultBackend is not null)
        {
            spec["defaultBackend"] = defaultBackend;
        }

        if (pathBackends.Length > 0)
        {
            var paths = new JsonArray();
            foreach (var backend in pathBackends)
            {
                paths.Add(new JsonObject { ["path"] = "/", ["pathType"] = "Prefix", ["backend"] = backend });
            }

            spec["rules"] = new JsonArray(new JsonObject { ["host"] = "web.example.com", ["http"] = new JsonObject { ["paths"] = paths } });
        }

        return Object(ResourceKind.Ingress, name, spec);
    }

    private static WorkloadSettings Settings(string? service = null, string? ingress = null) =>
        new(1, TimeSpan.FromMinutes(10), ReaperAction.Delete, 15090, "/stats", null, service, ingress, null);

    private static NamespaceContents Contents(
        IReadOnlyList<ClusterObject>? services = null,
        IReadOnlyList<ClusterObject>? ingresses = null,
        IReadOnlyList<DeploymentInfo>? deployments = null,
        IReadOnlyList<PodInfo>? pods = null) =>
        new(services ?? [], ingresses ?? [], deployments ?? [Web], pods ?? [PodOf(Web)]);

    private static TeardownPlan Plan(NamespaceContents contents, WorkloadSettings? settings = null, ClusterObject? configMap = null) =>
        TeardownPlanner.Plan(WebObject, Web, settings ?? Settings(), contents, configMap);

    private static IEnumerable<string> Names(IEnumerable<ClusterObject> objects) => objects.Select(o => o.Name);

    // ----- Services -----

    [Fact]
    public void A_service_selecting_only_this_deployments_pods_is_taken()
    {
        var plan = Plan(Contents(services: [Service("web", new JsonObject { ["app"] = "web" })]));

        Assert.Equal("web", Assert.Single(plan.Services).Name);
        Assert.Empty(plan.Notes);
    }

    [Fact]
    public void A_service_whose_selector_does_not_match_the_template_is_not_taken()
    {
        var plan = Plan(Contents(services: [Service("api", new JsonObject { ["app"] = "api" })]));

        Assert.Empty(plan.Services);
    }

    [Fact]
    public void A_service_shared_with_another_deployments_template_is_never_taken()
    {
        var canary = Deployment("web-canary", new() { ["app"] = "web", ["track"] = "canary" });
        var contents = Contents(
            services: [Service("web", new JsonObject { ["app"] = "web" })],
            deployments: [Web, canary],
            pods: [PodOf(Web)]); // the canary is scaled to zero right now: its template still counts

        Assert.Empty(Plan(contents).Services);
    }

    [Fact]
    public void A_service_also_selecting_a_pod_of_no_deployment_is_not_taken()
    {
        var barePod = new PodInfo(Namespace, "debug-web", "bare-uid", "10.0.0.10", true, false,
            new Dictionary<string, string> { ["app"] = "web" }, null, ["app"]);
        var contents = Contents(services: [Service("web", new JsonObject { ["app"] = "web" })], pods: [PodOf(Web), barePod]);

        Assert.Empty(Plan(contents).Services);
    }

    [Fact]
    public void A_service_also_selecting_pods_of_a_deployment_with_the_same_labels_is_not_taken()
    {
        // Another Deployment whose template happens to carry the same labels: its pods are not web's.
        var twin = Deployment("web-twin", new() { ["app"] = "web", ["track"] = "stable" });
        var contents = Contents(
            services: [Service("web", new JsonObject { ["app"] = "web" })],
            deployments: [Web, twin],
            pods: [PodOf(Web), PodOf(twin, "77c9d")]);

        Assert.Empty(Plan(contents).Services);
    }

    [Fact]
    public void A_service_without_selector_is_never_taken_automatically()
    {
        var plan = Plan(Contents(services: [Service("web-external", null), Service("web-empty", new JsonObject())]));

        Assert.Empty(plan.Services);
    }

    [Fact]
    public void A_service_named_in_the_settings_is_taken()
    {
        // No selector: it would never be taken automatically, but its owner named it.
        var plan = Plan(Contents(services: [Service("web-external", null)]), Settings(service: "web-external"));

        Assert.Equal("web-external", Assert.Single(plan.Services).Name);
    }

    [Fact]
    public void Naming_a_service_takes_only_that_one()
    {
        var contents = Contents(services: [Service("web", new JsonObject { ["app"] = "web" }), Service("web-admin", new JsonObject { ["app"] = "web" })]);

        var plan = Plan(contents, Settings(service: "web-admin"));

        Assert.Equal(new[] { "web-admin" }, Names(plan.Services));
    }

    [Fact]
    public void A_named_service_shared_with_another_deployment_is_kept_and_a_note_says_why()
    {
        // Names come from annotations anyone who can edit the Deployment sets: a name never reaches past the sharing rule.
        var canary = Deployment("web-canary", new() { ["app"] = "web", ["track"] = "canary" });
        var contents = Contents(
            services: [Service("web", new JsonObject { ["app"] = "web" })],
            deployments: [Web, canary],
            pods: [PodOf(Web), PodOf(canary, "77c9d")]);

        var plan = Plan(contents, Settings(service: "web"));

        Assert.Empty(plan.Services);
        Assert.Contains(plan.Notes, note => note.Contains("Service web", StringComparison.Ordinal) && note.Contains("kept", StringComparison.Ordinal));
    }

    [Fact]
    public void A_named_service_that_also_selects_a_pod_of_no_deployment_is_kept()
    {
        var stray = PodOf(Web) with { Name = "debug", Uid = "debug-uid", OwnerReplicaSet = null };
        var contents = Contents(services: [Service("web", new JsonObject { ["app"] = "web" })], pods: [PodOf(Web), stray]);

        var plan = Plan(contents, Settings(service: "web"));

        Assert.Empty(plan.Services);
        Assert.Contains(plan.Notes, note => note.Contains("Service web", StringComparison.Ordinal));
    }

    [Fact]
    public void A_named_ingress_with_a_backend_to_another_service_is_kept_and_a_note_says_why()
    {
        var contents = Contents(
            services: [Service("web", new JsonObject { ["app"] = "web" }), Service("shop", new JsonObject { ["app"] = "shop" })],
            ingresses: [Ingress("front", null, ServiceBackend("web"), ServiceBackend("shop"))]);

        var plan = Plan(contents, Settings(ingress: "front"));

        Assert.Equal(new[] { "web" }, Names(plan.Services));
        Assert.Empty(plan.Ingresses);
        Assert.Contains(plan.Notes, note => note.Contains("Ingress front", StringComparison.Ordinal) && note.Contains("shop", StringComparison.Ordinal));
    }

    [Fact]
    public void A_named_ingress_to_a_kept_shared_service_is_kept()
    {
        var canary = Deployment("web-canary", new() { ["app"] = "web", ["track"] = "canary" });
        var contents = Contents(
            services: [Service("web", new JsonObject { ["app"] = "web" })],
            ingresses: [Ingress("front", null, ServiceBackend("web"))],
            deployments: [Web, canary]);

        var plan = Plan(contents, Settings(service: "web", ingress: "front"));

        Assert.Empty(plan.Services);
        Assert.Empty(plan.Ingresses);
    }

    [Fact]
    public void A_named_service_that_does_not_exist_becomes_a_note()
    {
        var plan = Plan(Contents(services: [Service("web", new JsonObject { ["app"] = "web" })]), Settings(service: "web-gone"));

        Assert.Empty(plan.Services);
        Assert.Contains(plan.Notes, note => note.Contains("web-gone", StringComparison.Ordinal));
    }

    // ----- Ingresses -----

    [Fact]
    public void An_ingress_whose_backends_are_all_taken_services_is_taken()
    {
        var contents = Contents(
            services: [Service("web", new JsonObject { ["app"] = "web" }), Service("web-api", new JsonObject { ["app"] = "web", ["track"] = "stable" })],
            ingresses: [Ingress("web", ServiceBackend("web"), ServiceBackend("web-api"), ServiceBackend("web"))]);

        var plan = Plan(contents);

        Assert.Equal("web", Assert.Single(plan.Ingresses).Name);
    }

    [Fact]
    public void An_ingress_with_a_backend_to_another_service_is_kept()
    {
        var contents = Contents(
            services: [Service("web", new JsonObject { ["app"] = "web" }), Service("shop", new JsonObject { ["app"] = "shop" })],
            ingresses: [Ingress("front", null, ServiceBackend("web"), ServiceBackend("shop"))]);

        var plan = Plan(contents);

        Assert.Equal(new[] { "web" }, Names(plan.Services));
        Assert.Empty(plan.Ingresses);
    }

    [Fact]
    public void An_ingress_whose_default_backend_is_another_service_is_kept()
    {
        var contents = Contents(
            services: [Service("web", new JsonObject { ["app"] = "web" })],
            ingresses: [Ingress("front", ServiceBackend("fallback"), ServiceBackend("web"))]);

        Assert.Empty(Plan(contents).Ingresses);
    }

    [Fact]
    public void An_ingress_with_a_resource_backend_is_kept()
    {
        var contents = Contents(
            services: [Service("web", new JsonObject { ["app"] = "web" })],
            ingresses: [Ingress("front", ResourceBackend(), ServiceBackend("web"))]);

        Assert.Empty(Plan(contents).Ingresses);
    }

    [Fact]
    public void An_ingress_pointing_at_a_shared_service_is_kept()
    {
        var canary = Deployment("web-canary", new() { ["app"] = "web", ["track"] = "canary" });
        var contents = Contents(
            services: [Service("web", new JsonObject { ["app"] = "web" })],
            ingresses: [Ingress("front", null, ServiceBackend("web"))],
            deployments: [Web, canary]);

        var plan = Plan(contents);

        Assert.Empty(plan.Services);
        Assert.Empty(plan.Ingresses);
    }

    [Fact]
    public void An_ingress_without_any_backend_is_not_taken()
    {
        var contents = Contents(
            services: [Service("web", new JsonObject { ["app"] = "web" })],
            ingresses: [Ingress("empty", null)]);

        Assert.Empty(Plan(contents).Ingresses);
    }

    [Fact]
    public void An_ingress_to_a_named_service_is_taken_automatically()
    {
        var contents = Contents(
            services: [Service("web-external", null)],
            ingresses: [Ingress("web", null, ServiceBackend("web-external"))]);

        var plan = Plan(contents, Settings(service: "web-external"));

        Assert.Equal("web", Assert.Single(plan.Ingresses).Name);
    }

    [Fact]
    public void An_ingress_named_in_the_settings_is_taken()
    {
        var contents = Contents(ingresses: [Ingress("web-public", null, ServiceBackend("web"))]);

        var plan = Plan(contents, Settings(ingress: "web-public"));

        Assert.Equal("web-public", Assert.Single(plan.Ingresses).Name);
    }

    [Fact]
    public void A_named_ingress_that_does_not_exist_becomes_a_note()
    {
        var plan = Plan(Contents(), Settings(ingress: "web-gone"));

        Assert.Empty(plan.Ingresses);
        Assert.Contains(plan.Notes, note => note.Contains("web-gone", StringComparison.Ordinal));
    }

    [Fact]
    public void BackendServices_lists_the_default_and_path_backends_once_each()
    {
        var ingress = Ingress("front", ServiceBackend("web"), ServiceBackend("web"), ServiceBackend("web-api"));

        Assert.Equal(new[] { "web", "web-api" }, TeardownPlanner.BackendServices(ingress).Order(StringComparer.Ordinal));
    }

    // ----- Order -----

    [Fact]
    public void Deletion_order_is_the_deployment_then_services_then_ingresses_then_the_managed_config_map()
    {
        var configMap = Object(ResourceKind.ConfigMap, "web-envoy", new JsonObject(),
            new JsonObject { ["app.kubernetes.io/managed-by"] = "envoy-reaper" });
        var contents = Contents(
            services: [Service("web", new JsonObject { ["app"] = "web" })],
            ingresses: [Ingress("web", null, ServiceBackend("web"))]);

        var plan = Plan(contents, configMap: configMap);

        Assert.Equal(
            new[] { (ResourceKind.Deployment, "web"), (ResourceKind.Service, "web"), (ResourceKind.Ingress, "web"), (ResourceKind.ConfigMap, "web-envoy") },
            plan.DeletionOrder.Select(o => (o.Kind, o.Name)));
    }

    [Fact]
    public void A_config_map_not_managed_by_the_reaper_is_snapshotted_but_never_deleted()
    {
        var configMap = Object(ResourceKind.ConfigMap, "web-envoy", new JsonObject(), new JsonObject { ["app.kubernetes.io/managed-by"] = "helm" });

        var plan = Plan(Contents(), configMap: configMap);

        Assert.DoesNotContain(plan.DeletionOrder, o => o.Kind == ResourceKind.ConfigMap);
        Assert.Contains(plan.SnapshotObjects, o => o.Kind == ResourceKind.ConfigMap);
    }

    [Fact]
    public void The_deployment_is_deleted_alone_when_nothing_else_is_taken()
    {
        var plan = Plan(Contents());

        Assert.Equal(ResourceKind.Deployment, Assert.Single(plan.DeletionOrder).Kind);
    }
}
