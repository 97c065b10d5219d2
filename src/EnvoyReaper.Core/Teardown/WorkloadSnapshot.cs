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
}

public interface ISnapshotStore
{
    /// <returns>The snapshot's name, by which a restore finds it.</returns>
    Task<string> SaveAsync(WorkloadSnapshot snapshot, CancellationToken cancellationToken);

    Task<IReadOnlyList<string>> ListAsync(string @namespace, string deployment, CancellationToken cancellationToken);

    Task<WorkloadSnapshot?> GetAsync(string name, CancellationToken cancellationToken);
}
