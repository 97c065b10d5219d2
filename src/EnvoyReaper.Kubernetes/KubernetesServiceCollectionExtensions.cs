using EnvoyReaper.Cluster;
using k8s;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
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
        services.AddSingleton<IKubernetes>(provider => ClusterAccess.CreateClient(provider.GetRequiredService<IOptions<ClusterAccessOptions>>().Value));
        services.AddSingleton<KubernetesCluster>();
        services.AddSingleton<IClusterReader>(provider => provider.GetRequiredService<KubernetesCluster>());
        services.AddSingleton<IClusterWriter>(provider => provider.GetRequiredService<KubernetesCluster>());
        services.AddSingleton<IEventRecorder>(provider => provider.GetRequiredService<KubernetesCluster>());
        services.AddSingleton<IWorkloadStatusWriter>(provider => provider.GetRequiredService<KubernetesCluster>());
        return services;
    }
}
