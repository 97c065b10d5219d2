using System.ComponentModel.DataAnnotations;

namespace EnvoyReaper.Kubernetes;

public enum ClusterAccessMode
{
    /// <summary>The pod's service account token and the KUBERNETES_SERVICE_HOST/PORT environment.</summary>
    InCluster,

    /// <summary>A kubeconfig file, with an optional context.</summary>
    KubeConfig,
}

/// <summary>Settings section "Kubernetes". The mode is always explicit: no silent fallback to localhost:8080.</summary>
public sealed class ClusterAccessOptions : IValidatableObject
{
    public const string SectionName = "Kubernetes";

    [Required(ErrorMessage = "Kubernetes:Mode is required: InCluster or KubeConfig")]
    public ClusterAccessMode? Mode { get; set; }

    public string? KubeConfigPath { get; set; }

    public string? Context { get; set; }

    [Range(1, 300)]
    public int RequestTimeoutSeconds { get; set; } = 30;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Mode == ClusterAccessMode.KubeConfig)
        {
            if (string.IsNullOrWhiteSpace(KubeConfigPath))
            {
                yield return new ValidationResult("Kubernetes:KubeConfigPath is required when Kubernetes:Mode is KubeConfig", [nameof(KubeConfigPath)]);
            }
            else if (!File.Exists(KubeConfigPath))
            {
                yield return new ValidationResult($"Kubernetes:KubeConfigPath '{KubeConfigPath}' does not exist", [nameof(KubeConfigPath)]);
            }
        }
    }
}
