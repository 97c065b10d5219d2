using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace EnvoyReaper.TestSupport.Kubernetes;

/// <summary>
/// An opaque list continuation, shaped like the real one (base64 JSON naming the last key served). The epoch lets
/// tests expire every outstanding token, as etcd compaction does.
/// </summary>
internal sealed record ContinueToken(long ResourceVersion, string Namespace, string Name, int Epoch)
{
    public string Encode()
    {
        var json = new JsonObject
        {
            ["v"] = "meta.k8s.io/v1",
            ["rv"] = ResourceVersion,
            ["ns"] = Namespace,
            ["name"] = Name,
            ["epoch"] = Epoch,
        };
        return Convert.ToBase64String(Encoding.UTF8.GetBytes(json.ToJsonString()));
    }

    public static ContinueToken? TryDecode(string token)
    {
        JsonObject? json;
        try
        {
            json = JsonNode.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(token))) as JsonObject;
        }
        catch (Exception exception) when (exception is FormatException or JsonException)
        {
            return null;
        }

        if (json is not null
            && Text(json["v"]) == "meta.k8s.io/v1"
            && json["rv"] is JsonValue rv && rv.TryGetValue<long>(out var resourceVersion)
            && Text(json["ns"]) is { } ns
            && Text(json["name"]) is { } name
            && json["epoch"] is JsonValue epochValue && epochValue.TryGetValue<int>(out var epoch))
        {
            return new ContinueToken(resourceVersion, ns, name, epoch);
        }

        return null;
    }

    private static string? Text(JsonNode? node) =>
        node is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;
}
