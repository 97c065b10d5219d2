using System.Text.Json.Nodes;

namespace EnvoyReaper.TestSupport.Kubernetes;

/// <summary>RFC 7386 JSON merge patch: objects merge recursively, <c>null</c> removes a member, anything else (lists too) replaces.</summary>
internal static class JsonMergePatch
{
    public static JsonNode? Apply(JsonNode? target, JsonNode? patch)
    {
        if (patch is not JsonObject patchObject)
        {
            return patch?.DeepClone();
        }

        var result = target as JsonObject ?? new JsonObject();
        foreach (var (key, value) in patchObject)
        {
            if (value is null)
            {
                result.Remove(key);
            }
            else if (value is JsonObject && result[key] is JsonObject existing)
            {
                Apply(existing, value);
            }
            else
            {
                result[key] = Apply(null, value);
            }
        }

        return result;
    }
}
