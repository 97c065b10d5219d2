using System.Globalization;

namespace EnvoyReaper.Benchmarks.Cycle;

public sealed class BenchOptions
{
    public int Workloads { get; set; } = 10_000;

    public int Pods { get; set; } = 3;

    public int Namespaces { get; set; } = 20;

    /// <summary>Loopback addresses the fake Envoy fleet binds; pods share them round-robin (see README.md).</summary>
    public int Ips { get; set; } = 1_000;

    /// <summary>Fraction of workloads whose Envoys report no open connection (the rest have 2).</summary>
    public double IdleFraction { get; set; } = 0.5;

    /// <summary>Cycles run back to back: 1 = cold (no state yet), 2 = the idle ones settle, 3+ = nothing changes.</summary>
    public int Cycles { get; set; } = 3;

    /// <summary>Concurrent receive loops; each takes a batch and runs all of its messages at once.</summary>
    public int Receivers { get; set; } = 4;

    public int Batch { get; set; } = 32;

    /// <summary>Drain the queue while the timer still enqueues (as the host does), rather than after.</summary>
    public bool Overlap { get; set; } = true;

    public int? PageSize { get; set; }

    public int? MaxConcurrentStatsReads { get; set; }

    /// <summary>Reaper:StatsCheckBatchSize (the app's default when not given).</summary>
    public int? StatsCheckBatchSize { get; set; }

    /// <summary>One more quiet cycle with Reaper:StatsCheckBatchSize 1: one message per workload, the baseline in the same run.</summary>
    public bool UnbatchedCycle { get; set; } = true;

    /// <summary>Reaper:StateCacheTimeToLive; 00:00:00 reads the table at every check, as before the cache.</summary>
    public TimeSpan? StateCacheTimeToLive { get; set; }

    /// <summary>One more cycle after the others with the state cache off: its baseline in the same run.</summary>
    public bool UncachedCycle { get; set; } = true;

    public string Storage { get; set; } =
        Environment.GetEnvironmentVariable("ENVOYREAPER_BENCH_STORAGE") is { Length: > 0 } bench ? bench
        : Environment.GetEnvironmentVariable("ENVOYREAPER_TEST_STORAGE") is { Length: > 0 } test ? test
        : "UseDevelopmentStorage=true";

    public bool Ceiling { get; set; } = true;

    public bool StorageBaseline { get; set; } = true;

    /// <summary>The unbatched storage floor; by default only up to 2,000 workloads (Azurite's queue is O(depth)).</summary>
    public bool? UnbatchedFloor { get; set; }

    public bool TimerOnly { get; set; }

    /// <summary>Also run the checks with the state in memory and no queue, to separate the reaper's code from Azurite.</summary>
    public bool MemoryRun { get; set; } = true;

    public int LatencyRuns { get; set; } = 200;

    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(10);

    public TimeSpan CheckInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Latest a check runs after it is due (uniform); 0 = exactly on time.</summary>
    public TimeSpan LatencyJitter { get; set; } = TimeSpan.FromSeconds(20);

    public bool LatencyOnly { get; set; }

    public bool SkipLatency { get; set; }

    public int[]? ProbeBind { get; set; }

    public int[]? ProbeAzurite { get; set; }

    public bool ProbeClear { get; set; }

    public int Seed { get; set; } = 5;

    /// <summary>The pods the fake API server serves: realistic ones (about 9 KB of JSON each) unless told otherwise.</summary>
    public EnvoyReaper.TestSupport.Kubernetes.PodShape PodShape { get; set; } = EnvoyReaper.TestSupport.Kubernetes.PodShape.Realistic;

    /// <summary>After the cycles, the pod read paths compared (one list per namespace against one per workload).</summary>
    public bool ReadPaths { get; set; } = true;

    public static BenchOptions Parse(string[] args)
    {
        var options = new BenchOptions();
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            int Int() => int.Parse(Next(), CultureInfo.InvariantCulture);
            switch (args[i])
            {
                case "--workloads": options.Workloads = Int(); break;
                case "--pods": options.Pods = Int(); break;
                case "--namespaces": options.Namespaces = Int(); break;
                case "--ips": options.Ips = Int(); break;
                case "--idle-fraction": options.IdleFraction = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--cycles": options.Cycles = Int(); break;
                case "--receivers": options.Receivers = Int(); break;
                case "--batch": options.Batch = Int(); break;
                case "--sequential": options.Overlap = false; break;
                case "--page-size": options.PageSize = Int(); break;
                case "--max-reads": options.MaxConcurrentStatsReads = Int(); break;
                case "--batch-size": options.StatsCheckBatchSize = Int(); break;
                case "--no-unbatched-cycle": options.UnbatchedCycle = false; break;
                case "--state-cache-ttl": options.StateCacheTimeToLive = TimeSpan.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--no-uncached-cycle": options.UncachedCycle = false; break;
                case "--storage": options.Storage = Next(); break;
                case "--no-ceiling": options.Ceiling = false; break;
                case "--no-storage-baseline": options.StorageBaseline = false; break;
                case "--no-memory-run": options.MemoryRun = false; break;
                case "--unbatched-floor": options.UnbatchedFloor = true; break;
                case "--timer-only": options.TimerOnly = true; break;
                case "--latency-runs": options.LatencyRuns = Int(); break;
                case "--idle-timeout": options.IdleTimeout = TimeSpan.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--check-interval": options.CheckInterval = TimeSpan.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--latency-jitter": options.LatencyJitter = TimeSpan.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--latency-only": options.LatencyOnly = true; break;
                case "--no-latency": options.SkipLatency = true; break;
                case "--probe-bind": options.ProbeBind = Next().Split(',').Select(n => int.Parse(n, CultureInfo.InvariantCulture)).ToArray(); break;
                case "--probe-azurite": options.ProbeAzurite = Next().Split(',').Select(n => int.Parse(n, CultureInfo.InvariantCulture)).ToArray(); break;
                case "--probe-clear": options.ProbeClear = true; break;
                case "--seed": options.Seed = Int(); break;
                case "--pod-shape": options.PodShape = Enum.Parse<EnvoyReaper.TestSupport.Kubernetes.PodShape>(Next(), ignoreCase: true); break;
                case "--no-read-paths": options.ReadPaths = false; break;
                case "-h" or "--help":
                    Console.WriteLine("""
                        dotnet run -c Release --project tests/EnvoyReaper.Benchmarks.Cycle -- [options]
                          --workloads N (10000)  --pods P (3)  --namespaces K (20)  --ips A (1000 loopback addresses, shared by the pods)
                          --idle-fraction F (0.5)  --cycles C (3)  --receivers R (4)  --batch B (32)  --sequential (drain after the timer)
                          --page-size N (Reaper:ListPageSize)  --max-reads N (Reaper:MaxConcurrentStatsReads)
                          --batch-size N (Reaper:StatsCheckBatchSize)  --no-unbatched-cycle (skip the quiet cycle at batch size 1, the one-message-per-workload baseline)
                          --state-cache-ttl 00:10:00 (Reaper:StateCacheTimeToLive; 00:00:00 = a table read per check)
                          --no-uncached-cycle (skip the last cycle, run with the state cache off as its baseline)
                          --storage CONNECTION (ENVOYREAPER_BENCH_STORAGE, ENVOYREAPER_TEST_STORAGE, else UseDevelopmentStorage=true)
                          --no-ceiling  --no-storage-baseline  --no-memory-run  --no-latency  --latency-only
                          --unbatched-floor (also above 2,000 workloads)  --timer-only (cycles run only the timer: listing + enqueue)
                          --latency-runs N (200)  --idle-timeout 00:10:00  --check-interval 00:01:00  --latency-jitter 00:00:20
                          --probe-bind 1000,5000,10000 (time binding that many fleet addresses, then exit)
                          --probe-azurite 500,10000 (Azurite's cost per queue/table operation at those depths, then exit)
                          --pod-shape realistic|minimal (realistic: ~9 KB pods with managedFields and full status)  --no-read-paths
                        """);
                    Environment.Exit(0);
                    break;
                default: throw new ArgumentException($"unknown option {args[i]} (--help)");
            }
        }

        return options;
    }
}
