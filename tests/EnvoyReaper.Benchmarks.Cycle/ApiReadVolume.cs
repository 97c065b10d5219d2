using System.Diagnostics;
using System.Globalization;
using EnvoyReaper.Cluster;
using EnvoyReaper.Kubernetes;
using EnvoyReaper.TestSupport.Kubernetes;
using Microsoft.Extensions.DependencyInjection;

namespace EnvoyReaper.Benchmarks.Cycle;

/// <summary>What a cycle asked of the API server, from the fake's own record of every response it sent.</summary>
public sealed record ApiTraffic(
    int Reads,
    long BytesRead,
    long ContentBytesRead,
    int PodLists,
    long PodListBytes,
    int OtherLists,
    long OtherListBytes,
    int Writes,
    long WritesDropped)
{
    public static ApiTraffic From(IReadOnlyList<RecordedRequest> requests, long writesDropped)
    {
        var reads = requests.Where(request => request.Method == "GET").ToList();
        var podLists = reads.Where(request => request.Path.EndsWith("/pods", StringComparison.Ordinal)).ToList();
        var otherLists = reads.Where(request => request.Path.EndsWith("/deployments", StringComparison.Ordinal) || request.Path.EndsWith("/envoymonitors", StringComparison.Ordinal)).ToList();
        return new ApiTraffic(
            reads.Count,
            reads.Sum(request => request.ResponseBytes),
            reads.Sum(request => request.ContentBytes),
            podLists.Count,
            podLists.Sum(request => request.ResponseBytes),
            otherLists.Count,
            otherLists.Sum(request => request.ResponseBytes),
            requests.Count(request => request.Method != "GET"),
            writesDropped);
    }
}

/// <summary>Status writes and Events the write budget dropped (they reach the check as <see cref="ClusterWriteDroppedException"/>).</summary>
public static class DroppedWrites
{
    private static long dropped;

    public static long Count => Interlocked.Read(ref dropped);

    public static void Reset() => Interlocked.Exchange(ref dropped, 0);

    public static async Task CountingAsync(Func<Task> write)
    {
        try
        {
            await write().ConfigureAwait(false);
        }
        catch (ClusterWriteDroppedException)
        {
            Interlocked.Increment(ref dropped);
            throw;
        }
    }
}

public sealed class CountingDroppedStatus(IWorkloadStatusWriter inner) : IWorkloadStatusWriter
{
    public Task WriteAsync(string @namespace, string deployment, string? monitorNamespace, string? monitor, WorkloadStatus status, CancellationToken cancellationToken) =>
        DroppedWrites.CountingAsync(() => inner.WriteAsync(@namespace, deployment, monitorNamespace, monitor, status, cancellationToken));
}

public sealed class CountingDroppedEvents(IEventRecorder inner) : IEventRecorder
{
    public Task RecordAsync(ClusterEvent clusterEvent, CancellationToken cancellationToken) =>
        DroppedWrites.CountingAsync(() => inner.RecordAsync(clusterEvent, cancellationToken));
}

/// <summary>One way of reading every monitored pod, measured on the fake API server.</summary>
public sealed record ReadPathResult(string Path, int Requests, long Bytes, long ContentBytes, int PodsSeen, int WorkloadsWithAllPods, TimeSpan Elapsed);

/// <summary>
/// The pod read paths of issue 12, in the same run and over the same seeded fleet: the reaper's own (one list per
/// namespace, no selector, paged by Reaper:PodListPageSize) against one label-selected list per workload. Both go
/// through the app's real client (KubernetesCluster); requests and bytes are the fake's count of what it sent.
/// </summary>
public static class ReadPaths
{
    public static async Task<IReadOnlyList<ReadPathResult>> RunAsync(Harness harness, BenchOptions options)
    {
        var reader = harness.Services.GetRequiredService<IClusterReader>();
        var workloads = Enumerable.Range(0, options.Workloads)
            .Select(w => (Namespace: $"bench-{w % options.Namespaces:D2}", Name: $"game-{w:D5}"))
            .ToList();
        var expected = workloads.Select((workload, index) => (workload, pods: harness.WorkloadPods[index].Select(pod => pod.Name).ToHashSet(StringComparer.Ordinal))).ToList();

        var namespaces = workloads.Select(workload => workload.Namespace).Distinct(StringComparer.Ordinal).ToList();
        var perNamespace = await MeasureAsync(harness, "one list per namespace, gzip accepted (the app's client)", seen => ListNamespacesAsync(reader, namespaces, seen), expected);

        // The same reads through a client that does not ask for gzip: the app before this choice.
        using var identityClient = new k8s.Kubernetes(new k8s.KubernetesClientConfiguration { Host = harness.Api.BaseAddress.ToString() });
        var identityReader = new KubernetesCluster(identityClient, harness.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<EnvoyReaper.Workloads.ReaperOptions>>(), TimeProvider.System);
        var uncompressed = await MeasureAsync(harness, "one list per namespace, no gzip (before)", seen => ListNamespacesAsync(identityReader, namespaces, seen), expected);

        var perWorkload = await MeasureAsync(harness, "one label-selected list per workload, gzip accepted (each under 128 KiB: not compressed)", async seen =>
        {
            await Parallel.ForEachAsync(workloads, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (workload, cancellationToken) =>
            {
                var pods = new List<PodInfo>();
                await foreach (var pod in reader.ListPodsAsync(workload.Namespace, $"app={workload.Name}", cancellationToken))
                {
                    pods.Add(pod);
                }

                lock (seen)
                {
                    seen.AddRange(pods);
                }
            });
        }, expected);

        return [uncompressed, perNamespace, perWorkload];
    }

    private static async Task ListNamespacesAsync(IClusterReader reader, IReadOnlyList<string> namespaces, List<PodInfo> seen)
    {
        foreach (var @namespace in namespaces)
        {
            await foreach (var pod in reader.ListPodsAsync(@namespace, null, CancellationToken.None))
            {
                seen.Add(pod);
            }
        }
    }

    private static async Task<ReadPathResult> MeasureAsync(Harness harness, string path, Func<List<PodInfo>, Task> read, IReadOnlyList<((string Namespace, string Name) Workload, HashSet<string> Pods)> expected)
    {
        harness.Api.ResetRecording();
        var seen = new List<PodInfo>();
        var started = Stopwatch.GetTimestamp();
        await read(seen);
        var elapsed = Stopwatch.GetElapsedTime(started);
        var requests = harness.Api.Requests;

        // Correct = every pod of every workload seen with what the checks use (uid, IP, readiness, restarts).
        var byName = seen.Where(pod => !string.IsNullOrEmpty(pod.Uid) && pod.Ip is not null && pod.Restarts is not null)
            .Select(pod => (pod.Namespace, pod.Name)).ToHashSet();
        var complete = expected.Count(entry => entry.Pods.All(name => byName.Contains((entry.Workload.Namespace, name))));
        return new ReadPathResult(path, requests.Count, requests.Sum(request => request.ResponseBytes), requests.Sum(request => request.ContentBytes), seen.Count, complete, elapsed);
    }
}

public sealed partial class Report
{
    public IReadOnlyList<ReadPathResult> ReadPathResults { get; set; } = [];

    /// <summary>The app's Kubernetes settings (the write budget), read while the harness runs.</summary>
    public ClusterAccessOptions? ClusterAccess { get; set; }

    private void PrintApiReadVolume(TextWriter o)
    {
        var cycles = Cycles.Where(cycle => cycle.ApiTraffic is not null).ToList();
        if (cycles.Count == 0)
        {
            return;
        }

        o.WriteLine();
        o.WriteLine($"API server traffic per cycle (pods: {options.PodShape}; bytes are response bodies as the fake sent them):");
        o.WriteLine();
        o.WriteLine("| figure | " + string.Join(" | ", cycles.Select(cycle => $"cycle {cycle.Number}")) + " |");
        o.WriteLine("|---|" + string.Concat(cycles.Select(_ => "---:|")));
        void Line(string figure, Func<ApiTraffic, string> value) =>
            o.WriteLine($"| {figure} | " + string.Join(" | ", cycles.Select(cycle => value(cycle.ApiTraffic!))) + " |");
        Line("read requests / MB read on the wire (JSON before gzip)", t => $"{t.Reads:N0} / {t.BytesRead / 1048576.0:F1} ({t.ContentBytesRead / 1048576.0:F1})");
        Line("  pod lists: requests / MB", t => $"{t.PodLists:N0} / {t.PodListBytes / 1048576.0:F1}");
        Line("  Deployment and EnvoyMonitor lists: requests / MB", t => $"{t.OtherLists:N0} / {t.OtherListBytes / 1048576.0:F1}");
        Line("  bytes read per workload", t => (t.BytesRead / (double)options.Workloads).ToString("N0", CultureInfo.InvariantCulture));
        Line("write requests sent / status writes and Events dropped by the budget", t => $"{t.Writes:N0} / {t.WritesDropped:N0}");
        if (ClusterAccess is { } access)
        {
            o.WriteLine($"| write budget over the cycle (burst {access.ApiWriteBurst} + {access.ApiWritesPerSecond}/s × end to end) | " +
                string.Join(" | ", cycles.Select(cycle => (access.ApiWriteBurst + (access.ApiWritesPerSecond * cycle.EndToEnd.TotalSeconds)).ToString("N0", CultureInfo.InvariantCulture))) + " |");
        }

        if (ReadPathResults.Count == 0)
        {
            return;
        }

        var baseline = ReadPathResults[0];
        o.WriteLine();
        o.WriteLine("Pod read paths, same run, same fleet, through the app's client:");
        o.WriteLine();
        o.WriteLine("| path | requests | MB on the wire (JSON) | bytes per pod on the wire | time | workloads with every pod seen (uid, IP, readiness, restarts) | requests / bytes against the first row |");
        o.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var r in ReadPathResults)
        {
            o.WriteLine($"| {r.Path} | {r.Requests:N0} | {r.Bytes / 1048576.0:F1} ({r.ContentBytes / 1048576.0:F1}) | {r.Bytes / (double)Math.Max(1, r.PodsSeen):N0} | {r.Elapsed.TotalSeconds:F2} s | {r.WorkloadsWithAllPods:N0} of {options.Workloads:N0} | " +
                $"{r.Requests / (double)Math.Max(1, baseline.Requests):F1}× / {r.Bytes / (double)Math.Max(1, baseline.Bytes):F2}× |");
        }
    }
}
