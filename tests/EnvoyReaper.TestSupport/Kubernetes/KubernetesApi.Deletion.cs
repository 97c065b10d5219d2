using System.Text.Json.Nodes;

namespace EnvoyReaper.TestSupport.Kubernetes;

/// <summary>Delete, delete-collection, finalizers and the garbage collector's cascade.</summary>
internal sealed partial class KubernetesApi
{
    private ApiResponse Delete(Route route, ApiRequest request, bool dryRun)
    {
        var type = route.Type;
        var existing = FindOrThrow(route);
        var options = ReadDeleteOptions(request);
        dryRun |= IsDryRun((options["dryRun"] as JsonArray)?.Select(value => value?.GetValue<string>() ?? "") ?? []);

        if (options["preconditions"] is JsonObject preconditions)
        {
            var name = Metadata.Name(existing);
            if (preconditions["uid"] is JsonValue uidValue && uidValue.GetValue<string>() is var uid && uid != Metadata.Uid(existing))
            {
                throw ApiStatus.PreconditionFailed(type, name, $"Precondition failed: UID in precondition: {uid}, UID in object meta: {Metadata.Uid(existing)}");
            }

            if (preconditions["resourceVersion"] is JsonValue rvValue && rvValue.GetValue<string>() is var resourceVersion
                && resourceVersion != Metadata.ResourceVersion(existing))
            {
                throw ApiStatus.PreconditionFailed(
                    type,
                    name,
                    $"Precondition failed: ResourceVersion in precondition: {resourceVersion}, ResourceVersion in object meta: {Metadata.ResourceVersion(existing)}");
            }
        }

        var policy = PropagationPolicy(request, options);
        deletions.Add(new RecordedDeletion(type.Group, type.Version, type.Plural, route.Namespace, route.Name!, policy, dryRun));
        if (dryRun)
        {
            return new ApiResponse(200, DeletedBody(type, existing, deletedNow: true));
        }

        var deletedNow = DeleteObject(type, existing, policy);
        return new ApiResponse(200, DeletedBody(type, existing, deletedNow), Persisted: true);
    }

    private ApiResponse DeleteCollection(Route route, ApiRequest request, bool dryRun)
    {
        var type = route.Type;
        var (labelSelector, fieldSelector) = Selectors(type, request);
        var options = ReadDeleteOptions(request);
        var policy = PropagationPolicy(request, options);
        var doomed = store.Enumerate(type, route.Namespace)
            .Where(obj => labelSelector.Matches(Metadata.Labels(obj)) && fieldSelector.Matches(obj))
            .ToList();
        foreach (var obj in doomed)
        {
            deletions.Add(new RecordedDeletion(type.Group, type.Version, type.Plural, route.Namespace, Metadata.Name(obj), policy, dryRun));
            if (!dryRun && store.Find(type, route.Namespace, Metadata.Name(obj)) is not null)
            {
                DeleteObject(type, obj, policy);
            }
        }

        var listMetadata = new JsonObject { ["resourceVersion"] = ApiStatus.Format(store.CurrentResourceVersion) };
        return new ApiResponse(200, ListBody(type, listMetadata, doomed), Persisted: !dryRun);
    }

    private static JsonObject ReadDeleteOptions(ApiRequest request)
    {
        if (string.IsNullOrWhiteSpace(request.Body))
        {
            return new JsonObject();
        }

        return ParseJson(request.Body) switch
        {
            null => new JsonObject(),
            JsonObject options => options,
            _ => throw ApiStatus.BadRequest("DeleteOptions must be a JSON object"),
        };
    }

    private static string PropagationPolicy(ApiRequest request, JsonObject options)
    {
        var orphanDependents = request.QueryValue("orphanDependents") ?? (options["orphanDependents"] as JsonValue)?.ToJsonString();
        var policy = request.QueryValue("propagationPolicy")
            ?? (options["propagationPolicy"] is JsonValue value ? value.GetValue<string>() : null)
            ?? (orphanDependents is "true" ? OrphanPropagation : BackgroundPropagation);
        return policy is BackgroundPropagation or ForegroundPropagation or OrphanPropagation
            ? policy
            : throw new ApiException(422, ApiStatus.Failure(
                422,
                "Invalid",
                $"propagationPolicy: Unsupported value: \"{policy}\": supported values: \"Foreground\", \"Background\", \"Orphan\""));
    }

    private static JsonNode DeletedBody(ResourceType type, JsonObject obj, bool deletedNow) =>
        !deletedNow || type.ReturnsDeletedObject
            ? Present(type, obj)
            : ApiStatus.Success(type, Metadata.Name(obj), Metadata.Uid(obj));

    /// <returns>True when the object is gone; false when finalizers keep it, marked for deletion.</returns>
    private bool DeleteObject(ResourceType type, JsonObject obj, string policy)
    {
        if (Metadata.Finalizers(obj) is { Count: > 0 })
        {
            if (Metadata.Text(obj, "deletionTimestamp") is null)
            {
                var metadata = Metadata.Of(obj);
                metadata["deletionTimestamp"] = Now();
                metadata["deletionGracePeriodSeconds"] = 0;
                metadata["resourceVersion"] = store.NextResourceVersion();
            }

            return false;
        }

        RemoveNow(type, obj, policy);
        return true;
    }

    /// <summary>
    /// Removes an object and does synchronously what the namespace controller and garbage collector do eventually.
    /// Foreground therefore behaves like Background, except that dependents are gone before the response.
    /// </summary>
    private void RemoveNow(ResourceType type, JsonObject obj, string policy)
    {
        store.Remove(type, obj);
        store.NextResourceVersion();
        if (type == NamespaceType)
        {
            var contents = store.EnumerateAll().Where(entry => entry.Type.Namespaced && Metadata.Namespace(entry.Object) == Metadata.Name(obj)).ToList();
            foreach (var (contentType, content) in contents)
            {
                RemoveNow(contentType, content, BackgroundPropagation);
            }

            Metadata.Of(obj)["deletionTimestamp"] = Now();
            obj["status"] = new JsonObject { ["phase"] = "Terminating" };
        }

        CollectDependents(type, obj, policy);
    }

    private void CollectDependents(ResourceType ownerType, JsonObject owner, string policy)
    {
        if (Metadata.Uid(owner) is not { } ownerUid)
        {
            return;
        }

        var ownerNamespace = ownerType.Namespaced ? Metadata.Namespace(owner) : null;
        var dependents = store.EnumerateAll()
            .Where(entry => (ownerNamespace is null || Metadata.Namespace(entry.Object) == ownerNamespace)
                && Metadata.OwnerUids(entry.Object).Contains(ownerUid, StringComparer.Ordinal))
            .ToList();
        foreach (var (dependentType, dependent) in dependents)
        {
            if (!ReferenceEquals(store.Find(dependentType, Metadata.Namespace(dependent), Metadata.Name(dependent)), dependent))
            {
                continue;
            }

            var otherOwnerAlive = Metadata.OwnerUids(dependent).Any(uid => uid != ownerUid && UidExists(uid));
            if (policy == OrphanPropagation || otherOwnerAlive)
            {
                var owners = (JsonArray)Metadata.Of(dependent)["ownerReferences"]!;
                for (var i = owners.Count - 1; i >= 0; i--)
                {
                    if (owners[i]?["uid"]?.GetValue<string>() == ownerUid)
                    {
                        owners.RemoveAt(i);
                    }
                }

                if (owners.Count == 0)
                {
                    Metadata.Of(dependent).Remove("ownerReferences");
                }

                Metadata.Of(dependent)["resourceVersion"] = store.NextResourceVersion();
            }
            else
            {
                DeleteObject(dependentType, dependent, BackgroundPropagation);
            }
        }
    }

    private bool UidExists(string uid) => store.EnumerateAll().Any(entry => Metadata.Uid(entry.Object) == uid);
}
