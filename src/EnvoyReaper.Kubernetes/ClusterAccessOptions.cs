using System.ComponentModel.DataAnnotations;
using EnvoyReaper.Kubernetes.Access;

namespace EnvoyReaper.Kubernetes;

public enum ClusterAccessMode
{
    /// <summary>The pod's service account token and the KUBERNETES_SERVICE_HOST/PORT environment.</summary>
    InCluster,

    /// <summary>A kubeconfig file, with an optional context.</summary>
    KubeConfig,

    /// <summary>
    /// An AKS cluster with Microsoft Entra ID integration and Azure RBAC for Kubernetes: <see cref="ClusterAccessOptions.Server"/>,
    /// with bearer tokens for the AKS server application from the app's managed identity (see <see cref="AksEntraAccess"/>).
    /// </summary>
    AksEntra,
}

/// <summary>Settings section "Kubernetes". The mode is always explicit: no silent fallback to localhost:8080.</summary>
public sealed class ClusterAccessOptions : IValidatableObject
{
    public const string SectionName = "Kubernetes";

    [Required(ErrorMessage = "Kubernetes:Mode is required: InCluster, KubeConfig or AksEntra")]
    public ClusterAccessMode? Mode { get; set; }

    public string? KubeConfigPath { get; set; }

    public string? Context { get; set; }

    /// <summary>AksEntra: the https URL of the AKS API server (required in that mode).</summary>
    public string? Server { get; set; }

    /// <summary>
    /// AksEntra: the cluster CA as in a kubeconfig's certificate-authority-data (base64 of the PEM bundle). Optional: when
    /// absent the API server certificate is checked against the system trust store.
    /// </summary>
    public string? CertificateAuthorityData { get; set; }

    /// <summary>
    /// AksEntra: the client id of the user-assigned managed identity that gets the tokens. Optional: when absent,
    /// DefaultAzureCredential (the system-assigned identity in Azure).
    /// </summary>
    public string? ClientId { get; set; }

    [Range(1, 300)]
    public int RequestTimeoutSeconds { get; set; } = 30;

    /// <summary>How many times a request the API server throttled (429) is sent again; 0 turns the retries off.</summary>
    [Range(0, 20)]
    public int ThrottleRetries { get; set; } = 5;

    /// <summary>
    /// The most a request waits in all for the API server's Retry-After before the 429 is a failure; at most half of
    /// <see cref="RequestTimeoutSeconds"/> is used, since that timeout covers the retries too.
    /// </summary>
    [Range(0, 300)]
    public int ThrottleRetryBudgetSeconds { get; set; } = 15;

    /// <summary>
    /// The client-side write budget: writes per second on average (see <see cref="ApiWriteBudget"/>). Every write the
    /// reaper sends counts; teardown-path writes go before status writes and Events.
    /// </summary>
    [Range(1, 1000)]
    public int ApiWritesPerSecond { get; set; } = 20;

    /// <summary>How many writes may go at once after a quiet spell (the token bucket's size).</summary>
    [Range(1, 1000)]
    public int ApiWriteBurst { get; set; } = 40;

    /// <summary>
    /// The most a status write or Event waits for the write budget; one that would wait longer is dropped with a
    /// log line (the workload's state in storage is unaffected). 0: only sent when the budget has room at once.
    /// </summary>
    [Range(0, 60)]
    public int ApiLowPriorityWriteMaxWaitSeconds { get; set; } = 1;

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
        else if (Mode == ClusterAccessMode.AksEntra)
        {
            foreach (var (message, member) in AksEntraAccess.Problems(this))
            {
                yield return new ValidationResult(message, [member]);
            }
        }
    }
}
