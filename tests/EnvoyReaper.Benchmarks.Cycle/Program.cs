using System.Diagnostics;
using System.Globalization;
using EnvoyReaper.Benchmarks.Cycle;
using EnvoyReaper.TestSupport.Envoy;
using EnvoyReaper.Workloads;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
var options = BenchOptions.Parse(args);
var command = "dotnet run -c Release --project tests/EnvoyReaper.Benchmarks.Cycle --" + (args.Length == 0 ? "" : " " + string.Join(' ', args));

if (options.ProbeBind is { } sizes)
{
    Console.WriteLine("| fleet addresses | bind + start (s) | stop (s) | working set after start (MB) |");
    Console.WriteLine("|---:|---:|---:|---:|");
    foreach (var size in sizes)
    {
        var started = Stopwatch.GetTimestamp();
        var fleet = await FakeEnvoyFleet.StartAsync(size);
        var startTime = Stopwatch.GetElapsedTime(started);
        var workingSet = Environment.WorkingSet;
        started = Stopwatch.GetTimestamp();
        await fleet.DisposeAsync();
        Console.WriteLine($"| {size:N0} | {startTime.TotalSeconds:F2} | {Stopwatch.GetElapsedTime(started).TotalSeconds:F2} | {workingSet / 1048576.0:F0} |");
    }

    return 0;
}

if (options.ProbeAzurite is not null)
{
    await AzuriteProbe.RunAsync(options, Console.Out);
    return 0;
}

var report = new Report(options, command);
if (!options.LatencyOnly)
{
    Progress($"seeding {options.Workloads:N0} workloads x {options.Pods} pods over {options.Namespaces} namespaces, fleet of {options.Ips:N0} addresses");
    await using var harness = await Harness.StartAsync(options);
    report.Harness = harness;
    report.MaxReads = harness.Services.GetRequiredService<IOptions<ReaperOptions>>().Value.MaxConcurrentStatsReads;
    report.PageSize = harness.Services.GetRequiredService<IOptions<ReaperOptions>>().Value.ListPageSize;
    report.ClusterAccess = harness.Services.GetRequiredService<IOptions<EnvoyReaper.Kubernetes.ClusterAccessOptions>>().Value;
    Progress($"fleet bound in {harness.FleetStart.TotalSeconds:F2} s, seeded in {harness.SeedTime.TotalSeconds:F1} s; Azurite pid {harness.Cpu.AzuritePid?.ToString(CultureInfo.InvariantCulture) ?? "not found"}");

    var urls = Baselines.StatsUrls(harness);
    if (options.Ceiling)
    {
        Progress("ceiling: bare HttpClient loop (keep-alive, 2 passes)");
        report.CeilingBefore = await Baselines.HttpCeilingAsync("keep-alive", urls, report.MaxReads, newConnectionEach: false, passes: 2);
        Progress($"  {report.CeilingBefore.GetsPerSecond:F0} GETs/s");
        Progress("ceiling: one connection per GET");
        report.CeilingNewConnection = await Baselines.HttpCeilingAsync("new connection per GET", urls, report.MaxReads, newConnectionEach: true);
        Progress($"  {report.CeilingNewConnection.GetsPerSecond:F0} GETs/s");
    }

    for (var cycle = 1; cycle <= options.Cycles; cycle++)
    {
        Progress($"cycle {cycle}");
        CycleResult result;
        try
        {
            result = await harness.RunCycleAsync(cycle);
        }
        catch (TimeoutException exception)
        {
            Progress($"  ! {exception.Message}: the cycles stop here (Azurite's queue costs grow with its depth; see README.md)");
            report.Incomplete = $"cycle {cycle}: {exception.Message}";
            break;
        }

        report.Cycles.Add(result);
        Progress($"  {result.WorkloadChecks:N0} checks in {result.Processed:N0} messages, end to end {result.EndToEnd.TotalSeconds:F2} s, timer {result.TimerTime.TotalSeconds:F2} s, {result.CycleRequests} API requests, {result.ApiWrites} writes, {result.StorageRequests:N0} storage requests ({result.EmptyReceives:N0} empty receives)");
        foreach (var failure in result.Failures.Take(5))
        {
            Progress("  ! " + failure);
        }
    }

    if (options.UnbatchedCycle && options.Cycles >= 3 && !options.TimerOnly && report.Incomplete is null)
    {
        var reaper = harness.Services.GetRequiredService<IOptions<ReaperOptions>>().Value;
        var batchSize = reaper.StatsCheckBatchSize;
        reaper.StatsCheckBatchSize = 1;
        report.UnbatchedCycle = report.Cycles.Count + 1;
        Progress($"cycle {report.UnbatchedCycle} (batch size 1: one message per workload, the baseline)");
        try
        {
            var result = await harness.RunCycleAsync(report.UnbatchedCycle.Value);
            report.Cycles.Add(result);
            Progress($"  {result.WorkloadChecks:N0} checks in {result.Processed:N0} messages, end to end {result.EndToEnd.TotalSeconds:F2} s, {result.StorageRequests:N0} storage requests ({result.EmptyReceives:N0} empty receives)");
        }
        catch (TimeoutException exception)
        {
            Progress($"  ! {exception.Message}");
            report.Incomplete = $"cycle {report.UnbatchedCycle} (batch size 1): {exception.Message}";
        }

        reaper.StatsCheckBatchSize = batchSize;
    }

    if (options.UncachedCycle && options.Cycles >= 3 && !options.TimerOnly && report.Incomplete is null)
    {
        var reaper = harness.Services.GetRequiredService<IOptions<ReaperOptions>>().Value;
        var cacheTimeToLive = reaper.StateCacheTimeToLive;
        reaper.StateCacheTimeToLive = TimeSpan.Zero;
        report.UncachedCycle = report.Cycles.Count + 1;
        Progress($"cycle {report.UncachedCycle} (state cache off: a table read per check, as before the cache)");
        try
        {
            var result = await harness.RunCycleAsync(report.UncachedCycle.Value);
            report.Cycles.Add(result);
            Progress($"  {result.WorkloadChecks:N0} checks in {result.Processed:N0} messages, end to end {result.EndToEnd.TotalSeconds:F2} s, timer {result.TimerTime.TotalSeconds:F2} s, {result.CycleRequests} API requests, {result.ApiWrites} writes, {result.StorageRequests:N0} storage requests");
        }
        catch (TimeoutException exception)
        {
            Progress($"  ! {exception.Message}");
            report.Incomplete = $"cycle {report.UncachedCycle} (state cache off): {exception.Message}";
        }

        reaper.StateCacheTimeToLive = cacheTimeToLive;
    }

    if (options.ReadPaths && !options.TimerOnly)
    {
        Progress("pod read paths: one list per namespace against one label-selected list per workload");
        report.ReadPathResults = await ReadPaths.RunAsync(harness, options);
        foreach (var path in report.ReadPathResults)
        {
            Progress($"  {path.Path}: {path.Requests:N0} requests, {path.Bytes / 1048576.0:F1} MB, {path.Elapsed.TotalSeconds:F2} s");
        }
    }

    if (options.MemoryRun && harness.Counters.LastChecks is { Count: > 0 })
    {
        Progress("the same checks without storage (state in memory, bodies handed over directly): 2 warm passes + 1 measured");
        report.NoStorage = await harness.RunWithoutStorageAsync(warmPasses: 2);
        Progress($"  {report.NoStorage.WorkloadChecks:N0} checks in {report.NoStorage.Processed:N0} messages in {report.NoStorage.EndToEnd.TotalSeconds:F2} s");
    }

    if (options.Ceiling)
    {
        Progress("ceiling again (keep-alive, 2 passes)");
        report.CeilingAfter = await Baselines.HttpCeilingAsync("keep-alive", urls, report.MaxReads, newConnectionEach: false, passes: 2);
        Progress($"  {report.CeilingAfter.GetsPerSecond:F0} GETs/s");
    }

    if (options.StorageBaseline && harness.Counters.LastChecks is { Count: > 0 } checks)
    {
        if (options.UnbatchedFloor ?? options.Workloads <= 2_000)
        {
            Progress("storage floor: enqueue, then receive + state read + delete, no stats read");
            report.StorageFloor = await Baselines.StorageFloorAsync(harness, options, checks);
            Progress($"  {report.StorageFloor.MessagesPerSecond:F0} messages/s");
        }

        Progress("storage floor, batched: 16 workloads a message, one range query for their state rows");
        try
        {
            report.BatchedStorageFloor = await Baselines.BatchedStorageFloorAsync(harness, options, checks, perMessage: 16);
            Progress($"  {report.BatchedStorageFloor.MessagesPerSecond:F0} workloads/s");
        }
        catch (TimeoutException exception)
        {
            Progress("  ! " + exception.Message + ": left out of the report");
        }
        foreach (var failure in Failures.TakeAll())
        {
            Progress("  ! " + failure);
        }
    }

    report.PeakWorkingSet = Process.GetCurrentProcess().PeakWorkingSet64;
}

if (!options.SkipLatency)
{
    foreach (var scenario in new[] { "one session", "churn" })
    {
        foreach (var jitter in new[] { TimeSpan.Zero, options.LatencyJitter }.Distinct())
        {
            Progress($"detection latency: {scenario}, checks up to {jitter.TotalSeconds:F0} s late");
            report.Latency.Add(DetectionLatency.Run(scenario, options, jitter, options.Seed));
        }
    }
}

report.Print(Console.Out);
return 0;

static void Progress(string line) => Console.Error.WriteLine($"[{DateTime.Now:HH:mm:ss}] {line}");
