namespace EnvoyReaper.Cluster;

/// <summary>The API server refused an object as invalid (422); <see cref="Fields"/> are the causes' field paths.</summary>
public sealed class ClusterInvalidException(string message, IReadOnlyList<string> fields, Exception? innerException = null) : Exception(message, innerException)
{
    public IReadOnlyList<string> Fields { get; } = fields;
}
