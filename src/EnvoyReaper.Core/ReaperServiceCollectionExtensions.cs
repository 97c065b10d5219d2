using EnvoyReaper.Envoy;
using EnvoyReaper.Idleness;
using EnvoyReaper.Messaging;
using EnvoyReaper.Teardown;
using EnvoyReaper.Workloads;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace EnvoyReaper;

public static class ReaperServiceCollectionExtensions
{
    public const string EnvoyStatsSection = "EnvoyStats";

    /// <summary>Discovery, stats reads and the idle rules: what the function app and the read-only command line share.</summary>
    public static IServiceCollection AddReaperCore(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ReaperOptions>().Bind(configuration.GetSection(ReaperOptions.SectionName)).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<TeardownBreakerOptions>().Bind(configuration.GetSection(ReaperOptions.SectionName)).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<EnvoyStatsReaderOptions>().Bind(configuration.GetSection(EnvoyStatsSection)).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.AddSingleton<ReaperMetrics>();
        services.AddSingleton(provider => new IdlePolicy(provider.GetRequiredService<IOptions<ReaperOptions>>().Value));
        services.AddSingleton<PodStatsCollector>();
        services.AddSingleton<WorkloadDiscovery>();
        services.AddSingleton<StatsCheckPlanner>();
        services.AddSingleton<WorkloadScanner>();

        services.AddHttpClient<IEnvoyStatsReader, EnvoyStatsReader>()
            .ConfigurePrimaryHttpMessageHandler(EnvoyStatsReader.CreateHandler)
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan);
        return services;
    }

    /// <summary>The queue-driven pipeline on top of the core: needs a work queue, a state store and a snapshot store.</summary>
    public static IServiceCollection AddReaperPipeline(this IServiceCollection services)
    {
        services.AddSingleton<DiscoveryCycle>();
        services.AddSingleton<MessageIntake>();
        services.AddSingleton<WorkloadStateCache>();
        services.AddSingleton<StatsCheckProcessor>();
        services.AddSingleton<TeardownBreaker>();
        services.AddSingleton<TeardownProcessor>();
        services.AddSingleton<WorkloadOverview>();
        services.AddSingleton<WorkloadRestorer>();
        return services;
    }

    /// <summary>Wake on traffic: parking at teardown and the "wake" queue. Needs the parking port, the wake queue and stores.</summary>
    public static IServiceCollection AddReaperWaking(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<Waking.WakerOptions>().Bind(configuration.GetSection(Waking.WakerOptions.SectionName)).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<Waking.WorkloadParking>();
        services.AddSingleton<Waking.WakeProcessor>();
        return services;
    }
}
