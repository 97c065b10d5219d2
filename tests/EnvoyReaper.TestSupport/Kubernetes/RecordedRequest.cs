namespace EnvoyReaper.TestSupport.Kubernetes;

/// <summary>One HTTP request the fake answered, recorded before the response was sent.</summary>
/// <param name="Query">The raw query string without the leading '?', still URL-encoded.</param>
/// <param name="ContentType">The request's Content-Type header, or null when it had none.</param>
/// <param name="Body">The request body as text; empty when there was none.</param>
public sealed record RecordedRequest(string Method, string Path, string Query, string? ContentType, int StatusCode, string Body)
{
    /// <summary>The bytes of the response body the fake sent on the wire (gzip-compressed when <see cref="Compressed"/>).</summary>
    public long ResponseBytes { get; init; }

    /// <summary>The bytes of the response's JSON before any content encoding.</summary>
    public long ContentBytes { get; init; }

    /// <summary>The fake's own time for the request: the API's work, serialising and compressing the answer (not the network).</summary>
    public TimeSpan HandlingTime { get; init; }

    /// <summary>Sent with Content-Encoding: gzip (the client accepted it and the body was over the API server's threshold).</summary>
    public bool Compressed { get; init; }
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
