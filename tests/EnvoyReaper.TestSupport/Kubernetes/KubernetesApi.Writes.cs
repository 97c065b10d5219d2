using System.Text.Json.Nodes;

namespace EnvoyReaper.TestSupport.Kubernetes;

/// <summary>Create, replace, patch and the scale subresource.</summary>
internal sealed partial class KubernetesApi
{
    private ApiResponse Create(Route route, ApiRequest request, bool dryRun)
    {
        var type = route.Type;
        var obj = ReadObject(request, type.Kind, type.ApiVersion);
        var metadata = Metadata.Of(obj);
        AlignNamespace(type, obj, route.Namespace);
        if (Metadata.ResourceVersion(obj) is { Length: > 0 })
        {
            throw ApiStatus.BadRequest("resourceVersion should not be set on objects to be created");
        }

        if (type.Namespaced && store.Find(NamespaceType, null, route.Namespace!) is null)
        {
            throw ApiStatus.NotFound(NamespaceType, route.Namespace!);
        }

        if (Metadata.Name(obj).Length == 0 && Metadata.Text(obj, "generateName") is { Length: > 0 } prefix)
        {
            metadata["name"] = GenerateName(type, route.Namespace, prefix);
        }

        obj["kind"] = type.Kind;
        obj["apiVersion"] = type.ApiVersion;
        metadata["uid"] = Guid.NewGuid().ToString();
        metadata["creationTimestamp"] = Now();
        foreach (var serverOwned in new[] { "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "managedFields", "generation" })
        {
            metadata.Remove(serverOwned);
        }

        if (obj.ContainsKey("spec"))
        {
            metadata["generation"] = 1;
        }

        if (type.HasStatusSubresource)
        {
            obj.Remove("status");
        }

        ApplyCreateDefaults(type, obj);
        ObjectValidation.Validate(type, obj);
        if (store.Find(type, route.Namespace, Metadata.Name(obj)) is not null)
        {
            throw ApiStatus.AlreadyExists(type, Metadata.Name(obj));
        }

        AllocateNodePorts(type, obj);

        if (!dryRun)
        {
            metadata["resourceVersion"] = store.NextResourceVersion();
            store.Put(type, obj);
        }

        return new ApiResponse(201, Present(type, obj), Persisted: !dryRun);
    }

    /// <summary>
    /// Node ports are one cluster-wide range (30000-32767): a NodePort or LoadBalancer Service is given a free one per
    /// port that names none, and one that names a port another Service holds is refused as the server's allocator does.
    /// </summary>
    private void AllocateNodePorts(ResourceType type, JsonObject service)
    {
        if (type.Group.Length != 0 || type.Plural != "services" || service["spec"]?["ports"] is not JsonArray ports)
        {
            return;
        }

        var taken = store.Enumerate(type, null)
            .Where(other => !(Metadata.Namespace(other) == Metadata.Namespace(service) && Metadata.Name(other) == Metadata.Name(service)))
            .SelectMany(other => other["spec"]?["ports"] as JsonArray ?? [])
            .Select(port => ReadInt(port?["nodePort"]))
            .OfType<int>()
            .ToHashSet();
        var allocates = service["spec"]?["type"]?.GetValue<string>() is "NodePort" or "LoadBalancer";
        var causes = new List<InvalidField>();
        for (var index = 0; index < ports.Count; index++)
        {
            if (ports[index] is not JsonObject port)
            {
                continue;
            }

            if (ReadInt(port["nodePort"]) is { } asked)
            {
                if (!taken.Add(asked))
                {
                    causes.Add(new InvalidField($"spec.ports[{index}].nodePort", "FieldValueInvalid", $"Invalid value: {asked}: provided port is already allocated"));
                }
            }
            else if (allocates)
            {
                var free = Enumerable.Range(30000, 2768).First(candidate => !taken.Contains(candidate));
                taken.Add(free);
                port["nodePort"] = free;
            }
        }

        if (causes.Count > 0)
        {
            throw ApiStatus.Invalid(type, Metadata.Name(service), causes);
        }
    }

    /// <summary>The few defaults the real server's defaulting and strategies apply that callers tend to rely on.</summary>
    private static void ApplyCreateDefaults(ResourceType type, JsonObject obj)
    {
        switch (type.Group, type.Plural)
        {
            case ("", "namespaces"):
                var spec = obj["spec"] as JsonObject ?? new JsonObject();
                spec["finalizers"] ??= new JsonArray("kubernetes");
                obj["spec"] = spec;
                obj["status"] = new JsonObject { ["phase"] = "Active" };
                break;
            case ("", "pods"):
                obj["status"] = new JsonObject { ["phase"] = "Pending" };
                break;
            case ("apps", "deployments" or "replicasets") when obj["spec"] is JsonObject workloadSpec:
                workloadSpec["replicas"] ??= 1;
                break;
        }

        ApplyPodTemplateDefaults(type, obj);
    }

    /// <summary>
    /// The defaults the real server sets on every create and update of a pod template (SetDefaults_Container, _Probe,
    /// _HTTPGetAction, _ConfigMapVolumeSource): what is stored, and read back, is more than what was sent.
    /// </summary>
    private static void ApplyPodTemplateDefaults(ResourceType type, JsonObject obj)
    {
        if ((type.Group, type.Plural) is not ("apps", "deployments" or "replicasets") || obj["spec"]?["template"]?["spec"] is not JsonObject podSpec)
        {
            return;
        }

        foreach (var list in new[] { "containers", "initContainers" })
        {
            foreach (var container in (podSpec[list] as JsonArray ?? []).OfType<JsonObject>())
            {
                container["terminationMessagePath"] ??= "/dev/termination-log";
                container["terminationMessagePolicy"] ??= "File";
                container["imagePullPolicy"] ??= (container["image"]?.GetValue<string>() ?? "").EndsWith(":latest", StringComparison.Ordinal) ? "Always" : "IfNotPresent";
                foreach (var probeName in new[] { "livenessProbe", "readinessProbe", "startupProbe" })
                {
                    if (container[probeName] is JsonObject probe)
                    {
                        probe["timeoutSeconds"] ??= 1;
                        probe["periodSeconds"] ??= 10;
                        probe["successThreshold"] ??= 1;
                        probe["failureThreshold"] ??= 3;
                        if (probe["httpGet"] is JsonObject httpGet)
                        {
                            httpGet["scheme"] ??= "HTTP";
                        }
                    }
                }
            }
        }

        foreach (var volume in (podSpec["volumes"] as JsonArray ?? []).OfType<JsonObject>())
        {
            if (volume["configMap"] is JsonObject configMap)
            {
                configMap["defaultMode"] ??= 420;
            }
        }
    }

    private string GenerateName(ResourceType type, string? ns, string prefix)
    {
        // The real server retries a clash a few times before reporting AlreadyExists.
        for (var attempt = 0; attempt < 8; attempt++)
        {
            var suffix = new string(Enumerable.Range(0, 5).Select(_ => GeneratedNameAlphabet[Random.Shared.Next(GeneratedNameAlphabet.Length)]).ToArray());
            var candidate = prefix + suffix;
            if (store.Find(type, ns, candidate) is null)
            {
                return candidate;
            }
        }

        throw ApiStatus.AlreadyExists(type, prefix);
    }

    private ApiResponse Replace(Route route, ApiRequest request, bool dryRun, UpdateMode mode)
    {
        var type = route.Type;
        var existing = FindOrThrow(route);
        var candidate = ReadObject(request, type.Kind, type.ApiVersion);
        AlignIdentity(type, route, candidate);
        var resourceVersion = Metadata.ResourceVersion(candidate);
        if (string.IsNullOrEmpty(resourceVersion) && !type.AllowsUnconditionalUpdate)
        {
            throw ApiStatus.Invalid(type, route.Name!, [new InvalidField("metadata.resourceVersion", "FieldValueInvalid", "Invalid value: 0x0: must be specified for an update")]);
        }

        CheckPreconditions(type, existing, candidate);
        var updated = CommitUpdate(type, existing, candidate, mode, dryRun);
        return new ApiResponse(200, Present(type, updated), Persisted: !dryRun);
    }

    private ApiResponse Patch(Route route, ApiRequest request, bool dryRun, UpdateMode mode)
    {
        var type = route.Type;
        var existing = FindOrThrow(route);
        var patched = ApplyPatch(Present(type, existing), request, type.SupportsStrategicMergePatch);
        CheckTypeMeta(patched, type.Kind, type.ApiVersion);
        AlignIdentity(type, route, patched);
        CheckPreconditions(type, existing, patched);
        var updated = CommitUpdate(type, existing, patched, mode, dryRun);
        return new ApiResponse(200, Present(type, updated), Persisted: !dryRun);
    }

    private static JsonObject ApplyPatch(JsonObject current, ApiRequest request, bool allowStrategicMerge)
    {
        var acceptedPatchTypes = allowStrategicMerge
            ? new[] { JsonPatchMediaType, MergePatchMediaType, StrategicMergePatchMediaType }
            : [JsonPatchMediaType, MergePatchMediaType];
        if (request.MediaType is not (JsonPatchMediaType or MergePatchMediaType or StrategicMergePatchMediaType)
            || (request.MediaType == StrategicMergePatchMediaType && !allowStrategicMerge))
        {
            // application/apply-patch+yaml lands here too: server-side apply needs managedFields ownership tracking,
            // which the fake does not keep, so it answers as a server that does not offer it would.
            throw ApiStatus.UnsupportedMediaType(acceptedPatchTypes);
        }

        var patch = ParseJson(request.Body);
        try
        {
            var result = request.MediaType switch
            {
                JsonPatchMediaType => JsonPatch.Apply(current, patch),
                MergePatchMediaType when patch is JsonObject => JsonMergePatch.Apply(current, patch),
                MergePatchMediaType => throw ApiStatus.BadRequest("json: cannot unmarshal non-object into Go value of type map[string]interface {}"),
                _ => StrategicMergePatch.Apply(current, patch),
            };
            return result as JsonObject ?? throw ApiStatus.BadRequest("the patched document is not a JSON object");
        }
        catch (JsonPatch.MalformedPatchException exception)
        {
            throw ApiStatus.BadRequest(exception.Message);
        }
        catch (JsonPatch.PatchFailedException exception)
        {
            throw ApiStatus.UnprocessablePatch(exception.Message);
        }
        catch (FormatException exception)
        {
            throw ApiStatus.BadRequest(exception.Message);
        }
    }

    private static void CheckPreconditions(ResourceType type, JsonObject existing, JsonObject candidate)
    {
        var name = Metadata.Name(existing);
        if (Metadata.ResourceVersion(candidate) is { Length: > 0 } resourceVersion && resourceVersion != Metadata.ResourceVersion(existing))
        {
            throw ApiStatus.StaleResourceVersion(type, name);
        }

        if (Metadata.Uid(candidate) is { Length: > 0 } uid && uid != Metadata.Uid(existing))
        {
            throw ApiStatus.PreconditionFailed(type, name, $"Precondition failed: UID in precondition: {uid}, UID in object meta: {Metadata.Uid(existing)}");
        }
    }

    /// <summary>Applies an accepted update: keeps server-owned fields, honours the status subresource split, bumps generation and resourceVersion.</summary>
    private JsonObject CommitUpdate(ResourceType type, JsonObject existing, JsonObject candidate, UpdateMode mode, bool dryRun)
    {
        JsonObject updated;
        if (mode == UpdateMode.Status)
        {
            updated = (JsonObject)existing.DeepClone();
            SetOrRemove(updated, "status", candidate["status"]);
        }
        else
        {
            updated = (JsonObject)candidate.DeepClone();
            var metadata = Metadata.Of(updated);
            var existingMetadata = Metadata.Of(existing);
            foreach (var serverOwned in new[] { "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "name", "namespace" })
            {
                SetOrRemove(metadata, serverOwned, existingMetadata[serverOwned]);
            }

            if (type.HasStatusSubresource)
            {
                SetOrRemove(updated, "status", existing["status"]);
            }

            ApplyPodTemplateDefaults(type, updated);
            if (!JsonNode.DeepEquals(existing["spec"], updated["spec"]))
            {
                metadata["generation"] = (ReadLong(existingMetadata["generation"]) ?? 0) + 1;
            }
        }

        updated["kind"] = type.Kind;
        updated["apiVersion"] = type.ApiVersion;
        Metadata.Of(updated)["resourceVersion"] = Metadata.ResourceVersion(existing);
        ObjectValidation.Validate(type, updated);

        // Like etcd3's GuaranteedUpdate, an update that changes nothing is not written and keeps its resourceVersion.
        if (dryRun || JsonNode.DeepEquals(existing, updated))
        {
            return updated;
        }

        Metadata.Of(updated)["resourceVersion"] = store.NextResourceVersion();
        store.Put(type, updated);
        if (Metadata.Text(updated, "deletionTimestamp") is not null && Metadata.Finalizers(updated) is null or { Count: 0 })
        {
            RemoveNow(type, updated, BackgroundPropagation);
        }

        return updated;
    }

    private static JsonObject ScaleOf(ResourceType type, JsonObject obj)
    {
        var metadata = new JsonObject();
        foreach (var member in new[] { "name", "namespace", "uid", "resourceVersion", "creationTimestamp" })
        {
            SetOrRemove(metadata, member, Metadata.Of(obj)[member]);
        }

        var matchLabels = obj["spec"]?["selector"]?["matchLabels"] as JsonObject;
        var selector = matchLabels is null
            ? ""
            : string.Join(",", matchLabels.Select(pair => $"{pair.Key}={pair.Value?.GetValue<string>()}"));
        return new JsonObject
        {
            ["kind"] = "Scale",
            ["apiVersion"] = "autoscaling/v1",
            ["metadata"] = metadata,
            ["spec"] = new JsonObject { ["replicas"] = ReadInt(obj["spec"]?["replicas"]) ?? 0 },
            ["status"] = new JsonObject
            {
                ["replicas"] = ReadInt(obj["status"]?["replicas"]) ?? 0,
                ["selector"] = selector,
            },
        };
    }

    private ApiResponse ReplaceScale(Route route, ApiRequest request, bool dryRun)
    {
        var existing = FindOrThrow(route);
        var scale = ReadObject(request, "Scale", "autoscaling/v1");
        return CommitScale(route, existing, scale, dryRun);
    }

    private ApiResponse PatchScale(Route route, ApiRequest request, bool dryRun)
    {
        var existing = FindOrThrow(route);
        var scale = ApplyPatch(ScaleOf(route.Type, existing), request, allowStrategicMerge: true);
        return CommitScale(route, existing, scale, dryRun);
    }

    private ApiResponse CommitScale(Route route, JsonObject existing, JsonObject scale, bool dryRun)
    {
        var type = route.Type;
        CheckPreconditions(type, existing, scale);
        var replicas = ReadInt(scale["spec"]?["replicas"]);
        if (replicas is null or < 0)
        {
            throw ApiStatus.Invalid(type, route.Name!, [new InvalidField("spec.replicas", "FieldValueInvalid", $"Invalid value: {scale["spec"]?["replicas"]?.ToJsonString() ?? "null"}: must be greater than or equal to 0")]);
        }

        var candidate = (JsonObject)existing.DeepClone();
        var spec = candidate["spec"] as JsonObject ?? new JsonObject();
        spec["replicas"] = replicas;
        candidate["spec"] = spec;
        var updated = CommitUpdate(type, existing, candidate, UpdateMode.Main, dryRun);
        return new ApiResponse(200, ScaleOf(type, updated), Persisted: !dryRun);
    }
}
