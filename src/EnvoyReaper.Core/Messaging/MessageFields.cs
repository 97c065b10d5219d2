using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using EnvoyReaper.Workloads;

namespace EnvoyReaper.Messaging;

/// <summary>
/// The names a message carries become Table keys, blob names and API paths: each must have the shape Kubernetes gives
/// it, or the message is refused before anything is read or written with it.
/// </summary>
public static partial class MessageFields
{
    private const string LabelRule = "is not a DNS-1123 label (lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)";
    private const string SubdomainRule = "is not a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', at most 253 characters)";
    private const string UidRule = "is not a Kubernetes uid (letters, digits, '-', '_', '.' and ':', at most 128 characters, such as 0c7d4e2a-5b1f-4c8e-9a3d-6f2b1e0d9c87)";

    /// <summary>The first field that cannot be what it names, as "field 'x': value why"; null when every one can.</summary>
    public static string? FindInvalid(object message) => message switch
    {
        StatsCheckMessage check => FindInvalid(check),
        StatsCheckBatchMessage batch => FindInvalid(batch),
        TeardownMessage teardown => FindInvalid(teardown),
        RolloutCheckMessage rollout => FindInvalid(rollout),
        Waking.WakeMessage wake => FindInvalid(wake),
        Waking.ParkMessage park => FindInvalid(park),
        _ => null,
    };

    private static string? FindInvalid(StatsCheckMessage message) =>
        Id(message.Id)
        ?? Label("namespace", message.Namespace)
        ?? Subdomain("deployment", message.Deployment)
        ?? Uid("deploymentUid", message.DeploymentUid)
        ?? OptionalSubdomain("monitor", message.Monitor)
        ?? OptionalLabel("monitorNamespace", message.MonitorNamespace)
        ?? Settings(message.Settings)
        ?? message.Pods.Select(Pod).FirstOrDefault(problem => problem is not null);

    private static string? FindInvalid(StatsCheckBatchMessage message) =>
        Id(message.Id)
        ?? Label("namespace", message.Namespace)
        ?? (message.Workloads.Count == 0 ? "field 'workloads': the list is empty" : null)
        ?? message.Workloads.Select(Workload).FirstOrDefault(problem => problem is not null)
        ?? message.Workloads.GroupBy(workload => workload.Deployment, StringComparer.Ordinal).Where(same => same.Count() > 1)
            .Select(same => Problem("workloads", same.Key, "appears more than once")).FirstOrDefault();

    private static string? Workload(WorkloadCheck workload, int index) =>
        Subdomain($"workloads[{index}].deployment", workload.Deployment)
        ?? Uid($"workloads[{index}].deploymentUid", workload.DeploymentUid)
        ?? OptionalSubdomain($"workloads[{index}].monitor", workload.Monitor)
        ?? OptionalLabel($"workloads[{index}].monitorNamespace", workload.MonitorNamespace)
        ?? Settings(workload.Settings, $"workloads[{index}].")
        ?? workload.Pods.Select((pod, podIndex) => Pod(pod, podIndex, $"workloads[{index}].")).FirstOrDefault(problem => problem is not null);

    private static string? FindInvalid(TeardownMessage message) =>
        Id(message.Id)
        ?? Label("namespace", message.Namespace)
        ?? Subdomain("deployment", message.Deployment)
        ?? Uid("deploymentUid", message.DeploymentUid)
        ?? OptionalSubdomain("monitor", message.Monitor)
        ?? OptionalLabel("monitorNamespace", message.MonitorNamespace)
        ?? Settings(message.Settings);

    private static string? FindInvalid(RolloutCheckMessage message) =>
        Id(message.Id)
        ?? (IdPattern().IsMatch(message.OperationId) ? null : Problem("operationId", message.OperationId, "is not an operation id (letters, digits, '-', '_', '.' and ':', at most 128 characters)"))
        ?? Label("namespace", message.Namespace)
        ?? Subdomain("deployment", message.Deployment);

    // Service names are DNS-1035 labels; a DNS-1123 label check keeps out every character that could leave an API path.
    private static string? FindInvalid(Waking.WakeMessage message) =>
        Id(message.Id)
        ?? Label("namespace", message.Namespace)
        ?? Label("service", message.Service);

    private static string? FindInvalid(Waking.ParkMessage message) =>
        Id(message.Id)
        ?? Label("namespace", message.Namespace)
        ?? Subdomain("deployment", message.Deployment)
        ?? (message.Snapshot.StartsWith($"{message.Namespace}/{message.Deployment}/", StringComparison.Ordinal)
            && SnapshotTail().IsMatch(message.Snapshot[(message.Namespace.Length + message.Deployment.Length + 2)..])
                ? null
                : Problem("snapshot", message.Snapshot, "is not the name of a snapshot of this Deployment (namespace/deployment/time-uid.json)"));

    [GeneratedRegex(@"^[0-9]{8}T[0-9]{6}\.[0-9]{7}Z-[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}\.json$")]
    private static partial Regex SnapshotTail();

    private static string? Pod(PodTarget pod, int index) => Pod(pod, index, string.Empty);

    private static string? Pod(PodTarget pod, int index, string prefix) =>
        Subdomain($"{prefix}pods[{index}].name", pod.Name)
        ?? Uid($"{prefix}pods[{index}].uid", pod.Uid)
        ?? Ip($"{prefix}pods[{index}].ip", pod.Ip);

    private static string? Settings(WorkloadSettings? settings) => Settings(settings, string.Empty);

    private static string? Settings(WorkloadSettings? settings, string prefix) =>
        settings is null
            ? null
            : OptionalLabel($"{prefix}settings.serviceName", settings.ServiceName)
              ?? OptionalSubdomain($"{prefix}settings.ingressName", settings.IngressName)
              ?? (WorkloadSettingsParser.IsStatsPath(settings.StatsPath) ? null : Problem($"{prefix}settings.statsPath", settings.StatsPath, "is not an absolute path without query, such as /stats"));

    private static string? Id(string value) =>
        IdPattern().IsMatch(value) ? null : Problem("id", value, "is not a message id (letters, digits, '-', '_', '.' and ':', at most 128 characters)");

    private static string? Label(string field, string value) => KubernetesNames.IsDns1123Label(value) ? null : Problem(field, value, LabelRule);

    private static string? OptionalLabel(string field, string? value) => value is null ? null : Label(field, value);

    private static string? Subdomain(string field, string value) => KubernetesNames.IsDns1123Subdomain(value) ? null : Problem(field, value, SubdomainRule);

    private static string? OptionalSubdomain(string field, string? value) => value is null ? null : Subdomain(field, value);

    // The API server generates UUIDs, but the field is an opaque string: refuse only what could not be a safe key part.
    private static string? Uid(string field, string value) => UidPattern().IsMatch(value) ? null : Problem(field, value, UidRule);

    private static string? Ip(string field, string value) =>
        IpCharacters().IsMatch(value) && IPAddress.TryParse(value, out _)
            ? null
            : Problem(field, value, "is not an IPv4 or IPv6 address");

    // JSON-quoted and cut short: the value is the sender's and goes into a log line.
    private static string Problem(string field, string value, string why) =>
        $"field '{field}': {JsonSerializer.Serialize(value.Length > 80 ? value[..80] + "..." : value)} {why}";

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]
    private static partial Regex IdPattern();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]
    private static partial Regex UidPattern();

    // What a pod IP as the API server reports it is made of: no brackets, zone, prefix length or anything for a URL.
    [GeneratedRegex("^[0-9A-Fa-f.:]{2,45}$")]
    private static partial Regex IpCharacters();
}
