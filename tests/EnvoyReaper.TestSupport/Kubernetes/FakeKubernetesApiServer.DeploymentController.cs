using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace EnvoyReaper.TestSupport.Kubernetes;

/// <summary>How far the Deployment controller has got with the current pod template.</summary>
public enum DeploymentRollout
{
    /// <summary>One new pod is up but not yet available; the old ones still serve (maxSurge 25%, maxUnavailable 25%).</summary>
    Progressing,

    /// <summary>Every replica runs the current template and is available; the old ReplicaSet is scaled to zero.</summary>
    Complete,

    /// <summary>No progress within spec.progressDeadlineSeconds (an image that cannot be pulled, a quota, a refused pod).</summary>
    DeadlineExceeded,
}

public sealed partial class FakeKubernetesApiServer
{
    /// <summary>
    /// Writes the status the Deployment controller (pkg/controller/deployment) reports for the current generation:
    /// observedGeneration, the replica counts, and the Available and Progressing conditions with the controller's reasons
    /// and messages (ReplicaSetUpdated, NewReplicaSetAvailable, ProgressDeadlineExceeded; MinimumReplicasAvailable,
    /// MinimumReplicasUnavailable). Until this is called after a spec change, the status stays that of the previous
    /// generation, as it does on a real cluster before the controller observes the change.
    /// </summary>
    public void ReportRollout(string ns, string name, DeploymentRollout rollout) =>
        api.WriteStatus(ResourceTypeRegistry.Require("apps", "v1", "deployments"), ns, name, deployment =>
        {
            var generation = Number(deployment["metadata"]?["generation"]) ?? 1;
            var desired = (int)(Number(deployment["spec"]?["replicas"]) ?? 1);
            var template = deployment["spec"]?["template"]?.ToJsonString() ?? "{}";
            var replicaSet = $"{name}-{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(template)))[..10]}";
            var now = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
            JsonObject Condition(string type, string status, string reason, string message) => new()
            {
                ["type"] = type,
                ["status"] = status,
                ["lastUpdateTime"] = now,
                ["lastTransitionTime"] = now,
                ["reason"] = reason,
                ["message"] = message,
            };

            if (rollout == DeploymentRollout.Complete || desired == 0)
            {
                var complete = new JsonObject
                {
                    ["observedGeneration"] = generation,
                    ["conditions"] = new JsonArray(
                        Condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."),
                        Condition("Progressing", "True", "NewReplicaSetAvailable", $"ReplicaSet \"{replicaSet}\" has successfully progressed.")),
                };
                if (desired > 0)
                {
                    complete["replicas"] = desired;
                    complete["updatedReplicas"] = desired;
                    complete["readyReplicas"] = desired;
                    complete["availableReplicas"] = desired;
                }

                return complete;
            }

            // The old ReplicaSet keeps its pods available while one new pod (the surge) is not ready yet.
            var status = new JsonObject
            {
                ["observedGeneration"] = generation,
                ["replicas"] = desired + 1,
                ["updatedReplicas"] = 1,
                ["readyReplicas"] = desired,
                ["availableReplicas"] = desired,
                ["unavailableReplicas"] = 1,
            };
            var progressing = rollout == DeploymentRollout.DeadlineExceeded
                ? Condition("Progressing", "False", "ProgressDeadlineExceeded", $"ReplicaSet \"{replicaSet}\" has timed out progressing.")
                : Condition("Progressing", "True", "ReplicaSetUpdated", $"ReplicaSet \"{replicaSet}\" is progressing.");
            status["conditions"] = new JsonArray(Condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."), progressing);
            return status;
        });

    private static long? Number(JsonNode? node) =>
        node is null ? null : long.Parse(node.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture);
}
