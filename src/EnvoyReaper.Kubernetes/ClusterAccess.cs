using EnvoyReaper.Kubernetes.Access;
using k8s;
using k8s.Authentication;

namespace EnvoyReaper.Kubernetes;

public static class ClusterAccess
{
    /// <summary>
    /// The client configuration for <paramref name="options"/>. In <see cref="ClusterAccessMode.AksEntra"/> the tokens
    /// come from <see cref="AksEntraAccess.CreateCredential"/>; use the overload with a token provider to choose it.
    /// </summary>
    /// <exception cref="InvalidOperationException">The settings do not describe a reachable cluster configuration.</exception>
    public static KubernetesClientConfiguration BuildConfiguration(ClusterAccessOptions options) => BuildConfiguration(options, aksEntraTokens: null);

    /// <param name="options">The settings.</param>
    /// <param name="aksEntraTokens">
    /// AksEntra mode: the source of the bearer tokens (an <see cref="AksEntraTokenProvider"/>); when null one is made
    /// over <see cref="AksEntraAccess.CreateCredential"/>. Ignored in the other modes.
    /// </param>
    /// <exception cref="InvalidOperationException">The settings do not describe a reachable cluster configuration.</exception>
    public static KubernetesClientConfiguration BuildConfiguration(ClusterAccessOptions options, ITokenProvider? aksEntraTokens)
    {
        ArgumentNullException.ThrowIfNull(options);
        var configuration = BuildUnauthenticated(options);
        if (options.Mode == ClusterAccessMode.AksEntra)
        {
            configuration.TokenProvider = aksEntraTokens ?? new AksEntraTokenProvider(AksEntraAccess.CreateCredential(options), clientId: options.ClientId);
        }

        return configuration;
    }

    public static IKubernetes CreateClient(ClusterAccessOptions options) => new k8s.Kubernetes(BuildConfiguration(options));

    /// <summary>
    /// A client whose AksEntra tokens come from <paramref name="aksEntraTokens"/> (see
    /// <see cref="BuildConfiguration(ClusterAccessOptions, ITokenProvider?)"/>), with <paramref name="handlers"/> in its
    /// HTTP pipeline (such as <see cref="ThrottledRequestRetryHandler"/>).
    /// </summary>
    public static IKubernetes CreateClient(ClusterAccessOptions options, ITokenProvider? aksEntraTokens, params DelegatingHandler[] handlers) =>
        new k8s.Kubernetes(BuildConfiguration(options, aksEntraTokens), handlers);

    /// <summary>
    /// Everything but the AksEntra token provider, which needs a credential: what the start-up validation checks.
    /// </summary>
    internal static KubernetesClientConfiguration BuildUnauthenticated(ClusterAccessOptions options)
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
                    throw new InvalidOperationException($"Kubernetes:KubeConfigPath '{options.KubeConfigPath}'{(string.IsNullOrWhiteSpace(options.Context) ? string.Empty : $" (context '{options.Context}')")} cannot be used: {exception.Message}", exception);
                }

                break;
            case ClusterAccessMode.AksEntra:
                configuration = BuildAksEntra(options);
                break;
            default:
                throw new InvalidOperationException("Kubernetes:Mode is required: InCluster, KubeConfig or AksEntra.");
        }

        configuration.HttpClientTimeout = TimeSpan.FromSeconds(options.RequestTimeoutSeconds);
        configuration.FirstMessageHandlerSetup = AcceptGzip;
        return configuration;
    }

    /// <summary>
    /// Asks for gzip, as client-go does by default: the API server compresses a response over 128 KiB (a page of pods:
    /// about 9 KB each) at its fastest level, and the pod lists of a cycle shrink about tenfold on the wire.
    /// </summary>
    private static void AcceptGzip(HttpMessageHandler handler)
    {
        switch (handler)
        {
            case SocketsHttpHandler sockets:
                sockets.AutomaticDecompression = System.Net.DecompressionMethods.GZip;
                break;
            case HttpClientHandler client:
                client.AutomaticDecompression = System.Net.DecompressionMethods.GZip;
                break;
        }
    }

    private static KubernetesClientConfiguration BuildAksEntra(ClusterAccessOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.Server))
        {
            throw new InvalidOperationException("Kubernetes:Server is required when Kubernetes:Mode is AksEntra: the https URL of the AKS API server.");
        }

        if (!AksEntraAccess.TryParseServer(options.Server, out var server, out var problem))
        {
            throw new InvalidOperationException(problem + ".");
        }

        if (!string.IsNullOrWhiteSpace(options.ClientId) && !Guid.TryParse(options.ClientId.Trim(), out _))
        {
            throw new InvalidOperationException($"Kubernetes:ClientId '{options.ClientId}' is not a GUID: it is the client id of the user-assigned managed identity.");
        }

        return new KubernetesClientConfiguration
        {
            Host = server.GetLeftPart(UriPartial.Path).TrimEnd('/'),

            // Null: the system trust store decides (KubernetesClient only installs its own validation when CAs are given).
            SslCaCerts = string.IsNullOrWhiteSpace(options.CertificateAuthorityData) ? null : AksEntraAccess.ParseCertificateAuthorityData(options.CertificateAuthorityData),
            SkipTlsVerify = false,
        };
    }
}
