using BenchmarkDotNet.Running;

namespace EnvoyReaper.Benchmarks;

/// <summary>
/// Runs the benchmarks chosen on the command line (BenchmarkDotNet's switcher), for example the stats parsing ones:
/// <code>dotnet run -c Release --project tests/EnvoyReaper.Benchmarks -- --filter '*Parsing*'</code>
/// </summary>
internal static class Program
{
    private static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
