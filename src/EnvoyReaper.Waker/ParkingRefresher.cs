using EnvoyReaper.Kubernetes.Waking;
using EnvoyReaper.Waking;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Waker;

/// <summary>
/// Lists the parked Services every <see cref="WakerOptions.RefreshInterval"/>, keeps the valid parkings in the
/// <see cref="ParkingDirectory"/> and listens on exactly their waker ports. A list that fails keeps the last parkings:
/// a parked workload does not answer 404 because the API server was briefly away.
/// </summary>
public sealed partial class ParkingRefresher(
    ServiceMetadataReader reader,
    ParkingDirectory directory,
    WakerPortsTransport transport,
    WakeRequester wakes,
    IOptions<WakerOptions> options,
    TimeProvider time,
    ILogger<ParkingRefresher> logger) : BackgroundService
{
    // What was already logged as ignored, so a malformed Service is reported once per change, not every few seconds.
    private HashSet<string> reported = new(StringComparer.Ordinal);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.RefreshInterval, time);
        do
        {
            try
            {
                await RefreshAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Exception exception) when (exception is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                LogListFailed(logger, exception.Message, exception);
            }
        }
        while (await WaitAsync(timer, stoppingToken).ConfigureAwait(false));
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken stoppingToken)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>One list, applied: the directory, the listened ports and the wake bookkeeping.</summary>
    public async Task RefreshAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var services = new List<ServiceMetadata>();
        var versions = new List<string?>();
        var namespaces = settings.WatchNamespaces.Count == 0 ? [null] : settings.WatchNamespaces.Distinct(StringComparer.Ordinal).Select(name => (string?)name).ToList();
        foreach (var @namespace in namespaces)
        {
            var listing = await reader.ListAsync(@namespace, ParkingContract.ParkedSelector, settings.ListPageSize, settings.MaxParkedServices - services.Count + 1, cancellationToken).ConfigureAwait(false);
            services.AddRange(listing.Services);
            versions.Add(listing.ResourceVersion);
            if (services.Count > settings.MaxParkedServices || listing.Truncated)
            {
                LogTooMany(logger, settings.MaxParkedServices);
                services = services.Take(settings.MaxParkedServices).ToList();
                break;
            }
        }

        var nowReported = new HashSet<string>(StringComparer.Ordinal);
        var parked = new List<ParkedWorkload>();
        foreach (var service in services)
        {
            if (ParkedServiceParser.TryParse(service, settings.PortRangeStart, settings.PortRangeEnd, out var workload, out var problem))
            {
                parked.Add(workload!);
            }
            else
            {
                Report(nowReported, $"{service.Namespace}/{service.Name}: {problem}", () => LogIgnored(logger, service.Namespace, service.Name, problem!));
            }
        }

        // Two parkings on one port cannot be told apart by the port: neither is served.
        var claimed = parked.SelectMany(workload => workload.Ports.Select(port => (port.WakerPort, workload))).GroupBy(claim => claim.WakerPort).ToList();
        var conflicting = claimed.Where(group => group.Select(claim => claim.workload.Key).Distinct().Count() > 1).ToList();
        foreach (var conflict in conflicting)
        {
            var names = string.Join(", ", conflict.Select(claim => claim.workload.ToString()).Distinct());
            Report(nowReported, $"conflict {conflict.Key}: {names}", () => LogConflict(logger, conflict.Key, names));
        }

        var excluded = conflicting.SelectMany(group => group.Select(claim => claim.workload.Key)).ToHashSet(StringComparer.Ordinal);
        var served = new List<ParkedWorkload>();
        var portCount = 0;
        foreach (var workload in parked.Where(workload => !excluded.Contains(workload.Key)).OrderBy(workload => DateTimeOffset.Parse(workload.ParkedAt, System.Globalization.CultureInfo.InvariantCulture)).ThenBy(workload => workload.Key, StringComparer.Ordinal))
        {
            if (portCount + workload.Ports.Count > settings.MaxWakerPorts || (settings.HealthPort != 0 && workload.Ports.Any(port => port.WakerPort == settings.HealthPort)))
            {
                Report(nowReported, $"unserved {workload.Key}", () => LogUnserved(logger, workload.Namespace, workload.Service, settings.MaxWakerPorts));
                continue;
            }

            portCount += workload.Ports.Count;
            served.Add(workload);
        }

        reported = nowReported;
        LogListed(logger, services.Count, served.Count, string.Join(",", versions));
        directory.Replace(served);
        wakes.Forget(served.Select(workload => workload.Key).ToHashSet(StringComparer.Ordinal));
        await transport.SetPortsAsync(served.SelectMany(workload => workload.Ports).Select(port => port.WakerPort).ToHashSet(), cancellationToken).ConfigureAwait(false);
    }

    private void Report(HashSet<string> nowReported, string what, Action log)
    {
        if (nowReported.Add(what) && !reported.Contains(what))
        {
            log();
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Listed {Listed} parked Services ({Served} served) at resourceVersion {ResourceVersion}")]
    private static partial void LogListed(ILogger logger, int listed, int served, string resourceVersion);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot list the parked Services; the last parkings stay in use: {Reason}")]
    private static partial void LogListFailed(ILogger logger, string reason, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignoring Service {Namespace}/{Service}, labelled parked but not parked by EnvoyReaper: {Problem}")]
    private static partial void LogIgnored(ILogger logger, string @namespace, string service, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Waker port {Port} is claimed by more than one parked Service ({Services}): none of them is served on it")]
    private static partial void LogConflict(ILogger logger, int port, string services);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Not serving parked Service {Namespace}/{Service}: more than Waker:MaxWakerPorts ({Max}) ports, or a port of the health endpoints")]
    private static partial void LogUnserved(ILogger logger, string @namespace, string service, int max);

    [LoggerMessage(Level = LogLevel.Warning, Message = "More than Waker:MaxParkedServices ({Max}) parked Services: only the first are served")]
    private static partial void LogTooMany(ILogger logger, int max);
}
