using System.Diagnostics;
using System.Globalization;
using System.Text;
using Azure.Data.Tables;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;
using EnvoyReaper.Cluster;
using EnvoyReaper.Envoy;
using EnvoyReaper.Functions;
using EnvoyReaper.Idleness;
using EnvoyReaper.Messaging;
using EnvoyReaper.TestSupport.Envoy;
using EnvoyReaper.TestSupport.Kubernetes;
using EnvoyReaper.TestSupport.Storage;
using EnvoyReaper.Workloads;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace EnvoyReaper.Benchmarks.Cycle;

public sealed record SeededPod(string Ip, string Name);

public sealed record CycleResult(
    int Number,
    int Workloads,
    int MessagesQueued,
    TimeSpan TimerTime,
    TimeSpan EnqueueTime,
    int DiscoveryRequests,
    int CycleRequests,
    int ApiWrites,
    int Processed,
    TimeSpan EndToEnd,
    TimeSpan DrainSpan,
    long PodReads,
    long PodReadFailures,
    long BytesRead,
    long StateWrites,
    long StateWriteConflicts,
    long StateGets,
    TimeSpan StateGetMean,
    TimeSpan StateWriteMean,
    TimeSpan ReceiveMean,
    long Receives,
    TimeSpan DeleteMean,
    TimeSpan InvocationMean,
    TimeSpan ReadSpanMean,
    TimeSpan StateInCheckMean,
    TimeSpan ApiWriteInCheckMean,
    TimeSpan PodReadMean,
    TimeSpan CpuSelf,
    TimeSpan? CpuAzurite,
    long HeapBefore,
    long PeakHeap,
    long PeakWorkingSet,
    long Allocated,
    IReadOnlyList<string> Failures,
    IReadOnlyDictionary<string, int> Verdicts,
    long FleetConnections)
{
    public int Expired { get; init; }

    /// <summary>Workloads in the messages queued, and in the messages checked.</summary>
    public long WorkloadsQueued { get; init; }

    public long WorkloadChecks { get; init; }

    /// <summary>Reaper:StatsCheckBatchSize in this cycle.</summary>
    public int BatchSize { get; init; }

    /// <summary>Requests the storage SDK clients sent in the cycle, by service and kind ("queue GET messages").</summary>
    public IReadOnlyDictionary<string, long> StorageByKind { get; init; } = new Dictionary<string, long>();

    public long StorageRequests => StorageByKind.Values.Sum();

    /// <summary>Receives that found nothing (polling: a cost per unit of time, not per check).</summary>
    public long EmptyReceives { get; init; }

    public long TableTransactions { get; init; }

    public ApiTraffic? ApiTraffic { get; init; }

    /// <summary>The fake API server's own time for the timer's list requests (its work, serialising, compressing).</summary>
    public TimeSpan DiscoveryServerTime { get; init; }
}

/// <summary>The function app (container of Program.cs) over the fake API server, the fake Envoy fleet and Azurite.</summary>
public sealed class Harness : IAsyncDisposable
{
    private readonly BenchOptions options;
    private readonly string directory;
    private readonly ServiceProvider services;
    private readonly ObjectFactory<CheckStats> checkStatsFactory = ActivatorUtilities.CreateFactory<CheckStats>([]);

    private Harness(BenchOptions options, FakeKubernetesApiServer api, FakeEnvoyFleet fleet, IReadOnlyList<IReadOnlyList<SeededPod>> workloadPods, string directory, ServiceProvider services, string stateTable, Counters counters, VerdictCounter verdicts)
    {
        this.options = options;
        Api = api;
        Fleet = fleet;
        WorkloadPods = workloadPods;
        this.directory = directory;
        this.services = services;
        StateTable = stateTable;
        Counters = counters;
        Verdicts = verdicts;
        Cpu = new CpuClock(options.Storage);
    }

    public FakeKubernetesApiServer Api { get; }

    public FakeEnvoyFleet Fleet { get; }

    /// <summary>Per workload, its pods in the order the reaper reads them.</summary>
    public IReadOnlyList<IReadOnlyList<SeededPod>> WorkloadPods { get; }

    public string StateTable { get; }

    public Counters Counters { get; }

    public VerdictCounter Verdicts { get; }

    public CpuClock Cpu { get; }

    public TimeSpan FleetStart { get; private set; }

    public StateStoreSwitch StateSwitch { get; private set; } = null!;

    private Timer? uptimeTicker;

    /// <summary>Envoy refreshes server.uptime as time passes; a frozen uptime would read as a restart after 90 s.</summary>
    private void StartUptimeTicker()
    {
        var started = Stopwatch.GetTimestamp();
        uptimeTicker = new Timer(_ =>
        {
            var uptime = 7200 + (ulong)Stopwatch.GetElapsedTime(started).TotalSeconds;
            foreach (var pod in Fleet.Pods)
            {
                pod.UptimeSeconds = uptime;
            }
        }, null, TimeSpan.Zero, TimeSpan.FromSeconds(1));
    }

    /// <summary>Connections the fleet accepted and requests it answered, over all addresses.</summary>
    public (long Connections, long Requests) FleetTotals() => (Fleet.Pods.Sum(pod => pod.ConnectionCount), Fleet.Pods.Sum(pod => pod.RequestCount));

    public TimeSpan SeedTime { get; private set; }

    public IServiceProvider Services => services;

    public static async Task<Harness> StartAsync(BenchOptions options)
    {
        var api = await FakeKubernetesApiServer.StartAsync(TimeProvider.System);
        var started = Stopwatch.GetTimestamp();
        var fleet = await FakeEnvoyFleet.StartAsync(options.Ips);
        var fleetStart = Stopwatch.GetElapsedTime(started);

        started = Stopwatch.GetTimestamp();
        var workloadPods = Seed(api, fleet, options);
        var seedTime = Stopwatch.GetElapsedTime(started);

        var directory = Directory.CreateTempSubdirectory("envoy-reaper-bench-").FullName;
        var stateTable = "benchstate" + Guid.NewGuid().ToString("n")[..12];
        var values = new Dictionary<string, string?>
        {
            ["AzureWebJobsStorage"] = options.Storage,
            ["Kubernetes:Mode"] = "KubeConfig",
            ["Kubernetes:KubeConfigPath"] = api.WriteKubeConfig(directory),
            ["Kubernetes:Context"] = "fake",
            ["Reaper:StateTable"] = stateTable,
            ["Reaper:SnapshotContainer"] = "benchsnap" + Guid.NewGuid().ToString("n")[..12],
            ["Reaper:DryRun"] = "true",
            ["ReaperSchedule"] = "0 */1 * * * *",
        };
        if (options.PageSize is { } pageSize)
        {
            values["Reaper:ListPageSize"] = pageSize.ToString(CultureInfo.InvariantCulture);
        }

        if (options.StateCacheTimeToLive is { } cacheTimeToLive)
        {
            values["Reaper:StateCacheTimeToLive"] = cacheTimeToLive.ToString("c", CultureInfo.InvariantCulture);
        }

        if (options.StatsCheckBatchSize is { } batchSize)
        {
            values["Reaper:StatsCheckBatchSize"] = batchSize.ToString(CultureInfo.InvariantCulture);
        }

        if (options.MaxConcurrentStatsReads is { } reads)
        {
            values["Reaper:MaxConcurrentStatsReads"] = reads.ToString(CultureInfo.InvariantCulture);
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var counters = new Counters();
        var verdicts = new VerdictCounter();
        var collection = new ServiceCollection();
        collection.AddLogging(logging => logging.SetMinimumLevel(LogLevel.Information)
            .AddFilter(typeof(StatsCheckProcessor).FullName, LogLevel.Debug)
            .AddProvider(new BenchLoggerProvider(verdicts)));
        collection.AddEnvoyReaperFunctions(configuration);
        // The same clients as the app's, each counting the requests it sends: what the account bills as transactions.
        collection.AddSingleton(new QueueServiceClient(options.Storage, Counted(EnvoyReaper.Storage.AzureWorkQueue.ClientOptions(), counters.QueueRequests)));
        collection.AddSingleton(new TableServiceClient(options.Storage, Counted(new TableClientOptions(), counters.TableRequests)));
        collection.AddSingleton(new Azure.Storage.Blobs.BlobServiceClient(options.Storage, Counted(new Azure.Storage.Blobs.BlobClientOptions(), counters.BlobRequests)));
        Decorate<IEnvoyStatsReader>(collection, (inner, _) => new TimedStatsReader(inner, counters));
        var stateSwitch = new StateStoreSwitch();
        Decorate<IWorkloadStateStore>(collection, (inner, _) => new TimedStateStore(inner, counters, stateSwitch));
        Decorate<IWorkQueue>(collection, (inner, _) => new TimedWorkQueue(inner, counters));
        Decorate<IEventRecorder>(collection, (inner, _) => new TimedEvents(inner, counters));
        Decorate<IWorkloadStatusWriter>(collection, (inner, _) => new TimedStatus(inner, counters));
        Decorate<IEventRecorder>(collection, (inner, _) => new CountingDroppedEvents(inner));
        Decorate<IWorkloadStatusWriter>(collection, (inner, _) => new CountingDroppedStatus(inner));
        var provider = collection.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });

        var harness = new Harness(options, api, fleet, workloadPods, directory, provider, stateTable, counters, verdicts)
        {
            FleetStart = fleetStart,
            SeedTime = seedTime,
            StateSwitch = stateSwitch,
        };
        harness.StartUptimeTicker();
        await harness.ResetQueuesAsync();
        return harness;
    }

    /// <summary>
    /// N Deployments with P pods each over K namespaces. The fleet has A addresses; an idle class (no connection open)
    /// and an active class (2 open) of addresses; a workload's pods all take addresses of its class, round-robin.
    /// </summary>
    private static List<IReadOnlyList<SeededPod>> Seed(FakeKubernetesApiServer api, FakeEnvoyFleet fleet, BenchOptions options)
    {
        var pods = fleet.Pods;
        var idleCount = options.IdleFraction <= 0 ? 0 : options.IdleFraction >= 1 ? pods.Count : Math.Clamp((int)Math.Round(pods.Count * options.IdleFraction), 1, pods.Count - 1);
        var idle = pods.Take(idleCount).ToList();
        var active = pods.Skip(idleCount).ToList();
        foreach (var pod in idle)
        {
            pod.SetListener("0.0.0.0_15001", 0, 10);
        }

        foreach (var pod in active)
        {
            pod.SetListener("0.0.0.0_15001", 2, 12);
        }

        var annotations = new Dictionary<string, string> { [ReaperLabels.StatsPort] = fleet.Port.ToString(CultureInfo.InvariantCulture) };
        var created = DateTime.UtcNow.AddHours(-1);
        var result = new List<IReadOnlyList<SeededPod>>(options.Workloads);
        int nextIdle = 0, nextActive = 0;
        for (var w = 0; w < options.Workloads; w++)
        {
            var isIdle = Math.Floor((w + 1) * options.IdleFraction) > Math.Floor(w * options.IdleFraction);
            var ips = new List<string>(options.Pods);
            for (var p = 0; p < options.Pods; p++)
            {
                ips.Add(isIdle ? idle[nextIdle++ % idle.Count].Ip : active[nextActive++ % active.Count].Ip);
            }

            var seeded = api.SeedWorkload($"bench-{w % options.Namespaces:D2}", $"game-{w:D5}", ips, annotations, withService: false, withIngress: false, createdAt: created, podShape: options.PodShape);
            result.Add(seeded.Pods.Select(pod => new SeededPod(pod.Status.PodIP, pod.Metadata.Name)).ToList());
        }

        return result;
    }

    private static T Counted<T>(T clientOptions, StorageRequestCounter counter)
        where T : Azure.Core.ClientOptions
    {
        clientOptions.AddPolicy(counter, Azure.Core.HttpPipelinePosition.PerRetry);
        return clientOptions;
    }

    private static void Decorate<T>(IServiceCollection services, Func<T, IServiceProvider, T> wrap)
        where T : class
    {
        var original = services.Last(descriptor => descriptor.ServiceType == typeof(T) && !descriptor.IsKeyedService);
        services.Remove(original);
        services.Add(ServiceDescriptor.Describe(typeof(T), provider => wrap((T)Create(provider, original), provider), original.Lifetime));
    }

    private static object Create(IServiceProvider provider, ServiceDescriptor descriptor) =>
        descriptor.ImplementationInstance
        ?? descriptor.ImplementationFactory?.Invoke(provider)
        ?? ActivatorUtilities.CreateInstance(provider, descriptor.ImplementationType!);

    public QueueClient RawQueue(string name) => new(options.Storage, name, new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None });

    /// <summary>The queue as the trigger uses it (receive, delete), its requests counted with the app's.</summary>
    public QueueClient TriggerQueue(string name) => new(options.Storage, name, Counted(new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None }, Counters.QueueRequests));

    public async Task ResetQueuesAsync()
    {
        foreach (var name in new[] { QueueNames.StatsCheck, QueueNames.Teardown, QueueNames.StatsCheck + "-poison", QueueNames.Teardown + "-poison" })
        {
            var queue = RawQueue(name);
            await queue.CreateIfNotExistsAsync();
            await queue.ClearMessagesAsync();
        }
    }

    /// <summary>Timer, then (overlapping, as on one instance of the host) the queue drained by the real CheckStats.</summary>
    public async Task<CycleResult> RunCycleAsync(int number)
    {
        await ResetQueuesAsync();
        Api.ResetRecording();
        DroppedWrites.Reset();
        Counters.Reset();
        Verdicts.Reset();
        Failures.TakeAll();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var heapBefore = GC.GetTotalMemory(true);
        var allocatedBefore = GC.GetTotalAllocatedBytes(false);
        var cpuBefore = Cpu.Read();
        var fleetBefore = FleetTotals();
        var sampler = new MemorySampler();
        Counters.ResetStorageRequests();

        var drain = new Drain(this, options);
        var cycleStart = Stopwatch.GetTimestamp();
        Task drainTask = options.Overlap && !options.TimerOnly ? drain.RunAsync(cycleStart) : Task.CompletedTask;
        var timer = ActivatorUtilities.CreateInstance<DiscoverWorkloads>(services);
        await timer.Run(new TimerInfo(), CancellationToken.None);
        var timerTime = Stopwatch.GetElapsedTime(cycleStart);
        var queued = (int)Interlocked.Read(ref Counters.MessagesSent);
        var discoveryRequests = Api.Requests.Count(IsDiscovery);
        var discoveryServerTime = TimeSpan.FromTicks(Api.Requests.Where(IsDiscovery).Sum(request => request.HandlingTime.Ticks));
        drain.Expect(queued);
        if (!options.Overlap && !options.TimerOnly)
        {
            drainTask = drain.RunAsync(Stopwatch.GetTimestamp());
        }

        await drainTask;
        var endToEnd = options.TimerOnly ? timerTime : Stopwatch.GetElapsedTime(cycleStart, drain.LastDone);
        await sampler.DisposeAsync();
        var cpuAfter = Cpu.Read();
        var allocated = GC.GetTotalAllocatedBytes(false) - allocatedBefore;
        var requests = Api.Requests;
        var fleetAfter = FleetTotals();

        var c = Counters;
        var processed = drain.Processed;
        return new CycleResult(
            number,
            options.Workloads,
            queued,
            timerTime,
            c.QueueSendBatches.Total,
            discoveryRequests,
            requests.Count,
            Api.WriteCount,
            processed,
            endToEnd,
            Stopwatch.GetElapsedTime(drain.FirstReceived, drain.LastDone),
            c.StatsReads.Count,
            c.StatsReads.Failures,
            Interlocked.Read(ref c.BytesRead),
            c.StateWrites.Count,
            c.StateWrites.Failures,
            c.StateGets.Count,
            TimeSpan.FromMilliseconds(c.StateGets.MeanMs),
            TimeSpan.FromMilliseconds(c.StateWrites.MeanMs),
            TimeSpan.FromMilliseconds(c.QueueReceives.MeanMs),
            c.QueueReceives.Count,
            TimeSpan.FromMilliseconds(c.QueueDeletes.MeanMs),
            TimeSpan.FromMilliseconds(c.Invocations.MeanMs),
            Mean(c.ReadSpanTicks, processed),
            Mean(c.StateTicksInChecks, processed),
            Mean(c.ApiWriteTicksInChecks, processed),
            TimeSpan.FromMilliseconds(c.StatsReads.MeanMs),
            cpuAfter.Self - cpuBefore.Self,
            cpuAfter.Azurite - cpuBefore.Azurite,
            heapBefore,
            sampler.PeakHeap,
            sampler.PeakWorkingSet,
            allocated,
            Failures.TakeAll(),
            Verdicts.Snapshot(),
            fleetAfter.Connections - fleetBefore.Connections)
        {
            Expired = options.TimerOnly ? 0 : drain.Expired,
            WorkloadsQueued = Interlocked.Read(ref c.WorkloadsQueued),
            WorkloadChecks = Interlocked.Read(ref c.WorkloadChecks),
            BatchSize = services.GetRequiredService<Microsoft.Extensions.Options.IOptions<ReaperOptions>>().Value.StatsCheckBatchSize,
            StorageByKind = StorageByKind(c),
            EmptyReceives = Interlocked.Read(ref c.EmptyReceives),
            TableTransactions = c.StateTransactions.Count,
            ApiTraffic = ApiTraffic.From(requests, DroppedWrites.Count),
            DiscoveryServerTime = discoveryServerTime,
        };
    }

    private static Dictionary<string, long> StorageByKind(Counters counters) =>
        new[] { ("queue", counters.QueueRequests), ("table", counters.TableRequests), ("blob", counters.BlobRequests) }
            .SelectMany(service => service.Item2.ByKind.Select(kind => ($"{service.Item1} {kind.Key}", kind.Value)))
            .ToDictionary(pair => pair.Item1, pair => pair.Item2, StringComparer.Ordinal);

    /// <summary>
    /// The check path without storage: the bodies the last timer queued handed straight to the real CheckStats, as many
    /// at once as the drain has in flight (receive loops x batch), with the state in memory (JSON round trip and ETags
    /// kept). Passes until nothing changes, then one measured pass. What the reaper's own code does at the HTTP ceiling.
    /// </summary>
    public async Task<CycleResult> RunWithoutStorageAsync(int warmPasses)
    {
        var checks = Counters.LastChecks ?? throw new InvalidOperationException("run a cycle first");
        var bodies = checks.Select(check => ReaperJson.Serialize(check.Message)).ToList();
        StateSwitch.InMemory = true;
        try
        {
            for (var pass = 0; pass < warmPasses; pass++)
            {
                await InvokeAllAsync(bodies);
            }

            Api.ResetRecording();
            Counters.Reset();
            Verdicts.Reset();
            Failures.TakeAll();
            GC.Collect();
            var heapBefore = GC.GetTotalMemory(true);
            var allocatedBefore = GC.GetTotalAllocatedBytes(false);
            var cpuBefore = Cpu.Read();
            var fleetBefore = FleetTotals();
            var sampler = new MemorySampler();
            var started = Stopwatch.GetTimestamp();
            await InvokeAllAsync(bodies);
            var elapsed = Stopwatch.GetElapsedTime(started);
            await sampler.DisposeAsync();
            var cpuAfter = Cpu.Read();
            var c = Counters;
            var processed = bodies.Count;
            var fleetAfter = FleetTotals();
            return new CycleResult(
                0, options.Workloads, bodies.Count, TimeSpan.Zero, TimeSpan.Zero, 0, Api.Requests.Count, Api.WriteCount, processed, elapsed, elapsed,
                c.StatsReads.Count, c.StatsReads.Failures, Interlocked.Read(ref c.BytesRead), c.StateWrites.Count, c.StateWrites.Failures, c.StateGets.Count,
                TimeSpan.FromMilliseconds(c.StateGets.MeanMs), TimeSpan.FromMilliseconds(c.StateWrites.MeanMs), TimeSpan.Zero, 0, TimeSpan.Zero,
                TimeSpan.FromMilliseconds(c.Invocations.MeanMs), Mean(c.ReadSpanTicks, processed), Mean(c.StateTicksInChecks, processed), Mean(c.ApiWriteTicksInChecks, processed),
                TimeSpan.FromMilliseconds(c.StatsReads.MeanMs), cpuAfter.Self - cpuBefore.Self, cpuAfter.Azurite - cpuBefore.Azurite, heapBefore, sampler.PeakHeap, sampler.PeakWorkingSet,
                GC.GetTotalAllocatedBytes(false) - allocatedBefore, Failures.TakeAll(), Verdicts.Snapshot(), fleetAfter.Connections - fleetBefore.Connections)
            {
                WorkloadsQueued = checks.Sum(check => check.Message.Workloads.Count),
                WorkloadChecks = Interlocked.Read(ref c.WorkloadChecks),
                BatchSize = checks.Max(check => check.Message.Workloads.Count),
            };
        }
        finally
        {
            StateSwitch.InMemory = false;
        }
    }

    private async Task InvokeAllAsync(IReadOnlyList<string> bodies)
    {
        var counters = Counters;
        await Parallel.ForEachAsync(bodies, new ParallelOptions { MaxDegreeOfParallelism = options.Receivers * options.Batch }, async (body, _) =>
        {
            var probe = new InvocationProbe();
            InvocationProbe.Current = probe;
            var started = Stopwatch.GetTimestamp();
            var function = checkStatsFactory(services, null);
            CountWorkloads(body);
            await function.Run(QueuesModelFactory.QueueMessage(Guid.NewGuid().ToString(), "pop", body, 1), CancellationToken.None);
            counters.Invocations.Add(Stopwatch.GetTimestamp() - started);
            InvocationProbe.Current = null;
            counters.Absorb(probe);
        });
    }

    private static TimeSpan Mean(long ticks, int count) => count == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(0, ticks / count);

    private static bool IsDiscovery(RecordedRequest request) =>
        request.Method == "GET" && (request.Path.EndsWith("/deployments", StringComparison.Ordinal)
            || request.Path.EndsWith("/pods", StringComparison.Ordinal)
            || request.Path.EndsWith("/envoymonitors", StringComparison.Ordinal));

    /// <summary>One invocation as the host makes it: a fresh function instance, the message with its Base64-decoded body.</summary>
    public async Task InvokeCheckStatsAsync(QueueMessage message)
    {
        var body = Encoding.UTF8.GetString(Convert.FromBase64String(message.Body.ToString()));
        CountWorkloads(body);
        var function = checkStatsFactory(services, null);
        await function.Run(QueuesModelFactory.QueueMessage(message.MessageId, message.PopReceipt, body, message.DequeueCount, message.NextVisibleOn, message.InsertedOn, message.ExpiresOn), CancellationToken.None);
    }

    private void CountWorkloads(string body)
    {
        if (MessageReader.TryReadStatsCheck(body, out var batch, out _))
        {
            Interlocked.Add(ref Counters.WorkloadChecks, batch.Workloads.Count);
        }
    }

    public TableClient StateTableClient() => new TableServiceClient(options.Storage).GetTableClient(StateTable);

    public async ValueTask DisposeAsync()
    {
        if (uptimeTicker is not null)
        {
            await uptimeTicker.DisposeAsync();
        }

        try
        {
            await StateTableClient().DeleteAsync();
        }
        catch (Azure.RequestFailedException)
        {
        }

        await services.DisposeAsync();
        await Fleet.DisposeAsync();
        await Api.DisposeAsync();
        Directory.Delete(directory, recursive: true);
    }
}

/// <summary>
/// The queue trigger imitated: R receive loops, each taking up to B messages (visibility 5 min) and running all of
/// them at once, deleting each message when its invocation returns. An empty receive waits 20 ms (the host backs off
/// up to maxPollingInterval, 2 s: this is its best case).
/// </summary>
internal sealed class Drain(Harness harness, BenchOptions options)
{
    private int expected = -1;
    private int processed;
    private long firstReceived;
    private long lastDone;

    public int Processed => Volatile.Read(ref processed);

    public long FirstReceived => Interlocked.Read(ref firstReceived);

    public long LastDone => Interlocked.Read(ref lastDone);

    public void Expect(int count) => Volatile.Write(ref expected, count);

    public async Task RunAsync(long start)
    {
        var queue = harness.TriggerQueue(QueueNames.StatsCheck);
        var uncounted = harness.RawQueue(QueueNames.StatsCheck);
        var deadline = start + (long)(Stopwatch.Frequency * 600.0);
        var loops = Enumerable.Range(0, options.Receivers).Select(_ => Task.Run(() => LoopAsync(queue, uncounted, deadline))).ToArray();
        await Task.WhenAll(loops);
        if (LastDone == 0)
        {
            Interlocked.Exchange(ref lastDone, Stopwatch.GetTimestamp());
        }
    }

    private int inFlight;
    private volatile bool drained;

    private bool Finished()
    {
        var target = Volatile.Read(ref expected);
        return drained || (target >= 0 && Volatile.Read(ref processed) >= target);
    }

    /// <summary>Messages that expired (time to live = the message max age) before anyone received them.</summary>
    public int Expired => Math.Max(0, Volatile.Read(ref expected) - Processed);

    private async Task LoopAsync(QueueClient queue, QueueClient uncounted, long deadline)
    {
        var counters = harness.Counters;
        while (!Finished())
        {
            if (Stopwatch.GetTimestamp() > deadline)
            {
                throw new TimeoutException($"the queue did not drain in 10 minutes ({Processed} of {Volatile.Read(ref expected)})");
            }

            var started = Stopwatch.GetTimestamp();
            QueueMessage[] batch = (await queue.ReceiveMessagesAsync(options.Batch, TimeSpan.FromMinutes(5))).Value;
            counters.QueueReceives.Add(Stopwatch.GetTimestamp() - started);
            if (batch.Length == 0)
            {
                Interlocked.Increment(ref counters.EmptyReceives);
                // The harness's own question (is the queue empty?), not the trigger's: not counted.
                if (Volatile.Read(ref expected) >= 0 && Volatile.Read(ref inFlight) == 0
                    && (await uncounted.GetPropertiesAsync()).Value.ApproximateMessagesCount == 0 && Volatile.Read(ref inFlight) == 0)
                {
                    drained = true; // Whatever was not received expired.
                    break;
                }

                await Task.Delay(20);
                continue;
            }

            Interlocked.Add(ref inFlight, batch.Length);
            Interlocked.CompareExchange(ref firstReceived, Stopwatch.GetTimestamp(), 0);
            await Task.WhenAll(batch.Select(message => ProcessAsync(queue, message)));
            Interlocked.Add(ref inFlight, -batch.Length);
        }
    }

    private async Task ProcessAsync(QueueClient queue, QueueMessage message)
    {
        var counters = harness.Counters;
        var probe = new InvocationProbe();
        InvocationProbe.Current = probe;
        var started = Stopwatch.GetTimestamp();
        await harness.InvokeCheckStatsAsync(message);
        counters.Invocations.Add(Stopwatch.GetTimestamp() - started);
        InvocationProbe.Current = null;
        counters.Absorb(probe);

        started = Stopwatch.GetTimestamp();
        var deleted = true;
        try
        {
            await queue.DeleteMessageAsync(message.MessageId, message.PopReceipt);
        }
        catch (Azure.RequestFailedException exception) when (exception.Status == 404)
        {
            // Expired (its time to live is the message max age) while waiting in the queue.
            deleted = false;
            Failures.Note("delete: message expired before it was processed (404)");
        }

        var done = Stopwatch.GetTimestamp();
        counters.QueueDeletes.Add(done - started, failed: !deleted);
        Interlocked.Increment(ref processed);
        long seen;
        while (done > (seen = Interlocked.Read(ref lastDone)) && Interlocked.CompareExchange(ref lastDone, done, seen) != seen)
        {
        }
    }
}

/// <summary>Counts the verdicts the checks log, and warnings, without keeping every line.</summary>
public sealed class VerdictCounter
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, int> counts = new(StringComparer.Ordinal);

    public void Add(string key)
    {
        lock (gate)
        {
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }
    }

    public void Reset()
    {
        lock (gate)
        {
            counts.Clear();
        }
    }

    public IReadOnlyDictionary<string, int> Snapshot()
    {
        lock (gate)
        {
            return new Dictionary<string, int>(counts);
        }
    }
}

internal sealed class BenchLoggerProvider(VerdictCounter verdicts) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new VerdictLogger(verdicts, categoryName);

    public void Dispose()
    {
    }

    private sealed class VerdictLogger(VerdictCounter verdicts, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        // Unchanged verdicts are logged at Debug: counted too, from this one category only.
        public bool IsEnabled(LogLevel logLevel) =>
            logLevel >= LogLevel.Information || (logLevel == LogLevel.Debug && category == typeof(StatsCheckProcessor).FullName);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (state is IReadOnlyList<KeyValuePair<string, object?>> values)
            {
                foreach (var (key, value) in values)
                {
                    if (key == "Verdict")
                    {
                        verdicts.Add(value?.ToString() ?? "?");
                        return;
                    }

                    if (key == "Age")
                    {
                        verdicts.Add("Stale (skipped)");
                        return;
                    }
                }
            }

            if (logLevel >= LogLevel.Warning)
            {
                var text = formatter(state, exception);
                Failures.Note($"{logLevel} {category.Split('.').Last()}: {(text.Length > 160 ? text[..160] : text)}{(exception is null ? "" : " (" + exception.GetType().Name + ")")}");
            }
        }
    }
}
