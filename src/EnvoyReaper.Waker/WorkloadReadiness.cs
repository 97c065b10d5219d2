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
    // One read per parking and refresh, shared by every request held for it: a thousand held requests of a Service that
    // comes back cost one GET, not a thousand.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (Task Refresh, Lazy<Task<bool>> Unparked)> confirmations = new(StringComparer.Ordinal);

    /// <summary>True once the workload is ready, false when <paramref name="timeout"/> passes first.</summary>
    public async Task<bool> WaitAsync(ParkedWorkload workload, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(workload);
        var started = time.GetTimestamp();
        for (var round = 0; round < 100_000; round++)
        {
            var next = directory.NextRefreshAsync();
            if (!directory.IsParked(workload.Key) && await ConfirmAsync(workload, next).WaitAsync(cancellationToken).ConfigureAwait(false))
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

    private Task<bool> ConfirmAsync(ParkedWorkload workload, Task refresh)
    {
        var entry = confirmations.AddOrUpdate(
            workload.Key,
            _ => (refresh, new Lazy<Task<bool>>(() => IsUnparkedAsync(workload))),
            (_, existing) => ReferenceEquals(existing.Refresh, refresh) ? existing : (refresh, new Lazy<Task<bool>>(() => IsUnparkedAsync(workload))));
        var unparked = entry.Unparked.Value;
        if (unparked.IsCompleted && !directory.IsParked(workload.Key))
        {
            // Entries of parkings no request waits for any more are not kept.
            foreach (var (key, value) in confirmations)
            {
                if (!ReferenceEquals(value.Refresh, refresh))
                {
                    confirmations.TryRemove(new KeyValuePair<string, (Task, Lazy<Task<bool>>)>(key, value));
                }
            }
        }

        return unparked;
    }

    private async Task<bool> IsUnparkedAsync(ParkedWorkload workload)
    {
        // Not a request's token: the read is shared by every request held for this parking.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10), time);
        var cancellationToken = timeout.Token;
        try
        {
            var service = await reader.GetAsync(workload.Namespace, workload.Service, cancellationToken).ConfigureAwait(false);
            return service is not null && service.Labels.GetValueOrDefault(ParkingContract.ParkedLabel) != "true";
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            // Not back as far as can be told: the next refresh tries again.
            LogReadFailed(logger, workload.Namespace, workload.Service, exception.Message);
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot read Service {Namespace}/{Service} to see whether it is back: {Reason}")]
    private static partial void LogReadFailed(ILogger logger, string @namespace, string service, string reason);
}
