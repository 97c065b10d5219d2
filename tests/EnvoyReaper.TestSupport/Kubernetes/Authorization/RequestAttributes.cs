using Microsoft.AspNetCore.WebUtilities;

namespace EnvoyReaper.TestSupport.Kubernetes.Authorization;

/// <summary>
/// What the API server's authorizer sees of one request, derived from method, path and query by the rules of
/// k8s.io/apiserver's RequestInfoFactory: the verb (get, list, watch, create, update, patch, delete, deletecollection),
/// the API group, resource and subresource, namespace and name; or, outside /api and /apis resource paths, a
/// non-resource URL with the lower-cased HTTP method as its verb.
/// </summary>
public sealed record RequestAttributes(
    string Verb,
    bool IsResourceRequest,
    string Path,
    string ApiGroup,
    string ApiVersion,
    string Resource,
    string Subresource,
    string Namespace,
    string Name)
{
    private static readonly HashSet<string> NamespaceSubresources = new(StringComparer.Ordinal) { "status", "finalize" };

    /// <summary>"deployments" or "envoymonitors/status", as a rule's resources list names it.</summary>
    public string ResourceWithSubresource => Subresource.Length == 0 ? Resource : $"{Resource}/{Subresource}";

    public static RequestAttributes From(RecordedRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Parse(request.Method, request.Path, request.Query);
    }

    /// <param name="query">The raw query string, with or without the leading '?'.</param>
    public static RequestAttributes Parse(string method, string path, string query)
    {
        ArgumentException.ThrowIfNullOrEmpty(method);
        ArgumentNullException.ThrowIfNull(path);
        var nonResource = new RequestAttributes(method.ToLowerInvariant(), false, path, "", "", "", "", "", "");
        var parts = path.Trim('/').Split('/', StringSplitOptions.None);
        if (parts is [""] || parts.Length == 0)
        {
            return nonResource;
        }

        string group;
        string version;
        string[] rest;
        switch (parts[0])
        {
            // /api/v1/... is the core group; /api and /api/v1 alone are discovery (non-resource).
            case "api" when parts.Length >= 3:
                group = "";
                version = parts[1];
                rest = parts[2..];
                break;
            case "apis" when parts.Length >= 4:
                group = parts[1];
                version = parts[2];
                rest = parts[3..];
                break;
            default:
                return nonResource;
        }

        var verb = method.ToUpperInvariant() switch
        {
            "POST" => "create",
            "GET" or "HEAD" => "get",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => "delete",
            _ => "",
        };

        // The deprecated /watch/ path prefix.
        if (rest[0] == "watch")
        {
            verb = "watch";
            rest = rest[1..];
            if (rest.Length == 0)
            {
                return nonResource;
            }
        }

        var @namespace = "";
        if (rest[0] == "namespaces")
        {
            if (rest.Length > 1)
            {
                @namespace = rest[1];
                // /namespaces/{ns}/status stays the namespaces resource with a subresource; anything else is a resource in the namespace.
                if (rest.Length > 2 && !NamespaceSubresources.Contains(rest[2]))
                {
                    rest = rest[2..];
                }
            }
        }

        var resource = rest[0];
        var name = rest.Length >= 2 ? rest[1] : "";
        var subresource = rest.Length >= 3 ? rest[2] : "";

        var parameters = QueryHelpers.ParseQuery(query.StartsWith('?') ? query : "?" + query);
        if (name.Length == 0 && verb == "get")
        {
            var watch = parameters.TryGetValue("watch", out var watchValue) && watchValue.ToString() is "true" or "1";
            verb = watch ? "watch" : "list";
            if (parameters.TryGetValue("fieldSelector", out var fieldSelector) && ExactName(fieldSelector.ToString()) is { } selected)
            {
                name = selected;
            }
        }

        if (name.Length == 0 && verb == "delete")
        {
            verb = "deletecollection";
        }

        return new RequestAttributes(verb, true, path, group, version, resource, subresource, @namespace, name);
    }

    /// <summary>The name a field selector pins with metadata.name=X (or ==), as RequiresExactMatch reads it.</summary>
    private static string? ExactName(string selector)
    {
        foreach (var requirement in selector.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var separator = requirement.Contains("==", StringComparison.Ordinal) ? "==" : "=";
            var index = requirement.IndexOf(separator, StringComparison.Ordinal);
            if (index > 0 && requirement[..index] == "metadata.name")
            {
                var value = requirement[(index + separator.Length)..];
                return value.Length > 0 && !value.Contains('/', StringComparison.Ordinal) && value is not "." and not ".." ? value : null;
            }
        }

        return null;
    }

    public override string ToString() => IsResourceRequest
        ? $"{Verb} {(ApiGroup.Length == 0 ? "core" : ApiGroup)}/{ResourceWithSubresource}{(Name.Length > 0 ? " " + Name : "")} in {(Namespace.Length == 0 ? "(cluster scope)" : "namespace " + Namespace)} ({Path})"
        : $"{Verb} non-resource URL {Path}";
}
