using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Kubernetes;

/// <summary>
/// An unknown context, a malformed kubeconfig, InCluster outside a pod or unusable AksEntra settings stop the app at
/// start, not at the first timer. No token is requested here: a credential problem shows with the first request.
/// </summary>
internal sealed class ClusterAccessValidator : IValidateOptions<ClusterAccessOptions>
{
    public ValidateOptionsResult Validate(string? name, ClusterAccessOptions options)
    {
        if (options.Mode is null || options.Validate(new ValidationContext(options)).Any())
        {
            return ValidateOptionsResult.Skip; // reported by the data annotations, with a message naming the setting
        }

        try
        {
            var configuration = ClusterAccess.BuildUnauthenticated(options);
            foreach (var certificate in configuration.SslCaCerts ?? [])
            {
                certificate.Dispose(); // a configuration built only to be checked
            }

            return ValidateOptionsResult.Success;
        }
        catch (InvalidOperationException exception)
        {
            return ValidateOptionsResult.Fail(exception.Message);
        }
    }
}
