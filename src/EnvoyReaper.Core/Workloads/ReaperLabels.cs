namespace EnvoyReaper.Workloads;

/// <summary>The label and annotation names users write into their manifests. They are a public contract.</summary>
public static class ReaperLabels
{
    public const string Enabled = "envoy-reaper/enabled";
    public const string EnabledSelector = Enabled + "=true";
    public const string MinConnections = "envoy-reaper/min-connections";
    public const string IdleTimeout = "envoy-reaper/idle-timeout";
    public const string Action = "envoy-reaper/action";
    public const string StatsPort = "envoy-reaper/stats-port";
    public const string StatsPath = "envoy-reaper/stats-path";
    public const string Listeners = "envoy-reaper/listeners";
    public const string Service = "envoy-reaper/service";
    public const string Ingress = "envoy-reaper/ingress";
    public const string CheckInterval = "envoy-reaper/check-interval";

    /// <summary>Written by a scale-to-zero teardown so that a restore knows the replica count.</summary>
    public const string ReplicasBeforeTeardown = "envoy-reaper/replicas-before-teardown";

    /// <summary>
    /// Written with <see cref="ReplicasBeforeTeardown"/>: the snapshot of the teardown that scaled the Deployment to zero,
    /// so that a retry of that teardown can tell its own scale from a person's (or a leftover of an older teardown).
    /// </summary>
    public const string ScaledToZeroBy = "envoy-reaper/scaled-to-zero-by";

    /// <summary>On an object a restore created: the snapshot it came from, so that running the restore again skips it.</summary>
    public const string RestoredFrom = "envoy-reaper/restored-from";

    public const string IstioProxyContainer = "istio-proxy";
    public const string PodTemplateHashLabel = "pod-template-hash";
}
