using Azure.Monitor.OpenTelemetry.Exporter;
using EnvoyReaper.Kubernetes;
using EnvoyReaper.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;

namespace EnvoyReaper.Functions;

public static class FunctionsServiceCollectionExtensions
{
    /// <summary>Everything the functions need; tests build their container with this same call.</summary>
    public static IServiceCollection AddEnvoyReaperFunctions(this IServiceCollection services, IConfiguration configuration) =>
        services
            .AddReaperCore(configuration)
            .AddReaperPipeline()
            .AddReaperKubernetes(configuration)
            .AddReaperStorage(configuration)
            .AddReaperTelemetry(configuration);

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
