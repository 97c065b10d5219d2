using System.ComponentModel.DataAnnotations;
using EnvoyReaper.Messaging;

namespace EnvoyReaper.Injection;

public enum RolloutOperation
{
    Inject,
    Remove,
}

public enum RolloutPhase
{
    /// <summary>The Deployment and ConfigMap are written; the deferred change waits for the rollout to complete.</summary>
    RollingOut,

    /// <summary>The rollout completed and the deferred change is made.</summary>
    Done,

    /// <summary>The rollout failed or did not complete in time: the deferred change was not made.</summary>
    Failed,
}

/// <summary>
/// One injection or removal whose last step waits for the Deployment's rollout: the Service retarget (injection) or the
/// ConfigMap deletion (removal). Kept per Deployment; a newer operation replaces an older one.
/// </summary>
/// <param name="Request">What injection was asked for (re-planned when the rollout completes); null for a removal.</param>
/// <param name="Pending">The changes that wait for the rollout, as the planner words them.</param>
/// <param name="NextCheckId">The id of the one queued check allowed to act next.</param>
public sealed record RolloutRecord(
    string OperationId,
    RolloutOperation Operation,
    string Namespace,
    string Deployment,
    string Hash,
    RolloutPhase Phase,
    string Detail,
    IReadOnlyList<string> Changes,
    IReadOnlyList<string> Pending,
    DateTimeOffset RequestedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset Deadline,
    int Checks,
    string NextCheckId,
    ValidInjection? Request);

public sealed record StoredRollout(RolloutRecord Record, string ETag);

/// <summary>Rollout records with optimistic concurrency, so that a concurrent request or check cannot both advance one.</summary>
public interface IRolloutStore
{
    Task<StoredRollout?> GetAsync(string @namespace, string deployment, CancellationToken cancellationToken);

    /// <summary>Adds (<paramref name="expectedETag"/> null) or replaces the record; null when someone else wrote first.</summary>
    Task<string?> TryWriteAsync(RolloutRecord record, string? expectedETag, CancellationToken cancellationToken);
}

public interface IRolloutQueue
{
    /// <summary>Queues a check on "inject-rollout", invisible for <paramref name="delay"/>.</summary>
    Task EnqueueAsync(RolloutCheckMessage message, TimeSpan delay, TimeSpan timeToLive, CancellationToken cancellationToken);
}

/// <summary>Settings section "Injection:Rollout".</summary>
public sealed class RolloutOptions : IValidatableObject
{
    public const string SectionName = "Injection:Rollout";

    /// <summary>How long a check waits before it looks at the rollout again.</summary>
    public TimeSpan CheckInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// How long a rollout may take at least before it counts as failed; a Deployment whose progressDeadlineSeconds is
    /// longer gets that (plus one interval). The controller's ProgressDeadlineExceeded fails it earlier.
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// How long past its due time (the last check plus <see cref="CheckInterval"/>) no check may have run before the
    /// operation counts as stalled: ten intervals, and at least the function timeout (5 minutes in host.json), so that
    /// a check still running, or retried after the queue's visibility timeout, is not mistaken for a lost one.
    /// </summary>
    public TimeSpan StallAfter => CheckInterval * 10 > MinimumStallAfter ? CheckInterval * 10 : MinimumStallAfter;

    /// <summary>The function timeout of host.json: a check may run that long.</summary>
    public static readonly TimeSpan MinimumStallAfter = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Why a rolling-out operation is stalled (no check ran long past its due time: FinishInjectionRollout is not
    /// deployed, the queue is not processed, or the check was poisoned), or null when it is not.
    /// </summary>
    public string? StalledReason(RolloutRecord record, DateTimeOffset now)
    {
        if (record.Phase != RolloutPhase.RollingOut)
        {
            return null;
        }

        var due = record.UpdatedAt + CheckInterval;
        return now <= due + StallAfter
            ? null
            : $"stalled: no rollout check has run since {record.UpdatedAt:u} (the next was due {due:u}, and none for {StallAfter} past that); "
                + $"is the function FinishInjectionRollout deployed and the queue {QueueNames.InjectRollout} processed (look in {QueueNames.InjectRollout}-poison)? "
                + $"Nothing more is changed until a check runs; send the same request again to resume (last seen: {record.Detail})";
    }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (CheckInterval < TimeSpan.FromSeconds(1) || CheckInterval > TimeSpan.FromMinutes(10))
        {
            yield return new ValidationResult("Injection:Rollout:CheckInterval must be between 1 second and 10 minutes", [nameof(CheckInterval)]);
        }

        if (Timeout < TimeSpan.FromMinutes(1) || Timeout > TimeSpan.FromHours(24) || Timeout < CheckInterval)
        {
            yield return new ValidationResult("Injection:Rollout:Timeout must be between 1 minute and 24 hours and at least the check interval", [nameof(Timeout)]);
        }
    }
}
