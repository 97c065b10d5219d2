using EnvoyReaper.Injection;
using EnvoyReaper.Kubernetes.Injection;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace EnvoyReaper.Functions;

/// <summary>
/// DELETE /api/inject/{namespace}/{deployment}: restores the Service's target port, removes the sidecar, and (202)
/// deletes its ConfigMap once the rollout is complete.
/// </summary>
public sealed class RemoveSidecar(InjectionRollouts rollouts)
{
    [Function(nameof(RemoveSidecar))]
    public async Task<IActionResult> Run(
        [HttpTrigger(AuthorizationLevel.Function, "delete", Route = "inject/{namespace}/{deployment}")] HttpRequest request,
        string @namespace,
        string deployment,
        CancellationToken cancellationToken)
    {
        var errors = InjectionRequestValidator.Validate(new InjectionRequest { Namespace = @namespace, Deployment = deployment }, removal: true, out _);
        if (errors.Count > 0)
        {
            return InjectionResponses.Invalid(errors);
        }

        var dryRun = string.Equals(request.Query["dryRun"], "true", StringComparison.OrdinalIgnoreCase);
        return InjectionResponses.From(await rollouts.RemoveAsync(@namespace, deployment, dryRun, cancellationToken));
    }
}
