using System.Globalization;
using System.Runtime.InteropServices;

namespace EnvoyReaper.Benchmarks.Cycle;

/// <summary>The Markdown the run prints: the figures of each cycle, the baselines of the same run, the latency.</summary>
public sealed partial class Report(BenchOptions options, string command)
{
    public Harness? Harness { get; set; }

    public int MaxReads { get; set; }

    public int PageSize { get; set; }

    public List<CycleResult> Cycles { get; } = [];

    /// <summary>A cycle that did not finish, and why.</summary>
    public string? Incomplete { get; set; }

    /// <summary>The number of the cycle run with the state cache off, if any.</summary>
    public int? UncachedCycle { get; set; }

    /// <summary>The number of the quiet cycle run at batch size 1 (one message per workload), if any.</summary>
    public int? UnbatchedCycle { get; set; }

    public CeilingResult? CeilingBefore { get; set; }

    public CeilingResult? CeilingAfter { get; set; }

    public CeilingResult? CeilingNewConnection { get; set; }

    public StorageBaselineResult? StorageFloor { get; set; }

    public CycleResult? NoStorage { get; set; }

    public StorageBaselineResult? BatchedStorageFloor { get; set; }

    public string LoadAtStart { get; } = LoadAverage();

    private IEnumerable<CycleResult> Columns => NoStorage is null ? Cycles : Cycles.Append(NoStorage);

    public List<LatencyResult> Latency { get; } = [];

    public long PeakWorkingSet { get; set; }

    private double? CeilingGets =>
        CeilingBefore is null ? null : CeilingAfter is null ? CeilingBefore.GetsPerSecond : (CeilingBefore.GetsPerSecond + CeilingAfter.GetsPerSecond) / 2;

    public void Print(TextWriter o)
    {
        o.WriteLine();
        o.WriteLine($"`{command}`");
        o.WriteLine();
        o.WriteLine($"Machine: {Environment.ProcessorCount} cores ({CpuModel()}), {RuntimeInformation.OSDescription}, .NET {Environment.Version}; " +
            $"everything on loopback in this process except Azurite (its own Node process). Load average at start {LoadAtStart}, at the end {LoadAverage()} (other sessions share the machine).");
        if (Harness is { } h)
        {
            var perIp = options.Workloads * options.Pods / (double)options.Ips;
            o.WriteLine($"Setup: {options.Workloads:N0} monitored Deployments x {options.Pods} pods over {options.Namespaces} namespaces " +
                $"(label opt-in; {options.IdleFraction:P0} idle, the rest with 2 open connections), pods on {options.Ips:N0} fake Envoy addresses " +
                $"({perIp:F0} pods per address), fleet bound in {h.FleetStart.TotalSeconds:F2} s, seeded in {h.SeedTime.TotalSeconds:F1} s. " +
                $"Drain: {options.Receivers} receive loops x batches of {options.Batch}, {(options.Overlap ? "overlapping the timer" : "after the timer")}; " +
                $"Reaper:MaxConcurrentStatsReads {MaxReads}, Reaper:ListPageSize {PageSize}.");
            o.WriteLine();
            if (Incomplete is not null)
            {
                o.WriteLine($"**Incomplete:** {Incomplete}.");
                o.WriteLine();
            }

            PrintCycles(o);
            o.WriteLine();
            PrintBaselines(o);
            PrintApiReadVolume(o);
        }

        if (Latency.Count > 0)
        {
            o.WriteLine();
            PrintLatency(o);
        }
    }

    private void PrintCycles(TextWriter o)
    {
        var names = Columns.Select(c => c.Number switch
        {
            0 => "checks only: state in memory, no queue",
            1 => "cycle 1 (cold: no state)",
            2 => "cycle 2 (idle ones settle)",
            _ when c.Number == UncachedCycle => $"cycle {c.Number} (nothing changed, state cache off)",
            _ when c.Number == UnbatchedCycle => $"cycle {c.Number} (nothing changed, batch size 1: one message per workload)",
            _ => $"cycle {c.Number} (nothing changed)",
        }).ToList();
        o.WriteLine("| figure | " + string.Join(" | ", names) + " | target / baseline (same run) |");
        o.WriteLine("|---|" + string.Concat(Columns.Select(_ => "---:|")) + "---|");
        var ceiling = CeilingGets;
        var per500 = 500.0 / options.Workloads;

        Row(o, "workload checks queued / done", c => $"{c.WorkloadsQueued:N0} / {c.WorkloadChecks:N0}", "");
        Row(o, "messages queued / done (expired unread), batch size", c => $"{c.MessagesQueued:N0} / {c.Processed:N0}{(c.Expired > 0 ? $" (**{c.Expired:N0}**)" : "")}, {c.BatchSize}", "");
        Row(o, "storage transactions (requests the SDK clients sent)", c => c.Number == 0 ? "-" : $"{c.StorageRequests:N0}", "");
        Row(o, "  of which empty receives (polling)", c => c.Number == 0 ? "-" : $"{c.EmptyReceives:N0}", "the host backs off to 1 per 2 s per instance when idle");
        Row(o, "  queue / table / blob (table transactions of several rows)", c => c.Number == 0 ? "-" : $"{ByService(c, "queue"):N0} / {ByService(c, "table"):N0} / {ByService(c, "blob"):N0} ({c.TableTransactions:N0})", "");
        Row(o, "  by kind", c => c.Number == 0 ? "-" : string.Join(", ", c.StorageByKind.OrderByDescending(p => p.Value).Select(p => $"{p.Key} {p.Value:N0}")), "");
        Row(o, "**storage transactions per workload-check** (without empty receives)", c => c.Number == 0 || c.WorkloadChecks == 0 ? "-" : $"**{(c.StorageRequests - c.EmptyReceives) / (double)c.WorkloadChecks:F3}** ({c.StorageRequests / (double)c.WorkloadChecks:F3} with them)",
            Baseline() is { WorkloadChecks: > 0 } b ? $"≤ 0.15 quiet; batch size 1 in this run: {(b.StorageRequests - b.EmptyReceives) / (double)b.WorkloadChecks:F3}" : "≤ 0.15 quiet");
        Row(o, "timer: enumeration + enqueue", c => c.Number == 0 ? "-" : S(c.TimerTime), "");
        Row(o, "  of which queue sends (msgs/s)", c => c.Number == 0 ? "-" : $"{S(c.EnqueueTime)} ({c.MessagesQueued / Math.Max(c.EnqueueTime.TotalSeconds, 1e-9):N0}/s)", "real Azure: ~2,000 msgs/s per queue");
        Row(o, "  of which listing + planning", c => c.Number == 0 ? "-" : S(c.TimerTime - c.EnqueueTime), "");
        Row(o, "    of which the fake API server answering the lists", c => c.Number == 0 ? "-" : S(c.DiscoveryServerTime), "its work, serialising, gzip; not the reaper's");
        Row(o, "API requests by the timer (per 500 workloads)", c => c.Number == 0 ? "-" : $"{c.DiscoveryRequests} ({c.DiscoveryRequests * per500:F2})", "≤ 2 per 500");
        Row(o, "API requests in the cycle / writes (WriteCount)", c => $"{c.CycleRequests:N0} / {c.ApiWrites:N0}", "0 writes when nothing changed");
        Row(o, "table reads / writes (ETag conflicts)", c => $"{c.StateGets:N0} / {c.StateWrites:N0} ({c.StateWriteConflicts})", "writes only on change");
        Row(o, "**end to end** (timer start → last check done)", c => $"**{S(c.EndToEnd)}**", "≤ 20 s for 10,000");
        Row(o, "drain (first message → last check)", c => S(c.DrainSpan), "");
        Row(o, "stats checks/s", c => Rate(c.WorkloadChecks, c.DrainSpan), ceiling is null ? "" : $"ceiling ÷ {options.Pods}: {ceiling.Value / options.Pods:N0}");
        Row(o, "**pod reads/s** (÷ ceiling)", c => c.Processed == 0 ? "-" : $"**{Rate(c.PodReads, c.DrainSpan)}** ({(ceiling is null ? "-" : (c.PodReads / c.DrainSpan.TotalSeconds / ceiling.Value).ToString("P0", CultureInfo.InvariantCulture))})",
            ceiling is null ? "" : $"bare HttpClient: {ceiling.Value:N0} GETs/s; ≥ 50 %");
        Row(o, "pod reads (failed)", c => $"{c.PodReads:N0} ({c.PodReadFailures})", "0 failed");
        Row(o, "connections the Envoys accepted", c => $"{c.FleetConnections:N0}", CeilingNewConnection is null ? "" : "a real cluster: one per pod read (pod IPs are distinct)");
        Row(o, "bytes per pod read (body)", c => c.PodReads == 0 ? "-" : $"{c.BytesRead / (double)c.PodReads:N0}", CeilingBefore is null ? "" : $"ceiling: {CeilingBefore.Bytes / (double)CeilingBefore.Gets:N0}");
        Row(o, "per message: invocation (ms, mean)", c => Ms(c.InvocationMean), "");
        Row(o, "  pod reads span (first read start → last end)", c => Ms(c.ReadSpanMean), "");
        Row(o, "  table calls (state read + write)", c => Ms(c.StateInCheckMean), "");
        Row(o, "  Kubernetes writes (Events, status)", c => Ms(c.ApiWriteInCheckMean), "");
        Row(o, "  rest (read throttle wait, parse, decide)", c => Ms(c.InvocationMean - c.ReadSpanMean - c.StateInCheckMean - c.ApiWriteInCheckMean), "");
        Row(o, "one pod read (ms, mean)", c => Ms(c.PodReadMean), "");
        Row(o, "storage latency (ms): receive of ≤32 / delete", c => c.Number == 0 ? "-" : $"{Ms(c.ReceiveMean)} ({c.Receives:N0}) / {Ms(c.DeleteMean)}", "");
        Row(o, "storage latency (ms): table read / write", c => $"{Ms(c.StateGetMean)} / {(c.StateWrites == 0 ? "-" : Ms(c.StateWriteMean))}", StorageFloor is null ? "" : $"floor: read {StorageFloor.GetMeanMs:F1}");
        Row(o, "CPU s: this process (reaper + fakes) / Azurite", c => $"{c.CpuSelf.TotalSeconds:F1} / {(c.CpuAzurite is { } a ? a.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture) : "?")}", "");
        Row(o, "CPU ms per check: this process / Azurite", c => c.WorkloadChecks == 0 ? "-" : PerOp(c.CpuSelf, c.CpuAzurite, (int)c.WorkloadChecks),
            CeilingBefore is null ? "" : $"bare GET: {CeilingBefore.Cpu.TotalMilliseconds / CeilingBefore.Gets * options.Pods:F2} per {options.Pods} GETs");
        Row(o, "CPU used of the machine over the cycle", c => ((c.CpuSelf + (c.CpuAzurite ?? TimeSpan.Zero)).TotalSeconds / (c.EndToEnd.TotalSeconds * Environment.ProcessorCount)).ToString("P0", CultureInfo.InvariantCulture), "");
        Row(o, "managed heap before → peak (MB)", c => $"{Mb(c.HeapBefore)} → {Mb(c.PeakHeap)}", "");
        Row(o, "allocated per check (KB, whole process)", c => c.WorkloadChecks == 0 ? "-" : $"{c.Allocated / 1024.0 / c.WorkloadChecks:N0}",
            CeilingBefore is null ? "" : $"bare GET: {CeilingBefore.Allocated / 1024.0 / CeilingBefore.Gets * options.Pods:N0} per {options.Pods} GETs (fake Envoy included)");
        Row(o, "peak working set (MB)", c => Mb(c.PeakWorkingSet), $"process peak {Mb(PeakWorkingSet)}");
        Row(o, "verdicts", c => string.Join(", ", c.Verdicts.OrderBy(p => p.Key).Select(p => $"{p.Key} {p.Value:N0}")), "");
    }

    private CycleResult? Baseline() => Cycles.FirstOrDefault(c => c.Number == UnbatchedCycle);

    private static long ByService(CycleResult c, string service) =>
        c.StorageByKind.Where(p => p.Key.StartsWith(service + " ", StringComparison.Ordinal)).Sum(p => p.Value);

    private void PrintBaselines(TextWriter o)
    {
        o.WriteLine("| baseline (same run) | GETs or messages | time | rate | CPU ms per GET or message (this process / Azurite) | notes |");
        o.WriteLine("|---|---:|---:|---:|---:|---|");
        foreach (var (label, c) in new[] { ("bare HttpClient, keep-alive, before the cycles", CeilingBefore), ("bare HttpClient, keep-alive, after the cycles", CeilingAfter), ("bare HttpClient, one connection per GET", CeilingNewConnection) })
        {
            if (c is not null)
            {
                o.WriteLine($"| {label} | {c.Gets:N0} ({c.Failures} failed) | {S(c.Elapsed)} | {c.GetsPerSecond:N0}/s | {c.Cpu.TotalMilliseconds / c.Gets:F3} / - | {MaxReads} concurrent, {(c.FirstPass == c.Elapsed ? "" : $"second pass (first, cold pool: {S(c.FirstPass)}), ")}{c.Connections:N0} connections opened, {c.Bytes / (double)c.Gets:N0} B/GET, {c.Allocated / 1024.0 / c.Gets:N1} KB allocated/GET |");
            }
        }

        if (StorageFloor is { } f)
        {
            o.WriteLine($"| storage floor: enqueue (AzureWorkQueue) | {f.Messages:N0} | {S(f.Enqueue)} | {f.Messages / f.Enqueue.TotalSeconds:N0}/s | {PerOp(f.EnqueueCpuSelf, f.EnqueueCpuAzurite, f.Messages)} | 32 parallel single sends |");
            o.WriteLine($"| storage floor: receive + state read + delete, no stats read | {f.Messages:N0} | {S(f.Drain)} | {f.MessagesPerSecond:N0}/s | {PerOp(f.CpuSelf, f.CpuAzurite, f.Messages)} | {options.Receivers} x {options.Batch}; receive {f.ReceiveMeanMs:F1} ms, read {f.GetMeanMs:F1} ms, delete {f.DeleteMeanMs:F1} ms |");
        }

        if (BatchedStorageFloor is { } b)
        {
            o.WriteLine($"| batched: enqueue, {b.PerMessage} workloads a message | {b.Messages:N0} workloads ({b.QueueMessages:N0} messages) | {S(b.Enqueue)} | {b.Messages / b.Enqueue.TotalSeconds:N0} workloads/s | {PerOp(b.EnqueueCpuSelf, b.EnqueueCpuAzurite, b.Messages)} | per workload |");
            o.WriteLine($"| batched: receive + one range query of {b.PerMessage} state rows + delete | {b.Messages:N0} workloads | {S(b.Drain)} | {b.MessagesPerSecond:N0} workloads/s | {PerOp(b.CpuSelf, b.CpuAzurite, b.Messages)} | per workload; receive {b.ReceiveMeanMs:F1} ms, query {b.GetMeanMs:F1} ms, delete {b.DeleteMeanMs:F1} ms |");
        }
    }

    private void PrintLatency(TextWriter o)
    {
        o.WriteLine($"Detection latency (fake clock, real StatsCheckProcessor/IdlePolicy/parser): idle timeout T = {Min(options.IdleTimeout)}, check interval {Min(options.CheckInterval)}, " +
            $"bound T + one interval = {Min(options.IdleTimeout + options.CheckInterval)}; latency = teardown request − last connection closed, {options.LatencyRuns} runs each.");
        o.WriteLine();
        o.WriteLine("| scenario | checks late by | reaped | min | median | p95 | max | over the bound | close → idle-since (median / max) |");
        o.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var l in Latency)
        {
            var reaped = l.Reaped == l.Runs ? $"{l.Reaped}" : $"**{l.Reaped} of {l.Runs}**";
            o.WriteLine($"| {l.Scenario} | 0–{l.Jitter.TotalSeconds:F0} s | {reaped} | {Min(l.Quantile(0))} | {Min(l.Quantile(0.5))} | {Min(l.Quantile(0.95))} | {Min(l.Quantile(1))} | {l.OverBound} | " +
                $"{Min(LatencyResult.Quantile(l.CloseToIdleSince, 0.5))} / {Min(LatencyResult.Quantile(l.CloseToIdleSince, 1))} |");
        }
    }

    private void Row(TextWriter o, string figure, Func<CycleResult, string> value, string target) =>
        o.WriteLine($"| {figure} | " + string.Join(" | ", Columns.Select(value)) + $" | {target} |");

    private static string Rate(long count, TimeSpan span) => count == 0 || span <= TimeSpan.Zero ? "-" : (count / span.TotalSeconds).ToString("N0", CultureInfo.InvariantCulture);

    private static string PerOp(TimeSpan self, TimeSpan? azurite, int count) =>
        $"{self.TotalMilliseconds / count:F3} / {(azurite is { } a ? (a.TotalMilliseconds / count).ToString("F3", CultureInfo.InvariantCulture) : "?")}";

    private static string S(TimeSpan t) => t.TotalSeconds.ToString("F2", CultureInfo.InvariantCulture) + " s";

    private static string Ms(TimeSpan t) => t.TotalMilliseconds.ToString("F1", CultureInfo.InvariantCulture);

    private static string Mb(long bytes) => (bytes / 1048576.0).ToString("F0", CultureInfo.InvariantCulture);

    private static string Min(TimeSpan t) => t == TimeSpan.Zero ? "-" : t.TotalMinutes >= 1 ? $"{(int)t.TotalMinutes}m{t.Seconds:D2}s" : $"{t.TotalSeconds:F0}s";

    private static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "?";
        }
    }

    private static string CpuModel()
    {
        try
        {
            return File.ReadLines("/proc/cpuinfo").FirstOrDefault(line => line.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?";
        }
        catch (IOException)
        {
            return "?";
        }
    }
}
