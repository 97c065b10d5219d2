using System.Text.Json;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Order;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using EnvoyReaper.Cluster;
using EnvoyReaper.Kubernetes;
using EnvoyReaper.TestSupport.Kubernetes;
using EnvoyReaper.Workloads;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Options;
using Perfolizer.Horology;

namespace EnvoyReaper.Benchmarks;

/// <summary>
/// Issue 12: the pod list of one namespace read the old way (the typed client's <see cref="V1PodList"/>, then
/// <c>KubernetesCluster.ToInfo</c>) against the lean reader (<c>PodListJson</c>: only what <see cref="PodInfo"/> holds),
/// on the same page of JSON, and end to end over HTTP from <see cref="FakeKubernetesApiServer"/> (the same pages for both).
/// <c>JsonDocument</c> is the ceiling of any reader that looks at every byte once.
/// <code>dotnet run -c Release --project tests/EnvoyReaper.Benchmarks -- --filter '*PodList*'</code>
/// </summary>
[Config(typeof(PodListConfig))]
public class PodListReadingBenchmarks
{
    private const string Namespace = "team-0";

    private byte[] _page = [];
    private FakeKubernetesApiServer? _server;
    private k8s.Kubernetes? _client;
    private KubernetesCluster? _cluster;

    [Params(PodShape.Realistic, PodShape.Minimal)]
    public PodShape Shape { get; set; }

    /// <summary>Pods in the namespace, listed in pages of 500 (the app's default page is 2,000).</summary>
    [Params(1500)]
    public int Pods { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _server = FakeKubernetesApiServer.StartAsync().GetAwaiter().GetResult();
        for (var workload = 0; workload < Pods / 3; workload++)
        {
            _server.SeedWorkload(Namespace, $"app-{workload:D5}", [.. Enumerable.Range(0, 3).Select(pod => $"10.{workload / 250}.{workload % 250}.{pod + 1}")],
                withService: false, withIngress: false, podShape: Shape);
        }

        _client = new k8s.Kubernetes(_server.ClientConfiguration());
        _cluster = new KubernetesCluster(_client, Options.Create(new ReaperOptions { PodListPageSize = 500 }), TimeProvider.System);
        using var http = new HttpClient { BaseAddress = _server.BaseAddress };
        _page = http.GetByteArrayAsync($"api/v1/namespaces/{Namespace}/pods?limit=500").GetAwaiter().GetResult();

        // A reader that reads the wrong thing must not produce a figure.
        var typed = TypedPage();
        var lean = LeanPage();
        if (typed.Count != 500 || lean.Count != 500 || !typed.Zip(lean).All(pair => Same(pair.First, pair.Second)))
        {
            throw new InvalidOperationException("the lean reader's PodInfo differ from the typed client's on the same page");
        }

        if (TypedListAsync().GetAwaiter().GetResult() != Pods || LeanListAsync().GetAwaiter().GetResult() != Pods)
        {
            throw new InvalidOperationException($"a list over HTTP did not give the {Pods} pods");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _client?.Dispose();
        _server?.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark]
    public int Ceiling()
    {
        using var document = JsonDocument.Parse(_page);
        return document.RootElement.GetProperty("items").GetArrayLength();
    }

    [Benchmark(Baseline = true)]
    public int TypedPage_500() => TypedPage().Count;

    [Benchmark]
    public int LeanPage_500() => LeanPage().Count;

    [Benchmark]
    public Task<int> TypedListOverHttp() => TypedListAsync();

    [Benchmark]
    public Task<int> LeanListOverHttp() => LeanListAsync();

    private List<PodInfo> TypedPage()
    {
        using var stream = new MemoryStream(_page, writable: false);
        return KubernetesJson.Deserialize<V1PodList>(stream).Items.Select(KubernetesCluster.ToInfo).ToList();
    }

    private IReadOnlyList<PodInfo> LeanPage() => PodListJson.Parse(_page).Items;

    private async Task<int> TypedListAsync()
    {
        var count = 0;
        string? continueToken = null;
        do
        {
            var page = await KubernetesCluster.ReadTypedPodPageAsync(_client!, Namespace, null, 500, continueToken, CancellationToken.None);
            count += page.Items.Count;
            continueToken = page.Continue;
        }
        while (!string.IsNullOrEmpty(continueToken));

        return count;
    }

    private async Task<int> LeanListAsync()
    {
        var count = 0;
        await foreach (var _ in _cluster!.ListPodsAsync(Namespace, null, CancellationToken.None))
        {
            count++;
        }

        return count;
    }

    private static bool Same(PodInfo typed, PodInfo lean) =>
        typed == lean with { Labels = typed.Labels, ContainerNames = typed.ContainerNames }
        && typed.Labels.Count == lean.Labels.Count && typed.Labels.All(label => lean.Labels.TryGetValue(label.Key, out var value) && value == label.Value)
        && typed.ContainerNames.SequenceEqual(lean.ContainerNames);

    private sealed class PodListConfig : ManualConfig
    {
        public PodListConfig()
        {
            AddJob(Job.Default
                .WithToolchain(InProcessEmitToolchain.Instance)
                .WithLaunchCount(1)
                .WithWarmupCount(2)
                .WithIterationCount(5)
                .WithIterationTime(TimeInterval.FromMilliseconds(250))
                .WithId("ShortInProcess"));
            AddDiagnoser(MemoryDiagnoser.Default);
            WithOrderer(new DefaultOrderer(SummaryOrderPolicy.Declared, MethodOrderPolicy.Declared));
            HideColumns("Job", "Toolchain", "IterationCount", "LaunchCount", "WarmupCount", "IterationTime", "Error", "Gen0", "Gen1", "Gen2", "Alloc Ratio");
            WithArtifactsPath(Path.Combine(AppContext.BaseDirectory, "BenchmarkDotNet.Artifacts"));
        }
    }
}
