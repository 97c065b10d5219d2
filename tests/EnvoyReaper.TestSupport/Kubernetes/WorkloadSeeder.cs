using k8s.Models;

namespace EnvoyReaper.TestSupport.Kubernetes;

public sealed record SeededWorkload(string Namespace, string Name, V1Deployment Deployment, IReadOnlyList<V1Pod> Pods, V1Service? Service, V1Ingress? Ingress);

/// <summary>
/// Seeds a workload the way a real cluster holds it: a Deployment, its ReplicaSet (named after the pod-template-hash),
/// pods owned by that ReplicaSet with the Deployment's labels, IPs and Ready conditions, a Service and an Ingress.
/// </summary>
public static class WorkloadSeeder
{
    public static SeededWorkload SeedWorkload(
        this FakeKubernetesApiServer api,
        string @namespace,
        string name,
        IReadOnlyList<string> podIps,
        IDictionary<string, string>? annotations = null,
        bool labelOptIn = true,
        bool withService = true,
        bool withIngress = true,
        DateTime? createdAt = null,
        bool podsReady = true,
        bool istio = false)
    {
        const string hash = "5d8f7c9b6";
        var appLabels = new Dictionary<string, string> { ["app"] = name };
        var labels = new Dictionary<string, string>(appLabels);
        if (labelOptIn)
        {
            labels["envoy-reaper/enabled"] = "true";
        }

        var created = createdAt ?? DateTime.UtcNow.AddHours(-1);
        var deployment = api.Seed(new V1Deployment
        {
            ApiVersion = "apps/v1",
            Kind = "Deployment",
            Metadata = new V1ObjectMeta
            {
                Name = name,
                NamespaceProperty = @namespace,
                Labels = labels,
                Annotations = annotations is null ? null : new Dictionary<string, string>(annotations),
                CreationTimestamp = created,
            },
            Spec = new V1DeploymentSpec
            {
                Replicas = podIps.Count,
                Selector = new V1LabelSelector { MatchLabels = new Dictionary<string, string>(appLabels) },
                Template = new V1PodTemplateSpec
                {
                    Metadata = new V1ObjectMeta { Labels = new Dictionary<string, string>(appLabels) },
                    Spec = new V1PodSpec { Containers = Containers(name, istio) },
                },
            },
        });

        var replicaSet = api.Seed(new V1ReplicaSet
        {
            ApiVersion = "apps/v1",
            Kind = "ReplicaSet",
            Metadata = new V1ObjectMeta
            {
                Name = $"{name}-{hash}",
                NamespaceProperty = @namespace,
                Labels = new Dictionary<string, string>(appLabels) { ["pod-template-hash"] = hash },
                OwnerReferences = [Owner("apps/v1", "Deployment", deployment.Metadata.Name, deployment.Metadata.Uid)],
                CreationTimestamp = created,
            },
            Spec = new V1ReplicaSetSpec
            {
                Replicas = podIps.Count,
                Selector = new V1LabelSelector { MatchLabels = new Dictionary<string, string>(appLabels) { ["pod-template-hash"] = hash } },
            },
        });

        var pods = new List<V1Pod>();
        for (var i = 0; i < podIps.Count; i++)
        {
            pods.Add(api.SeedPod(@namespace, $"{name}-{hash}-p{i:x4}", podIps[i], appLabels, hash, replicaSet, podsReady, istio, created));
        }

        V1Service? service = null;
        if (withService)
        {
            service = api.Seed(new V1Service
            {
                ApiVersion = "v1",
                Kind = "Service",
                Metadata = new V1ObjectMeta { Name = $"{name}-service", NamespaceProperty = @namespace, CreationTimestamp = created },
                Spec = new V1ServiceSpec
                {
                    Selector = new Dictionary<string, string>(appLabels),
                    Ports = [new V1ServicePort { Name = "http", Port = 80, TargetPort = 15001 }],
                    ClusterIP = "10.96.0.10",
                },
            });
        }

        V1Ingress? ingress = null;
        if (withIngress && service is not null)
        {
            ingress = api.Seed(new V1Ingress
            {
                ApiVersion = "networking.k8s.io/v1",
                Kind = "Ingress",
                Metadata = new V1ObjectMeta { Name = $"{name}-ingress", NamespaceProperty = @namespace, CreationTimestamp = created },
                Spec = new V1IngressSpec
                {
                    Rules =
                    [
                        new V1IngressRule
                        {
                            Host = $"{name}.example.com",
                            Http = new V1HTTPIngressRuleValue
                            {
                                Paths =
                                [
                                    new V1HTTPIngressPath
                                    {
                                        Path = "/",
                                        PathType = "Prefix",
                                        Backend = new V1IngressBackend { Service = new V1IngressServiceBackend { Name = service.Metadata.Name, Port = new V1ServiceBackendPort { Number = 80 } } },
                                    },
                                ],
                            },
                        },
                    ],
                },
            });
        }

        return new SeededWorkload(@namespace, name, deployment, pods, service, ingress);
    }

    public static V1Pod SeedPod(this FakeKubernetesApiServer api, string @namespace, string podName, string ip, IDictionary<string, string> appLabels, string hash, V1ReplicaSet owner, bool ready, bool istio, DateTime created) =>
        api.Seed(new V1Pod
        {
            ApiVersion = "v1",
            Kind = "Pod",
            Metadata = new V1ObjectMeta
            {
                Name = podName,
                NamespaceProperty = @namespace,
                Labels = new Dictionary<string, string>(appLabels) { ["pod-template-hash"] = hash },
                OwnerReferences = [Owner("apps/v1", "ReplicaSet", owner.Metadata.Name, owner.Metadata.Uid)],
                CreationTimestamp = created,
            },
            Spec = new V1PodSpec { Containers = Containers(appLabels["app"], istio) },
            Status = new V1PodStatus
            {
                Phase = "Running",
                PodIP = ip,
                PodIPs = [new V1PodIP { Ip = ip }],
                Conditions = [new V1PodCondition { Type = "Ready", Status = ready ? "True" : "False" }],
            },
        });

    public static System.Text.Json.Nodes.JsonObject SeedMonitor(this FakeKubernetesApiServer api, string @namespace, string name, System.Text.Json.Nodes.JsonObject spec) =>
        api.SeedJson("monitoring.example.com", "v1alpha1", "envoymonitors", new System.Text.Json.Nodes.JsonObject
        {
            ["apiVersion"] = "monitoring.example.com/v1alpha1",
            ["kind"] = "EnvoyMonitor",
            ["metadata"] = new System.Text.Json.Nodes.JsonObject { ["name"] = name, ["namespace"] = @namespace },
            ["spec"] = spec,
        });

    private static List<V1Container> Containers(string app, bool istio)
    {
        var containers = new List<V1Container> { new() { Name = app, Image = "registry.example.com/app:1" } };
        containers.Add(istio
            ? new V1Container { Name = "istio-proxy", Image = "docker.io/istio/proxyv2:1.24.0" }
            : new V1Container { Name = "envoy", Image = "envoyproxy/envoy:v1.34.1", Ports = [new V1ContainerPort { ContainerPort = 15001 }, new V1ContainerPort { ContainerPort = 15090 }] });
        return containers;
    }

    private static V1OwnerReference Owner(string apiVersion, string kind, string name, string uid) =>
        new() { ApiVersion = apiVersion, Kind = kind, Name = name, Uid = uid, Controller = true, BlockOwnerDeletion = true };
}
