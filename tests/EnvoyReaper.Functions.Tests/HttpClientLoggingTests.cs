using EnvoyReaper.Envoy;
using EnvoyReaper.Functions.Tests.Support;
using EnvoyReaper.TestSupport.Envoy;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace EnvoyReaper.Functions.Tests;

/// <summary>
/// IHttpClientFactory logs four Information lines per request under System.Net.Http.HttpClient.*: one stats read per
/// pod per minute would fill Application Insights. The app keeps them at Warning unless configuration says otherwise.
/// </summary>
public sealed class HttpClientLoggingTests : IDisposable
{
    private const string HttpClientCategory = "System.Net.Http.HttpClient.IEnvoyStatsReader.LogicalHandler";

    private readonly UnreachableKubeConfig kubeconfig = new();
    private readonly List<string> logs = [];

    public void Dispose() => kubeconfig.Dispose();

    private Dictionary<string, string?> Settings(params (string Key, string Value)[] extra)
    {
        var settings = new Dictionary<string, string?>
        {
            ["AzureWebJobsStorage"] = EnvoyReaper.TestSupport.Storage.AzuriteStorage.ConnectionString,
            ["Kubernetes:Mode"] = "KubeConfig",
            ["Kubernetes:KubeConfigPath"] = kubeconfig.Path,
            ["Logging:LogLevel:Default"] = "Information",
        };
        foreach (var (key, value) in extra)
        {
            settings[key] = value;
        }

        return settings;
    }

    /// <summary>The container as Program.cs builds it, logging configured from the "Logging" section as the host does.</summary>
    private ServiceProvider Build(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddLogging(logging => logging.AddConfiguration(configuration.GetSection("Logging")).AddProvider(new ListLoggerProvider(() => logs)));
        services.AddEnvoyReaperFunctions(configuration);
        return services.BuildServiceProvider();
    }

    private List<string> HttpClientLines() => logs.Where(line => line.Contains(": System.Net.Http.HttpClient.", StringComparison.Ordinal)).ToList();

    [Fact]
    public async Task A_stats_read_writes_no_Information_line_from_the_HttpClient_categories()
    {
        await using var envoys = await FakeEnvoyFleet.StartAsync(1);
        using var provider = Build(Settings());

        var result = await provider.GetRequiredService<IEnvoyStatsReader>().ReadAsync(envoys.Pods[0].StatsEndpoint, CancellationToken.None);

        Assert.IsType<StatsReadResult.Success>(result);
        Assert.Empty(HttpClientLines());
    }

    [Fact]
    public void A_Warning_from_the_HttpClient_categories_is_still_written_and_Information_is_not()
    {
        using var provider = Build(Settings());
        var logger = provider.GetRequiredService<ILoggerFactory>().CreateLogger(HttpClientCategory);

        logger.LogInformation("request started");
        logger.LogWarning("request failed");

        Assert.Equal(["Warning: " + HttpClientCategory + ": request failed"], HttpClientLines());
    }

    [Fact]
    public void Configuration_can_bring_the_HttpClient_lines_back()
    {
        using var provider = Build(Settings(("Logging:LogLevel:System.Net.Http.HttpClient", "Information")));
        var logger = provider.GetRequiredService<ILoggerFactory>().CreateLogger(HttpClientCategory);

        logger.LogInformation("request started");

        Assert.Single(HttpClientLines());
    }

    [Fact]
    public void Under_the_function_apps_own_builder_the_HttpClient_categories_stay_at_Warning()
    {
        var builder = FunctionsApplication.CreateBuilder([]);
        builder.Configuration.AddInMemoryCollection(Settings());
        builder.Logging.AddProvider(new ListLoggerProvider(() => logs));
        builder.Services.AddEnvoyReaperFunctions(builder.Configuration);
        using var host = builder.Build();
        var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger(HttpClientCategory);

        logger.LogInformation("request started");
        logger.LogWarning("request failed");

        Assert.Equal(["Warning: " + HttpClientCategory + ": request failed"], HttpClientLines());
    }
}
