using k8s;

namespace EnvoyReaper.Kubernetes;

public static class ClusterAccess
{
    /// <exception cref="InvalidOperationException">The settings do not describe a reachable cluster configuration.</exception>
    public static KubernetesClientConfiguration BuildConfiguration(ClusterAccessOptions options)
    {
        KubernetesClientConfiguration configuration;
        switch (options.Mode)
        {
            case ClusterAccessMode.InCluster:
                if (!KubernetesClientConfiguration.IsInCluster())
                {
                    throw new InvalidOperationException(
                        "Kubernetes:Mode is InCluster, but this process is not in a pod (KUBERNETES_SERVICE_HOST/PORT or the service account token are missing). Use Kubernetes:Mode=KubeConfig outside the cluster.");
                }

                configuration = KubernetesClientConfiguration.InClusterConfig();
                break;
            case ClusterAccessMode.KubeConfig:
                if (string.IsNullOrWhiteSpace(options.KubeConfigPath) || !File.Exists(options.KubeConfigPath))
                {
                    throw new InvalidOperationException($"Kubernetes:KubeConfigPath '{options.KubeConfigPath}' does not exist.");
                }

                try
                {
                    configuration = KubernetesClientConfiguration.BuildConfigFromConfigFile(options.KubeConfigPath, string.IsNullOrWhiteSpace(options.Context) ? null : options.Context);
                }
                catch (Exception exception) when (exception is not OperationCanceledException)
                {
                    // Not only KubeConfigException: the client lets YamlDotNet's exceptions out for a malformed file and
                    // a NullReferenceException for an empty one. Whatever it throws, the file cannot be used.
                    throw new InvalidOperationException($"Kubernetes:KubeConfigPath '{options.KubeConfigPath}' (context '{options.Context ?? "current"}') cannot be used: {exception.Message}", exception);
                }

                break;
            default:
                throw new InvalidOperationException("Kubernetes:Mode is required: InCluster or KubeConfig.");
        }

        configuration.HttpClientTimeout = TimeSpan.FromSeconds(options.RequestTimeoutSeconds);
        return configuration;
    }

    public static IKubernetes CreateClient(ClusterAccessOptions options) => new k8s.Kubernetes(BuildConfiguration(options));
}
