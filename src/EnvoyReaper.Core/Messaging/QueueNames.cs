namespace EnvoyReaper.Messaging;

/// <summary>Queue names are part of the contract (KEDA scalers and dashboards name them): not settings.</summary>
public static class QueueNames
{
    public const string StatsCheck = "stats-check";
    public const string Teardown = "teardown";

    /// <summary>Wake-ups that re-check an injection's rollout and make the deferred Service change once it is complete.</summary>
    public const string InjectRollout = "inject-rollout";

    /// <summary>Requests from the waker to bring a parked workload back.</summary>
    public const string Wake = "wake";

    /// <summary>Parking requests from a teardown (or the timer) for the injector identity, which may write Services.</summary>
    public const string Park = "park";
}
