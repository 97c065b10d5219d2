using Microsoft.Extensions.Options;

namespace EnvoyReaper.Kubernetes;

/// <summary>An unknown context, a malformed kubeconfig or InCluster outside a pod stop the app at start, not at the first timer.</summary>
internal sealed class ClusterAccessValidator : IValidateOptions<ClusterAccessOptions>
{
    public ValidateOptionsResult Validate(string? name, ClusterAccessOptions options)
    {
        if (options.Mode is null || (options.Mode == ClusterAccessMode.KubeConfig && !File.Exists(options.KubeConfigPath)))
        {
            return ValidateOptionsResult.Skip; // reported by the data annotations, with a message naming the setting
        }

        try
        {
            ClusterAccess.BuildConfiguration(options);
            return ValidateOptionsResult.Success;
        }
        catch (InvalidOperationException exception)
        {
            return ValidateOptionsResult.Fail(exception.Message);
        }
    }
}
