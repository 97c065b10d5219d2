using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace EnvoyReaper.TestSupport.Kubernetes;

internal sealed record ApiRequest(string Method, string Path, IReadOnlyDictionary<string, string[]> Query, string? MediaType, string Body)
{
    public string? QueryValue(string name) =>
        Query.TryGetValue(name, out var values) && values.Length > 0 ? values[0] : null;
}

internal sealed record ApiResponse(int StatusCode, JsonNode Body, bool Persisted = false, TimeSpan? RetryAfter = null);

/// <summary>
/// The API server's behaviour behind HTTP: routing, verbs, storage semantics and garbage collection. Every call runs
/// under one lock, so each request is atomic with respect to every other.
/// </summary>
internal sealed partial class KubernetesApi
{
    private const string JsonMediaType = "application/json";
    private const string JsonPatchMediaType = "application/json-patch+json";
    private const string MergePatchMediaType = "application/merge-patch+json";
    private const string StrategicMergePatchMediaType = "application/strategic-merge-patch+json";
    private const string BackgroundPropagation = "Background";
    private const string ForegroundPropagation = "Foreground";
    private const string OrphanPropagation = "Orphan";
    private const string GeneratedNameAlphabet = "bcdfghjklmnpqrstvwxz2456789";

    private static readonly ResourceType NamespaceType = ResourceTypeRegistry.Require("", "v1", "namespaces");

    private readonly Lock gate = new();
    private readonly ObjectStore store = new();
    private readonly List<RecordedDeletion> deletions = [];
    private readonly TimeProvider timeProvider;
    private int continueEpoch;
    private long objectsReadByLists;

    private enum UpdateMode
    {
        Main,
        Status,
    }

    private sealed record Route(ResourceType Type, string? Namespace, string? Name, string? Subresource);

    public KubernetesApi(TimeProvider timeProvider)
    {
        this.timeProvider = timeProvider;
        foreach (var name in new[] { "default", "kube-node-lease", "kube-public", "kube-system" })
        {
            Seed(NamespaceType, new JsonObject { ["metadata"] = new JsonObject { ["name"] = name } });
        }
    }

    public IReadOnlyList<RecordedDeletion> Deletions
    {
        get
        {
            lock (gate)
            {
                return deletions.ToArray();
            }
        }
    }

    /// <summary>Stored objects the list requests looked at (matched against their selectors or served): the cost of paging.</summary>
    public long ObjectsReadByLists
    {
        get
        {
            lock (gate)
            {
                return objectsReadByLists;
            }
        }
    }

    public void ExpireContinueTokens()
    {
        lock (gate)
        {
            continueEpoch++;
        }
    }

    public void ResetRecording()
    {
        lock (gate)
        {
            deletions.Clear();
        }
    }

    public ApiResponse Handle(ApiRequest request)
    {
        try
        {
            var path = request.Path.TrimEnd('/');
            switch (path)
            {
                case "/version":
                    return RequireGet(request, VersionInfo());
                case "/api":
                    return RequireGet(request, new JsonObject { ["kind"] = "APIVersions", ["versions"] = new JsonArray("v1") });
                case "/apis":
                    return RequireGet(request, ApiGroupList());
            }

            var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
            var (group, version, rest) = segments switch
            {
                ["api", var coreVersion, .. var coreRest] => ("", coreVersion, coreRest),
                ["apis", var apiGroup, var apiVersion, .. var groupRest] => (apiGroup, apiVersion, groupRest),
                _ => throw ApiStatus.NotFoundResource(),
            };

            if (!ResourceTypeRegistry.IsKnownGroupVersion(group, version))
            {
                throw ApiStatus.NotFoundResource();
            }

            if (rest.Length == 0)
            {
                return RequireGet(request, ApiResourceList(group, version));
            }

            var route = ResolveRoute(group, version, rest) ?? throw ApiStatus.NotFoundResource();
            lock (gate)
            {
                return Dispatch(route, request);
            }
        }
        catch (ApiException exception)
        {
            return new ApiResponse(exception.StatusCode, exception.Status, RetryAfter: exception.RetryAfter);
        }
        catch (Exception exception) when (exception is InvalidOperationException or FormatException or ArgumentException or JsonException)
        {
            // Mostly a body with a member of the wrong JSON type; the real server would also refuse it, if more politely.
            return new ApiResponse(500, ApiStatus.Failure(500, "InternalError", $"Internal error occurred: {exception.Message}"));
        }
    }

    public JsonObject Seed(ResourceType type, JsonObject source)
    {
        lock (gate)
        {
            var obj = (JsonObject)source.DeepClone();
            var metadata = Metadata.Of(obj);
            if (type.Namespaced)
            {
                var ns = Metadata.Namespace(obj) is { Length: > 0 } given ? given : "default";
                metadata["namespace"] = ns;
                if (store.Find(NamespaceType, null, ns) is null)
                {
                    Seed(NamespaceType, new JsonObject { ["metadata"] = new JsonObject { ["name"] = ns } });
                }
            }
            else
            {
                metadata.Remove("namespace");
            }

            if (Metadata.Name(obj).Length == 0 && Metadata.Text(obj, "generateName") is { Length: > 0 } prefix)
            {
                metadata["name"] = GenerateName(type, Metadata.Namespace(obj), prefix);
            }

            try
            {
                ObjectValidation.Validate(type, obj);
            }
            catch (ApiException exception)
            {
                throw new ArgumentException(exception.Message, nameof(source));
            }

            if (store.Find(type, Metadata.Namespace(obj), Metadata.Name(obj)) is not null)
            {
                throw new InvalidOperationException($"{type.GroupResource} \"{Metadata.Name(obj)}\" is already stored in the fake API server.");
            }

            obj["kind"] = type.Kind;
            obj["apiVersion"] = type.ApiVersion;
            metadata["uid"] = Metadata.Uid(obj) is { Length: > 0 } uid ? uid : Guid.NewGuid().ToString();
            metadata["creationTimestamp"] = Metadata.Text(obj, "creationTimestamp") is { Length: > 0 } created ? created : Now();
            if (obj.ContainsKey("spec") && !metadata.ContainsKey("generation"))
            {
                metadata["generation"] = 1;
            }

            if (type == NamespaceType)
            {
                ApplyCreateDefaults(type, obj);
            }

            // What exists on a real server was stored through its defaulting.
            ApplyPodTemplateDefaults(type, obj);

            metadata["resourceVersion"] = store.NextResourceVersion();
            store.Put(type, obj);
            return Present(type, obj);
        }
    }

    /// <summary>Writes an object's status as its controller does (through the status subresource): a new resourceVersion, the spec and generation kept.</summary>
    public JsonObject WriteStatus(ResourceType type, string? ns, string name, Func<JsonObject, JsonObject> status)
    {
        lock (gate)
        {
            var existing = store.Find(type, ns, name) ?? throw new InvalidOperationException($"{type.GroupResource} \"{name}\" is not stored in the fake API server.");
            var candidate = (JsonObject)existing.DeepClone();
            candidate["status"] = status(Present(type, existing));
            return Present(type, CommitUpdate(type, existing, candidate, UpdateMode.Status, dryRun: false));
        }
    }

    public JsonObject? Get(ResourceType type, string? ns, string name)
    {
        lock (gate)
        {
            return store.Find(type, ns, name) is { } obj ? Present(type, obj) : null;
        }
    }

    public IReadOnlyList<JsonObject> List(ResourceType type, string? ns)
    {
        lock (gate)
        {
            return store.Enumerate(type, ns).Select(obj => Present(type, obj)).ToList();
        }
    }

    private static ApiResponse RequireGet(ApiRequest request, JsonNode body) =>
        request.Method == "GET" ? new ApiResponse(200, body) : throw ApiStatus.MethodNotAllowed();

    private static Route? ResolveRoute(string group, string version, string[] rest)
    {
        if (rest is ["namespaces", var ns, var plural, .. var namespacedRest]
            && ResourceTypeRegistry.Find(group, version, plural) is { Namespaced: true } namespacedType)
        {
            return namespacedRest switch
            {
                [] => new Route(namespacedType, ns, null, null),
                [var name] => new Route(namespacedType, ns, name, null),
                [var name, var subresource] => new Route(namespacedType, ns, name, subresource),
                _ => null,
            };
        }

        var type = ResourceTypeRegistry.Find(group, version, rest[0]);
        return (type, rest) switch
        {
            (null, _) => null,
            ({ Namespaced: true }, [_]) => new Route(type, null, null, null),
            ({ Namespaced: true }, _) => null,
            (_, [_]) => new Route(type, null, null, null),
            (_, [_, var name]) => new Route(type, null, name, null),
            (_, [_, var name, var subresource]) => new Route(type, null, name, subresource),
            _ => null,
        };
    }

    private ApiResponse Dispatch(Route route, ApiRequest request)
    {
        var type = route.Type;
        var collectionWritable = route.Namespace is not null || !type.Namespaced;
        var dryRun = IsDryRun(request.Query.GetValueOrDefault("dryRun") ?? []);
        return (route.Name, route.Subresource, request.Method) switch
        {
            (null, _, "GET") => List(route, request),
            (null, _, "POST") when collectionWritable => Create(route, request, dryRun),
            (null, _, "DELETE") when collectionWritable => DeleteCollection(route, request, dryRun),
            (null, _, _) => throw ApiStatus.MethodNotAllowed(),
            (not null, null, "GET") => new ApiResponse(200, Present(type, FindOrThrow(route))),
            (not null, null, "PUT") => Replace(route, request, dryRun, UpdateMode.Main),
            (not null, null, "PATCH") => Patch(route, request, dryRun, UpdateMode.Main),
            (not null, null, "DELETE") => Delete(route, request, dryRun),
            (not null, "status", "GET") when type.HasStatusSubresource => new ApiResponse(200, Present(type, FindOrThrow(route))),
            (not null, "status", "PUT") when type.HasStatusSubresource => Replace(route, request, dryRun, UpdateMode.Status),
            (not null, "status", "PATCH") when type.HasStatusSubresource => Patch(route, request, dryRun, UpdateMode.Status),
            (not null, "scale", "GET") when type.HasScaleSubresource => new ApiResponse(200, ScaleOf(type, FindOrThrow(route))),
            (not null, "scale", "PUT") when type.HasScaleSubresource => ReplaceScale(route, request, dryRun),
            (not null, "scale", "PATCH") when type.HasScaleSubresource => PatchScale(route, request, dryRun),
            (not null, "status", _) when type.HasStatusSubresource => throw ApiStatus.MethodNotAllowed(),
            (not null, "scale", _) when type.HasScaleSubresource => throw ApiStatus.MethodNotAllowed(),
            (not null, not null, _) => throw ApiStatus.NotFoundResource(),
            _ => throw ApiStatus.MethodNotAllowed(),
        };
    }

    private static bool IsDryRun(IEnumerable<string> values)
    {
        var any = false;
        foreach (var value in values)
        {
            if (value != "All")
            {
                throw ApiStatus.BadRequest($"dryRun: Unsupported value: \"{value}\": supported values: \"All\"");
            }

            any = true;
        }

        return any;
    }

    private ApiResponse List(Route route, ApiRequest request)
    {
        var type = route.Type;
        if (request.QueryValue("watch") is "true" or "1")
        {
            throw new ApiException(405, ApiStatus.Failure(405, "MethodNotAllowed", "watch is not supported by FakeKubernetesApiServer"));
        }

        var (labelSelector, fieldSelector) = Selectors(type, request);
        var limit = 0;
        if (request.QueryValue("limit") is { Length: > 0 } limitText
            && (!int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out limit)))
        {
            throw ApiStatus.BadRequest($"limit: Invalid value: \"{limitText}\": must be a non-negative integer");
        }

        var listResourceVersion = store.CurrentResourceVersion;
        ObjectKey? after = null;
        if (request.QueryValue("continue") is { Length: > 0 } continueText)
        {
            var token = ContinueToken.TryDecode(continueText);
            if (token is null || token.Epoch != continueEpoch)
            {
                throw ApiStatus.Gone(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.");
            }

            after = new ObjectKey(token.Namespace, token.Name);
            listResourceVersion = token.ResourceVersion;
        }

        // From where the last page ended: the page, then (for its continue token) whether anything after it matches,
        // and without selectors how many objects remain. No object before the page is read again.
        var unselected = labelSelector.IsEmpty && fieldSelector.IsEmpty;
        bool Matches(JsonObject obj)
        {
            objectsReadByLists++;
            return unselected || (labelSelector.Matches(Metadata.Labels(obj)) && fieldSelector.Matches(obj));
        }

        var range = store.After(type, route.Namespace, after);
        var page = new List<JsonObject>();
        var next = 0;
        for (; next < range.Count && (limit == 0 || page.Count < limit); next++)
        {
            if (Matches(range[next]))
            {
                page.Add(range[next]);
            }
        }

        var remaining = 0;
        if (unselected)
        {
            remaining = range.Count - next;
        }
        else
        {
            // Reads on only to the next match: the next page starts from the same place, so each object is read at most twice.
            for (; next < range.Count && remaining == 0; next++)
            {
                remaining = Matches(range[next]) ? 1 : 0;
            }
        }

        var listMetadata = new JsonObject { ["resourceVersion"] = ApiStatus.Format(listResourceVersion) };
        if (remaining > 0)
        {
            var last = ObjectKey.Of(page[^1]);
            listMetadata["continue"] = new ContinueToken(listResourceVersion, last.Namespace, last.Name, continueEpoch).Encode();
            if (unselected)
            {
                listMetadata["remainingItemCount"] = remaining;
            }
        }

        return new ApiResponse(200, ListBody(type, listMetadata, page));
    }

    private static JsonObject ListBody(ResourceType type, JsonObject listMetadata, IEnumerable<JsonObject> items) =>
        new()
        {
            ["kind"] = type.ListKind,
            ["apiVersion"] = type.ApiVersion,
            ["metadata"] = listMetadata,
            // Typed lists from the real server omit kind/apiVersion on items; custom resource lists keep them.
            ["items"] = new JsonArray(items.Select(item => (JsonNode)Present(type, item, includeTypeMeta: type.IsCustomResource)).ToArray()),
        };

    private static (LabelSelector Labels, FieldSelector Fields) Selectors(ResourceType type, ApiRequest request)
    {
        try
        {
            return (LabelSelector.Parse(request.QueryValue("labelSelector")), FieldSelector.Parse(request.QueryValue("fieldSelector"), type));
        }
        catch (FormatException exception)
        {
            throw ApiStatus.BadRequest(exception.Message);
        }
    }

    private JsonObject FindOrThrow(Route route) =>
        store.Find(route.Type, route.Namespace, route.Name!) ?? throw ApiStatus.NotFound(route.Type, route.Name!);

    private static JsonObject ReadObject(ApiRequest request, string expectedKind, string expectedApiVersion)
    {
        if (request.MediaType != JsonMediaType)
        {
            throw ApiStatus.UnsupportedMediaType([JsonMediaType, "application/yaml", "application/vnd.kubernetes.protobuf"]);
        }

        var obj = ParseJson(request.Body) as JsonObject ?? throw ApiStatus.BadRequest("the body of the request must be a JSON object");
        CheckTypeMeta(obj, expectedKind, expectedApiVersion);
        return obj;
    }

    private static JsonNode? ParseJson(string body)
    {
        try
        {
            return JsonNode.Parse(body);
        }
        catch (JsonException exception)
        {
            throw ApiStatus.BadRequest($"the request body is not valid JSON: {exception.Message}");
        }
    }

    private static void CheckTypeMeta(JsonObject obj, string expectedKind, string expectedApiVersion)
    {
        if (obj["apiVersion"] is JsonValue apiVersion && apiVersion.GetValue<string>() is { Length: > 0 } given && given != expectedApiVersion)
        {
            throw ApiStatus.BadRequest($"the API version in the data ({given}) does not match the expected API version ({expectedApiVersion})");
        }

        if (obj["kind"] is JsonValue kind && kind.GetValue<string>() is { Length: > 0 } givenKind && givenKind != expectedKind)
        {
            throw ApiStatus.BadRequest($"the kind in the data ({givenKind}) does not match the expected kind ({expectedKind})");
        }
    }

    private static void AlignNamespace(ResourceType type, JsonObject obj, string? routeNamespace)
    {
        var metadata = Metadata.Of(obj);
        if (!type.Namespaced)
        {
            metadata.Remove("namespace");
            return;
        }

        if (Metadata.Namespace(obj) is { Length: > 0 } given && given != routeNamespace)
        {
            throw ApiStatus.BadRequest("the namespace of the provided object does not match the namespace sent on the request");
        }

        metadata["namespace"] = routeNamespace;
    }

    private static void AlignIdentity(ResourceType type, Route route, JsonObject obj)
    {
        AlignNamespace(type, obj, route.Namespace);
        var name = Metadata.Name(obj);
        if (name.Length > 0 && name != route.Name)
        {
            throw ApiStatus.BadRequest($"the name of the object ({name}) does not match the name on the URL ({route.Name})");
        }

        Metadata.Of(obj)["name"] = route.Name;
    }

    private static JsonObject Present(ResourceType type, JsonObject obj, bool includeTypeMeta = true)
    {
        var presented = new JsonObject();
        if (includeTypeMeta)
        {
            presented["kind"] = type.Kind;
            presented["apiVersion"] = type.ApiVersion;
        }

        foreach (var (key, value) in obj)
        {
            if (key is not ("kind" or "apiVersion"))
            {
                presented[key] = value?.DeepClone();
            }
        }

        return presented;
    }

    private static void SetOrRemove(JsonObject target, string member, JsonNode? value)
    {
        if (value is null)
        {
            target.Remove(member);
        }
        else
        {
            target[member] = value.DeepClone();
        }
    }

    private static int? ReadInt(JsonNode? node) =>
        ReadLong(node) is { } number and >= int.MinValue and <= int.MaxValue ? (int)number : null;

    // Values set from C# keep their CLR type (int, long) while parsed ones are JSON elements; read both.
    private static long? ReadLong(JsonNode? node) =>
        node is JsonValue value && value.GetValueKind() == JsonValueKind.Number
            && long.TryParse(value.ToJsonString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number)
            ? number
            : null;

    private string Now() =>
        timeProvider.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
