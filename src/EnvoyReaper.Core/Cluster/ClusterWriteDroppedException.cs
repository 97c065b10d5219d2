namespace EnvoyReaper.Cluster;

/// <summary>
/// A courtesy write (a workload's status, an Event of the checks) the client did not send: the API server's write
/// budget had no room for it. Nothing changed in the cluster; the client already counts and reports such drops.
/// </summary>
public sealed class ClusterWriteDroppedException(string message, Exception? innerException = null) : Exception(message, innerException);
