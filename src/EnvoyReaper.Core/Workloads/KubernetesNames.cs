using System.Text.RegularExpressions;

namespace EnvoyReaper.Workloads;

public static partial class KubernetesNames
{
    /// <summary>RFC 1123 label: namespaces, services, container names.</summary>
    public static bool IsDns1123Label(string? value) => value is { Length: > 0 and <= 63 } && Dns1123Label().IsMatch(value);

    /// <summary>RFC 1123 subdomain: Deployments, ConfigMaps, Ingresses.</summary>
    public static bool IsDns1123Subdomain(string? value) => value is { Length: > 0 and <= 253 } && Dns1123Subdomain().IsMatch(value);

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex Dns1123Label();

    [GeneratedRegex(@"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex Dns1123Subdomain();
}
