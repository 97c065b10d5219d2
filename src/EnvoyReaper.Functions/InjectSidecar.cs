using System.Text.Json;
using EnvoyReaper.Injection;
using EnvoyReaper.Kubernetes.Injection;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace EnvoyReaper.Functions;

/// <summary>
/// POST /api/inject: puts an Envoy sidecar in front of a Deployment, or of several ("deployments") that share a Service (or,
/// with "remove": true, takes it out). What must wait for the rollout is answered 202 with the status URL
/// GET /api/inject/{namespace}/{deployment}, one per Deployment.
/// </summary>
public sealed class InjectSidecar(InjectionRollouts rollouts)
{
    [Function(nameof(InjectSidecar))]
    public async Task<IActionResult> Run(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "inject")] HttpRequest request,
        CancellationToken cancellationToken)
    {
        InjectionRequest? body;
        try
        {
            body = await JsonSerializer.DeserializeAsync<InjectionRequest>(request.Body, InjectionRequestValidator.JsonOptions, cancellationToken);
        }
        catch (JsonException exception)
        {
            var field = exception.Path is { Length: > 2 } path ? path.TrimStart('$', '.') : "body";
            return InjectionResponses.Invalid(new Dictionary<string, string[]> { [field] = [JsonError(exception)] });
        }

        if (body is null)
        {
            return InjectionResponses.Invalid(new Dictionary<string, string[]> { ["body"] = ["a JSON object is required"] });
        }

        var removal = body.Remove == true;
        var errors = InjectionRequestValidator.Validate(body, removal, out var valid);
        if (errors.Count > 0 || valid is null)
        {
            return InjectionResponses.Invalid(errors);
        }

        var dryRun = request.Query["dryRun"] is var flag && string.Equals(flag, "true", StringComparison.OrdinalIgnoreCase);
        if (!removal && body.Deployments is not null)
        {
            return InjectionResponses.From(await rollouts.InjectTogetherAsync(valid, InjectionRequestValidator.DeploymentNames(body), dryRun, cancellationToken), dryRun);
        }

        var started = removal
            ? await rollouts.RemoveAsync(valid.Namespace, valid.Deployment, dryRun, cancellationToken)
            : await rollouts.InjectAsync(valid, dryRun, cancellationToken);
        return InjectionResponses.From(started);
    }

    private static string JsonError(JsonException exception) =>
        exception.Message.Contains("could not be mapped", StringComparison.Ordinal)
            ? "is not a known field"
            : $"is not valid JSON for this field ({exception.Message.Split(". ", 2)[0]})";
}
