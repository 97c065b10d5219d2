using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using EnvoyReaper.Cluster;
using EnvoyReaper.Injection;
using EnvoyReaper.Messaging;
using EnvoyReaper.Teardown;
using EnvoyReaper.Workloads;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Waking;

/// <summary>What a parked Service's annotations say; null fields when an annotation is missing.</summary>
public sealed record ParkedService(string Deployment, string Action, string Snapshot);

/// <summary>
/// Parks a torn-down workload's Services on the waker and unparks them once it is back. Parking keeps the Service (its
/// name, clusterIP and the Ingress routing to it), saves and removes its selector, so the EndpointSlice controller stops
/// managing its endpoints, and adds an EndpointSlice of EnvoyReaper's that sends each Service port to a waker port.
/// </summary>
/// <remarks>
/// The teardown (under the queue workers' identity, which must not rewrite Services) only asks for parking on "park";
/// the Park function, under the injector's identity, parks. The timer (read-only) asks again for a parked Service whose
/// EndpointSlice no longer points at the waker's ready pods.
/// </remarks>
public sealed partial class WorkloadParking(
    IClusterReader reader,
    IClusterWriter writer,
    IParkingCluster cluster,
    IWakeStore wakes,
    IWakerPortStore ports,
    ISnapshotStore snapshots,
    IParkQueue parkQueue,
    IOptions<WakerOptions> options,
    TimeProvider time,
    ILogger<WorkloadParking> logger)
{
    private const string ServiceNameLabel = "kubernetes.io/service-name";
    private const string ManagedByLabel = "endpointslice.kubernetes.io/managed-by";
    private const int WriteAttempts = 3;

    /// <summary>On the slice: the Service's own IP family, when it names one, so that the timer expects that family's waker addresses.</summary>
    private const string IpFamilyAnnotation = "envoy-reaper/parked-ip-family";

    private static readonly string[] ParkedAnnotations =
    [
        ParkingContract.SelectorAnnotation, ParkingContract.DeploymentAnnotation, ParkingContract.ActionAnnotation,
        ParkingContract.SnapshotAnnotation, ParkingContract.ParkedAtAnnotation, ParkingContract.HoldAnnotation,
        ParkingContract.WakerPortsAnnotation, ParkingContract.HostsAnnotation,
    ];

    public static string ParkedSlicesSelector => $"{ManagedByLabel}={ParkingContract.EndpointSliceManager}";

    /// <summary>Why these Services cannot be parked (wake answers plain HTTP only, on a Service with a selector); null when they can.</summary>
    public static string? Refusal(IReadOnlyList<ClusterObject> services)
    {
        if (services.Count == 0)
        {
            return "no Service serves only this Deployment, so there is nothing to park and wake it through";
        }

        foreach (var service in services)
        {
            var spec = service.Manifest["spec"];
            if (spec?["selector"] is not JsonObject { Count: > 0 })
            {
                return $"Service {service.Name} has no selector (its endpoints are managed by hand)";
            }

            if (spec["type"]?.GetValue<string>() == "ExternalName")
            {
                return $"Service {service.Name} is of type ExternalName";
            }

            var servicePorts = spec["ports"] as JsonArray ?? [];
            if (servicePorts.Count == 0)
            {
                return $"Service {service.Name} has no ports";
            }

            foreach (var port in servicePorts)
            {
                var number = port?["port"]?.GetValue<int>() ?? 0;
                var name = port?["name"]?.GetValue<string>();
                var label = $"Service {service.Name} port {name ?? number.ToString(CultureInfo.InvariantCulture)}";
                var transport = port?["protocol"]?.GetValue<string>() ?? "TCP";
                if (transport != "TCP")
                {
                    return $"{label} is {transport}: only HTTP workloads can be woken";
                }

                var choice = ProtocolInference.Infer(port?["appProtocol"]?.GetValue<string>(), name, null, number);
                if (choice.Protocol != SidecarProtocol.Http)
                {
                    return $"{label} is not HTTP ({choice.Reason}): only HTTP workloads can be woken; mark HTTP ports with appProtocol: http or a port name http[-suffix]";
                }
            }
        }

        return null;
    }

    public static bool IsParked(ClusterObject service) =>
        service.Manifest["metadata"]?["labels"]?[ParkingContract.ParkedLabel]?.GetValue<string>() == "true";

    public static ParkedService? Read(ClusterObject service)
    {
        var annotations = service.Manifest["metadata"]?["annotations"];
        return annotations?[ParkingContract.DeploymentAnnotation]?.GetValue<string>() is { } deployment
            && annotations[ParkingContract.ActionAnnotation]?.GetValue<string>() is { } action
            && annotations[ParkingContract.SnapshotAnnotation]?.GetValue<string>() is { } snapshot
                ? new ParkedService(deployment, action, snapshot)
                : null;
    }

    /// <summary>
    /// Parks each Service; a Service parked already keeps the selector it saved then. One that is not parked is parked only
    /// while its selector is still the one the teardown's snapshot holds (checked again under its resourceVersion): a
    /// selector changed since belongs to someone else. Returns what it did, per Service.
    /// </summary>
    private async Task<IReadOnlyList<string>> ParkAsync(
        string @namespace, string deployment, string action, string snapshot, bool hold, IReadOnlyList<(ClusterObject Live, JsonNode? SnapshotSelector)> services,
        IReadOnlyList<ClusterObject> ingresses, CancellationToken cancellationToken)
    {
        var hosts = ingresses
            .SelectMany(ingress => ingress.Manifest["spec"]?["rules"] as JsonArray ?? [])
            .Select(rule => rule?["host"]?.GetValue<string>())
            .OfType<string>()
            .Distinct(StringComparer.Ordinal)
            .ToList();
        var waker = await WakerEndpointsAsync(cancellationToken).ConfigureAwait(false);
        var done = new List<string>();
        foreach (var (service, snapshotSelector) in services)
        {
            var servicePorts = (service.Manifest["spec"]?["ports"] as JsonArray ?? []).OfType<JsonObject>().ToList();
            var allocated = await ports.AllocateAsync(Owner(@namespace, service.Name), servicePorts.Count, options.Value.PortRangeStart, options.Value.PortRangeEnd, cancellationToken).ConfigureAwait(false);
            var parkedPorts = servicePorts
                .Select((port, index) => new ParkedPort(port["port"]?.GetValue<int>() ?? 0, port["name"]?.GetValue<string>(), allocated[index]))
                .ToList();
            var annotations = new JsonObject
            {
                [ParkingContract.DeploymentAnnotation] = deployment,
                [ParkingContract.ActionAnnotation] = action,
                [ParkingContract.SnapshotAnnotation] = snapshot,
                [ParkingContract.ParkedAtAnnotation] = time.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
                [ParkingContract.HoldAnnotation] = hold ? "true" : "false",
                [ParkingContract.WakerPortsAnnotation] = JsonSerializer.Serialize(parkedPorts, ReaperJson.Options),
                [ParkingContract.HostsAnnotation] = JsonSerializer.Serialize(hosts, ReaperJson.Options),
            };
            string? left = null;
            await PatchWithRetryAsync(@namespace, service.Name, current =>
            {
                left = !IsParked(current) && !JsonNode.DeepEquals(current.Manifest["spec"]?["selector"], snapshotSelector)
                    ? $"Service {service.Name} left as it is: its selector changed since the teardown"
                    : null;
                if (left is not null)
                {
                    return null;
                }

                var patch = new JsonObject
                {
                    ["metadata"] = new JsonObject
                    {
                        ["resourceVersion"] = current.ResourceVersion,
                        ["labels"] = new JsonObject { [ParkingContract.ParkedLabel] = "true" },
                        ["annotations"] = annotations.DeepClone(),
                    },
                };
                if (IsParked(current) && current.Manifest["metadata"]?["annotations"]?[ParkingContract.ParkedAtAnnotation]?.GetValue<string>() is { } since)
                {
                    patch["metadata"]!["annotations"]![ParkingContract.ParkedAtAnnotation] = since;
                }

                if (!IsParked(current))
                {
                    // The selector is saved once: a Service parked already has none left to save.
                    patch["metadata"]!["annotations"]![ParkingContract.SelectorAnnotation] = (current.Manifest["spec"]?["selector"] ?? new JsonObject()).ToJsonString();
                    patch["spec"] = new JsonObject { ["selector"] = null };
                }

                return patch;
            }, cancellationToken).ConfigureAwait(false);
            if (left is not null)
            {
                await ports.ReleaseAsync(Owner(@namespace, service.Name), cancellationToken).ConfigureAwait(false);
                done.Add(left);
                continue;
            }

            var sliceAnnotations = new JsonObject
            {
                [ParkingContract.DeploymentAnnotation] = deployment,
                [ParkingContract.SnapshotAnnotation] = snapshot,
                [ParkingContract.HoldAnnotation] = hold ? "true" : "false",
            };
            // kube-proxy routes a Service only to slices of its primary IP family.
            var primary = (service.Manifest["spec"]?["ipFamilies"] as JsonArray)?.FirstOrDefault()?.GetValue<string>();
            var family = primary is "IPv4" or "IPv6" ? primary : null;
            if (family is not null)
            {
                sliceAnnotations[IpFamilyAnnotation] = family;
            }

            await WriteSliceAsync(@namespace, service, parkedPorts, waker.For(family), sliceAnnotations, cancellationToken).ConfigureAwait(false);
            done.Add($"Service {service.Name} parked on waker port(s) {string.Join(", ", allocated)}");
        }

        LogParked(@namespace, deployment, string.Join("; ", done));
        return done;
    }

    /// <summary>
    /// Gives the Service its selector back, removes the EndpointSlice, then drops the parking (label and annotations) and
    /// frees the waker ports. Safe to run again; a Service that is gone only has its slice and ports cleaned up.
    /// </summary>
    public async Task UnparkAsync(string @namespace, string service, CancellationToken cancellationToken)
    {
        // The parked label goes last: the waker forwards held requests once it is gone, and by then the Service must route
        // to its pods only, never to a waker endpoint still listed next to them.
        await PatchWithRetryAsync(@namespace, service, current =>
        {
            // Only onto the Service as parking left it, without a selector: one a person set since is theirs and stays.
            var saved = current.Manifest["metadata"]?["annotations"]?[ParkingContract.SelectorAnnotation]?.GetValue<string>();
            if (!IsParked(current) || (saved is null ? null : JsonNode.Parse(saved) as JsonObject) is not { Count: > 0 } selector
                || current.Manifest["spec"]?["selector"] is JsonObject { Count: > 0 })
            {
                return null;
            }

            return new JsonObject
            {
                ["metadata"] = new JsonObject { ["resourceVersion"] = current.ResourceVersion },
                ["spec"] = new JsonObject { ["selector"] = selector },
            };
        }, cancellationToken).ConfigureAwait(false);

        await cluster.DeleteEndpointSliceAsync(@namespace, ParkingContract.EndpointSliceName(service), cancellationToken).ConfigureAwait(false);

        await PatchWithRetryAsync(@namespace, service, current =>
        {
            if (!IsParked(current))
            {
                return null;
            }

            var annotations = new JsonObject();
            foreach (var annotation in ParkedAnnotations)
            {
                annotations[annotation] = null;
            }

            return new JsonObject
            {
                ["metadata"] = new JsonObject
                {
                    ["resourceVersion"] = current.ResourceVersion,
                    ["labels"] = new JsonObject { [ParkingContract.ParkedLabel] = null },
                    ["annotations"] = annotations,
                },
            };
        }, cancellationToken).ConfigureAwait(false);

        await ports.ReleaseAsync(Owner(@namespace, service), cancellationToken).ConfigureAwait(false);
        LogUnparked(@namespace, service);
    }

    /// <summary>
    /// Asks for parking again (on "park") for every parked EndpointSlice whose addresses are no longer the waker's ready
    /// endpoints. Reads only, one list when nothing is parked, two otherwise. Returns how many were asked for.
    /// </summary>
    public async Task<int> ReconcileAsync(CancellationToken cancellationToken)
    {
        var slices = await cluster.ListEndpointSlicesAsync(null, ParkedSlicesSelector, cancellationToken).ConfigureAwait(false);
        if (slices.Count == 0)
        {
            return 0;
        }

        var wakers = await WakerEndpointsAsync(cancellationToken).ConfigureAwait(false);
        var requested = new HashSet<(string, string, string)>();
        foreach (var slice in slices)
        {
            var waker = wakers.For(slice["metadata"]?["annotations"]?[IpFamilyAnnotation]?.GetValue<string>());
            var current = (slice["endpoints"] as JsonArray ?? [])
                .SelectMany(endpoint => endpoint?["addresses"] as JsonArray ?? [])
                .Select(address => address?.GetValue<string>())
                .OfType<string>()
                .Order(StringComparer.Ordinal)
                .ToList();
            if (current.SequenceEqual(waker.Addresses, StringComparer.Ordinal) && slice["addressType"]?.GetValue<string>() == waker.AddressType)
            {
                continue;
            }

            var metadata = slice["metadata"];
            var @namespace = metadata?["namespace"]?.GetValue<string>() ?? string.Empty;
            var annotations = metadata?["annotations"];
            if (annotations?[ParkingContract.DeploymentAnnotation]?.GetValue<string>() is not { } deployment
                || annotations[ParkingContract.SnapshotAnnotation]?.GetValue<string>() is not { } snapshot
                || !requested.Add((@namespace, deployment, snapshot)))
            {
                continue;
            }

            await RequestAsync(@namespace, deployment, snapshot, annotations[ParkingContract.HoldAnnotation]?.GetValue<string>() == "true", cancellationToken).ConfigureAwait(false);
        }

        return requested.Count;
    }

    /// <summary>Asks the Park function to park the Services of teardown snapshot <paramref name="snapshot"/>.</summary>
    public Task RequestAsync(string @namespace, string deployment, string snapshot, bool hold, CancellationToken cancellationToken) =>
        parkQueue.EnqueueAsync(new ParkMessage(ParkMessage.CurrentVersion, Guid.NewGuid().ToString("N"), @namespace, deployment, snapshot, hold), cancellationToken);

    /// <summary>
    /// Parks the Services of the snapshot's teardown that still exist (the same uid), but only while the workload is torn
    /// down: a Deployment that runs again (woken, restored, scaled by hand) is never cut off from its Service.
    /// </summary>
    public async Task<string> ProcessAsync(ParkMessage message, CancellationToken cancellationToken)
    {
        var snapshot = await snapshots.GetAsync(message.Snapshot, cancellationToken).ConfigureAwait(false);
        if (snapshot is null || snapshot.Namespace != message.Namespace || snapshot.Deployment != message.Deployment)
        {
            return Logged(message, $"snapshot {message.Snapshot} of {message.Namespace}/{message.Deployment} does not exist: nothing parked");
        }

        // A message delivered again, or one of an older teardown, must not park what a later wake or teardown settled.
        var latest = (await snapshots.ListAsync(message.Namespace, message.Deployment, cancellationToken).ConfigureAwait(false)).LastOrDefault();
        if (latest != message.Snapshot)
        {
            return Logged(message, $"snapshot {message.Snapshot} is not the latest teardown of {message.Namespace}/{message.Deployment} ({latest ?? "none"}): nothing parked");
        }

        if (!await TornDownAsync(message, snapshot, cancellationToken).ConfigureAwait(false))
        {
            return Logged(message, $"Deployment {message.Deployment} runs again since snapshot {message.Snapshot}: nothing parked");
        }

        var services = new List<(ClusterObject, JsonNode?)>();
        var left = new List<string>();
        NamespaceWorkloads? others = null;
        foreach (var item in snapshot.Objects.Where(item => item["kind"]?.GetValue<string>() == "Service"))
        {
            var name = item["metadata"]?["name"]?.GetValue<string>() ?? string.Empty;
            var live = await writer.GetObjectAsync(ResourceKind.Service, message.Namespace, name, cancellationToken).ConfigureAwait(false);
            if (live is null || live.Uid != item["metadata"]?["uid"]?.GetValue<string>())
            {
                continue;
            }

            if (await wakes.GetAsync(message.Namespace, name, cancellationToken).ConfigureAwait(false) is { Record: { Phase: WakePhase.Woken } wake } && wake.Snapshot == message.Snapshot)
            {
                left.Add($"Service {name} left as it is: this parking was woken already ({wake.UpdatedAt:u})");
                continue;
            }

            if (!IsParked(live))
            {
                others ??= await NamespaceWorkloadsAsync(message.Namespace, cancellationToken).ConfigureAwait(false);
                if (others.ServedBesides(live, message.Deployment) is { } elsewhere)
                {
                    left.Add($"Service {name} left as it is: it also selects {elsewhere}");
                    continue;
                }
            }

            services.Add((live, item["spec"]?["selector"]));
        }

        if (services.Count == 0)
        {
            return Logged(message, left.Count > 0 ? string.Join("; ", left) + ": nothing parked" : $"no Service of snapshot {message.Snapshot} exists any more: nothing parked");
        }

        var ingresses = snapshot.Objects
            .Where(item => item["kind"]?.GetValue<string>() == "Ingress")
            .Select(item => new ClusterObject(ResourceKind.Ingress, message.Namespace, item["metadata"]?["name"]?.GetValue<string>() ?? string.Empty, string.Empty, string.Empty, item))
            .ToList();
        var parked = await ParkAsync(message.Namespace, message.Deployment, snapshot.Action, message.Snapshot, message.Hold, services, ingresses, cancellationToken).ConfigureAwait(false);

        // Someone may have scaled up or recreated the Deployment between the look above and the writes: give it its Services back.
        if (!await TornDownAsync(message, snapshot, cancellationToken).ConfigureAwait(false))
        {
            foreach (var (service, _) in services)
            {
                await UnparkAsync(message.Namespace, service.Name, cancellationToken).ConfigureAwait(false);
            }

            return Logged(message, $"Deployment {message.Deployment} ran again while it was being parked: its Services were unparked");
        }

        return string.Join("; ", parked.Concat(left));
    }

    private async Task<bool> TornDownAsync(ParkMessage message, WorkloadSnapshot snapshot, CancellationToken cancellationToken)
    {
        var deployment = await writer.GetObjectAsync(ResourceKind.Deployment, message.Namespace, message.Deployment, cancellationToken).ConfigureAwait(false);
        return snapshot.Action == ReaperAction.ScaleToZero.ToContractName()
            ? deployment is not null && deployment.Uid == snapshot.DeploymentUid && deployment.Manifest["spec"]?["replicas"]?.GetValue<int>() == 0
            : deployment is null;
    }

    /// <summary>The namespace's Deployments and pods, to tell whether a Service now serves more than the torn-down Deployment.</summary>
    private async Task<NamespaceWorkloads> NamespaceWorkloadsAsync(string @namespace, CancellationToken cancellationToken)
    {
        var deployments = new List<DeploymentInfo>();
        await foreach (var deployment in reader.ListDeploymentsAsync(@namespace, null, cancellationToken).ConfigureAwait(false))
        {
            deployments.Add(deployment);
        }

        var pods = new List<PodInfo>();
        await foreach (var pod in reader.ListPodsAsync(@namespace, null, cancellationToken).ConfigureAwait(false))
        {
            pods.Add(pod);
        }

        return new(deployments, pods);
    }

    private sealed record NamespaceWorkloads(IReadOnlyList<DeploymentInfo> Deployments, IReadOnlyList<PodInfo> Pods)
    {
        /// <summary>What the Service selects besides the torn-down Deployment's pods (another Deployment, pods of no Deployment of that name); null when nothing.</summary>
        public string? ServedBesides(ClusterObject service, string deployment)
        {
            if (service.Manifest["spec"]?["selector"] is not JsonObject { Count: > 0 } selectorNode)
            {
                return null;
            }

            var selector = LabelSelector.FromLabels(selectorNode.ToDictionary(pair => pair.Key, pair => pair.Value?.GetValue<string>() ?? string.Empty));
            var others = Deployments.Where(other => other.Name != deployment && selector.Matches(other.TemplateLabels)).Select(other => $"Deployment {other.Name}").ToList();
            var pods = Pods.Count(pod => selector.Matches(pod.Labels) && pod.OwnerDeploymentName != deployment);
            if (pods > 0)
            {
                others.Add($"{pods} pod(s) not of Deployment {deployment}");
            }

            return others.Count > 0 ? string.Join(", ", others) : null;
        }
    }

    private string Logged(ParkMessage message, string detail)
    {
        LogNotParked(message.Id, message.Namespace, message.Deployment, detail);
        return detail;
    }

    private static string Owner(string @namespace, string service) => $"{@namespace}/{service}";

    private sealed record WakerEndpoints(string AddressType, IReadOnlyList<string> Addresses);

    private sealed record WakerFamilies(WakerEndpoints IPv4, WakerEndpoints IPv6)
    {
        /// <summary>The waker's addresses of <paramref name="family"/>; with none named, IPv4 ones, IPv6 for an IPv6-only waker.</summary>
        public WakerEndpoints For(string? family) => family switch
        {
            "IPv4" => IPv4,
            "IPv6" => IPv6,
            _ => IPv4.Addresses.Count > 0 ? IPv4 : IPv6.Addresses.Count > 0 ? IPv6 : IPv4,
        };
    }

    /// <summary>The ready addresses of the waker Service's own EndpointSlices, per IP family.</summary>
    private async Task<WakerFamilies> WakerEndpointsAsync(CancellationToken cancellationToken)
    {
        var slices = await cluster.ListEndpointSlicesAsync(options.Value.Namespace, $"{ServiceNameLabel}={options.Value.ServiceName}", cancellationToken).ConfigureAwait(false);
        WakerEndpoints Of(string type) => new(type, slices
            .Where(slice => slice["addressType"]?.GetValue<string>() == type)
            .SelectMany(slice => slice["endpoints"] as JsonArray ?? [])
            .Where(endpoint => endpoint?["conditions"]?["ready"]?.GetValue<bool>() != false && endpoint?["conditions"]?["terminating"]?.GetValue<bool>() != true)
            .SelectMany(endpoint => endpoint?["addresses"] as JsonArray ?? [])
            .Select(address => address?.GetValue<string>())
            .OfType<string>()
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToList());
        return new(Of("IPv4"), Of("IPv6"));
    }

    private static JsonArray Endpoints(IReadOnlyList<string> addresses) =>
        new(addresses.Select(address => (JsonNode)new JsonObject
        {
            ["addresses"] = new JsonArray(address),
            ["conditions"] = new JsonObject { ["ready"] = true },
        }).ToArray());

    private async Task WriteSliceAsync(string @namespace, ClusterObject owner, IReadOnlyList<ParkedPort> parkedPorts, WakerEndpoints waker, JsonObject annotations, CancellationToken cancellationToken)
    {
        var service = owner.Name;
        var name = ParkingContract.EndpointSliceName(service);
        var manifest = new JsonObject
        {
            ["apiVersion"] = "discovery.k8s.io/v1",
            ["kind"] = "EndpointSlice",
            ["metadata"] = new JsonObject
            {
                ["name"] = name,
                ["namespace"] = @namespace,
                ["labels"] = new JsonObject { [ServiceNameLabel] = service, [ManagedByLabel] = ParkingContract.EndpointSliceManager },
                // What the timer needs to ask for parking again when the waker's pods move, without reading the Service.
                ["annotations"] = annotations,
                // As the EndpointSlice controller's own: the garbage collector removes the slice with its Service, so a
                // Service recreated under that name never gets waker endpoints beside its own.
                ["ownerReferences"] = new JsonArray(new JsonObject { ["apiVersion"] = "v1", ["kind"] = "Service", ["name"] = service, ["uid"] = owner.Uid }),
            },
            ["addressType"] = waker.AddressType,
            // kube-proxy pairs a Service port with the slice port of the same name ("" for a Service's one unnamed port).
            ["ports"] = new JsonArray(parkedPorts.Select(port => (JsonNode)new JsonObject
            {
                ["name"] = port.Name ?? string.Empty,
                ["port"] = port.WakerPort,
                ["protocol"] = "TCP",
            }).ToArray()),
            ["endpoints"] = Endpoints(waker.Addresses),
        };
        for (var attempt = 0; attempt < WriteAttempts; attempt++)
        {
            if (await cluster.CreateEndpointSliceAsync(@namespace, manifest, cancellationToken).ConfigureAwait(false) is not null)
            {
                return;
            }

            // A retried teardown finds the slice its first attempt wrote: bring it up to date.
            var existing = (await cluster.ListEndpointSlicesAsync(@namespace, $"{ServiceNameLabel}={service},{ParkedSlicesSelector}", cancellationToken).ConfigureAwait(false))
                .FirstOrDefault(slice => slice["metadata"]?["name"]?.GetValue<string>() == name);
            if (existing is null)
            {
                continue; // deleted meanwhile: create it again
            }

            var replacement = manifest.DeepClone().AsObject();
            replacement["metadata"]!["resourceVersion"] = existing["metadata"]?["resourceVersion"]?.GetValue<string>();
            try
            {
                await cluster.ReplaceEndpointSliceAsync(@namespace, replacement, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (ClusterConflictException) when (attempt < WriteAttempts - 1)
            {
                // Changed between the list and the write: read it again.
            }
        }

        throw new ClusterConflictException($"EndpointSlice {@namespace}/{name} kept changing while it was being written", null);
    }

    /// <summary>Reads the Service and writes the patch built from it under its resourceVersion, again on a conflict (bounded).</summary>
    private async Task PatchWithRetryAsync(string @namespace, string service, Func<ClusterObject, JsonObject?> build, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            var current = await writer.GetObjectAsync(ResourceKind.Service, @namespace, service, cancellationToken).ConfigureAwait(false);
            if (current is null || build(current) is not { } patch)
            {
                return;
            }

            try
            {
                await cluster.PatchServiceAsync(@namespace, service, patch, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (ClusterConflictException) when (attempt < WriteAttempts - 1)
            {
                // Someone edited the Service between the read and the write: read it again.
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Parked {Namespace}/{Deployment}: {Detail}")]
    private partial void LogParked(string @namespace, string deployment, string detail);

    [LoggerMessage(Level = LogLevel.Information, Message = "Unparked Service {Namespace}/{Service}")]
    private partial void LogUnparked(string @namespace, string service);

    [LoggerMessage(Level = LogLevel.Information, Message = "Park {MessageId} of {Namespace}/{Deployment}: {Detail}")]
    private partial void LogNotParked(string messageId, string @namespace, string deployment, string detail);
}
