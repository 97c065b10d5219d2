using System.Text;
using EnvoyReaper.Injection;
using k8s;
using k8s.Models;

namespace EnvoyReaper.Cli;

/// <summary>
/// Offline injection for GitOps, like istioctl kube-inject: manifests in, injected manifests out, with the planner the
/// endpoint uses. Running it on its own output prints the same output.
/// </summary>
internal static class InjectCommand
{
    public static async Task<int> RunAsync(string file, int? appPort, string? protocol, bool monitor, TextReader stdin, TextWriter stdout, TextWriter stderr)
    {
        string text;
        try
        {
            text = file == "-" ? await stdin.ReadToEndAsync() : await File.ReadAllTextAsync(file);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            await stderr.WriteLineAsync($"error: cannot read {file}: {exception.Message}");
            return 2;
        }

        List<object> objects;
        try
        {
            objects = KubernetesYaml.LoadAllFromString(text, strict: true).ToList();
        }
        catch (Exception exception) when (exception is YamlDotNet.Core.YamlException or ArgumentException or InvalidOperationException or FormatException)
        {
            await stderr.WriteLineAsync($"error: {file} is not a Kubernetes manifest: {exception.Message}");
            return 2;
        }

        var deployments = objects.OfType<V1Deployment>().ToList();
        if (deployments.Count != 1)
        {
            await stderr.WriteLineAsync($"error: {file} must hold exactly one Deployment (found {deployments.Count})");
            return 2;
        }

        var deployment = deployments[0];
        var services = objects.OfType<V1Service>().ToList();
        var configMap = objects.OfType<V1ConfigMap>().FirstOrDefault(map => map.Metadata?.Name == SidecarPlanner.ConfigMapName(deployment.Metadata.Name));
        var port = appPort ?? InferAppPort(deployment);
        if (port is null)
        {
            await stderr.WriteLineAsync("error: cannot tell the app's port: pass --app-port");
            return 2;
        }

        var request = new InjectionRequest
        {
            Namespace = deployment.Metadata.NamespaceProperty ?? "default",
            Deployment = deployment.Metadata.Name,
            AppPort = port,
            Protocol = protocol,
            Monitor = monitor,
        };
        var errors = InjectionRequestValidator.Validate(request, removal: false, out var valid);
        if (valid is null)
        {
            foreach (var (field, messages) in errors)
            {
                await stderr.WriteLineAsync($"error: {field}: {string.Join("; ", messages)}");
            }

            return 2;
        }

        var options = new InjectionOptions();
        if (!options.IsNamespaceAllowed(valid.Namespace))
        {
            await stderr.WriteLineAsync($"error: namespace {valid.Namespace} is not allowed for injection");
            return 3;
        }

        var (plan, refusal) = SidecarPlanner.PlanInjection(
            valid, deployment, services, configMap, options, requireService: false, deployments, injectedTogether: deployments.Select(item => item.Metadata.Name).ToList());
        if (refusal is not null)
        {
            await stderr.WriteLineAsync($"error: {refusal.Message}");
            return 3;
        }

        foreach (var warning in plan!.Warnings)
        {
            await stderr.WriteLineAsync($"warning: {warning}");
        }

        if (services.Count == 0)
        {
            await stderr.WriteLineAsync("warning: no Service in the input: point your Service's target port at the sidecar's port envoy-inbound (15001)");
        }

        var output = new StringBuilder();
        Append(output, plan!.Deployment ?? deployment);
        foreach (var service in services)
        {
            Append(output, plan.Services.FirstOrDefault(changed => changed.Metadata.Name == service.Metadata.Name) ?? service);
        }

        Append(output, plan.ConfigMap ?? configMap!);
        foreach (var other in objects.Where(item => item is not V1Deployment and not V1Service && !ReferenceEquals(item, configMap)))
        {
            Append(output, other);
        }

        await stdout.WriteAsync(output.ToString());
        return 0;
    }

    /// <summary>The one port of the app's containers, when there is exactly one.</summary>
    private static int? InferAppPort(V1Deployment deployment)
    {
        var ports = (deployment.Spec?.Template?.Spec?.Containers ?? [])
            .Where(container => container.Name != SidecarPlanner.ContainerName)
            .SelectMany(container => container.Ports ?? [])
            .Select(port => port.ContainerPort)
            .Distinct()
            .ToList();
        return ports.Count == 1 ? ports[0] : null;
    }

    private static void Append(StringBuilder output, object item)
    {
        if (output.Length > 0)
        {
            output.Append("---\n");
        }

        output.Append(KubernetesYaml.Serialize(item).TrimEnd('\n')).Append('\n');
    }
}
