using EnvoyReaper.Teardown;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace EnvoyReaper.Functions;

/// <summary>POST /api/breaker/reset: closes the teardown breaker after a person has checked why it opened.</summary>
public sealed class ResetBreaker(TeardownBreaker breaker)
{
    [Function(nameof(ResetBreaker))]
    public async Task<IActionResult> Run(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "breaker/reset")] HttpRequest request,
        CancellationToken cancellationToken)
    {
        BreakerStatus? status;
        try
        {
            status = await breaker.ResetAsync("api", cancellationToken);
        }
        catch (Azure.RequestFailedException exception)
        {
            return InjectionResponses.Problem(StatusCodes.Status503ServiceUnavailable, "The breaker's state cannot be read or written", exception.Message.Split('\n')[0]);
        }

        return status is null
            ? InjectionResponses.Problem(StatusCodes.Status409Conflict, "The breaker's state kept changing", "Other instances wrote the breaker at every attempt; try again.")
            : new OkObjectResult(new { breaker = status });
    }
}
