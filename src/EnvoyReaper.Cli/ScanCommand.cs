using System.Text.Json;
using System.Text.Json.Serialization;
using EnvoyReaper.Workloads;
using k8s.Autorest;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using EnvoyReaper.Kubernetes;

namespace EnvoyReaper.Cli;

internal static class ScanCommand
{
    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    public static async Task<int> RunAsync(ClusterAccessOptions access, string output, string? storage, string stateTable, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        ScanReport report;
        try
        {
            await using var services = ReaperCommandLine.BuildServices(access);
            ReaperCommandLine.ValidateOptions(services);
            report = await services.GetRequiredService<WorkloadScanner>().ScanAsync(cancellationToken);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            var (exitCode, message) = CommandFailure.Describe(exception);
            await stderr.WriteLineAsync($"error: {message}");
            return exitCode;
        }

        var breaker = string.IsNullOrWhiteSpace(storage) ? null : await BreakerCommands.TryReadForScanAsync(storage, stateTable, stderr, cancellationToken);
        if (output == "json")
        {
            await stdout.WriteLineAsync(JsonSerializer.Serialize(ToJson(report, breaker?.Status), JsonOptions));
        }
        else
        {
            await stdout.WriteAsync(ToTable(report));
            if (breaker is { } known)
            {
                await stdout.WriteAsync(BreakerCommands.Describe(known.Status, known.Options));
            }
        }

        return ExitCodes.Success;
    }

    private static object ToJson(ScanReport report, Teardown.BreakerStatus? breaker) => new
    {
        workloads = report.Workloads.Select(workload => new
        {
            @namespace = workload.Namespace,
            name = workload.Name,
            verdict = workload.Verdict.ToString(),
            activeConnections = workload.ActiveConnections,
            source = workload.Source.ToString().ToLowerInvariant(),
            monitor = workload.Monitor,
            reason = workload.Reason,
            minConnections = workload.Settings?.MinConnections,
            idleTimeout = workload.Settings is { } settings ? GoDuration.Format(settings.IdleTimeout) : null,
            action = workload.Settings?.Action.ToContractName(),
            pods = workload.Pods.Select(pod => new { name = pod.Name, ip = pod.Ip, ready = pod.Ready, readable = pod.Readable, activeConnections = pod.ActiveConnections, error = pod.Error }),
        }),
        problems = report.Problems.Select(problem => new { @namespace = problem.Namespace, name = problem.Name, source = problem.Source.ToString().ToLowerInvariant(), message = problem.Message }),
        breaker,
    };

    private static string ToTable(ScanReport report)
    {
        var rows = new List<string[]> { new[] { "NAMESPACE", "NAME", "SOURCE", "VERDICT", "ACTIVE", "PODS", "ACTION", "REASON" } };
        rows.AddRange(report.Workloads.Select(workload => new[]
        {
            workload.Namespace,
            workload.Name,
            workload.Monitor is null ? "label" : $"monitor/{workload.Monitor}",
            workload.Verdict.ToString(),
            workload.ActiveConnections?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-",
            $"{workload.Pods.Count(pod => pod.Readable)}/{workload.Pods.Count}",
            workload.Settings?.Action.ToContractName() ?? "-",
            workload.Reason,
        }));
        var widths = Enumerable.Range(0, rows[0].Length - 1).Select(column => rows.Max(row => row[column].Length)).ToArray();
        var writer = new StringWriter();
        foreach (var row in rows)
        {
            for (var column = 0; column < widths.Length; column++)
            {
                writer.Write(row[column].PadRight(widths[column] + 2));
            }

            writer.WriteLine(row[^1]);
        }

        foreach (var problem in report.Problems)
        {
            writer.WriteLine($"not monitored: {problem.Namespace}/{problem.Name} ({problem.Source}): {problem.Message}");
        }

        return writer.ToString();
    }
}
