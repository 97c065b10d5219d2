using System.Text.Json;
using EnvoyReaper.Injection;
using EnvoyReaper.Teardown;
using EnvoyReaper.Workloads;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Functions;

/// <summary>POST /api/restore: recreates a torn-down workload from its newest (or the named) snapshot.</summary>
/// <remarks>
/// Restoring creates workloads as injection does, so it is held to the same namespaces (Injection__AllowedNamespaces /
/// DeniedNamespaces), whatever RoleBindings the injector identity has been given.
/// </remarks>
public sealed class RestoreWorkload(WorkloadRestorer restorer, IOptions<InjectionOptions> injection)
{
    public sealed record RestoreRequest(string? Namespace, string? Deployment, string? Snapshot);

    [Function(nameof(RestoreWorkload))]
    public async Task<IActionResult> Run(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "restore")] HttpRequest request,
        CancellationToken cancellationToken)
    {
        RestoreRequest? body;
        try
        {
            body = await JsonSerializer.DeserializeAsync<RestoreRequest>(request.Body, new JsonSerializerOptions(JsonSerializerDefaults.Web)
            {
                UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
            }, cancellationToken);
        }
        catch (JsonException exception)
        {
            return InjectionResponses.Invalid(new Dictionary<string, string[]> { ["body"] = [exception.Message.Split(". ", 2)[0]] });
        }

        var errors = new Dictionary<string, string[]>();
        if (!KubernetesNames.IsDns1123Label(body?.Namespace))
        {
            errors["namespace"] = ["must be a DNS-1123 label"];
        }

        if (!KubernetesNames.IsDns1123Subdomain(body?.Deployment))
        {
            errors["deployment"] = ["must be a DNS-1123 subdomain"];
        }

        if (errors.Count > 0)
        {
            return InjectionResponses.Invalid(errors);
        }

        if (!injection.Value.IsNamespaceAllowed(body!.Namespace!))
        {
            return InjectionResponses.Problem(
                StatusCodes.Status403Forbidden,
                "Namespace not allowed",
                $"namespace {body.Namespace} is not allowed for restore (Injection__AllowedNamespaces / Injection__DeniedNamespaces)");
        }

        var result = await restorer.RestoreAsync(body!.Namespace!, body.Deployment!, body.Snapshot, cancellationToken);
        return result.Status switch
        {
            RestoreStatus.Restored or RestoreStatus.ScaledBack => new OkObjectResult(new { status = result.Status.ToString(), snapshot = result.Snapshot, restored = result.Restored, detail = result.Detail }),
            RestoreStatus.AlreadyExists => InjectionResponses.Problem(StatusCodes.Status409Conflict, "The workload exists", result.Detail),
            RestoreStatus.Changed => InjectionResponses.Problem(StatusCodes.Status409Conflict, "The workload changed since its teardown", result.Detail),
            _ => InjectionResponses.Problem(StatusCodes.Status404NotFound, "Nothing to restore", result.Detail),
        };
    }
}
