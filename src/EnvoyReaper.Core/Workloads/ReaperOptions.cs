using System.ComponentModel.DataAnnotations;

namespace EnvoyReaper.Workloads;

/// <summary>Settings section "Reaper": defaults for workloads and the limits of the pipeline.</summary>
public sealed class ReaperOptions : IValidatableObject
{
    public const string SectionName = "Reaper";

    /// <summary>Turns every teardown into an observation (a WouldTearDown event).</summary>
    public bool DryRun { get; set; }

    [Range(0, 1_000_000)]
    public int DefaultMinConnections { get; set; } = 1;

    public TimeSpan DefaultIdleTimeout { get; set; } = TimeSpan.FromMinutes(15);

    public ReaperAction DefaultAction { get; set; } = ReaperAction.Delete;

    [Range(1, 65535)]
    public int DefaultStatsPort { get; set; } = 15090;

    [Required]
    public string DefaultStatsPath { get; set; } = "/stats";

    /// <summary>A Deployment younger than this is never torn down: its users may not have arrived yet.</summary>
    public TimeSpan StartupGrace { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Messages older than this are dropped unread: they describe a cluster that may have changed.</summary>
    public TimeSpan MessageMaxAge { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The timer period, used when the timer cannot tell when it last ran.</summary>
    public TimeSpan TimerPeriod { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How much less server.uptime may have grown than the time between two reads before the Envoy counts as restarted.
    /// Envoy refreshes server.uptime only at its stats flush (every 5 s by default) and in whole seconds, a read may take
    /// up to its 2 s timeout, and two reads may be timed by instances whose clocks differ by a second or two: 10 s covers
    /// that. Raise it only for an Envoy with a longer stats_flush_interval; the larger it is, the longer after its start
    /// an Envoy may crash unseen by its uptime (its counters and the container status still show it).
    /// </summary>
    public TimeSpan RestartSlack { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Whether an EnvoyMonitor may name a Deployment in another namespace (spec.namespace). Off by default: anyone who
    /// may create an EnvoyMonitor in one namespace could otherwise have workloads of another namespace deleted.
    /// </summary>
    public bool AllowCrossNamespaceMonitors { get; set; }

    [Range(1, 1024)]
    public int MaxConcurrentStatsReads { get; set; } = 32;

    /// <summary>
    /// Most workloads in one stats-check message (all of one namespace, due at the same time), checked by one invocation
    /// and written in one Table transaction, which takes at most 100 entities. Messages are also cut at the queue's size
    /// limit, so workloads with many pods make smaller batches.
    /// </summary>
    [Range(1, 100)]
    public int StatsCheckBatchSize { get; set; } = 50;

    /// <summary>limit of the Deployment, EnvoyMonitor, Service and Ingress lists.</summary>
    [Range(1, 10000)]
    public int ListPageSize { get; set; } = 1000;

    /// <summary>limit of the pod lists: a workload has several pods, so their pages are larger to keep requests per cycle low.</summary>
    [Range(1, 10000)]
    public int PodListPageSize { get; set; } = 2000;

    [Required]
    public string StateTable { get; set; } = "EnvoyReaperState";

    /// <summary>
    /// How long a stats check may decide on the copy of a workload's state this instance last read or wrote, instead of
    /// reading the table (0 = always read). Writes still carry the ETag, so a copy another instance outdated costs a retry.
    /// </summary>
    public TimeSpan StateCacheTimeToLive { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Most workload states kept by <see cref="StateCacheTimeToLive"/>; workloads beyond it are read from the table.</summary>
    [Range(0, 10_000_000)]
    public int StateCacheEntries { get; set; } = 100_000;

    [Required]
    public string SnapshotContainer { get; set; } = "envoy-reaper-snapshots";

    /// <summary>
    /// The shortest check interval a workload may ask for (envoy-reaper/check-interval, spec.checkInterval): anyone who
    /// may annotate a Deployment could otherwise make the reaper poll its pods, and the API server, every second.
    /// </summary>
    public TimeSpan MinCheckInterval { get; set; } = TimeSpan.FromSeconds(10);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (DefaultIdleTimeout < TimeSpan.FromSeconds(1))
        {
            yield return new ValidationResult("Reaper:DefaultIdleTimeout must be at least 1 second", [nameof(DefaultIdleTimeout)]);
        }

        if (MessageMaxAge < TimeSpan.FromSeconds(10))
        {
            yield return new ValidationResult("Reaper:MessageMaxAge must be at least 10 seconds", [nameof(MessageMaxAge)]);
        }

        if (TimerPeriod < TimeSpan.FromSeconds(1))
        {
            yield return new ValidationResult("Reaper:TimerPeriod must be at least 1 second", [nameof(TimerPeriod)]);
        }

        if (MinCheckInterval < TimeSpan.FromSeconds(1))
        {
            yield return new ValidationResult("Reaper:MinCheckInterval must be at least 1 second", [nameof(MinCheckInterval)]);
        }

        if (StateCacheTimeToLive < TimeSpan.Zero)
        {
            yield return new ValidationResult("Reaper:StateCacheTimeToLive must not be negative (0 turns the cache off)", [nameof(StateCacheTimeToLive)]);
        }

        if (RestartSlack < TimeSpan.Zero || RestartSlack > TimeSpan.FromMinutes(1))
        {
            yield return new ValidationResult("Reaper:RestartSlack must be between 0 and 1 minute", [nameof(RestartSlack)]);
        }

        if (StartupGrace < TimeSpan.Zero)
        {
            yield return new ValidationResult("Reaper:StartupGrace must not be negative", [nameof(StartupGrace)]);
        }

        if (!WorkloadSettingsParser.IsStatsPath(DefaultStatsPath))
        {
            yield return new ValidationResult("Reaper:DefaultStatsPath must be an absolute path of letters, digits, '/', '_', '-' and '.' without query, such as /stats", [nameof(DefaultStatsPath)]);
        }
    }
}
