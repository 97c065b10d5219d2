using k8s.Models;

namespace EnvoyReaper.Kubernetes.Injection;

public enum RolloutState
{
    InProgress,
    Complete,
    Failed,
}

/// <param name="ProgressDeadline">The Deployment's spec.progressDeadlineSeconds (600 s when unset, as the API server defaults it).</param>
public sealed record RolloutCheck(RolloutState State, string Detail, TimeSpan ProgressDeadline);

/// <summary>
/// Whether a Deployment's rollout is complete, by the rules of `kubectl rollout status`: the controller has observed
/// the current generation, its Progressing condition is not ProgressDeadlineExceeded, every desired replica is updated,
/// no old replica remains, and every updated replica is available.
/// </summary>
public static class DeploymentRolloutStatus
{
    public const string TimedOutReason = "ProgressDeadlineExceeded";
    public const int DefaultProgressDeadlineSeconds = 600;

    public static RolloutCheck Evaluate(V1Deployment deployment)
    {
        var name = deployment.Metadata.Name;
        var deadline = ProgressDeadline(deployment);
        var status = deployment.Status;
        var generation = deployment.Metadata.Generation ?? 0;
        if (status?.ObservedGeneration is not { } observed || observed < generation)
        {
            return new RolloutCheck(RolloutState.InProgress, $"waiting for the Deployment controller to observe generation {generation} of Deployment {name}", deadline);
        }

        var progressing = status.Conditions?.FirstOrDefault(condition => condition.Type == "Progressing");
        if (progressing?.Reason == TimedOutReason)
        {
            return new RolloutCheck(RolloutState.Failed, $"Deployment {name} exceeded its progress deadline: {progressing.Message}", deadline);
        }

        var desired = deployment.Spec?.Replicas ?? 1;
        var updated = status.UpdatedReplicas ?? 0;
        var replicas = status.Replicas ?? 0;
        var available = status.AvailableReplicas ?? 0;
        if (updated < desired)
        {
            return new RolloutCheck(RolloutState.InProgress, $"{updated} out of {desired} new replicas of Deployment {name} have been updated", deadline);
        }

        if (replicas > updated)
        {
            return new RolloutCheck(RolloutState.InProgress, $"{replicas - updated} old replicas of Deployment {name} are pending termination", deadline);
        }

        if (available < updated)
        {
            return new RolloutCheck(RolloutState.InProgress, $"{available} of {updated} updated replicas of Deployment {name} are available", deadline);
        }

        return new RolloutCheck(RolloutState.Complete, $"Deployment {name} successfully rolled out ({updated} of {desired} replicas updated and available)", deadline);
    }

    /// <summary>spec.progressDeadlineSeconds as the API server defaults it.</summary>
    public static TimeSpan ProgressDeadline(V1Deployment deployment) =>
        TimeSpan.FromSeconds(deployment.Spec?.ProgressDeadlineSeconds ?? DefaultProgressDeadlineSeconds);
}
