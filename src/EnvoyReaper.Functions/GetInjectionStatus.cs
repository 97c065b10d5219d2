using EnvoyReaper.Injection;
using EnvoyReaper.Kubernetes.Injection;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace EnvoyReaper.Functions;

/// <summary>GET /api/inject/{namespace}/{deployment}: the last injection or removal of a Deployment: rolling out, done, failed and why, or stalled (no check ran long past its due time).</summary>
public sealed class GetInjectionStatus(InjectionRollouts rollouts)
{
    [Function(nameof(GetInjectionStatus))]
    public async Task<IActionResult> Run(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = "inject/{namespace}/{deployment}")] HttpRequest request,
        string @namespace,
        string deployment,
        CancellationToken cancellationToken)
    {
        var errors = InjectionRequestValidator.Validate(new InjectionRequest { Namespace = @namespace, Deployment = deployment }, removal: true, out _);
        if (errors.Count > 0)
        {
            return InjectionResponses.Invalid(errors);
        }

        return await rollouts.GetStatusAsync(@namespace, deployment, cancellationToken) is { } status
            ? new OkObjectResult(InjectionResponses.Status(status.Record, status.Stalled))
            : InjectionResponses.Problem(StatusCodes.Status404NotFound, "No injection rollout", $"no injection or removal of {@namespace}/{deployment} has waited for a rollout");
    }
}
