using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Order;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using EnvoyReaper.Kubernetes;
using EnvoyReaper.TestSupport.Kubernetes;
using EnvoyReaper.Workloads;
using Microsoft.Extensions.Options;
using Perfolizer.Horology;

namespace EnvoyReaper.Benchmarks;

/// <summary>
/// Issue 12: the timer's lists against <see cref="FakeKubernetesApiServer"/> at two fleet sizes, 10× apart, with the
/// cycle benchmark's layout (20 namespaces, 3 minimal pods a workload) and the app's page sizes: the labelled Deployments
/// of all namespaces, and the pods of one namespace. A list whose time grows more than 10× for 10× the objects pages
/// quadratically (each page re-reading everything before it).
/// <code>dotnet run -c Release --project tests/EnvoyReaper.Benchmarks -- --filter '*FakeApiPaging*'</code>
/// </summary>
[Config(typeof(PagingConfig))]
public class FakeApiPagingBenchmarks
{
    private const int Namespaces = 20;

    private FakeKubernetesApiServer? _server;
    private k8s.Kubernetes? _client;
    private KubernetesCluster? _cluster;

    [Params(2000, 20000)]
    public int Workloads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _server = FakeKubernetesApiServer.StartAsync().GetAwaiter().GetResult();
        for (var workload = 0; workload < Workloads; workload++)
        {
            _server.SeedWorkload($"bench-{workload % Namespaces:D2}", $"game-{workload:D5}",
                [.. Enumerable.Range(0, 3).Select(pod => $"10.{workload / 250 % 250}.{workload % 250}.{pod + 1}")],
                withService: false, withIngress: false);
        }

        _client = new k8s.Kubernetes(_server.ClientConfiguration());
        _cluster = new KubernetesCluster(_client, Options.Create(new ReaperOptions()), TimeProvider.System);
        if (LabelledDeploymentsAsync().GetAwaiter().GetResult() != Workloads || PodsOfOneNamespaceAsync().GetAwaiter().GetResult() != Workloads / Namespaces * 3)
        {
            throw new InvalidOperationException("a list did not give every object");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _client?.Dispose();
        _server?.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    /// <summary>All namespaces, the opt-in label selector, pages of 1,000 (Reaper:ListPageSize).</summary>
    [Benchmark]
    public Task<int> LabelledDeployments() => LabelledDeploymentsAsync();

    /// <summary>One namespace's pods, no selector, pages of 2,000 (Reaper:PodListPageSize).</summary>
    [Benchmark]
    public Task<int> PodsOfOneNamespace() => PodsOfOneNamespaceAsync();

    private async Task<int> LabelledDeploymentsAsync()
    {
        var count = 0;
        await foreach (var _ in _cluster!.ListDeploymentsAsync(null, ReaperLabels.EnabledSelector, CancellationToken.None))
        {
            count++;
        }

        return count;
    }

    private async Task<int> PodsOfOneNamespaceAsync()
    {
        var count = 0;
        await foreach (var _ in _cluster!.ListPodsAsync("bench-07", null, CancellationToken.None))
        {
            count++;
        }

        return count;
    }

    private sealed class PagingConfig : ManualConfig
    {
        public PagingConfig()
        {
            AddJob(Job.Default
                .WithToolchain(InProcessEmitToolchain.Instance)
                .WithLaunchCount(1)
                .WithWarmupCount(1)
                .WithIterationCount(3)
                .WithInvocationCount(1)
                .WithUnrollFactor(1)
                .WithId("Paging"));
            WithOrderer(new DefaultOrderer(SummaryOrderPolicy.Declared, MethodOrderPolicy.Declared));
            HideColumns("Job", "Toolchain", "IterationCount", "LaunchCount", "WarmupCount", "InvocationCount", "UnrollFactor", "Error");
            WithArtifactsPath(Path.Combine(AppContext.BaseDirectory, "BenchmarkDotNet.Artifacts"));
        }
    }
}
