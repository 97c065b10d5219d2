using EnvoyReaper.Kubernetes;
using EnvoyReaper.Storage;
using EnvoyReaper.Teardown;
using k8s.Autorest;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Cli;

/// <summary>`snapshots` and `restore`: the same code as POST /api/restore, from a terminal.</summary>
internal static class RestoreCommands
{
    public static async Task<int> ListAsync(string @namespace, string deployment, string? storage, string container, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        if (ReaperCommandLine.StorageProblem(storage, "blob") is { } problem)
        {
            await stderr.WriteLineAsync($"error: {problem}");
            return ExitCodes.Configuration;
        }

        try
        {
            var store = new BlobSnapshotStore(new Azure.Storage.Blobs.BlobContainerClient(storage, container));
            foreach (var name in await store.ListAsync(@namespace, deployment, cancellationToken))
            {
                await stdout.WriteLineAsync(name);
            }

            return ExitCodes.Success;
        }
        catch (Exception exception) when (exception is Azure.RequestFailedException or AggregateException)
        {
            await stderr.WriteLineAsync($"error: cannot read snapshots: {CommandFailure.Describe(exception).Message}");
            return ExitCodes.Unavailable;
        }
    }

    public static async Task<int> RestoreAsync(
        ClusterAccessOptions access, string @namespace, string deployment, string? snapshot, string? storage, string container,
        TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        if (ReaperCommandLine.StorageProblem(storage, "blob") is { } problem)
        {
            await stderr.WriteLineAsync($"error: {problem}");
            return ExitCodes.Configuration;
        }

        try
        {
            var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["AzureWebJobsStorage"] = storage,
                ["Reaper:SnapshotContainer"] = container,
                ["Kubernetes:Mode"] = access.Mode?.ToString(),
                ["Kubernetes:KubeConfigPath"] = access.KubeConfigPath,
                ["Kubernetes:Context"] = access.Context,
            }).Build();
            await using var services = new ServiceCollection()
                .AddLogging(logging => logging.AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace).SetMinimumLevel(LogLevel.Warning))
                .AddReaperCore(configuration)
                .AddReaperPipeline()
                .AddReaperKubernetes(configuration)
                .AddReaperStorage(configuration)
                .BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
            _ = services.GetRequiredService<IOptions<ClusterAccessOptions>>().Value;
            var result = await services.GetRequiredService<WorkloadRestorer>().RestoreAsync(@namespace, deployment, snapshot, cancellationToken);
            if (result.Status is RestoreStatus.Restored or RestoreStatus.ScaledBack)
            {
                await stdout.WriteLineAsync(result.Detail);
                return ExitCodes.Success;
            }

            await stderr.WriteLineAsync($"error: {result.Detail}");
            return result.Status is RestoreStatus.AlreadyExists or RestoreStatus.Changed ? ExitCodes.Refused : ExitCodes.Unavailable;
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            var (exitCode, message) = CommandFailure.Describe(exception);
            await stderr.WriteLineAsync($"error: {message}");
            return exitCode;
        }
    }
}
