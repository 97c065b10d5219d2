using System.Text.Json.Nodes;

namespace EnvoyReaper.TestSupport.Kubernetes;

/// <summary>
/// Strategic merge patch for built-in types. Real servers read patch strategies from Go struct tags; the fake keys them
/// on the list's field name, which is unambiguous for the types it serves. Lists without a strategy are replaced.
/// Directives: <c>$patch: delete|replace|merge</c> on maps and list elements, <c>$deleteFromPrimitiveList/field</c>,
/// <c>$retainKeys</c>; <c>$setElementOrder/field</c> is accepted and ignored.
/// </summary>
internal static class StrategicMergePatch
{
    private const string PatchDirective = "$patch";
    private const string RetainKeysDirective = "$retainKeys";
    private const string DeleteFromPrimitiveListPrefix = "$deleteFromPrimitiveList/";
    private const string SetElementOrderPrefix = "$setElementOrder/";

    private static readonly Dictionary<string, string[]> MergeKeysByField = new(StringComparer.Ordinal)
    {
        ["containers"] = ["name"],
        ["initContainers"] = ["name"],
        ["ephemeralContainers"] = ["name"],
        ["volumes"] = ["name"],
        ["volumeMounts"] = ["mountPath", "name"],
        ["volumeDevices"] = ["devicePath"],
        ["env"] = ["name"],
        ["imagePullSecrets"] = ["name"],
        ["resourceClaims"] = ["name"],
        ["hostAliases"] = ["ip"],
        ["topologySpreadConstraints"] = ["topologyKey"],
        ["ownerReferences"] = ["uid"],
        ["conditions"] = ["type"],
        // Container ports merge on containerPort, Service ports on port: the elements themselves tell which.
        ["ports"] = ["containerPort", "port"],
    };

    private static readonly HashSet<string> MergedPrimitiveLists = new(StringComparer.Ordinal) { "finalizers" };

    /// <exception cref="FormatException">The patch is not a JSON object or uses an unknown directive.</exception>
    public static JsonObject Apply(JsonObject target, JsonNode? patch)
    {
        if (patch is not JsonObject patchObject)
        {
            throw new FormatException("strategic merge patch must be a JSON object");
        }

        var result = (JsonObject)target.DeepClone();
        return MergeObject(result, patchObject) ?? new JsonObject();
    }

    /// <returns>The merged object, or null when the patch asks for the whole map to be deleted.</returns>
    private static JsonObject? MergeObject(JsonObject target, JsonObject patch)
    {
        switch (DirectiveOf(patch))
        {
            case "delete":
                return null;
            case "replace":
                return WithoutDirectives(patch);
        }

        foreach (var (key, value) in patch)
        {
            if (key == PatchDirective || key == RetainKeysDirective || key.StartsWith(SetElementOrderPrefix, StringComparison.Ordinal))
            {
                continue;
            }

            if (key.StartsWith(DeleteFromPrimitiveListPrefix, StringComparison.Ordinal))
            {
                var field = key[DeleteFromPrimitiveListPrefix.Length..];
                if (target[field] is JsonArray primitives && value is JsonArray doomed)
                {
                    RemoveWhere(primitives, item => doomed.Any(d => JsonNode.DeepEquals(d, item)));
                }

                continue;
            }

            if (key.StartsWith('$'))
            {
                throw new FormatException($"unknown patch directive: {key}");
            }

            if (value is null)
            {
                target.Remove(key);
            }
            else if (value is JsonObject valueObject)
            {
                var merged = MergeObject(target[key] as JsonObject ?? new JsonObject(), valueObject);
                if (merged is null)
                {
                    target.Remove(key);
                }
                else if (!ReferenceEquals(merged, target[key]))
                {
                    target[key] = merged;
                }
            }
            else if (value is JsonArray valueArray)
            {
                target[key] = MergeList(key, target[key] as JsonArray, valueArray);
            }
            else
            {
                target[key] = value.DeepClone();
            }
        }

        if (patch[RetainKeysDirective] is JsonArray retained)
        {
            var keep = retained.Select(node => node?.GetValue<string>()).ToHashSet(StringComparer.Ordinal);
            foreach (var key in target.Select(pair => pair.Key).Where(key => !keep.Contains(key)).ToList())
            {
                target.Remove(key);
            }
        }

        return target;
    }

    private static JsonArray MergeList(string field, JsonArray? existing, JsonArray patch)
    {
        if (patch.Any(element => element is JsonObject obj && DirectiveOf(obj) == "replace"))
        {
            return new JsonArray(patch
                .Where(element => !(element is JsonObject obj && DirectiveOf(obj) == "replace"))
                .Select(element => element is JsonObject obj ? WithoutDirectives(obj) : element?.DeepClone())
                .ToArray());
        }

        if (MergedPrimitiveLists.Contains(field))
        {
            var union = existing?.DeepClone().AsArray() ?? [];
            foreach (var element in patch.Where(element => !union.Any(item => JsonNode.DeepEquals(item, element))))
            {
                union.Add(element?.DeepClone());
            }

            return union;
        }

        if (!MergeKeysByField.TryGetValue(field, out var candidateKeys) || patch.Any(element => element is not JsonObject))
        {
            return new JsonArray(patch.Select(element => element is JsonObject obj ? WithoutDirectives(obj) : element?.DeepClone()).ToArray());
        }

        var merged = existing?.DeepClone().AsArray() ?? [];
        foreach (var element in patch.Cast<JsonObject>())
        {
            var mergeKey = candidateKeys.FirstOrDefault(element.ContainsKey)
                ?? throw new FormatException($"map: {element.ToJsonString()} does not contain declared merge key: {candidateKeys[0]}");
            var keyValue = element[mergeKey];
            var index = IndexOf(merged, item => item is JsonObject obj && JsonNode.DeepEquals(obj[mergeKey], keyValue));
            if (DirectiveOf(element) == "delete")
            {
                if (index >= 0)
                {
                    merged.RemoveAt(index);
                }

                continue;
            }

            if (index >= 0)
            {
                var current = (JsonObject)merged[index]!;
                merged.RemoveAt(index);
                merged.Insert(index, MergeObject(current, element) ?? new JsonObject());
            }
            else
            {
                merged.Add(WithoutDirectives(element));
            }
        }

        return merged;
    }

    private static string? DirectiveOf(JsonObject obj) =>
        obj[PatchDirective] is JsonValue value && value.TryGetValue<string>(out var directive)
            ? directive is "delete" or "replace" or "merge"
                ? directive
                : throw new FormatException($"Unknown patch type: {directive}")
            : null;

    private static JsonObject WithoutDirectives(JsonObject obj)
    {
        var clean = new JsonObject();
        foreach (var (key, value) in obj)
        {
            if (key.StartsWith('$') || value is null)
            {
                continue;
            }

            clean[key] = value switch
            {
                JsonObject nested => WithoutDirectives(nested),
                JsonArray array => new JsonArray(array.Select(item => item is JsonObject o ? WithoutDirectives(o) : item?.DeepClone()).ToArray()),
                _ => value.DeepClone(),
            };
        }

        return clean;
    }

    private static int IndexOf(JsonArray array, Func<JsonNode?, bool> predicate)
    {
        for (var i = 0; i < array.Count; i++)
        {
            if (predicate(array[i]))
            {
                return i;
            }
        }

        return -1;
    }

    private static void RemoveWhere(JsonArray array, Func<JsonNode?, bool> predicate)
    {
        for (var i = array.Count - 1; i >= 0; i--)
        {
            if (predicate(array[i]))
            {
                array.RemoveAt(i);
            }
        }
    }
}
