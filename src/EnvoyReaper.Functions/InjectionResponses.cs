using EnvoyReaper.Injection;
using EnvoyReaper.Kubernetes.Injection;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace EnvoyReaper.Functions;

/// <summary>Maps injection outcomes to HTTP: a JSON summary, or RFC 7807 problem details; never a stack trace.</summary>
internal static class InjectionResponses
{
    /// <summary>The status URL of a Deployment's injection, relative to the host (RFC 9110 allows it in Location).</summary>
    public static string StatusUrl(string @namespace, string deployment) => $"/api/inject/{@namespace}/{deployment}";

    /// <summary>200 when nothing waits; 202 with Location and the operation when a change waits for the rollout.</summary>
    public static IActionResult From(RolloutStart started)
    {
        if (started.Rollout is not { } rollout)
        {
            return From(started.Result);
        }

        var result = started.Result;
        var location = StatusUrl(rollout.Namespace, rollout.Deployment);
        return new AcceptedResult(location, new
        {
            changed = result.Changed,
            dryRun = false,
            changes = result.Changes,
            hash = result.Hash,
            status = location,
            rollout = Status(rollout),
        });
    }

    /// <summary>
    /// Several Deployments injected together: 202 with the first status URL in Location when any change waits for a
    /// rollout, else 200; each Deployment's result and status URL under "deployments". A failure is its problem.
    /// </summary>
    public static IActionResult From(GroupStart group, bool dryRun)
    {
        if (group.Failure is { } failure)
        {
            return From(failure);
        }

        var items = group.Started.Select(item => new
        {
            deployment = item.Deployment,
            changed = item.Start.Result.Changed,
            changes = item.Start.Result.Changes,
            hash = item.Start.Result.Hash,
            status = item.Start.Rollout is { } rollout ? StatusUrl(rollout.Namespace, rollout.Deployment) : null,
            rollout = item.Start.Rollout is { } waiting ? Status(waiting) : null,
        }).ToList();
        var body = new
        {
            changed = items.Any(item => item.changed),
            dryRun,
            changes = items.SelectMany(item => item.changes).ToList(),
            deployments = items,
        };
        return items.FirstOrDefault(item => item.status is not null)?.status is { } location
            ? new AcceptedResult(location, body)
            : new OkObjectResult(body);
    }

    /// <summary>The body of GET /api/inject/{namespace}/{deployment}.</summary>
    /// <param name="stalled">Why no check ran long past its due time; replaces the phase "rolling-out" with "stalled".</param>
    public static object Status(RolloutRecord rollout, string? stalled = null) => new
    {
        @namespace = rollout.Namespace,
        deployment = rollout.Deployment,
        operationId = rollout.OperationId,
        operation = rollout.Operation == RolloutOperation.Inject ? "inject" : "remove",
        phase = rollout.Phase switch
        {
            RolloutPhase.RollingOut when stalled is not null => "stalled",
            RolloutPhase.RollingOut => "rolling-out",
            RolloutPhase.Done => "done",
            _ => "failed",
        },
        detail = stalled ?? rollout.Detail,
        hash = rollout.Hash,
        changes = rollout.Changes,
        pending = rollout.Phase == RolloutPhase.RollingOut ? rollout.Pending : [],
        requestedAt = rollout.RequestedAt,
        updatedAt = rollout.UpdatedAt,
        deadline = rollout.Deadline,
        checks = rollout.Checks,
    };

    public static IActionResult From(InjectionResult result) => result.Status switch
    {
        InjectionStatus.Done => new OkObjectResult(new
        {
            changed = result.Changed,
            dryRun = result.DryRun,
            changes = result.Changes,
            hash = result.Hash,
        }),
        InjectionStatus.Forbidden => Problem(StatusCodes.Status403Forbidden, "Namespace not allowed", result.Detail),
        InjectionStatus.NotFound => Problem(StatusCodes.Status404NotFound, "Not found", result.Detail),
        InjectionStatus.Unprocessable => Problem(StatusCodes.Status422UnprocessableEntity, "Cannot inject this Deployment", result.Detail),
        InjectionStatus.Conflict => Problem(StatusCodes.Status409Conflict, "Conflict", result.Detail),
        _ => Problem(StatusCodes.Status502BadGateway, "The Kubernetes API server failed", result.Detail),
    };

    public static IActionResult Invalid(IDictionary<string, string[]> errors) =>
        Json(new ValidationProblemDetails(errors)
        {
            Status = StatusCodes.Status400BadRequest,
            Title = "The request is invalid",
            Type = "https://tools.ietf.org/html/rfc9110#section-15.5.1",
        });

    public static IActionResult Problem(int status, string title, string? detail) =>
        Json(new ProblemDetails { Status = status, Title = title, Detail = detail });

    private static ObjectResult Json(ProblemDetails problem) => new(problem)
    {
        StatusCode = problem.Status,
        ContentTypes = { "application/problem+json" },
    };
}
