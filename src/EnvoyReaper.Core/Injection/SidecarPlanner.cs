using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
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

/// <summary>
/// Pods that are not a Deployment's (a StatefulSet's, a DaemonSet's, a bare Pod...), by the labels they carry: a Service
/// that selects them as well cannot be pointed at Envoy, they would have no port of that name.
/// </summary>
/// <param name="Kind">What created them ("StatefulSet", "Pod", ...).</param>
public sealed record OtherPods(string Kind, string Name, IReadOnlyDictionary<string, string> Labels);

/// <summary>
/// What to write. Null members need no write; <see cref="Changed"/> is false when nothing does. <see cref="Services"/>
/// are the Services to replace: every one that reaches the app port (injection), or this workload's retargeted ones
/// (removal). <see cref="Warnings"/> name traffic that can still bypass the sidecar.
/// </summary>
public sealed record SidecarPlan(
    V1Deployment? Deployment,
    V1ConfigMap? ConfigMap,
    bool DeleteConfigMap,
    IReadOnlyList<V1Service> Services,
    string Hash,
    IReadOnlyList<string> Changes,
    bool Removal = false)
{
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>Service ports that reach another port of the pods than the app port, as "Service web port http (8080)": their users bypass Envoy.</summary>
    public IReadOnlyList<string> PortsPastEnvoy { get; init; } = [];

    public bool Changed => Deployment is not null || ConfigMap is not null || DeleteConfigMap || Services.Count > 0;
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

    /// <summary>The sidecar's UDP port: the same number as <see cref="InboundPortName"/>, its own name (at most 15 characters).</summary>
    public const string UdpPortName = "envoy-udp";

    public const string DaprAppPortAnnotation = "dapr.io/app-port";
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
    /// <param name="deployments">
    /// The Deployments of the namespace (or file), to refuse a Service that also sends traffic to other Deployments'
    /// pods; null when unknown.
    /// </param>
    /// <param name="injectedTogether">Deployments injected in the same request or file, whose pods will run Envoy too.</param>
    /// <param name="otherPods">The pods of the namespace (or file) that no Deployment owns; null when unknown.</param>
    public static (SidecarPlan? Plan, Refusal? Refusal) PlanInjection(
        ValidInjection request,
        V1Deployment deployment,
        IReadOnlyList<V1Service> services,
        V1ConfigMap? configMap,
        InjectionOptions options,
        bool requireService = true,
        IReadOnlyList<V1Deployment>? deployments = null,
        IReadOnlyCollection<string>? injectedTogether = null,
        IReadOnlyList<OtherPods>? otherPods = null)
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

        // In the order Kubernetes resolves a named targetPort: the containers, then the sidecar (restartPolicy Always) init
        // containers; an ordinary init container's ports serve nothing once the pod runs.
        var appContainerPorts = (podSpec.Containers ?? []).Concat((podSpec.InitContainers ?? []).Where(container => container.RestartPolicy == "Always"))
            .Where(container => container.Name != ContainerName)
            .SelectMany(container => container.Ports ?? [])
            .ToList();
        var (routes, serviceRefusal) = FindServices(request, deployment, services, appContainerPorts, deployments, injectedTogether, otherPods);
        if (serviceRefusal is { Kind: RefusalKind.NotFound } && !requireService && request.Service is null)
        {
            serviceRefusal = null;
        }

        if (serviceRefusal is not null)
        {
            return (null, serviceRefusal);
        }

        // A headless Service's clients connect to the pod IPs on the app port: pointing it at Envoy changes nothing for
        // them. With no other Service, every user would bypass Envoy and the reaper would see a workload in use as idle.
        if (request.Monitor && routes!.Count > 0 && routes.All(route => route.Service.Spec.ClusterIP == "None"))
        {
            return (null, new Refusal(RefusalKind.Unprocessable,
                $"every Service reaching port {request.AppPort} is headless ({string.Join(", ", routes.Select(route => route.Service.Metadata.Name).Distinct())}): its clients connect to the pods directly, past Envoy, and the workload would look idle while in use; give it a ClusterIP Service its clients use, or inject with monitoring off"));
        }

        var (choices, protocolRefusal) = ChooseProtocols(request, routes!, appContainerPorts);
        if (protocolRefusal is not null)
        {
            return (null, protocolRefusal);
        }

        var tcp = choices.FirstOrDefault(choice => choice.Protocol != SidecarProtocol.Udp);
        var udp = choices.Any(choice => choice.Protocol == SidecarProtocol.Udp);
        var spec = new BootstrapSpec(request.AppPort, tcp?.Protocol ?? SidecarProtocol.Udp, options.IdleTimeout, Udp: udp && tcp is not null,
            Ipv6: routes!.Any(route => CarriesIpv6(route.Service)));
        var bootstrap = EnvoyBootstrap.Render(spec);
        var hash = Hash(options, bootstrap, spec);
        var changes = new List<string>();
        var warnings = Bypasses(request, deployment, routes!);
        var portsPastEnvoy = PortsPastEnvoy(services.Where(service => SelectsPods(service, deployment)), routes!, appContainerPorts, request.AppPort);
        warnings.AddRange(portsPastEnvoy.Select(port => $"{port} reaches the pods directly, past Envoy: its users are not counted"));

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

        var deploymentWrite = InjectIntoDeployment(request, deployment, options, hash, spec, changes);
        foreach (var choice in choices)
        {
            changes.Add($"proxy port {request.AppPort} as {ProtocolInference.Name(choice.Protocol)} ({ProtocolInference.Description(choice.Protocol)}): {choice.Reason}");
        }

        var serviceWrites = routes!
            .GroupBy(route => route.Service)
            .Select(group => RetargetService(group.Key, group.ToList(), changes))
            .OfType<V1Service>()
            .ToList();
        var plan = new SidecarPlan(deploymentWrite, configMapWrite, false, serviceWrites, hash, changes) { Warnings = warnings, PortsPastEnvoy = portsPastEnvoy };
        return (plan, null);
    }

    /// <summary>
    /// Takes the sidecar out and restores every Service of this workload that injection pointed at Envoy, except one that
    /// also serves other Deployments still running the sidecar: put back, it would send their users past Envoy, uncounted
    /// (a workload in use that looks idle). It stays on Envoy, with a warning, until the last of them is removed.
    /// </summary>
    /// <param name="deployments">The namespace's Deployments, to find those that share a retargeted Service.</param>
    public static SidecarPlan PlanRemoval(V1Deployment deployment, IReadOnlyList<V1Service> services, V1ConfigMap? configMap, IReadOnlyList<V1Deployment>? deployments = null)
    {
        var warnings = new List<string>();
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

        var restored = new List<V1Service>();
        foreach (var retargeted in services.Where(service => IsRetargeted(service) && SelectsPods(service, deployment)))
        {
            var stillInjected = (deployments ?? [])
                .Where(other => other.Metadata.Name != deployment.Metadata.Name && RunsInjectedSidecar(other) && SelectsPods(retargeted, other))
                .Select(other => other.Metadata.Name)
                .Order(StringComparer.Ordinal)
                .ToList();
            if (stillInjected.Count > 0)
            {
                warnings.Add($"Service {retargeted.Metadata.Name} stays pointed at Envoy: it also serves {string.Join(", ", stillInjected)}, which still run the sidecar; "
                    + $"the pods of {deployment.Metadata.Name} leave its endpoints until the sidecar is removed from those too (the last removal restores it)");
                continue;
            }

            var service = Clone(retargeted);
            var original = OriginalTargetPorts(service);
            foreach (var port in service.Spec.Ports ?? [])
            {
                if (IsSidecarPortName(port.TargetPort?.Value) && original.TryGetValue(PortKey(port), out var target))
                {
                    port.TargetPort = TargetPortFromJson(target);
                }
            }

            service.Metadata.Annotations!.Remove(OriginalTargetPortAnnotation);
            if (service.Metadata.Annotations.Count == 0)
            {
                service.Metadata.Annotations = null;
            }

            restored.Add(service);
            changes.Add($"restore Service {retargeted.Metadata.Name}'s target port");
        }

        return new SidecarPlan(changed ? copy : null, null, deleteConfigMap, restored, string.Empty, changes, Removal: true) { Warnings = warnings };
    }

    private static V1Deployment? InjectIntoDeployment(ValidInjection request, V1Deployment deployment, InjectionOptions options, string hash, BootstrapSpec spec, List<string> changes)
    {
        var copy = Clone(deployment);
        var podSpec = copy.Spec.Template.Spec;
        podSpec.Containers ??= [];
        var existingSidecar = podSpec.Containers.Concat(podSpec.InitContainers ?? []).FirstOrDefault(container => container.Name == ContainerName);
        var existingVolume = podSpec.Volumes?.FirstOrDefault(volume => volume.Name == VolumeName);
        RemoveWhere(podSpec.Containers, container => container.Name == ContainerName);
        RemoveWhere(podSpec.InitContainers, container => container.Name == ContainerName);
        podSpec.Volumes ??= [];
        RemoveWhere(podSpec.Volumes, volume => volume.Name == VolumeName);

        var sidecar = Sidecar(options, spec);
        if (options.NativeSidecar)
        {
            sidecar.RestartPolicy = "Always";
        }

        // The API server stores what it was sent plus its defaults (imagePullPolicy, probe timeouts, defaultMode...):
        // that copy is the sidecar as wanted, or every re-plan (the finish step's included) would see a change.
        if (existingSidecar is not null && Covers(existingSidecar, sidecar))
        {
            sidecar = existingSidecar;
        }

        var bootstrapVolume = new V1Volume { Name = VolumeName, ConfigMap = new V1ConfigMapVolumeSource { Name = ConfigMapName(request.Deployment) } };
        if (existingVolume is not null && Covers(existingVolume, bootstrapVolume))
        {
            bootstrapVolume = existingVolume;
        }

        if (options.NativeSidecar)
        {
            podSpec.InitContainers ??= [];
            podSpec.InitContainers.Add(sidecar);
        }
        else
        {
            podSpec.Containers.Add(sidecar);
        }

        podSpec.Volumes.Add(bootstrapVolume);
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

            copy.Metadata.Annotations[ReaperLabels.Listeners] = string.Join(',', new[]
            {
                spec.HasTcpListener ? EnvoyBootstrap.InboundStatPrefix : null,
                spec.HasUdpListener ? EnvoyBootstrap.UdpSessionsListener : null,
            }.OfType<string>());
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

    /// <summary>The envoy user of the envoyproxy/envoy image.</summary>
    public const long EnvoyUid = 101;

    // Meets Pod Security "restricted" on its own, so that a pod that met it before injection still does.
    private static V1Container Sidecar(InjectionOptions options, BootstrapSpec spec)
    {
        var ports = new List<V1ContainerPort>();
        if (spec.HasTcpListener)
        {
            ports.Add(new V1ContainerPort { Name = InboundPortName, ContainerPort = EnvoyBootstrap.InboundPort, Protocol = "TCP" });
        }

        if (spec.HasUdpListener)
        {
            ports.Add(new V1ContainerPort { Name = UdpPortName, ContainerPort = EnvoyBootstrap.InboundPort, Protocol = "UDP" });
        }

        ports.Add(new V1ContainerPort { Name = StatsPortName, ContainerPort = EnvoyBootstrap.StatsPort, Protocol = "TCP" });
        return new V1Container
        {
            Name = ContainerName,
            Image = options.EnvoyImage,
            Args = ["-c", "/etc/envoy/envoy.yaml", "--concurrency", options.Concurrency.ToString(CultureInfo.InvariantCulture), "--log-level", "warn"],
            Ports = ports,
            Resources = new V1ResourceRequirements
            {
                Requests = new Dictionary<string, ResourceQuantity> { ["cpu"] = new(options.CpuRequest), ["memory"] = new(options.MemoryRequest) },
                Limits = new Dictionary<string, ResourceQuantity> { ["memory"] = new(options.MemoryLimit) },
            },
            ReadinessProbe = new V1Probe { HttpGet = new V1HTTPGetAction { Path = "/ready", Port = (IntOrString)StatsPortName }, PeriodSeconds = 5 },
            VolumeMounts = [new V1VolumeMount { Name = VolumeName, MountPath = "/etc/envoy", ReadOnlyProperty = true }],
            SecurityContext = new V1SecurityContext
            {
                AllowPrivilegeEscalation = false,
                Privileged = false,
                Capabilities = new V1Capabilities { Drop = ["ALL"] },
                RunAsNonRoot = true,
                RunAsUser = EnvoyUid,
                RunAsGroup = EnvoyUid,
                ReadOnlyRootFilesystem = true,
                SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" },
            },
        };
    }

    /// <summary>A Service port that reaches the app port, and the original target port it had (the name, the number or none).</summary>
    private sealed record AppPortRoute(V1Service Service, V1ServicePort Port, string Transport, string? ContainerPortName);

    /// <summary>
    /// Every Service that selects the pods and has a port reaching the app port: all of them must go through Envoy, or
    /// their users would reach the app unseen and the workload would look idle while in use.
    /// </summary>
    private static (IReadOnlyList<AppPortRoute>? Routes, Refusal? Refusal) FindServices(
        ValidInjection request,
        V1Deployment deployment,
        IReadOnlyList<V1Service> services,
        IReadOnlyList<V1ContainerPort> appContainerPorts,
        IReadOnlyList<V1Deployment>? deployments,
        IReadOnlyCollection<string>? injectedTogether,
        IReadOnlyList<OtherPods>? otherPods)
    {
        if (request.Service is { } name)
        {
            var named = services.FirstOrDefault(service => service.Metadata.Name == name);
            if (named is null)
            {
                return (null, new Refusal(RefusalKind.NotFound, $"Service {request.Namespace}/{name} not found"));
            }

            if (!SelectsPods(named, deployment))
            {
                return (null, new Refusal(RefusalKind.Unprocessable, $"Service {name} does not select the pods of Deployment {request.Deployment}"));
            }
        }

        var selecting = services.Where(service => SelectsPods(service, deployment)).ToList();
        if (selecting.Count == 0)
        {
            return ([], new Refusal(RefusalKind.NotFound, $"no Service in {request.Namespace} selects the pods of Deployment {request.Deployment}"));
        }

        // A port an earlier injection pointed at Envoy for another app port: the Envoy of this injection would forward its
        // traffic to the wrong port of the app.
        var stale = selecting
            .SelectMany(service => (service.Spec.Ports ?? [])
                .Where(port => IsSidecarPortName(port.TargetPort?.Value) && OriginalTargetPorts(service).ContainsKey(PortKey(port))
                    && Route(service, port, request.AppPort, appContainerPorts) is null)
                .Select(port => $"Service {service.Metadata.Name} port {PortKey(port)}"))
            .ToList();
        if (stale.Count > 0)
        {
            return (null, new Refusal(RefusalKind.Unprocessable,
                $"{string.Join(", ", stale)} points at Envoy for another port of the app than {request.AppPort}: its traffic would reach port {request.AppPort}; remove the sidecar first, or inject the port it was injected for"));
        }

        var routes = selecting
            .SelectMany(service => (service.Spec.Ports ?? []).Select(port => Route(service, port, request.AppPort, appContainerPorts)))
            .OfType<AppPortRoute>()
            .ToList();
        if (routes.Count == 0)
        {
            return ([], new Refusal(RefusalKind.Unprocessable,
                $"no port of {string.Join(", ", selecting.Select(service => $"Service {service.Metadata.Name}"))} reaches port {request.AppPort} of Deployment {request.Deployment}"));
        }

        if (routes.FirstOrDefault(route => route.Transport is not ("TCP" or "UDP")) is { } unsupported)
        {
            return (null, new Refusal(RefusalKind.Unprocessable,
                $"Service {unsupported.Service.Metadata.Name} port {PortKey(unsupported.Port)} reaches port {request.AppPort} over {unsupported.Transport}, which Envoy cannot proxy: its traffic would bypass the sidecar"));
        }

        if (deployments is not null)
        {
            foreach (var service in routes.Select(route => route.Service).Distinct())
            {
                var others = deployments
                    .Where(other => other.Metadata?.Name != deployment.Metadata.Name && SelectsPods(service, other))
                    .Where(other => injectedTogether?.Contains(other.Metadata.Name) != true && !RunsInjectedSidecar(other))
                    .Select(other => other.Metadata.Name)
                    .Order(StringComparer.Ordinal)
                    .ToList();
                if (others.Count > 0)
                {
                    return (null, new Refusal(RefusalKind.Unprocessable,
                        $"Service {service.Metadata.Name} also selects the pods of Deployment{(others.Count > 1 ? "s" : "")} {string.Join(", ", others)}, which would drop out of its endpoints; inject them together: one HTTP request listing them all in \"deployments\", or one file with the CLI"));
                }
            }
        }

        foreach (var service in routes.Select(route => route.Service).Distinct())
        {
            var others = (otherPods ?? [])
                .Where(other => SelectsLabels(service, other.Labels))
                .Select(other => $"{other.Kind} {other.Name}")
                .Distinct(StringComparer.Ordinal)
                .Order(StringComparer.Ordinal)
                .ToList();
            if (others.Count > 0)
            {
                return (null, new Refusal(RefusalKind.Unprocessable,
                    $"Service {service.Metadata.Name} also selects the pods of {string.Join(", ", others)}, which the sidecar cannot be injected into this way: pointed at Envoy, the Service would drop them from its endpoints; narrow its selector to the Deployment's pods"));
            }
        }

        return (routes, null);
    }

    /// <summary>
    /// Whether a Service port reaches the app port: by number, by omitted (or 0) targetPort meaning the port, or by a
    /// name whose first container port of the same protocol (as Kubernetes resolves it) is the app port. A port this planner already pointed at Envoy is judged by
    /// the target it had.
    /// </summary>
    private static AppPortRoute? Route(V1Service service, V1ServicePort port, int appPort, IReadOnlyList<V1ContainerPort> appContainerPorts)
    {
        var transport = port.Protocol ?? "TCP";
        var target = port.TargetPort?.Value;
        if (IsSidecarPortName(target) && OriginalTargetPorts(service).TryGetValue(PortKey(port), out var original))
        {
            target = original.ValueKind switch
            {
                JsonValueKind.Number => original.GetInt32().ToString(CultureInfo.InvariantCulture),
                JsonValueKind.String => original.GetString(),
                _ => null,
            };
        }

        if (string.IsNullOrEmpty(target) || target == "0")
        {
            target = port.Port.ToString(CultureInfo.InvariantCulture);
        }

        var samePort = appContainerPorts.Where(containerPort => containerPort.ContainerPort == appPort && (containerPort.Protocol ?? "TCP") == transport).ToList();
        if (int.TryParse(target, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        {
            return number == appPort ? new AppPortRoute(service, port, transport, samePort.FirstOrDefault()?.Name) : null;
        }

        // The first port of that name and protocol is the one Kubernetes sends to, even if a later one has the app port.
        var named = appContainerPorts.FirstOrDefault(containerPort => containerPort.Name == target && (containerPort.Protocol ?? "TCP") == transport);
        return named?.ContainerPort == appPort ? new AppPortRoute(service, port, transport, named.Name) : null;
    }

    /// <summary>UDP ports get UDP; TCP ports get the requested protocol, or the one their marks agree on.</summary>
    private static (IReadOnlyList<ProtocolChoice> Choices, Refusal? Refusal) ChooseProtocols(
        ValidInjection request, IReadOnlyList<AppPortRoute> routes, IReadOnlyList<V1ContainerPort> appContainerPorts)
    {
        var transports = routes.Count > 0
            ? routes.Select(route => route.Transport).Distinct().ToList()
            : DeclaredTransports(request, appContainerPorts);
        var choices = new List<ProtocolChoice>();
        if (transports.Contains("TCP"))
        {
            if (request.Protocol == SidecarProtocol.Udp && routes.FirstOrDefault(route => route.Transport == "TCP") is { } tcpRoute)
            {
                return ([], new Refusal(RefusalKind.Unprocessable,
                    $"protocol udp was requested, but Service {tcpRoute.Service.Metadata.Name} port {PortKey(tcpRoute.Port)} reaches port {request.AppPort} over TCP"));
            }

            if (request.Protocol is { } requested and not SidecarProtocol.Udp)
            {
                choices.Add(new ProtocolChoice(requested, "requested"));
            }
            else
            {
                List<(AppPortRoute? Route, ProtocolChoice Choice)> inferred = routes.Count > 0
                    ? routes.Where(route => route.Transport == "TCP")
                        .Select(route => ((AppPortRoute?)route, ProtocolInference.Infer(route.Port.AppProtocol, route.Port.Name, route.ContainerPortName, request.AppPort)))
                        .ToList()
                    : [(null, ProtocolInference.Infer(null, null, ContainerPortName(appContainerPorts, request.AppPort, "TCP"), request.AppPort))];
                var distinct = inferred.Select(item => item.Choice.Protocol).Distinct().ToList();
                if (distinct.Count > 1)
                {
                    return ([], new Refusal(RefusalKind.Unprocessable,
                        $"the Service ports reaching {request.AppPort} disagree on the protocol ({string.Join("; ", inferred.Select(item => $"{item.Route!.Service.Metadata.Name} port {PortKey(item.Route.Port)}: {ProtocolInference.Name(item.Choice.Protocol)} by {item.Choice.Reason}"))}); pass protocol"));
                }

                var (route, choice) = inferred[0];
                choices.Add(choice with { Reason = route is null ? choice.Reason : $"Service {route.Service.Metadata.Name} port {PortKey(route.Port)}: {choice.Reason}" });
            }
        }

        if (transports.Contains("UDP"))
        {
            var udpRoute = routes.FirstOrDefault(route => route.Transport == "UDP");
            choices.Add(new ProtocolChoice(SidecarProtocol.Udp, udpRoute is null
                ? request.Protocol == SidecarProtocol.Udp ? "requested" : $"container port {request.AppPort} is UDP"
                : $"Service {udpRoute.Service.Metadata.Name} port {PortKey(udpRoute.Port)} is UDP"));
        }

        return (choices, null);
    }

    // Offline without a Service: the container ports say which transports the app port has.
    private static List<string> DeclaredTransports(ValidInjection request, IReadOnlyList<V1ContainerPort> appContainerPorts)
    {
        if (request.Protocol == SidecarProtocol.Udp)
        {
            return ["UDP"];
        }

        var declared = appContainerPorts.Where(port => port.ContainerPort == request.AppPort).Select(port => port.Protocol ?? "TCP").Distinct().ToList();
        return declared.Count == 0 || request.Protocol is not null ? ["TCP"] : declared.Where(transport => transport is "TCP" or "UDP").DefaultIfEmpty("TCP").ToList();
    }

    private static string? ContainerPortName(IReadOnlyList<V1ContainerPort> ports, int appPort, string transport) =>
        ports.FirstOrDefault(port => port.ContainerPort == appPort && (port.Protocol ?? "TCP") == transport)?.Name;

    /// <summary>Known ways around the sidecar that pointing Services at it cannot close.</summary>
    private static List<string> Bypasses(ValidInjection request, V1Deployment deployment, IReadOnlyList<AppPortRoute> routes)
    {
        var warnings = new List<string>();
        var appPort = request.AppPort.ToString(CultureInfo.InvariantCulture);
        if (Get(deployment.Spec.Template.Metadata?.Annotations, DaprAppPortAnnotation) == appPort)
        {
            warnings.Add($"the pods are annotated {DaprAppPortAnnotation}: \"{appPort}\": the Dapr sidecar calls the app on that port directly, unseen by Envoy (point it at {EnvoyBootstrap.InboundPort} to count those calls)");
        }

        foreach (var container in (deployment.Spec.Template.Spec.Containers ?? []).Where(container => container.Name != ContainerName))
        {
            foreach (var port in (container.Ports ?? []).Where(port => port.ContainerPort == request.AppPort && port.HostPort is > 0))
            {
                warnings.Add($"container {container.Name} publishes port {appPort} as hostPort {port.HostPort}: clients of the node's port reach the app directly, unseen by Envoy");
            }
        }

        foreach (var service in routes.Select(route => route.Service).Distinct().Where(service => service.Spec.ClusterIP == "None"))
        {
            warnings.Add($"Service {service.Metadata.Name} is headless: clients that resolve the pod IPs may still connect to port {appPort} directly");
        }

        return warnings;
    }

    /// <summary>
    /// The ports of the Services selecting the pods that reach a port other than the app port (by number, omitted, or a
    /// name a container port carries; a name no container carries reaches nothing).
    /// </summary>
    private static List<string> PortsPastEnvoy(IEnumerable<V1Service> selecting, IReadOnlyList<AppPortRoute> routes, IReadOnlyList<V1ContainerPort> appContainerPorts, int appPort)
    {
        var past = new List<string>();
        foreach (var service in selecting)
        {
            foreach (var port in (service.Spec.Ports ?? []).Where(port => !routes.Any(route => ReferenceEquals(route.Port, port)) && !IsSidecarPortName(port.TargetPort?.Value)))
            {
                var target = port.TargetPort?.Value;
                int? reached = string.IsNullOrEmpty(target) || target == "0" ? port.Port
                    : int.TryParse(target, NumberStyles.None, CultureInfo.InvariantCulture, out var number) ? number
                    : appContainerPorts.FirstOrDefault(containerPort => containerPort.Name == target && (containerPort.Protocol ?? "TCP") == (port.Protocol ?? "TCP"))?.ContainerPort;
                if (reached is { } other && other != appPort)
                {
                    past.Add($"Service {service.Metadata.Name} port {PortKey(port)} ({other.ToString(CultureInfo.InvariantCulture)})");
                }
            }
        }

        return past;
    }

    /// <summary>The Deployments whose pods any of <paramref name="services"/> selects.</summary>
    public static IReadOnlyList<V1Deployment> DeploymentsBehind(IEnumerable<V1Service> services, IReadOnlyList<V1Deployment> deployments) =>
        deployments.Where(deployment => services.Any(service => SelectsPods(service, deployment))).ToList();

    private static bool RunsInjectedSidecar(V1Deployment deployment) =>
        deployment.Metadata?.Annotations?.ContainsKey(HashAnnotation) == true;

    private static bool SelectsPods(V1Service service, V1Deployment deployment) =>
        deployment.Spec?.Template?.Metadata?.Labels is { } labels && SelectsLabels(service, labels);

    private static bool SelectsLabels(V1Service service, IEnumerable<KeyValuePair<string, string>> labels) =>
        service.Spec?.Selector is { Count: > 0 } selector
        && LabelSelector.FromLabels(new Dictionary<string, string>(selector)).Matches(new Dictionary<string, string>(labels));

    /// <summary>
    /// Whether the Service may send IPv6 traffic. The families the API server allocated decide when they are there
    /// (PreferDualStack on a single-stack cluster gets IPv4 only, and an Envoy binding "::" on a node without IPv6 never
    /// starts); without them (a manifest offline) a dual-stack policy counts, since an Envoy that cannot bind IPv6 fails
    /// its rollout and leaves the Service untouched, where one on IPv4 only would refuse the Service's IPv6 clients.
    /// </summary>
    private static bool CarriesIpv6(V1Service service) =>
        service.Spec?.IpFamilies is { Count: > 0 } families
            ? families.Contains("IPv6")
            : service.Spec?.IpFamilyPolicy is "RequireDualStack" or "PreferDualStack";

    private static bool IsRetargeted(V1Service service) => service.Metadata.Annotations?.ContainsKey(OriginalTargetPortAnnotation) == true;

    private static bool IsSidecarPortName(string? target) => target is InboundPortName or UdpPortName;

    private static Dictionary<string, JsonElement> OriginalTargetPorts(V1Service service) =>
        IsRetargeted(service)
            ? JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(service.Metadata.Annotations![OriginalTargetPortAnnotation])!
                .ToDictionary(pair => pair.Key, pair => pair.Value.Clone())
            : new Dictionary<string, JsonElement>();

    private static IntOrString? TargetPortFromJson(JsonElement target) => target.ValueKind switch
    {
        JsonValueKind.Number => (IntOrString)target.GetInt32(),
        JsonValueKind.String => (IntOrString)target.GetString()!,
        _ => null,
    };

    /// <summary>
    /// Points the ports that reached the app at Envoy's port of the same protocol, by name: pods of the old template have
    /// no port of that name, so during the rollout traffic goes only to pods that already run Envoy, never to a port
    /// nobody listens on. The annotation keeps exactly what each port had (a name, a number, or nothing).
    /// </summary>
    private static V1Service? RetargetService(V1Service service, IReadOnlyList<AppPortRoute> routes, List<string> changes)
    {
        var original = OriginalTargetPorts(service);
        var copy = Clone(service);
        var changed = false;
        foreach (var route in routes)
        {
            var port = copy.Spec.Ports.Single(candidate => PortKey(candidate) == PortKey(route.Port) && (candidate.Protocol ?? "TCP") == route.Transport);
            var sidecarPort = route.Transport == "UDP" ? UdpPortName : InboundPortName;
            if (port.TargetPort?.Value == sidecarPort)
            {
                continue;
            }

            original[PortKey(port)] = port.TargetPort is { } target
                ? int.TryParse(target.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var number)
                    ? JsonSerializer.SerializeToElement(number)
                    : JsonSerializer.SerializeToElement(target.Value)
                : JsonSerializer.SerializeToElement<object?>(null);
            port.TargetPort = (IntOrString)sidecarPort;
            changed = true;
            changes.Add($"point Service {service.Metadata.Name} port {PortKey(port)} ({route.Transport}) at Envoy ({sidecarPort}, port {EnvoyBootstrap.InboundPort})");
        }

        if (!changed)
        {
            return null;
        }

        copy.Metadata.Annotations ??= new Dictionary<string, string>();
        copy.Metadata.Annotations[OriginalTargetPortAnnotation] = JsonSerializer.Serialize(original);
        return copy;
    }

    private static string PortKey(V1ServicePort port) => port.Name ?? port.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static string Hash(InjectionOptions options, string bootstrap, BootstrapSpec spec)
    {
        var material = string.Join('\n', options.EnvoyImage, options.Concurrency, options.NativeSidecar, options.CpuRequest, options.MemoryRequest, options.MemoryLimit, spec.Protocol, spec.Udp, bootstrap);
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

    /// <summary>Whether <paramref name="stored"/> has every field <paramref name="wanted"/> sets, with the same value (it may have more: defaults).</summary>
    private static bool Covers<T>(T stored, T wanted) =>
        Covers(JsonNode.Parse(Json(stored)), JsonNode.Parse(Json(wanted)));

    private static bool Covers(JsonNode? stored, JsonNode? wanted) => wanted switch
    {
        null => true,
        JsonObject fields => stored is JsonObject storedFields
            && fields.All(field => storedFields.TryGetPropertyValue(field.Key, out var value) && Covers(value, field.Value)),
        JsonArray items => stored is JsonArray storedItems && storedItems.Count == items.Count
            && items.Select((item, index) => Covers(storedItems[index], item)).All(covered => covered),
        _ => JsonNode.DeepEquals(stored, wanted),
    };

    private static T Clone<T>(T value) => k8s.KubernetesJson.Deserialize<T>(k8s.KubernetesJson.Serialize(value));
}
