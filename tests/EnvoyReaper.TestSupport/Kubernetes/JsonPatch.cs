using System.Globalization;
using System.Text.Json.Nodes;

namespace EnvoyReaper.TestSupport.Kubernetes;

/// <summary>RFC 6902 JSON patch (add, remove, replace, move, copy, test) over RFC 6901 JSON pointers.</summary>
internal static class JsonPatch
{
    /// <summary>Raised when the patch document itself is malformed (the server answers 400).</summary>
    public sealed class MalformedPatchException(string message) : Exception(message);

    /// <summary>Raised when a well-formed operation cannot be applied (the server answers 422).</summary>
    public sealed class PatchFailedException(string message) : Exception(message);

    public static JsonNode Apply(JsonNode document, JsonNode? patch)
    {
        if (patch is not JsonArray operations)
        {
            throw new MalformedPatchException("json: cannot unmarshal object into Go value of type jsonpatch.Patch");
        }

        var root = document.DeepClone();
        foreach (var operationNode in operations)
        {
            if (operationNode is not JsonObject operation)
            {
                throw new MalformedPatchException("json: cannot unmarshal non-object into Go value of type jsonpatch.Operation");
            }

            var op = StringMember(operation, "op");
            var path = StringMember(operation, "path")
                ?? throw new MalformedPatchException($"missing path in {op ?? "unknown"} operation");
            root = op switch
            {
                "add" => Add(root, path, RequiredValue(operation, op)),
                "remove" => Remove(root, path, out _),
                "replace" => Replace(root, path, RequiredValue(operation, op)),
                "move" => Move(root, RequiredFrom(operation, op), path),
                "copy" => Add(root, path, Resolve(root, RequiredFrom(operation, op), op)?.DeepClone()),
                "test" => Test(root, path, operation["value"]),
                _ => throw new MalformedPatchException($"Unexpected kind: {op}"),
            };
        }

        return root;
    }

    private static string? StringMember(JsonObject operation, string name) =>
        operation[name] is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;

    private static JsonNode? RequiredValue(JsonObject operation, string op) =>
        operation.ContainsKey("value")
            ? operation["value"]?.DeepClone()
            : throw new MalformedPatchException($"missing value in {op} operation");

    private static string RequiredFrom(JsonObject operation, string op) =>
        StringMember(operation, "from") ?? throw new MalformedPatchException($"missing from in {op} operation");

    private static List<string> Tokens(string pointer)
    {
        if (pointer.Length == 0)
        {
            return [];
        }

        if (pointer[0] != '/')
        {
            throw new MalformedPatchException($"JSON pointer must be empty or start with '/': \"{pointer}\"");
        }

        return pointer[1..].Split('/').Select(token => token.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal)).ToList();
    }

    private static JsonNode? Resolve(JsonNode root, string pointer, string op)
    {
        JsonNode? current = root;
        foreach (var token in Tokens(pointer))
        {
            if (!TryChild(current, token, out current))
            {
                throw new PatchFailedException($"{op} operation does not apply: doc is missing path: \"{pointer}\": missing value");
            }
        }

        return current;
    }

    private static bool TryChild(JsonNode? node, string token, out JsonNode? child)
    {
        child = null;
        switch (node)
        {
            case JsonObject obj:
                return obj.TryGetPropertyValue(token, out child);
            case JsonArray array when TryIndex(token, array.Count - 1, out var index):
                child = array[index];
                return true;
            default:
                return false;
        }
    }

    private static bool TryIndex(string token, int maxIndex, out int index) =>
        int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out index) && index <= maxIndex
        && (token == "0" || !token.StartsWith('0'));

    private static (JsonNode Parent, string Last) Parent(JsonNode root, string pointer, string op)
    {
        var tokens = Tokens(pointer);
        JsonNode? parent = root;
        foreach (var token in tokens.Take(tokens.Count - 1))
        {
            if (!TryChild(parent, token, out parent))
            {
                throw new PatchFailedException($"{op} operation does not apply: doc is missing path: \"{pointer}\": missing value");
            }
        }

        if (parent is not (JsonObject or JsonArray))
        {
            throw new PatchFailedException($"{op} operation does not apply: doc is missing path: \"{pointer}\": missing value");
        }

        return (parent, tokens[^1]);
    }

    private static JsonNode Add(JsonNode root, string path, JsonNode? value)
    {
        if (path.Length == 0)
        {
            return value ?? throw new PatchFailedException("add operation cannot replace the document with null");
        }

        var (parent, last) = Parent(root, path, "add");
        if (parent is JsonObject obj)
        {
            obj[last] = value;
        }
        else
        {
            var array = (JsonArray)parent;
            if (last == "-")
            {
                array.Add(value);
            }
            else if (TryIndex(last, array.Count, out var index))
            {
                array.Insert(index, value);
            }
            else
            {
                throw new PatchFailedException($"add operation does not apply: index out of range: \"{path}\"");
            }
        }

        return root;
    }

    private static JsonNode Remove(JsonNode root, string path, out JsonNode? removed)
    {
        if (path.Length == 0)
        {
            throw new PatchFailedException("remove operation cannot remove the whole document");
        }

        var (parent, last) = Parent(root, path, "remove");
        if (parent is JsonObject obj)
        {
            if (!obj.TryGetPropertyValue(last, out removed))
            {
                throw new PatchFailedException($"remove operation does not apply: doc is missing path: \"{path}\": missing value");
            }

            obj.Remove(last);
        }
        else
        {
            var array = (JsonArray)parent;
            if (!TryIndex(last, array.Count - 1, out var index))
            {
                throw new PatchFailedException($"remove operation does not apply: doc is missing path: \"{path}\": missing value");
            }

            removed = array[index];
            array.RemoveAt(index);
        }

        return root;
    }

    private static JsonNode Replace(JsonNode root, string path, JsonNode? value)
    {
        if (path.Length == 0)
        {
            return value ?? throw new PatchFailedException("replace operation cannot replace the document with null");
        }

        var (parent, last) = Parent(root, path, "replace");
        if (parent is JsonObject obj)
        {
            if (!obj.ContainsKey(last))
            {
                throw new PatchFailedException($"replace operation does not apply: doc is missing key: {path}: missing value");
            }

            obj[last] = value;
        }
        else
        {
            var array = (JsonArray)parent;
            if (!TryIndex(last, array.Count - 1, out var index))
            {
                throw new PatchFailedException($"replace operation does not apply: doc is missing key: {path}: missing value");
            }

            array[index] = value;
        }

        return root;
    }

    private static JsonNode Move(JsonNode root, string from, string path)
    {
        if (path.StartsWith(from + "/", StringComparison.Ordinal))
        {
            throw new PatchFailedException($"move operation does not apply: \"{from}\" is a prefix of \"{path}\"");
        }

        Remove(root, from, out var value);
        value = value?.DeepClone();
        return Add(root, path, value);
    }

    private static JsonNode Test(JsonNode root, string path, JsonNode? expected)
    {
        var actual = path.Length == 0 ? root : Resolve(root, path, "test");
        if (!JsonNode.DeepEquals(actual, expected))
        {
            throw new PatchFailedException($"testing value {path} failed: test failed");
        }

        return root;
    }
}
