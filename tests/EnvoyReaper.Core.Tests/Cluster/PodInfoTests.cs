using EnvoyReaper.Cluster;

namespace EnvoyReaper.Core.Tests.Cluster;

public sealed class PodInfoTests
{
    private static DeploymentInfo Deployment(string name, string @namespace = "team-a", string app = "web") => new(
        @namespace,
        name,
        name + "-uid",
        "100",
        new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero),
        2,
        new Dictionary<string, string>(),
        new Dictionary<string, string>(),
        LabelSelector.FromLabels(new Dictionary<string, string> { ["app"] = app }),
        new Dictionary<string, string> { ["app"] = app });

    private static PodInfo Pod(
        string? ownerReplicaSet = "web-5d8f7c",
        string hash = "5d8f7c",
        string app = "web",
        string @namespace = "team-a",
        params string[] containers)
    {
        var labels = new Dictionary<string, string> { ["app"] = app };
        if (hash.Length > 0)
        {
            labels["pod-template-hash"] = hash;
        }

        return new PodInfo(@namespace, (ownerReplicaSet ?? "bare") + "-x1y2z", "pod-uid", "10.0.0.7", true, false, labels, ownerReplicaSet,
            containers.Length == 0 ? ["app"] : containers);
    }

    [Fact]
    public void A_pod_owned_by_the_deployments_replica_set_belongs_to_it()
    {
        Assert.True(Pod().BelongsTo(Deployment("web")));
    }

    [Fact]
    public void A_pod_of_another_deployment_with_the_same_labels_does_not_belong()
    {
        // web-canary's pods carry app=web too, which web's selector matches.
        var canaryPod = Pod(ownerReplicaSet: "web-canary-77c9d", hash: "77c9d");

        Assert.False(canaryPod.BelongsTo(Deployment("web")));
        Assert.True(canaryPod.BelongsTo(Deployment("web-canary")));
    }

    [Fact]
    public void A_pod_whose_replica_set_name_does_not_end_in_its_own_template_hash_does_not_belong()
    {
        Assert.False(Pod(ownerReplicaSet: "web-5d8f7c", hash: "99999").BelongsTo(Deployment("web")));
    }

    [Fact]
    public void A_pod_without_owner_or_template_hash_does_not_belong()
    {
        Assert.False(Pod(ownerReplicaSet: null).BelongsTo(Deployment("web")));
        Assert.False(Pod(hash: "").BelongsTo(Deployment("web")));
    }

    [Fact]
    public void A_pod_the_selector_does_not_match_does_not_belong()
    {
        Assert.False(Pod(app: "api").BelongsTo(Deployment("web")));
    }

    [Fact]
    public void A_pod_in_another_namespace_does_not_belong()
    {
        Assert.False(Pod(@namespace: "team-b").BelongsTo(Deployment("web", "team-a")));
    }

    [Fact]
    public void HasIstioProxy_looks_for_the_istio_proxy_container()
    {
        Assert.True(Pod(containers: ["app", "istio-proxy"]).HasIstioProxy);
        Assert.False(Pod(containers: ["app", "envoy"]).HasIstioProxy);
    }
}
