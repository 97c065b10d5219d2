namespace EnvoyReaper.TestSupport.Kubernetes;

/// <summary>One HTTP request the fake answered, recorded before the response was sent.</summary>
/// <param name="Query">The raw query string without the leading '?', still URL-encoded.</param>
/// <param name="ContentType">The request's Content-Type header, or null when it had none.</param>
/// <param name="Body">The request body as text; empty when there was none.</param>
public sealed record RecordedRequest(string Method, string Path, string Query, string? ContentType, int StatusCode, string Body)
{
    /// <summary>The bytes of the response body the fake sent (UTF-8 JSON, as the API server's application/json).</summary>
    public long ResponseBytes { get; init; }
}

/// <summary>A DELETE the API accepted, with the propagation policy that applied (explicit or the server default).</summary>
public sealed record RecordedDeletion(
    string Group,
    string Version,
    string Plural,
    string? Namespace,
    string Name,
    string PropagationPolicy,
    bool DryRun);
