using System.Globalization;
using System.Text.Json.Nodes;

namespace EnvoyReaper.Teardown;

/// <summary>Everything a teardown removes or changes, stored before it acts so that a user can restore it.</summary>
public sealed record WorkloadSnapshot(
    int Version,
    string Namespace,
    string Deployment,
    string DeploymentUid,
    DateTimeOffset TakenAt,
    string Action,
    string Reason,
    IReadOnlyList<JsonObject> Objects)
{
    public const int CurrentVersion = 1;

    /// <summary>
    /// One teardown, one snapshot: the name follows from the teardown request, so that a retry finds the snapshot its
    /// first attempt wrote. A workload's names sort by the time of their teardown.
    /// </summary>
    public static string NameFor(string @namespace, string deployment, string deploymentUid, DateTimeOffset teardownRequestedAt) =>
        $"{@namespace}/{deployment}/{teardownRequestedAt.UtcDateTime.ToString("yyyyMMdd'T'HHmmss.fffffff'Z'", CultureInfo.InvariantCulture)}-{deploymentUid}.json";
}

public interface ISnapshotStore
{
    /// <summary>Stores the snapshot under <paramref name="name"/> unless a snapshot of that name exists: never overwrites one.</summary>
    /// <returns>The snapshot stored under the name: this one, or the one stored there before.</returns>
    Task<WorkloadSnapshot> SaveOnceAsync(string name, WorkloadSnapshot snapshot, CancellationToken cancellationToken);

    Task<IReadOnlyList<string>> ListAsync(string @namespace, string deployment, CancellationToken cancellationToken);

    Task<WorkloadSnapshot?> GetAsync(string name, CancellationToken cancellationToken);
}
