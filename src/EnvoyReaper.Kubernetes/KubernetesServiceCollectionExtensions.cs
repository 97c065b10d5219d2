using Azure.Core;
using EnvoyReaper.Cluster;
using EnvoyReaper.Kubernetes.Access;
using k8s;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Kubernetes;

public static class KubernetesServiceCollectionExtensions
{
    public static IServiceCollection AddReaperKubernetes(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ClusterAccessOptions>()
            .Bind(configuration.GetSection(ClusterAccessOptions.SectionName))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<ClusterAccessOptions>, ClusterAccessValidator>();
        services.AddOptions<EnvoyReaper.Injection.InjectionOptions>().Bind(configuration.GetSection(EnvoyReaper.Injection.InjectionOptions.SectionName)).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<EnvoyReaper.Kubernetes.Injection.SidecarInjector>();

        // AksEntra mode only (resolved lazily): the managed identity, replaceable under its key, and the token cache over it.
        services.TryAddKeyedSingleton<TokenCredential>(
            AksEntraAccess.CredentialServiceKey,
            (provider, _) => AksEntraAccess.CreateCredential(provider.GetRequiredService<IOptions<ClusterAccessOptions>>().Value));
        services.TryAddSingleton(provider => new AksEntraTokenProvider(
            provider.GetRequiredKeyedService<TokenCredential>(AksEntraAccess.CredentialServiceKey),
            provider.GetService<TimeProvider>() ?? TimeProvider.System,
            provider.GetService<ILogger<AksEntraTokenProvider>>(),
            provider.GetRequiredService<IOptions<ClusterAccessOptions>>().Value.ClientId));
        services.TryAddSingleton(provider => new ApiWriteBudget(
            ApiWriteBudgetPolicy.From(provider.GetRequiredService<IOptions<ClusterAccessOptions>>().Value),
            provider.GetService<TimeProvider>() ?? TimeProvider.System,
            provider.GetService<ILogger<ApiWriteBudget>>()));
        services.AddSingleton<IKubernetes>(provider =>
        {
            var options = provider.GetRequiredService<IOptions<ClusterAccessOptions>>().Value;
            var throttling = new ThrottledRequestRetryHandler(
                ThrottleRetryPolicy.From(options),
                provider.GetService<TimeProvider>() ?? TimeProvider.System,
                provider.GetService<ILogger<ThrottledRequestRetryHandler>>() ?? Microsoft.Extensions.Logging.Abstractions.NullLogger<ThrottledRequestRetryHandler>.Instance);
            return ClusterAccess.CreateClient(
                options,
                options.Mode == ClusterAccessMode.AksEntra ? provider.GetRequiredService<AksEntraTokenProvider>() : null,
                new ApiWriteBudgetHandler(provider.GetRequiredService<ApiWriteBudget>()),
                throttling);
        });
        services.AddSingleton<KubernetesCluster>();
        services.AddSingleton<IClusterReader>(provider => provider.GetRequiredService<KubernetesCluster>());
        services.AddSingleton<IClusterWriter>(provider => provider.GetRequiredService<KubernetesCluster>());
        services.AddSingleton<IEventRecorder>(provider => provider.GetRequiredService<KubernetesCluster>());
        services.AddSingleton<IWorkloadStatusWriter>(provider => provider.GetRequiredService<KubernetesCluster>());
        services.AddSingleton<EnvoyReaper.Waking.IParkingCluster>(provider => provider.GetRequiredService<KubernetesCluster>());
        return services;
    }
}
