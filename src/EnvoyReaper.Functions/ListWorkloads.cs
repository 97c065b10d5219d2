using EnvoyReaper.Workloads;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace EnvoyReaper.Functions;

/// <summary>GET /api/workloads: every monitored workload with its verdict, idle streak and next action, and the teardown breaker.</summary>
public sealed class ListWorkloads(WorkloadOverview overview)
{
    [Function(nameof(ListWorkloads))]
    public async Task<IActionResult> Run(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = "workloads")] HttpRequest request,
        CancellationToken cancellationToken)
    {
        var report = await overview.BuildAsync(cancellationToken);
        return new OkObjectResult(new
        {
            workloads = report.Workloads,
            problems = report.Problems.Select(problem => new { @namespace = problem.Namespace, name = problem.Name, message = problem.Message }),
            breaker = report.Breaker,
        });
    }
}
