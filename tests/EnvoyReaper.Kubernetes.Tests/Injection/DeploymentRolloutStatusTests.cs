using EnvoyReaper.Kubernetes.Injection;
using k8s.Models;

namespace EnvoyReaper.Kubernetes.Tests.Injection;

/// <summary>The rules of `kubectl rollout status` for a Deployment (kubectl's DeploymentStatusViewer), one by one.</summary>
public sealed class DeploymentRolloutStatusTests
{
    private static V1Deployment Deployment(long generation, long? observed, int replicas, int updated, int available, string? progressingReason = null, int? progressDeadlineSeconds = null) => new()
    {
        Metadata = new V1ObjectMeta { Name = "web", Generation = generation },
        Spec = new V1DeploymentSpec { Replicas = 3, ProgressDeadlineSeconds = progressDeadlineSeconds },
        Status = new V1DeploymentStatus
        {
            ObservedGeneration = observed,
            Replicas = replicas,
            UpdatedReplicas = updated,
            AvailableReplicas = available,
            Conditions = progressingReason is null
                ? null
                : [new V1DeploymentCondition { Type = "Progressing", Status = progressingReason == "ProgressDeadlineExceeded" ? "False" : "True", Reason = progressingReason, Message = "ReplicaSet \"web-abc\" message" }],
        },
    };

    [Fact]
    public void A_complete_status_of_an_earlier_generation_is_not_complete()
    {
        var check = DeploymentRolloutStatus.Evaluate(Deployment(generation: 2, observed: 1, replicas: 3, updated: 3, available: 3, "NewReplicaSetAvailable"));

        Assert.Equal(RolloutState.InProgress, check.State);
    }

    [Fact]
    public void No_status_at_all_is_not_complete()
    {
        var deployment = Deployment(1, null, 0, 0, 0);
        deployment.Status = null;

        Assert.Equal(RolloutState.InProgress, DeploymentRolloutStatus.Evaluate(deployment).State);
    }

    [Theory]
    [InlineData(4, 2, 3, "new replicas")]
    [InlineData(4, 3, 3, "old replicas")]
    [InlineData(3, 3, 2, "available")]
    public void A_rollout_is_in_progress_while_replicas_are_not_updated_old_ones_remain_or_updated_ones_are_unavailable(int replicas, int updated, int available, string why)
    {
        var check = DeploymentRolloutStatus.Evaluate(Deployment(2, 2, replicas, updated, available, "ReplicaSetUpdated"));

        Assert.Equal(RolloutState.InProgress, check.State);
        Assert.Contains(why, check.Detail);
    }

    [Fact]
    public void ProgressDeadlineExceeded_fails_the_rollout_with_the_controller_message()
    {
        var check = DeploymentRolloutStatus.Evaluate(Deployment(2, 2, 4, 1, 3, "ProgressDeadlineExceeded"));

        Assert.Equal(RolloutState.Failed, check.State);
        Assert.Contains("ReplicaSet \"web-abc\" message", check.Detail);
    }

    [Fact]
    public void Every_replica_updated_and_available_with_none_old_is_complete()
    {
        var check = DeploymentRolloutStatus.Evaluate(Deployment(2, 2, 3, 3, 3, "NewReplicaSetAvailable", progressDeadlineSeconds: 1200));

        Assert.Equal(RolloutState.Complete, check.State);
        Assert.Equal(TimeSpan.FromSeconds(1200), check.ProgressDeadline);
    }

    [Fact]
    public void The_progress_deadline_defaults_to_600_seconds_as_the_API_server_defaults_it()
    {
        Assert.Equal(TimeSpan.FromSeconds(600), DeploymentRolloutStatus.Evaluate(Deployment(1, 1, 3, 3, 3)).ProgressDeadline);
    }
}
