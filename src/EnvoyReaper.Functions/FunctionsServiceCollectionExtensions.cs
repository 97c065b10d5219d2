using EnvoyReaper.Kubernetes;
using EnvoyReaper.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace EnvoyReaper.Functions;

public static class FunctionsServiceCollectionExtensions
{
    /// <summary>Everything the functions need; tests build their container with this same call.</summary>
    public static IServiceCollection AddEnvoyReaperFunctions(this IServiceCollection services, IConfiguration configuration) =>
        services
            .AddReaperCore(configuration)
            .AddReaperPipeline()
            .AddReaperKubernetes(configuration)
            .AddReaperStorage(configuration);
}
