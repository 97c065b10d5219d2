using k8s;
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
        bool istio = false,
        PodShape podShape = PodShape.Minimal)
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
            pods.Add(api.SeedPod(@namespace, $"{name}-{hash}-p{i:x4}", podIps[i], appLabels, hash, replicaSet, podsReady, istio, created, shape: podShape));
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

    /// <summary>
    /// What the ReplicaSet controller and the kubelet do for a Deployment that has no pods (recreated after its pods were
    /// garbage-collected with it): a ReplicaSet of its current template, owned by it, and one ready pod per address.
    /// Call <see cref="FakeKubernetesApiServer.ReportRollout"/> for the Deployment's status.
    /// </summary>
    public static IReadOnlyList<V1Pod> StartPods(this FakeKubernetesApiServer api, string @namespace, string deploymentName, IReadOnlyList<string> podIps)
    {
        ArgumentNullException.ThrowIfNull(api);
        ArgumentNullException.ThrowIfNull(podIps);
        var deployment = api.Get<V1Deployment>(@namespace, deploymentName) ?? throw new InvalidOperationException($"no Deployment {@namespace}/{deploymentName}");
        var appLabels = new Dictionary<string, string>(deployment.Spec.Template.Metadata.Labels);
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(deployment.Metadata.Uid)))[..9];
        var created = DateTime.UtcNow;
        var replicaSet = api.Seed(new V1ReplicaSet
        {
            ApiVersion = "apps/v1",
            Kind = "ReplicaSet",
            Metadata = new V1ObjectMeta
            {
                Name = $"{deploymentName}-{hash}",
                NamespaceProperty = @namespace,
                Labels = new Dictionary<string, string>(appLabels) { ["pod-template-hash"] = hash },
                OwnerReferences = [Owner("apps/v1", "Deployment", deploymentName, deployment.Metadata.Uid)],
                CreationTimestamp = created,
            },
            Spec = new V1ReplicaSetSpec
            {
                Replicas = podIps.Count,
                Selector = new V1LabelSelector { MatchLabels = new Dictionary<string, string>(appLabels) { ["pod-template-hash"] = hash } },
            },
        });
        return podIps.Select((ip, i) => api.SeedPod(@namespace, $"{deploymentName}-{hash}-p{i:x4}", ip, appLabels, hash, replicaSet, ready: true, istio: false, created)).ToList();
    }

    /// <param name="restartCount">How often each container has restarted; the last run started 10 minutes after the pod.</param>
    /// <param name="shape">
    /// <see cref="PodShape.Realistic"/>: the pod as a real API server returns it (<see cref="RealisticPod"/>, app container
    /// and an Envoy sidecar; <paramref name="istio"/> does not apply).
    /// </param>
    public static V1Pod SeedPod(this FakeKubernetesApiServer api, string @namespace, string podName, string ip, IDictionary<string, string> appLabels, string hash, V1ReplicaSet owner, bool ready, bool istio, DateTime created, int restartCount = 0, PodShape shape = PodShape.Minimal)
    {
        if (shape == PodShape.Realistic)
        {
            var json = RealisticPod.Build(@namespace, podName, ip, appLabels, hash, owner.Metadata.Name, owner.Metadata.Uid, ready, created, restartCount);
            return KubernetesJson.Deserialize<V1Pod>(api.SeedJson("", "v1", "pods", json).ToJsonString());
        }

        var containers = Containers(appLabels["app"], istio);
        return api.Seed(new V1Pod
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
            Spec = new V1PodSpec { Containers = containers },
            Status = new V1PodStatus
            {
                Phase = "Running",
                PodIP = ip,
                PodIPs = [new V1PodIP { Ip = ip }],
                StartTime = created,
                Conditions =
                [
                    new V1PodCondition { Type = "Initialized", Status = "True", LastTransitionTime = created },
                    new V1PodCondition { Type = "ContainersReady", Status = ready ? "True" : "False", LastTransitionTime = created },
                    new V1PodCondition { Type = "Ready", Status = ready ? "True" : "False", LastTransitionTime = created },
                ],
                ContainerStatuses = containers.Select(container => RunningStatus(container, created, ready, restartCount)).ToList(),
            },
        });
    }

    /// <summary>
    /// A pod the kubelet evicted (node pressure): phase Failed, reason Evicted, its containers terminated, Ready False, a
    /// DisruptionTarget condition (Kubernetes 1.26+); Kubernetes keeps it, IP included, until it is garbage-collected.
    /// </summary>
    public static V1Pod SeedEvictedPod(this FakeKubernetesApiServer api, SeededWorkload workload, string podName, string ip, bool istio = false)
    {
        var template = workload.Pods[0];
        var created = template.Metadata.CreationTimestamp ?? DateTime.UtcNow.AddHours(-1);
        var evictedAt = created.AddMinutes(20);
        var containers = Containers(workload.Name, istio);
        return api.Seed(new V1Pod
        {
            ApiVersion = "v1",
            Kind = "Pod",
            Metadata = new V1ObjectMeta
            {
                Name = podName,
                NamespaceProperty = workload.Namespace,
                Labels = new Dictionary<string, string>(template.Metadata.Labels),
                OwnerReferences = template.Metadata.OwnerReferences.ToList(),
                CreationTimestamp = created,
            },
            Spec = new V1PodSpec { Containers = containers },
            Status = new V1PodStatus
            {
                Phase = "Failed",
                Reason = "Evicted",
                Message = "The node was low on resource: memory. Threshold quantity: 100Mi, available: 91Mi. ",
                PodIP = ip,
                PodIPs = [new V1PodIP { Ip = ip }],
                StartTime = created,
                Conditions =
                [
                    new V1PodCondition { Type = "DisruptionTarget", Status = "True", Reason = "TerminationByKubelet", Message = "The node was low on resource: memory.", LastTransitionTime = evictedAt },
                    new V1PodCondition { Type = "Initialized", Status = "True", LastTransitionTime = created },
                    new V1PodCondition { Type = "ContainersReady", Status = "False", Reason = "PodFailed", LastTransitionTime = evictedAt },
                    new V1PodCondition { Type = "Ready", Status = "False", Reason = "PodFailed", LastTransitionTime = evictedAt },
                ],
                ContainerStatuses = containers.Select(container => new V1ContainerStatus
                {
                    Name = container.Name,
                    Image = container.Image,
                    ImageID = ImageId(container.Image),
                    ContainerID = ContainerId(podName, container.Name, 0),
                    Ready = false,
                    Started = false,
                    RestartCount = 0,
                    State = new V1ContainerState
                    {
                        Terminated = new V1ContainerStateTerminated
                        {
                            ExitCode = 137,
                            Reason = "Error",
                            StartedAt = created.AddSeconds(2),
                            FinishedAt = evictedAt,
                            ContainerID = ContainerId(podName, container.Name, 0),
                        },
                    },
                    LastState = new V1ContainerState(),
                }).ToList(),
            },
        });
    }

    /// <summary>
    /// A container as the kubelet reports it: running since shortly after the pod started, or, after
    /// <paramref name="restartCount"/> restarts, since its last start with the previous run in lastState.
    /// </summary>
    private static V1ContainerStatus RunningStatus(V1Container container, DateTime created, bool ready, int restartCount)
    {
        var startedAt = restartCount == 0 ? created.AddSeconds(2) : created.AddMinutes(10);
        return new V1ContainerStatus
        {
            Name = container.Name,
            Image = container.Image,
            ImageID = ImageId(container.Image),
            ContainerID = ContainerId(container.Name, created.Ticks.ToString(System.Globalization.CultureInfo.InvariantCulture), restartCount),
            Ready = ready,
            Started = true,
            RestartCount = restartCount,
            State = new V1ContainerState { Running = new V1ContainerStateRunning { StartedAt = startedAt } },
            LastState = restartCount == 0
                ? new V1ContainerState()
                : new V1ContainerState
                {
                    Terminated = new V1ContainerStateTerminated
                    {
                        ExitCode = 139,
                        Reason = "Error",
                        StartedAt = startedAt.AddMinutes(-1),
                        FinishedAt = startedAt.AddSeconds(-1),
                        ContainerID = ContainerId(container.Name, created.Ticks.ToString(System.Globalization.CultureInfo.InvariantCulture), restartCount - 1),
                    },
                },
        };
    }

    private static string ImageId(string image) =>
        image.Split(':')[0] + "@sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(image)));

    private static string ContainerId(string a, string b, int run) =>
        "containerd://" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes($"{a}/{b}/{run}")));

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
