using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using EnvoyReaper.Kubernetes.Waking;
using EnvoyReaper.Messaging;
using EnvoyReaper.Waking;
using EnvoyReaper.Workloads;

namespace EnvoyReaper.Waker;

/// <summary>A Service parked by the reaper, as its label and annotations describe it.</summary>
/// <param name="ParkedAt">The parked-at annotation as written: with the Service, it names this parking (one wake per parking).</param>
public sealed record ParkedWorkload(string Namespace, string Service, string Deployment, string ParkedAt, bool Hold, IReadOnlyList<ParkedPort> Ports)
{
    public string Key => $"{Namespace}/{Service}@{ParkedAt}";

    public override string ToString() => $"{Namespace}/{Service}";
}

/// <summary>One waker port: the parked Service and which of its ports it stands for.</summary>
public sealed record ParkedRoute(ParkedWorkload Workload, ParkedPort Port);

/// <summary>
/// Reads a parked Service strictly: only one carrying the label and every annotation parking writes, each well formed,
/// is a parking. Anything else (a user's label on a Service the reaper never parked, a half-written parking) is not,
/// so it can never be woken from here.
/// </summary>
public static class ParkedServiceParser
{
    public static bool TryParse(ServiceMetadata service, int minWakerPort, int maxWakerPort, out ParkedWorkload? workload, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(service);
        workload = null;
        problem = Check(service, minWakerPort, maxWakerPort, out var parsed);
        workload = parsed;
        return problem is null;
    }

    private static string? Check(ServiceMetadata service, int minWakerPort, int maxWakerPort, out ParkedWorkload? workload)
    {
        workload = null;
        if (!KubernetesNames.IsDns1123Label(service.Namespace) || !KubernetesNames.IsDns1123Label(service.Name))
        {
            return "its namespace or name is not a DNS-1123 label";
        }

        if (!service.Labels.TryGetValue(ParkingContract.ParkedLabel, out var parked) || parked != "true")
        {
            return $"it is not labelled {ParkingContract.ParkedSelector}";
        }

        string? Annotation(string name) => service.Annotations.TryGetValue(name, out var value) && !string.IsNullOrWhiteSpace(value) ? value : null;

        if (Annotation(ParkingContract.SelectorAnnotation) is not { } selector || !IsSelector(selector))
        {
            return $"annotation {ParkingContract.SelectorAnnotation} is missing or not a JSON object of strings";
        }

        if (Annotation(ParkingContract.DeploymentAnnotation) is not { } deployment || !KubernetesNames.IsDns1123Subdomain(deployment))
        {
            return $"annotation {ParkingContract.DeploymentAnnotation} is missing or not a Deployment name";
        }

        var action = Annotation(ParkingContract.ActionAnnotation);
        if (action is not ("delete" or "scale-to-zero"))
        {
            return $"annotation {ParkingContract.ActionAnnotation} is missing or neither delete nor scale-to-zero";
        }

        if (action == "delete" && Annotation(ParkingContract.SnapshotAnnotation) is null)
        {
            return $"annotation {ParkingContract.SnapshotAnnotation} is missing for a deleted workload";
        }

        if (Annotation(ParkingContract.ParkedAtAnnotation) is not { } parkedAt
            || !DateTimeOffset.TryParse(parkedAt, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out _))
        {
            return $"annotation {ParkingContract.ParkedAtAnnotation} is missing or not an RFC 3339 time";
        }

        var hold = Annotation(ParkingContract.HoldAnnotation);
        if (hold is not (null or "true" or "false"))
        {
            return $"annotation {ParkingContract.HoldAnnotation} is neither true nor false";
        }

        if (Annotation(ParkingContract.WakerPortsAnnotation) is not { } portsJson)
        {
            return $"annotation {ParkingContract.WakerPortsAnnotation} is missing";
        }

        List<ParkedPort>? ports;
        try
        {
            ports = JsonSerializer.Deserialize<List<ParkedPort>>(portsJson, ReaperJson.Options);
        }
        catch (JsonException exception)
        {
            return $"annotation {ParkingContract.WakerPortsAnnotation} is not a JSON array of {{port, name, wakerPort}}: {exception.Message}";
        }

        if (ports is not { Count: > 0 } || ports.Any(port => port is null))
        {
            return $"annotation {ParkingContract.WakerPortsAnnotation} names no port";
        }

        if (ports.FirstOrDefault(port => port.Port is < 1 or > 65535 || port.WakerPort < minWakerPort || port.WakerPort > maxWakerPort) is { } outside)
        {
            return $"annotation {ParkingContract.WakerPortsAnnotation}: port {outside.Port} -> waker port {outside.WakerPort} is outside 1-65535 or the waker range {minWakerPort}-{maxWakerPort}";
        }

        if (ports.Select(port => port.WakerPort).Distinct().Count() != ports.Count)
        {
            return $"annotation {ParkingContract.WakerPortsAnnotation} gives one waker port twice";
        }

        workload = new ParkedWorkload(service.Namespace, service.Name, deployment, parkedAt, hold == "true", ports);
        return null;
    }

    private static bool IsSelector(string json)
    {
        try
        {
            return JsonNode.Parse(json) is JsonObject { Count: > 0 } selector
                && selector.All(pair => pair.Value is JsonValue value && value.GetValueKind() == JsonValueKind.String);
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
