using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using EnvoyReaper.Storage;
using EnvoyReaper.Teardown;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Cli;

/// <summary>`breaker status` and `breaker reset`: the teardown breaker the function app shares through its state table.</summary>
internal static class BreakerCommands
{
    /// <summary>Exit code of `breaker status` when the breaker is open.</summary>
    public const int OpenExitCode = ExitCodes.Refused;

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    public static async Task<int> StatusAsync(string? storage, string table, string output, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        var status = await RunAsync(storage, table, stderr, async (breaker, token) => await breaker.StatusAsync(token), cancellationToken);
        if (status.Exit != 0)
        {
            return status.Exit;
        }

        await stdout.WriteAsync(output == "json" ? JsonSerializer.Serialize(status.Status, JsonOptions) + Environment.NewLine : Describe(status.Status!, status.Options!));
        return status.Status!.Open ? OpenExitCode : 0;
    }

    public static async Task<int> ResetAsync(string? storage, string table, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        var closedBy = $"cli:{Environment.UserName}";
        var result = await RunAsync(storage, table, stderr, (breaker, token) => breaker.ResetAsync(closedBy, token), cancellationToken);
        if (result.Exit != 0)
        {
            return result.Exit;
        }

        if (result.Status is null)
        {
            await stderr.WriteLineAsync("error: the breaker's state kept changing (other instances wrote it at every attempt); try again");
            return ExitCodes.Unavailable;
        }

        await stdout.WriteAsync(Describe(result.Status, result.Options!));
        return ExitCodes.Success;
    }

    /// <summary>The breaker's lines for `scan` and `breaker status`.</summary>
    public static string Describe(BreakerStatus status, TeardownBreakerOptions options)
    {
        var writer = new StringWriter(CultureInfo.InvariantCulture);
        writer.WriteLine(status.Open ? $"teardown breaker: OPEN since {status.OpenedAt:u}: {status.OpenedBecause}" : "teardown breaker: closed");
        var allowed = status.AllowedPerHour is { } limit ? limit.ToString(CultureInfo.InvariantCulture) : "? (no discovery cycle has counted the workloads yet)";
        writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  teardowns in the last hour: {status.TeardownsLastHour} of {allowed} allowed (monitored workloads: {status.MonitoredWorkloads?.ToString(CultureInfo.InvariantCulture) ?? "?"}; MaxTeardownsPerHour {options.MaxTeardownsPerHour}, MaxTeardownFraction {options.MaxTeardownFraction})"));
        if (status.NextSlotAt is { } next)
        {
            writer.WriteLine($"  next slot frees at: {next:u}");
        }

        if (status.ClosedAt is { } closed)
        {
            writer.WriteLine($"  last reset: {closed:u} by {status.ClosedBy}");
        }

        if (status.Open)
        {
            writer.WriteLine("  nothing is torn down until a person resets it: envoy-reaper breaker reset");
        }

        return writer.ToString();
    }

    /// <summary>Reads the breaker for `scan`; null (and a warning) when storage cannot be read, which does not fail a scan.</summary>
    public static async Task<(BreakerStatus Status, TeardownBreakerOptions Options)?> TryReadForScanAsync(string storage, string table, TextWriter stderr, CancellationToken cancellationToken)
    {
        var result = await RunAsync(storage, table, new StringWriter(), async (breaker, token) => await breaker.StatusAsync(token), cancellationToken);
        if (result.Exit != 0 || result.Status is null)
        {
            await stderr.WriteLineAsync("warning: cannot read the teardown breaker from storage; pass --storage or set AzureWebJobsStorage (the scan itself does not need it)");
            return null;
        }

        return (result.Status, result.Options!);
    }

    private static async Task<(int Exit, BreakerStatus? Status, TeardownBreakerOptions? Options)> RunAsync(
        string? storage, string table, TextWriter stderr, Func<TeardownBreaker, CancellationToken, Task<BreakerStatus?>> action, CancellationToken cancellationToken)
    {
        if (ReaperCommandLine.StorageProblem(storage, "table") is { } problem)
        {
            await stderr.WriteLineAsync($"error: {problem}");
            return (ExitCodes.Configuration, null, null);
        }

        try
        {
            var configuration = new ConfigurationBuilder()
                .AddEnvironmentVariables()
                .AddInMemoryCollection(new Dictionary<string, string?>
                {
                    ["AzureWebJobsStorage"] = storage,
                    ["Reaper:StateTable"] = table,
                })
                .Build();
            await using var services = new ServiceCollection()
                .AddLogging(logging => logging.AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace).SetMinimumLevel(LogLevel.Warning))
                .AddReaperCore(configuration)
                .AddReaperStorage(configuration)
                .AddSingleton<TeardownBreaker>()
                .BuildServiceProvider(); // not validated on build: the cluster services of the core are not wired, and not used

            var options = services.GetRequiredService<IOptions<TeardownBreakerOptions>>().Value;
            _ = services.GetRequiredService<IOptions<Workloads.ReaperOptions>>().Value;
            return (ExitCodes.Success, await action(services.GetRequiredService<TeardownBreaker>(), cancellationToken), options);
        }
        catch (OptionsValidationException exception)
        {
            await stderr.WriteLineAsync($"error: {CommandFailure.Describe(exception).Message}");
            return (ExitCodes.Configuration, null, null);
        }
        catch (Exception exception) when (exception is Azure.RequestFailedException or AggregateException or JsonException)
        {
            await stderr.WriteLineAsync($"error: cannot read the teardown breaker: {CommandFailure.Describe(exception).Message}");
            return (ExitCodes.Unavailable, null, null);
        }
    }
}
