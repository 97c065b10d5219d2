namespace EnvoyReaper.Waking;

/// <summary>
/// Sent by the waker on the "wake" queue when the first request reaches a parked Service. It names only the Service:
/// the wake function reads everything else from the parked Service's own annotations, which only the reaper writes,
/// so a forged message can at most wake a workload that opted in and is parked.
/// </summary>
/// <param name="FirstRequestAt">When the waker saw the first request for this parking, for the time-to-ready figure.</param>
public sealed record WakeMessage(int Version, string Id, DateTimeOffset FirstRequestAt, string Namespace, string Service)
{
    public const int CurrentVersion = 1;
}

/// <summary>
/// The names parking writes and the waker reads: a contract between the two components (they may run different
/// versions during an upgrade), not settings.
/// </summary>
public static class ParkingContract
{
    /// <summary>User opt-in on the Deployment: wake on the first request after a teardown.</summary>
    public const string WakeAnnotation = "envoy-reaper/wake";

    /// <summary>User option on the Deployment: hold requests until the workload is ready (bounded) instead of a page/503.</summary>
    public const string WakeHoldAnnotation = "envoy-reaper/wake-hold";

    /// <summary>Label on a parked Service; the waker lists Services by it (read-only).</summary>
    public const string ParkedLabel = "envoy-reaper/parked";
    public const string ParkedSelector = ParkedLabel + "=true";

    /// <summary>Annotation on a parked Service: the JSON object of the selector removed at parking.</summary>
    public const string SelectorAnnotation = "envoy-reaper/parked-selector";

    /// <summary>Annotation on a parked Service: the Deployment it fronted.</summary>
    public const string DeploymentAnnotation = "envoy-reaper/parked-deployment";

    /// <summary>Annotation on a parked Service: the teardown action ("delete" or "scale-to-zero").</summary>
    public const string ActionAnnotation = "envoy-reaper/parked-action";

    /// <summary>Annotation on a parked Service: the snapshot name of the teardown that parked it.</summary>
    public const string SnapshotAnnotation = "envoy-reaper/parked-snapshot";

    /// <summary>Annotation on a parked Service: when it was parked (RFC 3339).</summary>
    public const string ParkedAtAnnotation = "envoy-reaper/parked-at";

    /// <summary>Annotation on a parked Service: "true" when requests are held until ready.</summary>
    public const string HoldAnnotation = "envoy-reaper/parked-hold";

    /// <summary>
    /// Annotation on a parked Service: JSON array of {"port": servicePort, "name": portName, "wakerPort": n}: the
    /// waker port allocated to each HTTP port of the Service. The waker listens on every allocated port and knows the
    /// Service from the port the connection arrived on, never from what the client sends.
    /// </summary>
    public const string WakerPortsAnnotation = "envoy-reaper/waker-ports";

    /// <summary>Annotation on a parked Service: JSON array of the Ingress hosts that route to it (for the page only).</summary>
    public const string HostsAnnotation = "envoy-reaper/parked-hosts";

    /// <summary>Label value of endpointslice.kubernetes.io/managed-by on the EndpointSlice parking creates.</summary>
    public const string EndpointSliceManager = "envoy-reaper";

    /// <summary>Name of the EndpointSlice parking creates for Service <paramref name="service"/>.</summary>
    public static string EndpointSliceName(string service) => service.Length <= 50 ? service + "-envoy-waker" : service[..50].TrimEnd('-', '.') + "-envoy-waker";
}

/// <summary>
/// Queued on "park" by a teardown of a wake-enabled workload (and by the timer when the waker's pods moved): park the
/// Services of that teardown's snapshot. Parking writes Services and EndpointSlices, so it runs under the injector's
/// identity, never the queue workers' that talk to untrusted Envoys.
/// </summary>
public sealed record ParkMessage(int Version, string Id, string Namespace, string Deployment, string Snapshot, bool Hold)
{
    public const int CurrentVersion = 1;
}

/// <summary>One entry of <see cref="ParkingContract.WakerPortsAnnotation"/>.</summary>
public sealed record ParkedPort(int Port, string? Name, int WakerPort);
