using System.Text.Json;
using System.Text.Json.Serialization;
using EnvoyReaper.Workloads;

namespace EnvoyReaper.Injection;

/// <summary>The body of POST /api/inject. Unknown fields are refused, so that a typo is never silently ignored.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record InjectionRequest
{
    public string? Namespace { get; init; }

    public string? Deployment { get; init; }

    /// <summary>Several Deployments of the namespace injected together (instead of <see cref="Deployment"/>), for a Service they share.</summary>
    public List<string?>? Deployments { get; init; }

    public int? AppPort { get; init; }

    public string? Protocol { get; init; }

    public string? Service { get; init; }

    public string? Ingress { get; init; }

    public bool? Monitor { get; init; }

    public string? IdleTimeout { get; init; }

    public int? MinConnections { get; init; }

    public string? Action { get; init; }

    public bool? Remove { get; init; }
}

/// <summary>A request that passed validation. A null <see cref="Protocol"/> is inferred from the Services and ports.</summary>
public sealed record ValidInjection(
    string Namespace,
    string Deployment,
    int AppPort,
    SidecarProtocol? Protocol,
    string? Service,
    string? Ingress,
    bool Monitor,
    string? IdleTimeout,
    int? MinConnections,
    string? Action);

public static class InjectionRequestValidator
{
    public static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);

    /// <summary>The values of "protocol" (and --protocol): grpc, h2c and http2 all mean HTTP/2 to the app.</summary>
    public static readonly IReadOnlyList<string> ProtocolNames = ["http", "http2", "grpc", "h2c", "tcp", "udp"];

    public static SidecarProtocol? ParseProtocol(string? name) => name switch
    {
        "http" => SidecarProtocol.Http,
        "http2" or "grpc" or "h2c" => SidecarProtocol.Http2,
        "tcp" => SidecarProtocol.Tcp,
        "udp" => SidecarProtocol.Udp,
        _ => null,
    };

    /// <summary>How many Deployments one request may inject together.</summary>
    public const int MaxDeployments = 20;

    /// <summary>The Deployments a valid request names: its "deployments", or its one "deployment".</summary>
    public static IReadOnlyList<string> DeploymentNames(InjectionRequest request) =>
        request.Deployments is { } names ? names.Select(name => name!).ToList() : [request.Deployment!];

    /// <summary>Every invalid field at once, keyed by its JSON name, as RFC 7807 validation problems list them.</summary>
    public static Dictionary<string, string[]> Validate(InjectionRequest request, bool removal, out ValidInjection? valid)
    {
        var errors = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        void Add(string field, string message)
        {
            if (!errors.TryGetValue(field, out var list))
            {
                errors[field] = list = [];
            }

            list.Add(message);
        }

        if (!KubernetesNames.IsDns1123Label(request.Namespace))
        {
            Add("namespace", "must be a DNS-1123 label (lower-case letters, digits and '-', at most 63 characters)");
        }

        if (request.Deployments is { } names)
        {
            if (request.Deployment is not null)
            {
                Add("deployments", "give either deployment or deployments, not both");
            }

            if (removal)
            {
                Add("deployments", "a removal takes one deployment");
            }

            if (names.Count is 0 or > MaxDeployments)
            {
                Add("deployments", $"must name 1 to {MaxDeployments} Deployments");
            }

            if (names.Any(name => !KubernetesNames.IsDns1123Subdomain(name)))
            {
                Add("deployments", "each must be a DNS-1123 subdomain");
            }
            else if (names.Distinct(StringComparer.Ordinal).Count() != names.Count)
            {
                Add("deployments", "must not name a Deployment twice");
            }
        }
        else if (!KubernetesNames.IsDns1123Subdomain(request.Deployment))
        {
            Add("deployment", "must be a DNS-1123 subdomain");
        }

        SidecarProtocol? protocol = null;
        if (!removal)
        {
            if (request.AppPort is not { } port || port is < 1 or > 65535)
            {
                Add("appPort", "must be a port between 1 and 65535");
            }
            else if (port is EnvoyBootstrap.AdminPort or EnvoyBootstrap.InboundPort or EnvoyBootstrap.StatsPort)
            {
                Add("appPort", $"{port} is used by the sidecar (admin {EnvoyBootstrap.AdminPort}, inbound {EnvoyBootstrap.InboundPort}, stats {EnvoyBootstrap.StatsPort})");
            }

            if (request.Protocol is not null)
            {
                protocol = ParseProtocol(request.Protocol);
                if (protocol is null)
                {
                    Add("protocol", $"must be one of {string.Join(", ", ProtocolNames.Select(name => $"\"{name}\""))}, or absent to infer it");
                }
            }
        }

        if (request.Service is not null && !KubernetesNames.IsDns1123Label(request.Service))
        {
            Add("service", "must be a DNS-1123 label");
        }

        if (request.Ingress is not null && !KubernetesNames.IsDns1123Subdomain(request.Ingress))
        {
            Add("ingress", "must be a DNS-1123 subdomain");
        }

        if (request.IdleTimeout is not null && (!GoDuration.TryParse(request.IdleTimeout, out var timeout) || timeout < TimeSpan.FromSeconds(1)))
        {
            Add("idleTimeout", "must be a duration of at least 1s, such as 10m");
        }

        if (request.MinConnections is < 0 or > 1_000_000)
        {
            Add("minConnections", "must be between 0 and 1000000");
        }

        if (request.Action is not null && !ReaperActionNames.TryParse(request.Action, out _))
        {
            Add("action", "must be delete, scale-to-zero or observe");
        }

        valid = errors.Count == 0
            ? new ValidInjection(request.Namespace!, request.Deployment ?? request.Deployments![0]!, request.AppPort ?? 0, protocol, request.Service, request.Ingress,
                request.Monitor ?? true, request.IdleTimeout, request.MinConnections, request.Action)
            : null;
        return errors.ToDictionary(pair => pair.Key, pair => pair.Value.ToArray(), StringComparer.Ordinal);
    }
}
