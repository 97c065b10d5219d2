using k8s;
using k8s.KubeConfigModels;

namespace EnvoyReaper.Cli;

/// <summary>Finds and checks the kubeconfig of `scan` and `restore`, and says in the CLI's own terms what is wrong with it.</summary>
internal static class KubeConfigFile
{
    /// <summary>The candidates, as kubectl reads them: --kubeconfig, else every entry of $KUBECONFIG, else ~/.kube/config.</summary>
    public static (string? Path, IReadOnlyList<string> Tried) Locate(string? explicitPath, string? kubeconfigVariable, string home)
    {
        IReadOnlyList<string> candidates = explicitPath is { Length: > 0 } ? [explicitPath]
            : kubeconfigVariable?.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) is { Length: > 0 } entries ? entries
            : [Path.Combine(home, ".kube", "config")];
        return (candidates.FirstOrDefault(File.Exists), candidates);
    }

    public static string NotFoundMessage(IReadOnlyList<string> tried) =>
        $"no kubeconfig found (tried {string.Join(", ", tried)}): pass --kubeconfig PATH, and --context NAME for a context other than its current one";

    /// <summary>The path of a usable kubeconfig for <paramref name="context"/>; a <see cref="CommandFailedException"/> saying why not.</summary>
    public static string Resolve(string? explicitPath, string? context)
    {
        var home = Environment.GetEnvironmentVariable("HOME") is { Length: > 0 } variable ? variable : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        var (path, tried) = Locate(explicitPath, Environment.GetEnvironmentVariable("KUBECONFIG"), home);
        if (path is null)
        {
            throw new CommandFailedException(ExitCodes.Configuration, NotFoundMessage(tried));
        }

        if (Problem(path, context) is { } problem)
        {
            throw new CommandFailedException(ExitCodes.Configuration, problem);
        }

        return path;
    }

    /// <summary>Null when the file is a kubeconfig with the context asked for (or a current one).</summary>
    public static string? Problem(string path, string? context)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return $"cannot read the kubeconfig {path}: {CommandFailure.FirstLine(exception.Message)}";
        }

        if (string.IsNullOrWhiteSpace(text))
        {
            return $"the kubeconfig {path} is empty: pass --kubeconfig with the file that holds your cluster";
        }

        K8SConfiguration? configuration;
        try
        {
            configuration = KubernetesClientConfiguration.LoadKubeConfig(new FileInfo(path));
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            // YamlDotNet's exceptions for bad YAML, KubeConfigException for the rest: the file is what is wrong.
            return $"{path} is not a valid kubeconfig: {CommandFailure.FirstLine(exception.Message)}";
        }

        var contexts = configuration?.Contexts?.Select(item => item.Name).Where(name => !string.IsNullOrEmpty(name)).ToList() ?? [];
        if (contexts.Count == 0)
        {
            return $"{path} is not a valid kubeconfig: it has no contexts";
        }

        var known = string.Join(", ", contexts);
        if (context is { Length: > 0 })
        {
            return contexts.Contains(context, StringComparer.Ordinal) ? null : $"the kubeconfig {path} has no context '{context}' (it has: {known}); pick one with --context";
        }

        return configuration!.CurrentContext switch
        {
            null or "" => $"the kubeconfig {path} has no current context: pass --context NAME (it has: {known})",
            var current when !contexts.Contains(current, StringComparer.Ordinal) =>
                $"the current context '{current}' of the kubeconfig {path} is not defined in it: pass --context NAME (it has: {known})",
            _ => null,
        };
    }
}
