using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using k8s;
using k8s.Models;

namespace EnvoyReaper.Kubernetes.Tests;

/// <summary>
/// The CRD's own OpenAPI schema applied to EnvoyMonitors: the examples pass it, and the mistakes users make are
/// rejected by the API server before the reaper ever reads them.
/// </summary>
public sealed class EnvoyMonitorSchemaTests
{
    private static string Infra(params string[] parts)
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Functions.sln")))
        {
            directory = directory.Parent;
        }

        return Path.Combine([directory!.FullName, "infra", .. parts]);
    }

    private static V1JSONSchemaProps Schema() =>
        KubernetesYaml.Deserialize<V1CustomResourceDefinition>(File.ReadAllText(Infra("k8s", "envoymonitor-crd.yaml")), strict: true)
            .Spec.Versions.Single().Schema.OpenAPIV3Schema;

    /// <summary>The subset of OpenAPI v3 validation the CRD uses: type, required, properties, items, pattern, enum, bounds.</summary>
    private static List<string> Validate(V1JSONSchemaProps schema, JsonNode? value, string path)
    {
        var errors = new List<string>();
        switch (schema.Type)
        {
            case "object":
                if (value is not JsonObject obj)
                {
                    errors.Add($"{path}: must be an object");
                    break;
                }

                foreach (var required in schema.Required ?? [])
                {
                    if (!obj.ContainsKey(required))
                    {
                        errors.Add($"{path}.{required}: required");
                    }
                }

                foreach (var (key, child) in obj)
                {
                    if (schema.Properties?.TryGetValue(key, out var childSchema) == true)
                    {
                        errors.AddRange(Validate(childSchema, child, $"{path}.{key}"));
                    }
                }

                break;
            case "string":
                if (value is not JsonValue text || text.GetValueKind() != System.Text.Json.JsonValueKind.String)
                {
                    errors.Add($"{path}: must be a string");
                    break;
                }

                var s = text.GetValue<string>();
                if (schema.Pattern is { } pattern && !Regex.IsMatch(s, pattern))
                {
                    errors.Add($"{path}: '{s}' does not match {pattern}");
                }

                if (schema.MaxLength is { } max && s.Length > max)
                {
                    errors.Add($"{path}: longer than {max}");
                }

                if (schema.EnumProperty is { } allowed && !allowed.Select(item => item?.ToString()).Contains(s))
                {
                    errors.Add($"{path}: '{s}' is not one of the allowed values");
                }

                break;
            case "integer":
                if (value is not JsonValue number || !number.TryGetValue<long>(out var n))
                {
                    errors.Add($"{path}: must be an integer");
                    break;
                }

                if (schema.Minimum is { } minimum && n < minimum)
                {
                    errors.Add($"{path}: below {minimum}");
                }

                if (schema.Maximum is { } maximum && n > maximum)
                {
                    errors.Add($"{path}: above {maximum}");
                }

                break;
            case "array":
                if (value is not JsonArray array)
                {
                    errors.Add($"{path}: must be an array");
                    break;
                }

                for (var i = 0; i < array.Count; i++)
                {
                    errors.AddRange(Validate((V1JSONSchemaProps)schema.Items, array[i], $"{path}[{i}]"));
                }

                break;
        }

        return errors;
    }

    [Fact]
    public void The_example_EnvoyMonitor_passes_the_CRD_schema()
    {
        var monitor = JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(
            new YamlDotNet.Serialization.DeserializerBuilder().WithAttemptingUnquotedStringTypeDeserialization().Build()
                .Deserialize<Dictionary<string, object>>(File.ReadAllText(Infra("k8s", "example-envoymonitor.yaml")))))!;

        Assert.Empty(Validate(Schema(), monitor, "$"));
    }

    [Theory]
    [InlineData("checkInterval", "\"10 seconds\"")]
    [InlineData("idleTimeout", "\"-5m\"")]
    [InlineData("statsPort", "70000")]
    [InlineData("minConnections", "-1")]
    [InlineData("action", "\"destroy\"")]
    [InlineData("deploymentName", "\"Bad_Name\"")]
    [InlineData("listeners", "\"0.0.0.0_15001\"")]
    public void A_wrong_field_is_rejected_by_the_schema(string field, string json)
    {
        var monitor = new JsonObject
        {
            ["apiVersion"] = "monitoring.example.com/v1alpha1",
            ["kind"] = "EnvoyMonitor",
            ["metadata"] = new JsonObject { ["name"] = "m" },
            ["spec"] = new JsonObject { ["deploymentName"] = "my-app", [field] = JsonNode.Parse(json) },
        };

        Assert.Contains(Validate(Schema(), monitor, "$"), error => error.Contains(field, StringComparison.Ordinal));
    }

    [Fact]
    public void A_monitor_without_a_deployment_name_is_rejected()
    {
        var monitor = new JsonObject { ["spec"] = new JsonObject { ["serviceName"] = "svc" } };

        Assert.Contains("$.spec.deploymentName: required", Validate(Schema(), monitor, "$"));
    }

    [Theory]
    [InlineData("10s")]
    [InlineData("1m30s")]
    [InlineData("500ms")]
    [InlineData("1.5h")]
    public void Go_durations_pass_the_schema(string duration)
    {
        var monitor = new JsonObject { ["spec"] = new JsonObject { ["deploymentName"] = "my-app", ["checkInterval"] = duration, ["idleTimeout"] = duration } };

        Assert.Empty(Validate(Schema(), monitor, "$"));
    }
}
