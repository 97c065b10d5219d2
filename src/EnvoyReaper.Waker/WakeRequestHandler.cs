using System.Globalization;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Waker;

/// <summary>
/// Every request on a waker port: the parking is the one of the local port the connection arrived on (nothing the
/// client sends is used to choose it). It asks for the wake, then answers a browser with the "waking up" page and any
/// other client with 503 and Retry-After, or, for a parking with the hold option, waits for the workload (bounded) and
/// forwards the request to it once.
/// </summary>
public sealed partial class WakeRequestHandler(
    ParkingDirectory directory,
    WakeRequester wakes,
    WorkloadReadiness readiness,
    RequestForwarder forwarder,
    IOptions<WakerOptions> options,
    ILogger<WakeRequestHandler> logger)
{
    private static readonly TimeSpan WakeWait = TimeSpan.FromSeconds(10);

    private readonly SemaphoreSlim holdSlots = new(options.Value.MaxHeldRequests, Math.Max(1, options.Value.MaxHeldRequests));

    public static bool IsWakerConnection(HttpContext context) =>
        context.Features.Get<IConnectionItemsFeature>()?.Items.ContainsKey(WakerPortsTransport.ConnectionMarker) == true;

    public async Task HandleAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var settings = options.Value;
        var cancellationToken = context.RequestAborted;
        var route = directory.Find(context.Connection.LocalPort);
        if (route is null)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            context.Response.ContentType = "text/plain; charset=utf-8";
            await context.Response.WriteAsync("Nothing is parked on this port.\n", cancellationToken).ConfigureAwait(false);
            return;
        }

        try
        {
            await wakes.RequestAsync(route.Workload).WaitAsync(WakeWait, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The send goes on; the answer does not wait for it any longer.
        }

        if (route.Workload.Hold && await holdSlots.WaitAsync(0, cancellationToken).ConfigureAwait(false))
        {
            try
            {
                if (await readiness.WaitAsync(route.Workload, settings.HoldTimeout, cancellationToken).ConfigureAwait(false))
                {
                    try
                    {
                        await forwarder.ForwardAsync(context, route, cancellationToken).ConfigureAwait(false);
                        return;
                    }
                    catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested && !context.Response.HasStarted)
                    {
                        LogForwardFailed(logger, route.Workload.Namespace, route.Workload.Service, exception.Message);
                    }
                }
            }
            finally
            {
                holdSlots.Release();
            }
        }

        await AnswerWakingAsync(context, route.Workload, settings, cancellationToken).ConfigureAwait(false);
    }

    private static async Task AnswerWakingAsync(HttpContext context, ParkedWorkload workload, WakerOptions settings, CancellationToken cancellationToken)
    {
        var response = context.Response;
        response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        response.Headers.RetryAfter = settings.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        response.Headers.CacheControl = "no-store";
        if (context.Request.Headers.Accept.Any(accept => accept?.Contains("text/html", StringComparison.OrdinalIgnoreCase) == true))
        {
            response.ContentType = "text/html; charset=utf-8";
            await response.WriteAsync(WakePage.Render(workload, settings.PageRefreshSeconds), cancellationToken).ConfigureAwait(false);
        }
        else
        {
            response.ContentType = "text/plain; charset=utf-8";
            await response.WriteAsync($"{workload.Deployment} is waking up; retry in {settings.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture)} s.\n", cancellationToken).ConfigureAwait(false);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Held request for {Namespace}/{Service} could not be forwarded: {Reason}")]
    private static partial void LogForwardFailed(ILogger logger, string @namespace, string service, string reason);
}
