using System.Text.Json.Nodes;

namespace EnvoyReaper.TestSupport.Kubernetes;

/// <summary>Where an object lives: its namespace ("" for cluster-scoped objects) and name, ordered like etcd keys.</summary>
internal readonly record struct ObjectKey(string Namespace, string Name) : IComparable<ObjectKey>
{
    public int CompareTo(ObjectKey other)
    {
        var byNamespace = string.CompareOrdinal(Namespace, other.Namespace);
        return byNamespace != 0 ? byNamespace : string.CompareOrdinal(Name, other.Name);
    }

    public static ObjectKey Of(JsonObject obj) =>
        new(Metadata.Text(obj, "namespace") ?? "", Metadata.Text(obj, "name") ?? "");
}

/// <summary>The objects and the resourceVersion clock. Not thread-safe: <see cref="KubernetesApi"/> serialises access.</summary>
internal sealed class ObjectStore
{
    private readonly Dictionary<ResourceType, SortedDictionary<ObjectKey, JsonObject>> objectsByType =
        ResourceTypeRegistry.All.ToDictionary(type => type, _ => new SortedDictionary<ObjectKey, JsonObject>());

    // Starts above zero so that no issued resourceVersion is "0", which clients read as "any version".
    private long lastResourceVersion = 1000;

    public long CurrentResourceVersion => lastResourceVersion;

    public string NextResourceVersion() => ApiStatus.Format(++lastResourceVersion);

    public JsonObject? Find(ResourceType type, string? ns, string name) =>
        objectsByType[type].GetValueOrDefault(new ObjectKey(type.Namespaced ? ns ?? "" : "", name));

    /// <summary>Objects of a type in key order; all namespaces when <paramref name="ns"/> is null.</summary>
    public IEnumerable<JsonObject> Enumerate(ResourceType type, string? ns) =>
        objectsByType[type]
            .Where(pair => ns is null || !type.Namespaced || pair.Key.Namespace == ns)
            .Select(pair => pair.Value);

    public IEnumerable<(ResourceType Type, JsonObject Object)> EnumerateAll() =>
        objectsByType.SelectMany(pair => pair.Value.Values.Select(obj => (pair.Key, obj)));

    public void Put(ResourceType type, JsonObject obj) => objectsByType[type][ObjectKey.Of(obj)] = obj;

    public bool Remove(ResourceType type, JsonObject obj) => objectsByType[type].Remove(ObjectKey.Of(obj));
}

/// <summary>Reading and writing <c>metadata</c> members of stored JSON objects.</summary>
internal static class Metadata
{
    public static JsonObject Of(JsonObject obj)
    {
        if (obj["metadata"] is JsonObject metadata)
        {
            return metadata;
        }

        metadata = new JsonObject();
        obj["metadata"] = metadata;
        return metadata;
    }

    public static string? Text(JsonObject obj, string member) =>
        obj["metadata"] is JsonObject metadata && metadata[member] is JsonValue value && value.TryGetValue<string>(out var text)
            ? text
            : null;

    public static string Name(JsonObject obj) => Text(obj, "name") ?? "";

    public static string? Namespace(JsonObject obj) => Text(obj, "namespace");

    public static string? Uid(JsonObject obj) => Text(obj, "uid");

    public static string? ResourceVersion(JsonObject obj) => Text(obj, "resourceVersion");

    public static IReadOnlyDictionary<string, string> Labels(JsonObject obj)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (obj["metadata"] is JsonObject metadata && metadata["labels"] is JsonObject labelObject)
        {
            foreach (var (key, value) in labelObject)
            {
                if (value is JsonValue scalar && scalar.TryGetValue<string>(out var text))
                {
                    labels[key] = text;
                }
            }
        }

        return labels;
    }

    public static JsonArray? Finalizers(JsonObject obj) =>
        obj["metadata"] is JsonObject metadata ? metadata["finalizers"] as JsonArray : null;

    public static IEnumerable<string> OwnerUids(JsonObject obj) =>
        obj["metadata"] is JsonObject metadata && metadata["ownerReferences"] is JsonArray owners
            ? owners.OfType<JsonObject>().Select(owner => owner["uid"] is JsonValue uid && uid.TryGetValue<string>(out var text) ? text : null)
                .OfType<string>()
            : [];
}
