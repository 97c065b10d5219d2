using System.ComponentModel.DataAnnotations;

namespace EnvoyReaper.Injection;

/// <summary>Settings section "Injection". The image comes from here, never from a caller.</summary>
public sealed class InjectionOptions : IValidatableObject
{
    public const string SectionName = "Injection";

    [Required]
    [RegularExpression(@"^[a-z0-9][a-z0-9._/:-]*[:@][A-Za-z0-9._:-]+$", ErrorMessage = "Injection:EnvoyImage must be pinned to a tag or digest")]
    public string EnvoyImage { get; set; } = "envoyproxy/envoy:v1.34.1";

    /// <summary>Namespaces callers may inject into; empty means every namespace not denied.</summary>
    public List<string> AllowedNamespaces { get; set; } = [];

    public List<string> DeniedNamespaces { get; set; } = ["kube-system", "kube-public", "kube-node-lease"];

    /// <summary>An init container with restartPolicy Always (Kubernetes 1.29+) instead of a regular container.</summary>
    public bool NativeSidecar { get; set; }

    [Range(1, 16)]
    public int Concurrency { get; set; } = 2;

    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(5);

    [Required]
    public string CpuRequest { get; set; } = "50m";

    [Required]
    public string MemoryRequest { get; set; } = "64Mi";

    [Required]
    public string MemoryLimit { get; set; } = "256Mi";

    [Range(1, 10)]
    public int MaxConflictRetries { get; set; } = 3;

    public bool IsNamespaceAllowed(string @namespace) =>
        !DeniedNamespaces.Contains(@namespace, StringComparer.Ordinal)
        && (AllowedNamespaces.Count == 0 || AllowedNamespaces.Contains(@namespace, StringComparer.Ordinal));

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (IdleTimeout < TimeSpan.FromSeconds(1) || IdleTimeout > TimeSpan.FromHours(24))
        {
            yield return new ValidationResult("Injection:IdleTimeout must be between 1 second and 24 hours", [nameof(IdleTimeout)]);
        }
    }
}
