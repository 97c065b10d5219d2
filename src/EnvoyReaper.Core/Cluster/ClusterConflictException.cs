namespace EnvoyReaper.Cluster;

/// <summary>The API server refused a write because the object changed since it was read (409 Conflict).</summary>
public sealed class ClusterConflictException(string message, Exception? innerException = null) : Exception(message, innerException);
