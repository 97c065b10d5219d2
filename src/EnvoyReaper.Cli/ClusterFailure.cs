using k8s.Autorest;
using k8s.Exceptions;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Cli;

/// <summary>How a command reports that the cluster could not be configured or reached: the line for stderr and the exit code.</summary>
internal static class ClusterFailure
{
    public static (int ExitCode, string Message)? Describe(Exception exception) => exception switch
    {
        InvalidOperationException or OptionsValidationException or KubeConfigException => (2, exception.Message),
        HttpOperationException http => (3, $"the API server answered {(int)http.Response.StatusCode}: {http.Response.Content}"),
        HttpRequestException => (3, $"cannot reach the API server: {exception.Message}"),
        _ => null,
    };
}
