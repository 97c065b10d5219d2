using Azure.Monitor.OpenTelemetry.Exporter;
using EnvoyReaper.Injection;
using EnvoyReaper.Kubernetes;
using EnvoyReaper.Kubernetes.Injection;
using EnvoyReaper.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;

namespace EnvoyReaper.Functions;

public static class FunctionsServiceCollectionExtensions
{
    /// <summary>Everything the functions need; tests build their container with this same call.</summary>
    public static IServiceCollection AddEnvoyReaperFunctions(this IServiceCollection services, IConfiguration configuration) =>
        services
            .AddReaperCore(configuration)
            .AddReaperPipeline()
            .AddReaperWaking(configuration)
            .AddReaperKubernetes(configuration)
            .AddReaperStorage(configuration)
            .AddReaperInjectionRollouts(configuration)
            .AddReaperTelemetry(configuration)
            .AddReaperLogging();

    /// <summary>The two-phase injection of the endpoints: it needs the queues and table the command line does not have.</summary>
    public static IServiceCollection AddReaperInjectionRollouts(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<RolloutOptions>().Bind(configuration.GetSection(RolloutOptions.SectionName)).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<InjectionRollouts>();
        return services;
    }

    /// <summary>The prefix of the categories IHttpClientFactory logs every request under (four Information lines each).</summary>
    public const string HttpClientLogCategory = "System.Net.Http.HttpClient";

    /// <summary>
    /// Keeps the HttpClient request lines at Warning: one stats read per pod per check would otherwise fill Application
    /// Insights. "Logging:LogLevel:System.Net.Http.HttpClient" (or a longer category) in configuration still decides.
    /// </summary>
    public static IServiceCollection AddReaperLogging(this IServiceCollection services) =>
        // First in the list: of two rules as specific as each other the later wins, so a configured one overrides this.
        services.Configure<LoggerFilterOptions>(options => options.Rules.Insert(0, new LoggerFilterRule(null, HttpClientLogCategory, LogLevel.Warning, null)));

    /// <summary>
    /// The "EnvoyReaper" meter, exported to Application Insights when APPLICATIONINSIGHTS_CONNECTION_STRING is set and
    /// to an OpenTelemetry collector when OTEL_EXPORTER_OTLP_ENDPOINT is set; neither: metrics stay in process.
    /// </summary>
    public static IServiceCollection AddReaperTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        var applicationInsights = configuration["APPLICATIONINSIGHTS_CONNECTION_STRING"];
        var otlp = configuration["OTEL_EXPORTER_OTLP_ENDPOINT"];
        services.AddOpenTelemetry().WithMetrics(metrics =>
        {
            metrics.AddMeter(ReaperMetrics.MeterName);
            if (!string.IsNullOrWhiteSpace(applicationInsights))
            {
                metrics.AddAzureMonitorMetricExporter(exporter => exporter.ConnectionString = applicationInsights);
            }

            if (!string.IsNullOrWhiteSpace(otlp))
            {
                metrics.AddOtlpExporter(exporter => exporter.Endpoint = new Uri(otlp));
            }
        });
        return services;
    }
}
