using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Azure.Core;
using Azure.Identity;

namespace EnvoyReaper.Kubernetes.Access;

/// <summary>
/// AKS with Microsoft Entra ID integration and Azure RBAC for Kubernetes: the API server accepts Entra access tokens
/// issued for the AKS server application, the same well-known application in every tenant.
/// </summary>
public static class AksEntraAccess
{
    /// <summary>The application id of the Azure Kubernetes Service AAD Server application (kubelogin's <c>--server-id</c>).</summary>
    public const string ServerApplicationId = "6dae42f8-4368-4678-94ff-3960e28e3630";

    /// <summary>The scope the managed identity asks tokens for.</summary>
    public const string Scope = ServerApplicationId + "/.default";

    /// <summary>
    /// The DI key of the <see cref="TokenCredential"/> used in <see cref="ClusterAccessMode.AksEntra"/>. A keyed service,
    /// so that it never collides with a credential other parts of the app register; register another one under this
    /// key (before or after <c>AddReaperKubernetes</c>) to replace it.
    /// </summary>
    public const string CredentialServiceKey = "EnvoyReaper.Kubernetes.AksEntra";

    /// <summary>
    /// The user-assigned managed identity named by <see cref="ClusterAccessOptions.ClientId"/>, or, without one,
    /// <see cref="DefaultAzureCredential"/> (the system-assigned identity in Azure, developer sign-ins locally).
    /// Nothing is requested here: the first token is fetched with the first Kubernetes request.
    /// </summary>
    public static TokenCredential CreateCredential(ClusterAccessOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return string.IsNullOrWhiteSpace(options.ClientId)
            ? new DefaultAzureCredential()
            : new ManagedIdentityCredential(ManagedIdentityId.FromUserAssignedClientId(options.ClientId.Trim()));
    }

    /// <summary>How the identity is described in messages: the client id is not a secret, the token is never shown.</summary>
    internal static string DescribeIdentity(string? clientId) =>
        string.IsNullOrWhiteSpace(clientId)
            ? "DefaultAzureCredential (system-assigned managed identity; Kubernetes:ClientId is not set)"
            : $"the user-assigned managed identity with client id {clientId.Trim()}";

    /// <summary>The problems of the AksEntra settings, each naming its setting; empty when they are usable.</summary>
    internal static IEnumerable<(string Message, string Member)> Problems(ClusterAccessOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.Server))
        {
            yield return ("Kubernetes:Server is required when Kubernetes:Mode is AksEntra: the https URL of the AKS API server (az aks show --query fqdn)", nameof(options.Server));
        }
        else if (!TryParseServer(options.Server, out _, out var serverProblem))
        {
            yield return (serverProblem, nameof(options.Server));
        }

        if (!string.IsNullOrWhiteSpace(options.CertificateAuthorityData))
        {
            string? caProblem = null;
            try
            {
                using var certificates = new DisposableCollection(ParseCertificateAuthorityData(options.CertificateAuthorityData));
            }
            catch (InvalidOperationException exception)
            {
                caProblem = exception.Message;
            }

            if (caProblem is not null)
            {
                yield return (caProblem, nameof(options.CertificateAuthorityData));
            }
        }

        if (!string.IsNullOrWhiteSpace(options.ClientId) && !Guid.TryParse(options.ClientId.Trim(), out _))
        {
            yield return ($"Kubernetes:ClientId '{options.ClientId}' is not a GUID: it is the client id of the user-assigned managed identity (leave it empty for the system-assigned one)", nameof(options.ClientId));
        }
    }

    internal static bool TryParseServer(string? server, out Uri uri, out string problem)
    {
        uri = null!;
        problem = string.Empty;
        if (!Uri.TryCreate(server?.Trim(), UriKind.Absolute, out var parsed) || string.IsNullOrEmpty(parsed.Host))
        {
            problem = $"Kubernetes:Server '{server}' is not an absolute URL: the https URL of the AKS API server is expected";
            return false;
        }

        if (parsed.Scheme != Uri.UriSchemeHttps)
        {
            problem = $"Kubernetes:Server '{server}' must be an https URL when Kubernetes:Mode is AksEntra: the bearer token is never sent in clear text";
            return false;
        }

        if (!string.IsNullOrEmpty(parsed.UserInfo) || !string.IsNullOrEmpty(parsed.Query) || !string.IsNullOrEmpty(parsed.Fragment))
        {
            problem = $"Kubernetes:Server must be the API server's https URL without credentials, query or fragment";
            return false;
        }

        uri = parsed;
        return true;
    }

    /// <summary>
    /// The certificates of a kubeconfig's <c>certificate-authority-data</c>: base64 of a PEM bundle (base64 of one DER
    /// certificate is accepted as well).
    /// </summary>
    /// <exception cref="InvalidOperationException">The value is not base64 or holds no certificate.</exception>
    internal static X509Certificate2Collection ParseCertificateAuthorityData(string data)
    {
        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(data.Trim());
        }
        catch (FormatException)
        {
            throw new InvalidOperationException("Kubernetes:CertificateAuthorityData is not base64: it is the cluster's certificate-authority-data (base64 of the PEM CA bundle)");
        }

        var certificates = new X509Certificate2Collection();
        try
        {
            var text = Encoding.ASCII.GetString(bytes);
            if (text.Contains("-----BEGIN", StringComparison.Ordinal))
            {
                certificates.ImportFromPem(text);
            }
            else
            {
                certificates.Add(X509CertificateLoader.LoadCertificate(bytes));
            }
        }
        catch (CryptographicException exception)
        {
            DisposeAll(certificates);
            throw new InvalidOperationException($"Kubernetes:CertificateAuthorityData holds no readable certificate: {exception.Message}", exception);
        }

        if (certificates.Count == 0)
        {
            throw new InvalidOperationException("Kubernetes:CertificateAuthorityData holds no certificate: a PEM bundle with at least one CERTIFICATE block is expected");
        }

        return certificates;
    }

    private static void DisposeAll(X509Certificate2Collection certificates)
    {
        foreach (var certificate in certificates)
        {
            certificate.Dispose();
        }
    }

    private sealed class DisposableCollection(X509Certificate2Collection certificates) : IDisposable
    {
        public void Dispose() => DisposeAll(certificates);
    }
}
