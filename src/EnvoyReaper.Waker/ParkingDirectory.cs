namespace EnvoyReaper.Waker;

/// <summary>
/// The parkings as of the last successful list: which waker port stands for which parked Service. Replaced whole by
/// <see cref="ParkingRefresher"/>; read by every request without a lock.
/// </summary>
public sealed class ParkingDirectory
{
    private sealed record Snapshot(IReadOnlyDictionary<int, ParkedRoute> ByPort, IReadOnlySet<string> Keys, bool Loaded);

    private Snapshot current = new(new Dictionary<int, ParkedRoute>(), new HashSet<string>(StringComparer.Ordinal), Loaded: false);
    private TaskCompletionSource refreshed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>True once one list has been read: the readiness probe waits for it.</summary>
    public bool Loaded => Volatile.Read(ref current).Loaded;

    /// <summary>The parking the waker port <paramref name="localPort"/> stands for, or null.</summary>
    public ParkedRoute? Find(int localPort) => Volatile.Read(ref current).ByPort.GetValueOrDefault(localPort);

    /// <summary>Whether the last list still showed this parking (<see cref="ParkedWorkload.Key"/>).</summary>
    public bool IsParked(string key) => Volatile.Read(ref current).Keys.Contains(key);

    /// <summary>Completes with the next replacement (the next successful list).</summary>
    public Task NextRefreshAsync() => Volatile.Read(ref refreshed).Task;

    public void Replace(IEnumerable<ParkedWorkload> workloads)
    {
        ArgumentNullException.ThrowIfNull(workloads);
        var byPort = new Dictionary<int, ParkedRoute>();
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var workload in workloads)
        {
            keys.Add(workload.Key);
            foreach (var port in workload.Ports)
            {
                byPort[port.WakerPort] = new ParkedRoute(workload, port);
            }
        }

        Volatile.Write(ref current, new Snapshot(byPort, keys, Loaded: true));
        Interlocked.Exchange(ref refreshed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }
}
