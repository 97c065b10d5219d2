using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using EnvoyReaper.Cluster;
using EnvoyReaper.Workloads;
using k8s.Models;

namespace EnvoyReaper.Injection;

public enum RefusalKind
{
    /// <summary>The request is valid, but this workload cannot be injected as it is (422).</summary>
    Unprocessable,

    /// <summary>A Deployment or Service is missing (404).</summary>
    NotFound,
}

public sealed record Refusal(RefusalKind Kind, string Message);

/// <summary>What to write. Null members need no write; <see cref="Changed"/> is false when nothing does.</summary>
public sealed record SidecarPlan(
    V1Deployment? Deployment,
    V1ConfigMap? ConfigMap,
    bool DeleteConfigMap,
    V1Service? Service,
    string? ServiceName,
    string Hash,
    IReadOnlyList<string> Changes,
    bool Removal = false)
{
    public bool Changed => Deployment is not null || ConfigMap is not null || DeleteConfigMap || Service is not null;
}

/// <summary>
/// Computes the injected (or restored) Deployment, ConfigMap and Service from what exists. Pure: the same code serves
/// the HTTP endpoint and the offline command line, and running it on its own output changes nothing.
/// </summary>
public static class SidecarPlanner
{
    public const string ContainerName = "envoy";
    public const string VolumeName = "envoy-config";
    public const string InboundPortName = "envoy-inbound";
    public const string StatsPortName = "envoy-stats";
    public const string HashAnnotation = "envoy-reaper/injected-hash";
    public const string OriginalTargetPortAnnotation = "envoy-reaper/original-target-port";
    public const string InjectedOptInAnnotation = "envoy-reaper/injected-opt-in";
    public const string InjectAnnotation = "envoy-reaper/inject";
    public const string ManagedByLabel = "app.kubernetes.io/managed-by";
    public const string ManagedByValue = "envoy-reaper";

    public static string ConfigMapName(string deployment) => $"{deployment}-envoy";

    /// <param name="requireService">
    /// The endpoint needs the Service that carries the traffic (404 without it); offline, a manifest may come without one.
    /// </param>
    public static (SidecarPlan? Plan, Refusal? Refusal) PlanInjection(
        ValidInjection request, V1Deployment deployment, IReadOnlyList<V1Service> services, V1ConfigMap? configMap, InjectionOptions options, bool requireService = true)
    {
        var podSpec = deployment.Spec?.Template?.Spec;
        if (podSpec is null)
        {
            return (null, new Refusal(RefusalKind.Unprocessable, "the Deployment has no pod template"));
        }

        if (deployment.Metadata.Annotations?.TryGetValue(InjectAnnotation, out var inject) == true && inject == "false")
        {
            return (null, new Refusal(RefusalKind.Unprocessable, $"the Deployment is annotated {InjectAnnotation}: \"false\""));
        }

        if (podSpec.HostNetwork == true)
        {
            return (null, new Refusal(RefusalKind.Unprocessable, "the pods use hostNetwork: a sidecar's ports would be the node's ports"));
        }

        var all = (podSpec.Containers ?? []).Concat(podSpec.InitContainers ?? []).ToList();
        if (all.Any(container => container.Name == ReaperLabels.IstioProxyContainer))
        {
            return (null, new Refusal(RefusalKind.Unprocessable,
                "the pods already run istio-proxy; the reaper can monitor them as they are (label envoy-reaper/enabled: \"true\", stats on :15090/stats/prometheus)"));
        }

        var injectedBefore = deployment.Metadata.Annotations?.ContainsKey(HashAnnotation) == true;
        var foreign = all.FirstOrDefault(container => container.Name == ContainerName);
        if (foreign is not null && !injectedBefore)
        {
            return (null, new Refusal(RefusalKind.Unprocessable, $"a container named '{ContainerName}' exists and was not injected by EnvoyReaper"));
        }

        if (!injectedBefore && podSpec.Volumes?.Any(volume => volume.Name == VolumeName) == true)
        {
            return (null, new Refusal(RefusalKind.Unprocessable, $"a volume named '{VolumeName}' exists and was not injected by EnvoyReaper"));
        }

        var taken = all.Where(container => container.Name != ContainerName)
            .SelectMany(container => container.Ports ?? [])
            .FirstOrDefault(port => port.ContainerPort is EnvoyBootstrap.AdminPort or EnvoyBootstrap.InboundPort or EnvoyBootstrap.StatsPort);
        if (taken is not null)
        {
            return (null, new Refusal(RefusalKind.Unprocessable, $"container port {taken.ContainerPort} is already used by the app; the sidecar needs 9901, 15001 and 15090"));
        }

        var (service, serviceRefusal) = FindService(request, deployment, services);
        if (serviceRefusal is { Kind: RefusalKind.NotFound } && !requireService && request.Service is null)
        {
            serviceRefusal = null;
        }

        if (serviceRefusal is not null)
        {
            return (null, serviceRefusal);
        }

        var bootstrap = EnvoyBootstrap.Render(new BootstrapSpec(request.AppPort, request.Protocol, options.IdleTimeout));
        var hash = Hash(options, bootstrap, request);
        var changes = new List<string>();

        var desiredConfigMap = new V1ConfigMap
        {
            ApiVersion = "v1",
            Kind = "ConfigMap",
            Metadata = new V1ObjectMeta
            {
                Name = ConfigMapName(request.Deployment),
                NamespaceProperty = request.Namespace,
                Labels = new Dictionary<string, string> { [ManagedByLabel] = ManagedByValue },
                Annotations = new Dictionary<string, string> { [HashAnnotation] = hash },
            },
            Data = new Dictionary<string, string> { ["envoy.yaml"] = bootstrap },
        };
        V1ConfigMap? configMapWrite = null;
        if (configMap is null)
        {
            configMapWrite = desiredConfigMap;
            changes.Add($"create ConfigMap {desiredConfigMap.Metadata.Name}");
        }
        else if (Get(configMap.Metadata.Labels, ManagedByLabel) != ManagedByValue)
        {
            return (null, new Refusal(RefusalKind.Unprocessable, $"ConfigMap {configMap.Metadata.Name} exists and is not managed by EnvoyReaper"));
        }
        else if (Get(configMap.Data, "envoy.yaml") != bootstrap || Get(configMap.Metadata.Annotations, HashAnnotation) != hash)
        {
            desiredConfigMap.Metadata.ResourceVersion = configMap.Metadata.ResourceVersion;
            configMapWrite = desiredConfigMap;
            changes.Add($"update ConfigMap {desiredConfigMap.Metadata.Name}");
        }

        var deploymentWrite = InjectIntoDeployment(request, deployment, options, hash, changes);
        var serviceWrite = service is null ? null : RetargetService(request, service, changes);
        if (service is not null && serviceWrite is null && !IsRetargeted(service))
        {
            return (null, new Refusal(RefusalKind.Unprocessable, $"Service {service.Metadata.Name} has no port targeting {request.AppPort}"));
        }

        return (new SidecarPlan(deploymentWrite, configMapWrite, false, serviceWrite, service?.Metadata.Name, hash, changes), null);
    }

    public static SidecarPlan PlanRemoval(V1Deployment deployment, IReadOnlyList<V1Service> services, V1ConfigMap? configMap)
    {
        var changes = new List<string>();
        var copy = Clone(deployment);
        var podSpec = copy.Spec.Template.Spec;
        var changed = false;
        changed |= RemoveWhere(podSpec.Containers, container => container.Name == ContainerName) > 0;
        changed |= RemoveWhere(podSpec.InitContainers, container => container.Name == ContainerName) > 0;
        changed |= RemoveWhere(podSpec.Volumes, volume => volume.Name == VolumeName) > 0;
        changed |= copy.Spec.Template.Metadata?.Annotations?.Remove(HashAnnotation) == true;
        changed |= copy.Metadata.Annotations?.Remove(HashAnnotation) == true;
        if (copy.Metadata.Annotations?.Remove(InjectedOptInAnnotation) == true)
        {
            // Only what injection added: a label the owner set by hand stays.
            copy.Metadata.Labels?.Remove(ReaperLabels.Enabled);
            foreach (var key in new[] { ReaperLabels.Listeners, ReaperLabels.StatsPort, ReaperLabels.IdleTimeout, ReaperLabels.MinConnections, ReaperLabels.Action, ReaperLabels.Service, ReaperLabels.Ingress })
            {
                copy.Metadata.Annotations.Remove(key);
            }

            changed = true;
        }

        if (changed)
        {
            // Leave no empty maps behind, so that inject + remove gives back the Deployment as it was.
            if (copy.Spec.Template.Metadata?.Annotations is { Count: 0 })
            {
                copy.Spec.Template.Metadata.Annotations = null;
            }

            if (copy.Metadata.Annotations is { Count: 0 })
            {
                copy.Metadata.Annotations = null;
            }

            if (copy.Metadata.Labels is { Count: 0 })
            {
                copy.Metadata.Labels = null;
            }

            if (podSpec.Volumes is { Count: 0 })
            {
                podSpec.Volumes = null;
            }

            if (podSpec.InitContainers is { Count: 0 })
            {
                podSpec.InitContainers = null;
            }

            changes.Add($"remove the sidecar from Deployment {deployment.Metadata.Name}");
        }

        var deleteConfigMap = configMap is not null && Get(configMap.Metadata.Labels, ManagedByLabel) == ManagedByValue;
        if (deleteConfigMap)
        {
            changes.Add($"delete ConfigMap {configMap!.Metadata.Name}");
        }

        V1Service? restored = null;
        var retargeted = services.FirstOrDefault(IsRetargeted);
        if (retargeted is not null && SelectsPods(retargeted, deployment))
        {
            restored = Clone(retargeted);
            var original = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(restored.Metadata.Annotations![OriginalTargetPortAnnotation])!;
            foreach (var port in restored.Spec.Ports ?? [])
            {
                if (original.TryGetValue(PortKey(port), out var target))
                {
                    port.TargetPort = target.ValueKind == JsonValueKind.Number ? (IntOrString)target.GetInt32() : (IntOrString)target.GetString()!;
                }
            }

            restored.Metadata.Annotations.Remove(OriginalTargetPortAnnotation);
            changes.Add($"restore Service {retargeted.Metadata.Name}'s target port");
        }

        return new SidecarPlan(changed ? copy : null, null, deleteConfigMap, restored, retargeted?.Metadata.Name, string.Empty, changes, Removal: true);
    }

    private static V1Deployment? InjectIntoDeployment(ValidInjection request, V1Deployment deployment, InjectionOptions options, string hash, List<string> changes)
    {
        var copy = Clone(deployment);
        var podSpec = copy.Spec.Template.Spec;
        podSpec.Containers ??= [];
        RemoveWhere(podSpec.Containers, container => container.Name == ContainerName);
        RemoveWhere(podSpec.InitContainers, container => container.Name == ContainerName);
        podSpec.Volumes ??= [];
        RemoveWhere(podSpec.Volumes, volume => volume.Name == VolumeName);

        var sidecar = Sidecar(options);
        if (options.NativeSidecar)
        {
            sidecar.RestartPolicy = "Always";
            podSpec.InitContainers ??= [];
            podSpec.InitContainers.Add(sidecar);
        }
        else
        {
            podSpec.Containers.Add(sidecar);
        }

        podSpec.Volumes.Add(new V1Volume { Name = VolumeName, ConfigMap = new V1ConfigMapVolumeSource { Name = ConfigMapName(request.Deployment) } });
        copy.Spec.Template.Metadata ??= new V1ObjectMeta();
        copy.Spec.Template.Metadata.Annotations ??= new Dictionary<string, string>();
        copy.Spec.Template.Metadata.Annotations[HashAnnotation] = hash; // a new hash rolls the pods
        copy.Metadata.Annotations ??= new Dictionary<string, string>();
        copy.Metadata.Annotations[HashAnnotation] = hash;

        if (request.Monitor)
        {
            copy.Metadata.Labels ??= new Dictionary<string, string>();
            if (Get(copy.Metadata.Labels, ReaperLabels.Enabled) != "true")
            {
                copy.Metadata.Labels[ReaperLabels.Enabled] = "true";
                copy.Metadata.Annotations[InjectedOptInAnnotation] = "true";
            }

            copy.Metadata.Annotations[ReaperLabels.Listeners] = EnvoyBootstrap.InboundStatPrefix;
            copy.Metadata.Annotations[ReaperLabels.StatsPort] = EnvoyBootstrap.StatsPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
            SetOrKeep(copy.Metadata.Annotations, ReaperLabels.IdleTimeout, request.IdleTimeout);
            SetOrKeep(copy.Metadata.Annotations, ReaperLabels.MinConnections, request.MinConnections?.ToString(System.Globalization.CultureInfo.InvariantCulture));
            SetOrKeep(copy.Metadata.Annotations, ReaperLabels.Action, request.Action);
            SetOrKeep(copy.Metadata.Annotations, ReaperLabels.Service, request.Service);
            SetOrKeep(copy.Metadata.Annotations, ReaperLabels.Ingress, request.Ingress);
        }

        if (Json(copy.Spec) == Json(deployment.Spec) && Json(copy.Metadata.Labels) == Json(deployment.Metadata.Labels)
            && Json(copy.Metadata.Annotations) == Json(deployment.Metadata.Annotations))
        {
            return null;
        }

        changes.Add(Get(deployment.Metadata.Annotations, HashAnnotation) is { } previous && previous != hash
            ? $"upgrade the sidecar of Deployment {deployment.Metadata.Name}"
            : $"inject the sidecar into Deployment {deployment.Metadata.Name}");
        return copy;
    }

    private static void SetOrKeep(IDictionary<string, string> annotations, string key, string? value)
    {
        if (value is not null)
        {
            annotations[key] = value;
        }
    }

    private static V1Container Sidecar(InjectionOptions options) => new()
    {
        Name = ContainerName,
        Image = options.EnvoyImage,
        Args = ["-c", "/etc/envoy/envoy.yaml", "--concurrency", options.Concurrency.ToString(System.Globalization.CultureInfo.InvariantCulture), "--log-level", "warn"],
        Ports =
        [
            new V1ContainerPort { Name = InboundPortName, ContainerPort = EnvoyBootstrap.InboundPort, Protocol = "TCP" },
            new V1ContainerPort { Name = StatsPortName, ContainerPort = EnvoyBootstrap.StatsPort, Protocol = "TCP" },
        ],
        Resources = new V1ResourceRequirements
        {
            Requests = new Dictionary<string, ResourceQuantity> { ["cpu"] = new(options.CpuRequest), ["memory"] = new(options.MemoryRequest) },
            Limits = new Dictionary<string, ResourceQuantity> { ["memory"] = new(options.MemoryLimit) },
        },
        ReadinessProbe = new V1Probe { HttpGet = new V1HTTPGetAction { Path = "/ready", Port = (IntOrString)StatsPortName }, PeriodSeconds = 5 },
        VolumeMounts = [new V1VolumeMount { Name = VolumeName, MountPath = "/etc/envoy", ReadOnlyProperty = true }],
        SecurityContext = new V1SecurityContext { AllowPrivilegeEscalation = false, RunAsNonRoot = true, RunAsUser = 101 },
    };

    private static (V1Service? Service, Refusal? Refusal) FindService(ValidInjection request, V1Deployment deployment, IReadOnlyList<V1Service> services)
    {
        if (request.Service is { } name)
        {
            var named = services.FirstOrDefault(service => service.Metadata.Name == name);
            return named is null ? (null, new Refusal(RefusalKind.NotFound, $"Service {request.Namespace}/{name} not found")) : (named, null);
        }

        var selecting = services.Where(service => SelectsPods(service, deployment)).ToList();
        return selecting.Count switch
        {
            0 => (null, new Refusal(RefusalKind.NotFound, $"no Service in {request.Namespace} selects the pods of Deployment {request.Deployment}; name one with \"service\"")),
            1 => (selecting[0], null),
            _ => (null, new Refusal(RefusalKind.Unprocessable, $"several Services select the pods ({string.Join(", ", selecting.Select(service => service.Metadata.Name))}); name one with \"service\"")),
        };
    }

    private static bool SelectsPods(V1Service service, V1Deployment deployment) =>
        service.Spec?.Selector is { Count: > 0 } selector
        && deployment.Spec?.Template?.Metadata?.Labels is { } labels
        && LabelSelector.FromLabels(new Dictionary<string, string>(selector)).Matches(new Dictionary<string, string>(labels));

    private static bool IsRetargeted(V1Service service) => service.Metadata.Annotations?.ContainsKey(OriginalTargetPortAnnotation) == true;

    /// <summary>
    /// Points the port that reached the app at Envoy, by name: pods of the old template have no port of that name, so
    /// during the rollout traffic goes only to pods that already run Envoy, never to a port nobody listens on.
    /// </summary>
    private static V1Service? RetargetService(ValidInjection request, V1Service service, List<string> changes)
    {
        var original = IsRetargeted(service)
            ? JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(service.Metadata.Annotations![OriginalTargetPortAnnotation])!
                .ToDictionary(pair => pair.Key, pair => pair.Value.Clone())
            : new Dictionary<string, JsonElement>();
        var copy = Clone(service);
        var changed = false;
        foreach (var port in copy.Spec.Ports ?? [])
        {
            var target = port.TargetPort?.Value ?? port.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (target == request.AppPort.ToString(System.Globalization.CultureInfo.InvariantCulture))
            {
                original[PortKey(port)] = JsonSerializer.SerializeToElement(request.AppPort);
                port.TargetPort = (IntOrString)InboundPortName;
                changed = true;
            }
        }

        if (!changed)
        {
            return null;
        }

        copy.Metadata.Annotations ??= new Dictionary<string, string>();
        copy.Metadata.Annotations[OriginalTargetPortAnnotation] = JsonSerializer.Serialize(original);
        changes.Add($"point Service {service.Metadata.Name} at Envoy ({InboundPortName}, port {EnvoyBootstrap.InboundPort})");
        return copy;
    }

    private static string PortKey(V1ServicePort port) => port.Name ?? port.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static string Hash(InjectionOptions options, string bootstrap, ValidInjection request)
    {
        var material = string.Join('\n', options.EnvoyImage, options.Concurrency, options.NativeSidecar, options.CpuRequest, options.MemoryRequest, options.MemoryLimit, request.Protocol, bootstrap);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(material)))[..16];
    }

    private static string? Get(IDictionary<string, string>? values, string key) =>
        values is not null && values.TryGetValue(key, out var value) ? value : null;

    private static int RemoveWhere<T>(IList<T>? items, Func<T, bool> predicate)
    {
        if (items is null)
        {
            return 0;
        }

        var removed = 0;
        for (var i = items.Count - 1; i >= 0; i--)
        {
            if (predicate(items[i]))
            {
                items.RemoveAt(i);
                removed++;
            }
        }

        return removed;
    }

    private static string Json<T>(T value) => k8s.KubernetesJson.Serialize(value);

    private static T Clone<T>(T value) => k8s.KubernetesJson.Deserialize<T>(k8s.KubernetesJson.Serialize(value));
}
