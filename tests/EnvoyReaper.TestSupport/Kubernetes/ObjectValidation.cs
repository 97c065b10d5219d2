using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace EnvoyReaper.TestSupport.Kubernetes;

/// <summary>The subset of apimachinery validation the fake enforces: object names, label keys and label values.</summary>
internal static partial class ObjectValidation
{
    private const string Dns1123SubdomainMessage =
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

    private const string Dns1123LabelMessage =
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

    private const string Dns1035LabelMessage =
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

    private const string QualifiedNameMessage =
        "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

    private const string LabelValueMessage =
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex Dns1123Subdomain();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex Dns1123Label();

    [GeneratedRegex("^[a-z]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex Dns1035Label();

    [GeneratedRegex("^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")]
    private static partial Regex QualifiedNamePart();

    public static string? NameProblem(NameRule rule, string name) => rule switch
    {
        NameRule.Dns1123Label when name.Length > 63 => "must be no more than 63 characters",
        NameRule.Dns1123Label => Dns1123Label().IsMatch(name) ? null : Dns1123LabelMessage,
        NameRule.Dns1035Label when name.Length > 63 => "must be no more than 63 characters",
        NameRule.Dns1035Label => Dns1035Label().IsMatch(name) ? null : Dns1035LabelMessage,
        _ when name.Length > 253 => "must be no more than 253 characters",
        _ => Dns1123Subdomain().IsMatch(name) ? null : Dns1123SubdomainMessage,
    };

    public static string? LabelKeyProblem(string key)
    {
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        var namePart = slash < 0 ? key : key[(slash + 1)..];
        if (slash >= 0)
        {
            var prefix = key[..slash];
            if (prefix.Length == 0)
            {
                return "prefix part must be non-empty";
            }

            if (NameProblem(NameRule.Dns1123Subdomain, prefix) is { } prefixProblem)
            {
                return "prefix part " + prefixProblem;
            }
        }

        if (namePart.Length == 0)
        {
            return "name part must be non-empty";
        }

        if (namePart.Length > 63)
        {
            return "name part must be no more than 63 characters";
        }

        return QualifiedNamePart().IsMatch(namePart) ? null : QualifiedNameMessage;
    }

    public static string? LabelValueProblem(string value)
    {
        if (value.Length > 63)
        {
            return "must be no more than 63 characters";
        }

        return value.Length == 0 || QualifiedNamePart().IsMatch(value) ? null : LabelValueMessage;
    }

    /// <summary>Checks what the API server checks on every write; throws a 422 Invalid Status listing every problem.</summary>
    public static void Validate(ResourceType type, JsonObject obj)
    {
        var metadata = obj["metadata"] as JsonObject;
        var name = metadata?["name"]?.GetValue<string>() ?? "";
        var causes = new List<InvalidField>();
        if (name.Length == 0)
        {
            causes.Add(new InvalidField("metadata.name", "FieldValueRequired", "Required value: name or generateName is required"));
        }
        else if (NameProblem(type.NameRule, name) is { } nameProblem)
        {
            causes.Add(new InvalidField("metadata.name", "FieldValueInvalid", $"Invalid value: \"{name}\": {nameProblem}"));
        }

        if (metadata?["labels"] is JsonObject labels)
        {
            foreach (var (key, value) in labels)
            {
                if (LabelKeyProblem(key) is { } keyProblem)
                {
                    causes.Add(new InvalidField("metadata.labels", "FieldValueInvalid", $"Invalid value: \"{key}\": {keyProblem}"));
                }

                var text = value is JsonValue scalar && scalar.TryGetValue<string>(out var s) ? s : null;
                if (text is null)
                {
                    causes.Add(new InvalidField($"metadata.labels", "FieldValueInvalid", $"Invalid value: {value?.ToJsonString() ?? "null"}: label values must be strings"));
                }
                else if (LabelValueProblem(text) is { } valueProblem)
                {
                    causes.Add(new InvalidField("metadata.labels", "FieldValueInvalid", $"Invalid value: \"{text}\": {valueProblem}"));
                }
            }
        }

        if (type is { Group: "discovery.k8s.io", Plural: "endpointslices" })
        {
            ValidateEndpointSlice(obj, causes);
        }

        if (causes.Count > 0)
        {
            throw ApiStatus.Invalid(type, name, causes);
        }
    }

    /// <summary>pkg/apis/discovery/validation: addressType, at most 1000 endpoints of 1 to 100 addresses of that type, at most 100 ports.</summary>
    private static void ValidateEndpointSlice(JsonObject slice, List<InvalidField> causes)
    {
        var addressType = slice["addressType"] is JsonValue typeValue && typeValue.TryGetValue<string>(out var typeText) ? typeText : null;
        if (addressType is null)
        {
            causes.Add(new InvalidField("addressType", "FieldValueRequired", "Required value"));
        }
        else if (addressType is not ("IPv4" or "IPv6" or "FQDN"))
        {
            causes.Add(new InvalidField("addressType", "FieldValueNotSupported", $"Unsupported value: \"{addressType}\": supported values: \"FQDN\", \"IPv4\", \"IPv6\""));
        }

        var endpoints = slice["endpoints"] as JsonArray ?? [];
        if (endpoints.Count > 1000)
        {
            causes.Add(new InvalidField("endpoints", "FieldValueTooMany", $"Too many: {endpoints.Count}: must have at most 1000 items"));
        }

        for (var index = 0; index < endpoints.Count; index++)
        {
            var addresses = endpoints[index]?["addresses"] as JsonArray ?? [];
            if (addresses.Count is 0 or > 100)
            {
                causes.Add(new InvalidField($"endpoints[{index}].addresses", addresses.Count == 0 ? "FieldValueRequired" : "FieldValueTooMany", addresses.Count == 0 ? "Required value: must contain at least 1 address" : "Too many: must have at most 100 items"));
            }

            for (var at = 0; at < addresses.Count; at++)
            {
                var address = addresses[at] is JsonValue value && value.TryGetValue<string>(out var text) ? text : string.Empty;
                var parsed = System.Net.IPAddress.TryParse(address, out var ip) ? ip : null;
                var fits = addressType switch
                {
                    "IPv4" => parsed?.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && address.Count(c => c == '.') == 3,
                    "IPv6" => parsed?.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6,
                    _ => address.Length > 0,
                };
                if (!fits)
                {
                    causes.Add(new InvalidField($"endpoints[{index}].addresses[{at}]", "FieldValueInvalid", $"Invalid value: \"{address}\": must be a valid {addressType} address"));
                }
            }
        }

        var ports = slice["ports"] as JsonArray ?? [];
        if (ports.Count > 100)
        {
            causes.Add(new InvalidField("ports", "FieldValueTooMany", $"Too many: {ports.Count}: must have at most 100 items"));
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var index = 0; index < ports.Count; index++)
        {
            var port = ports[index];
            var portName = port?["name"] is JsonValue nameValue && nameValue.TryGetValue<string>(out var n) ? n : string.Empty;
            if (portName.Length > 0 && NameProblem(NameRule.Dns1123Label, portName) is { } problem)
            {
                causes.Add(new InvalidField($"ports[{index}].name", "FieldValueInvalid", $"Invalid value: \"{portName}\": {problem}"));
            }

            if (!names.Add(portName))
            {
                causes.Add(new InvalidField($"ports[{index}].name", "FieldValueDuplicate", $"Duplicate value: \"{portName}\""));
            }

            if (port?["port"] is JsonValue number && (!number.TryGetValue<int>(out var value) || value is < 1 or > 65535))
            {
                causes.Add(new InvalidField($"ports[{index}].port", "FieldValueInvalid", $"Invalid value: {number.ToJsonString()}: must be between 1 and 65535, inclusive"));
            }

            if (port?["protocol"] is JsonValue protocol && protocol.TryGetValue<string>(out var protocolText) && protocolText is not ("TCP" or "UDP" or "SCTP"))
            {
                causes.Add(new InvalidField($"ports[{index}].protocol", "FieldValueNotSupported", $"Unsupported value: \"{protocolText}\": supported values: \"SCTP\", \"TCP\", \"UDP\""));
            }
        }
    }
}
