using EnvoyReaper.Kubernetes.Waking;
using EnvoyReaper.Waking;

namespace EnvoyReaper.Waker;

/// <summary>
/// Whether a parked workload is back: its Service is no longer parked (the wake function removes the label only once
/// the Deployment is available and the selector restored). The periodic list says so first; one read of the Service
/// confirms it before a request is forwarded.
/// </summary>
public sealed partial class WorkloadReadiness(ParkingDirectory directory, ServiceMetadataReader reader, TimeProvider time, ILogger<WorkloadReadiness> logger)
{
    /// <summary>True once the workload is ready, false when <paramref name="timeout"/> passes first.</summary>
    public async Task<bool> WaitAsync(ParkedWorkload workload, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(workload);
        var started = time.GetTimestamp();
        for (var round = 0; round < 100_000; round++)
        {
            var next = directory.NextRefreshAsync();
            if (!directory.IsParked(workload.Key) && await IsUnparkedAsync(workload, cancellationToken).ConfigureAwait(false))
            {
                return true;
            }

            var remaining = timeout - time.GetElapsedTime(started);
            if (remaining <= TimeSpan.Zero)
            {
                return false;
            }

            try
            {
                await next.WaitAsync(remaining, time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return false;
            }
        }

        return false;
    }

    private async Task<bool> IsUnparkedAsync(ParkedWorkload workload, CancellationToken cancellationToken)
    {
        try
        {
            var service = await reader.GetAsync(workload.Namespace, workload.Service, cancellationToken).ConfigureAwait(false);
            return service is not null && service.Labels.GetValueOrDefault(ParkingContract.ParkedLabel) != "true";
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            LogReadFailed(logger, workload.Namespace, workload.Service, exception.Message);
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot read Service {Namespace}/{Service} to see whether it is back: {Reason}")]
    private static partial void LogReadFailed(ILogger logger, string @namespace, string service, string reason);
}
