using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using Perfolizer.Horology;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Order;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Perfolizer.Metrology;

namespace EnvoyReaper.Benchmarks;

/// <summary>
/// A short in-process job for a noisy 2-core machine: no separate build/process per benchmark, 2 warmups, 5 measured
/// iterations of about 250 ms each (invocation count chosen by the pilot). Enough to compare against a baseline measured
/// in the same run, not for absolute figures to the last percent.
/// </summary>
public sealed class ShortRunConfig : ManualConfig
{
    public ShortRunConfig()
    {
        AddJob(Job.Default
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithLaunchCount(1)
            .WithWarmupCount(2)
            .WithIterationCount(5)
            .WithIterationTime(TimeInterval.FromMilliseconds(250))
            .WithId("ShortInProcess"));
        AddDiagnoser(MemoryDiagnoser.Default);
        AddColumn(BodyColumns.Stats, BodyColumns.Body, BodyColumns.Throughput, BodyColumns.OfCeiling);
        WithOrderer(new DefaultOrderer(SummaryOrderPolicy.Declared, MethodOrderPolicy.Declared));
        WithSummaryStyle(SummaryStyle.Default.WithSizeUnit(SizeUnit.B).WithMaxParameterColumnWidth(20));
        HideColumns("Job", "Toolchain", "IterationCount", "LaunchCount", "WarmupCount", "IterationTime", "Error", "Gen0", "Gen1", "Gen2", "Alloc Ratio");

        // Reports go under this project's bin/ (ignored by git), not into whatever directory the command ran from.
        WithArtifactsPath(Path.Combine(AppContext.BaseDirectory, "BenchmarkDotNet.Artifacts"));
    }
}
