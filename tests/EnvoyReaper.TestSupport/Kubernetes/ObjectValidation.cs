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

        if (causes.Count > 0)
        {
            throw ApiStatus.Invalid(type, name, causes);
        }
    }
}
