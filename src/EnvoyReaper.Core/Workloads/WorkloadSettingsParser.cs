using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using EnvoyReaper.Cluster;

namespace EnvoyReaper.Workloads;

public sealed record SettingsResult(WorkloadSettings? Settings, IReadOnlyList<string> Errors)
{
    public bool IsValid => Settings is not null;
}

/// <summary>
/// Reads the opt-in contract from Deployment annotations or an EnvoyMonitor spec. A value that cannot be read is an
/// error, never silently replaced by a default: a wrong default could delete a workload its owner meant to keep.
/// </summary>
public sealed partial class WorkloadSettingsParser(ReaperOptions defaults)
{
    public SettingsResult FromAnnotations(IReadOnlyDictionary<string, string> annotations)
    {
        var errors = new List<string>();
        string? Get(string key) => annotations.TryGetValue(key, out var value) ? value : null;

        var settings = Build(
            minConnections: ParseInt(Get(ReaperLabels.MinConnections), ReaperLabels.MinConnections, 0, 1_000_000, errors),
            idleTimeout: ParseDuration(Get(ReaperLabels.IdleTimeout), ReaperLabels.IdleTimeout, errors, TimeSpan.FromSeconds(1)),
            action: Get(ReaperLabels.Action),
            actionField: ReaperLabels.Action,
            statsPort: ParseInt(Get(ReaperLabels.StatsPort), ReaperLabels.StatsPort, 1, 65535, errors),
            statsPath: Get(ReaperLabels.StatsPath),
            statsPathField: ReaperLabels.StatsPath,
            listeners: ParseListenerList(Get(ReaperLabels.Listeners), ReaperLabels.Listeners, errors),
            service: ParseServiceName(Get(ReaperLabels.Service), ReaperLabels.Service, errors),
            ingress: ParseName(Get(ReaperLabels.Ingress), ReaperLabels.Ingress, errors),
            checkInterval: ParseCheckInterval(Get(ReaperLabels.CheckInterval), ReaperLabels.CheckInterval, errors),
            errors) with
        {
            Wake = ParseBool(Get(Waking.ParkingContract.WakeAnnotation), Waking.ParkingContract.WakeAnnotation, errors),
            WakeHold = ParseBool(Get(Waking.ParkingContract.WakeHoldAnnotation), Waking.ParkingContract.WakeHoldAnnotation, errors),
        };
        return errors.Count == 0 ? new SettingsResult(settings, errors) : new SettingsResult(null, errors);
    }

    public SettingsResult FromMonitor(MonitorInfo monitor)
    {
        var errors = new List<string>();
        if (string.IsNullOrEmpty(monitor.DeploymentName))
        {
            errors.Add("spec.deploymentName is required");
        }
        else
        {
            ParseName(monitor.DeploymentName, "spec.deploymentName", errors);
        }

        if (!string.IsNullOrEmpty(monitor.TargetNamespace))
        {
            ParseName(monitor.TargetNamespace, "spec.namespace", errors);
        }

        var settings = Build(
            minConnections: ParseIntNode(monitor.MinConnections, "spec.minConnections", 0, 1_000_000, errors),
            idleTimeout: ParseDuration(monitor.IdleTimeout, "spec.idleTimeout", errors, TimeSpan.FromSeconds(1)),
            action: monitor.Action,
            actionField: "spec.action",
            statsPort: ParseIntNode(monitor.StatsPort, "spec.statsPort", 1, 65535, errors),
            statsPath: monitor.StatsPath,
            statsPathField: "spec.statsPath",
            listeners: ParseListenerNode(monitor.Listeners, errors),
            service: ParseServiceName(monitor.ServiceName, "spec.serviceName", errors),
            ingress: ParseName(monitor.IngressName, "spec.ingressName", errors),
            checkInterval: ParseCheckInterval(monitor.CheckInterval, "spec.checkInterval", errors),
            errors) with
        {
            Wake = ParseBoolNode(monitor.Wake, "spec.wake", errors),
            WakeHold = ParseBoolNode(monitor.WakeHold, "spec.wakeHold", errors),
        };
        return errors.Count == 0 ? new SettingsResult(settings, errors) : new SettingsResult(null, errors);
    }

    private WorkloadSettings Build(
        int? minConnections,
        TimeSpan? idleTimeout,
        string? action,
        string actionField,
        int? statsPort,
        string? statsPath,
        string statsPathField,
        IReadOnlyList<string>? listeners,
        string? service,
        string? ingress,
        TimeSpan? checkInterval,
        List<string> errors)
    {
        var resolvedAction = defaults.DefaultAction;
        if (action is not null && !ReaperActionNames.TryParse(action, out resolvedAction))
        {
            errors.Add($"{actionField}: '{action}' is not one of delete, scale-to-zero, observe");
        }

        if (statsPath is not null && !StatsPathPattern().IsMatch(statsPath))
        {
            errors.Add($"{statsPathField}: '{statsPath}' must be an absolute path without query, such as /stats or /stats/prometheus");
        }

        return new WorkloadSettings(
            minConnections ?? defaults.DefaultMinConnections,
            idleTimeout ?? defaults.DefaultIdleTimeout,
            resolvedAction,
            statsPort ?? defaults.DefaultStatsPort,
            statsPath ?? defaults.DefaultStatsPath,
            listeners,
            service,
            ingress,
            checkInterval);
    }

    // Annotation values are strings: only the two YAML users write for a boolean, so that a typo is an error.
    private static bool ParseBool(string? value, string field, List<string> errors)
    {
        switch (value?.Trim())
        {
            case null:
            case "false":
                return false;
            case "true":
                return true;
            default:
                errors.Add($"{field}: '{value}' is not \"true\" or \"false\"");
                return false;
        }
    }

    private static bool ParseBoolNode(JsonNode? node, string field, List<string> errors)
    {
        if (node is null)
        {
            return false;
        }

        if (node is JsonValue value && value.GetValueKind() is JsonValueKind.True or JsonValueKind.False)
        {
            return value.GetValue<bool>();
        }

        errors.Add($"{field}: '{node.ToJsonString()}' is not a boolean (true or false)");
        return false;
    }

    private static int? ParseInt(string? value, string field, int min, int max, List<string> errors)
    {
        if (value is null)
        {
            return null;
        }

        if (int.TryParse(value.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) && parsed >= min && parsed <= max)
        {
            return parsed;
        }

        errors.Add($"{field}: '{value}' is not an integer between {min} and {max}");
        return null;
    }

    private static int? ParseIntNode(JsonNode? node, string field, int min, int max, List<string> errors)
    {
        if (node is null)
        {
            return null;
        }

        if (node is JsonValue value)
        {
            if (value.GetValueKind() == JsonValueKind.Number && value.TryGetValue<int>(out var number))
            {
                return ParseInt(number.ToString(CultureInfo.InvariantCulture), field, min, max, errors);
            }

            if (value.GetValueKind() == JsonValueKind.String)
            {
                return ParseInt(value.GetValue<string>(), field, min, max, errors);
            }
        }

        errors.Add($"{field}: '{node.ToJsonString()}' is not an integer between {min} and {max}");
        return null;
    }

    private TimeSpan? ParseCheckInterval(string? value, string field, List<string> errors)
    {
        var interval = ParseDuration(value, field, errors, TimeSpan.Zero);
        if (interval is { } parsed && parsed < defaults.MinCheckInterval)
        {
            errors.Add($"{field}: '{value}' is shorter than the minimum check interval of {GoDuration.Format(defaults.MinCheckInterval)} (setting Reaper:MinCheckInterval)");
            return null;
        }

        return interval;
    }

    private static TimeSpan? ParseDuration(string? value, string field, List<string> errors, TimeSpan minimum)
    {
        if (value is null)
        {
            return null;
        }

        if (!GoDuration.TryParse(value, out var duration))
        {
            errors.Add($"{field}: '{value}' is not a duration such as 30s, 10m or 1h");
            return null;
        }

        if (duration < minimum)
        {
            errors.Add($"{field}: '{value}' is shorter than the minimum of {GoDuration.Format(minimum)}");
            return null;
        }

        return duration;
    }

    // A Service name is a DNS label: the stats-check and teardown messages refuse any other, so it must be an error here.
    private static string? ParseServiceName(string? value, string field, List<string> errors)
    {
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }

        if (KubernetesNames.IsDns1123Label(value))
        {
            return value;
        }

        errors.Add($"{field}: '{value}' is not a valid Service name (a DNS-1123 label: no dots)");
        return null;
    }

    private static string? ParseName(string? value, string field, List<string> errors)
    {
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }

        if (KubernetesNames.IsDns1123Label(value) || KubernetesNames.IsDns1123Subdomain(value))
        {
            return value;
        }

        errors.Add($"{field}: '{value}' is not a valid Kubernetes name");
        return null;
    }

    private static IReadOnlyList<string>? ParseListenerList(string? value, string field, List<string> errors)
    {
        if (value is null)
        {
            return null;
        }

        var names = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names.Length == 0 || names.Any(name => !ListenerNamePattern().IsMatch(name)))
        {
            errors.Add($"{field}: '{value}' must be a comma-separated list of listener stat names such as 0.0.0.0_15001");
            return null;
        }

        return names;
    }

    private static IReadOnlyList<string>? ParseListenerNode(JsonNode? node, List<string> errors) => node switch
    {
        null => null,
        JsonArray array when array.All(item => item is JsonValue v && v.GetValueKind() == JsonValueKind.String) =>
            ParseListenerList(string.Join(',', array.Select(item => item!.GetValue<string>())), "spec.listeners", errors),
        JsonValue value when value.GetValueKind() == JsonValueKind.String =>
            ParseListenerList(value.GetValue<string>(), "spec.listeners", errors),
        _ => ErrorList(errors, $"spec.listeners: '{node.ToJsonString()}' must be a list of listener stat names"),
    };

    private static IReadOnlyList<string>? ErrorList(List<string> errors, string message)
    {
        errors.Add(message);
        return null;
    }

    /// <summary>An absolute stats path without query, as envoy-reaper/stats-path and spec.statsPath must be.</summary>
    public static bool IsStatsPath(string? value) => value is not null && StatsPathPattern().IsMatch(value);

    // No query string: the reaper chooses format and filter itself, so that a user's filter cannot hide a listener.
    [GeneratedRegex(@"^/[A-Za-z0-9/_\-.]*$")]
    private static partial Regex StatsPathPattern();

    [GeneratedRegex(@"^[A-Za-z0-9_.:\[\]\-]{1,200}$")]
    private static partial Regex ListenerNamePattern();
}
