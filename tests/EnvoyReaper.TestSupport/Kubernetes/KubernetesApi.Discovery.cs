using System.Text.Json.Nodes;

namespace EnvoyReaper.TestSupport.Kubernetes;

/// <summary>The discovery and version documents.</summary>
internal sealed partial class KubernetesApi
{
    private static JsonObject VersionInfo() => new()
    {
        ["major"] = "1",
        ["minor"] = "33",
        ["gitVersion"] = "v1.33.1",
        ["gitCommit"] = "0000000000000000000000000000000000000000",
        ["gitTreeState"] = "clean",
        ["buildDate"] = "2025-05-15T08:19:08Z",
        ["goVersion"] = "go1.24.2",
        ["compiler"] = "gc",
        ["platform"] = "linux/amd64",
    };

    private static JsonObject ApiGroupList()
    {
        var groups = ResourceTypeRegistry.All
            .Where(type => type.Group.Length > 0)
            .GroupBy(type => type.Group)
            .Select(group =>
            {
                var versions = group.Select(type => type.Version).Distinct().ToList();
                return (JsonNode)new JsonObject
                {
                    ["name"] = group.Key,
                    ["versions"] = new JsonArray(versions
                        .Select(version => (JsonNode)new JsonObject { ["groupVersion"] = $"{group.Key}/{version}", ["version"] = version })
                        .ToArray()),
                    ["preferredVersion"] = new JsonObject { ["groupVersion"] = $"{group.Key}/{versions[0]}", ["version"] = versions[0] },
                };
            });
        return new JsonObject { ["kind"] = "APIGroupList", ["apiVersion"] = "v1", ["groups"] = new JsonArray(groups.ToArray()) };
    }

    private static JsonObject ApiResourceList(string group, string version)
    {
        var resources = new List<JsonNode>();
        foreach (var type in ResourceTypeRegistry.All.Where(type => type.Group == group && type.Version == version))
        {
            resources.Add(new JsonObject
            {
                ["name"] = type.Plural,
                ["singularName"] = type.Kind.ToLowerInvariant(),
                ["namespaced"] = type.Namespaced,
                ["kind"] = type.Kind,
                ["verbs"] = new JsonArray("create", "delete", "deletecollection", "get", "list", "patch", "update"),
            });
            if (type.HasStatusSubresource)
            {
                resources.Add(new JsonObject { ["name"] = type.Plural + "/status", ["singularName"] = "", ["namespaced"] = type.Namespaced, ["kind"] = type.Kind, ["verbs"] = new JsonArray("get", "patch", "update") });
            }

            if (type.HasScaleSubresource)
            {
                resources.Add(new JsonObject { ["name"] = type.Plural + "/scale", ["singularName"] = "", ["namespaced"] = type.Namespaced, ["group"] = "autoscaling", ["version"] = "v1", ["kind"] = "Scale", ["verbs"] = new JsonArray("get", "patch", "update") });
            }
        }

        return new JsonObject
        {
            ["kind"] = "APIResourceList",
            ["apiVersion"] = "v1",
            ["groupVersion"] = group.Length == 0 ? version : $"{group}/{version}",
            ["resources"] = new JsonArray(resources.ToArray()),
        };
    }
}
