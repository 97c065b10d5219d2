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

    /// <summary>The keys of a type in order, kept until a key is added or removed: what lets a page start where the last one ended.</summary>
    private readonly Dictionary<ResourceType, ObjectKey[]> sortedKeys = [];

    // Starts above zero so that no issued resourceVersion is "0", which clients read as "any version".
    private long lastResourceVersion = 1000;

    public long CurrentResourceVersion => lastResourceVersion;

    public string NextResourceVersion() => ApiStatus.Format(++lastResourceVersion);

    public JsonObject? Find(ResourceType type, string? ns, string name) =>
        objectsByType[type].GetValueOrDefault(new ObjectKey(type.Namespaced ? ns ?? "" : "", name));

    /// <summary>Objects of a type in key order; all namespaces when <paramref name="ns"/> is null.</summary>
    public IEnumerable<JsonObject> Enumerate(ResourceType type, string? ns) => After(type, ns, after: null);

    /// <summary>
    /// Objects of a type in key order after <paramref name="after"/> (from the first when null), in <paramref name="ns"/>
    /// or all namespaces when null; found by binary search, so a page costs its own objects, not those before it.
    /// </summary>
    public ObjectRange After(ResourceType type, string? ns, ObjectKey? after)
    {
        var keys = SortedKeys(type);
        var scope = type.Namespaced ? ns : null;
        var start = scope is null ? 0 : FirstIndex(keys, key => string.CompareOrdinal(key.Namespace, scope) >= 0);
        if (after is { } last)
        {
            start = Math.Max(start, FirstIndex(keys, key => key.CompareTo(last) > 0));
        }

        var end = scope is null ? keys.Length : FirstIndex(keys, key => string.CompareOrdinal(key.Namespace, scope) > 0);
        return new ObjectRange(objectsByType[type], keys, start, Math.Max(start, end));
    }

    private ObjectKey[] SortedKeys(ResourceType type)
    {
        if (!sortedKeys.TryGetValue(type, out var keys))
        {
            keys = [.. objectsByType[type].Keys];
            sortedKeys[type] = keys;
        }

        return keys;
    }

    /// <summary>The first index whose key satisfies <paramref name="atOrAfter"/>, which holds from some index to the end.</summary>
    private static int FirstIndex(ObjectKey[] keys, Func<ObjectKey, bool> atOrAfter)
    {
        int low = 0, high = keys.Length;
        while (low < high)
        {
            var middle = low + ((high - low) / 2);
            if (atOrAfter(keys[middle]))
            {
                high = middle;
            }
            else
            {
                low = middle + 1;
            }
        }

        return low;
    }

    public IEnumerable<(ResourceType Type, JsonObject Object)> EnumerateAll() =>
        objectsByType.SelectMany(pair => pair.Value.Values.Select(obj => (pair.Key, obj)));

    public void Put(ResourceType type, JsonObject obj)
    {
        var objects = objectsByType[type];
        var key = ObjectKey.Of(obj);
        if (!objects.ContainsKey(key))
        {
            sortedKeys.Remove(type);
        }

        objects[key] = obj;
    }

    public bool Remove(ResourceType type, JsonObject obj)
    {
        if (!objectsByType[type].Remove(ObjectKey.Of(obj)))
        {
            return false;
        }

        sortedKeys.Remove(type);
        return true;
    }
}

/// <summary>A run of consecutive objects of one type in key order, read from the store as they are indexed.</summary>
internal sealed class ObjectRange(SortedDictionary<ObjectKey, JsonObject> objects, ObjectKey[] keys, int start, int end) : IReadOnlyList<JsonObject>
{
    public int Count => end - start;

    public JsonObject this[int index] => objects[keys[start + index]];

    public IEnumerator<JsonObject> GetEnumerator()
    {
        for (var index = start; index < end; index++)
        {
            yield return objects[keys[index]];
        }
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
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
