namespace EnvoyReaper.Messaging;

/// <summary>Queue names are part of the contract (KEDA scalers and dashboards name them): not settings.</summary>
public static class QueueNames
{
    public const string StatsCheck = "stats-check";
    public const string Teardown = "teardown";
}
