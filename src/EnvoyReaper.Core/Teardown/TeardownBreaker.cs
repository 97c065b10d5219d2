using EnvoyReaper.Messaging;
using EnvoyReaper.Workloads;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Teardown;

/// <summary>What the breaker says right now, for GET /api/workloads, envoy-reaper scan and envoy-reaper breaker status.</summary>
public sealed record BreakerStatus(
    bool Open,
    DateTimeOffset? OpenedAt,
    string? OpenedBecause,
    int TeardownsLastHour,
    int? AllowedPerHour,
    int? MonitoredWorkloads,
    DateTimeOffset? NextSlotAt,
    DateTimeOffset? MeasuredAt,
    DateTimeOffset? ClosedAt,
    string? ClosedBy)
{
    /// <summary>Whether a teardown asked for now would be deferred.</summary>
    public bool Refusing => Open || AllowedPerHour is not { } allowed || TeardownsLastHour >= allowed;
}

/// <summary>
/// A limit on teardowns shared by all instances, so that an upstream fault that makes every workload look idle at once
/// (a Service retargeted around Envoy, a gateway change, a stats matcher change) cannot delete the fleet: a rolling hour
/// of teardown slots, and a mass-idle trip that stays open until a person resets it.
/// </summary>
public sealed partial class TeardownBreaker(
    ITeardownBreakerStore store,
    TimeProvider time,
    IOptions<TeardownBreakerOptions> options,
    IOptions<ReaperOptions> reaperOptions,
    ILogger<TeardownBreaker> logger,
    ReaperMetrics? metrics = null)
{
    private const int MaxAttempts = 10;

    /// <summary>Takes a slot for this teardown (a retry of the same request keeps its slot), or says why it must wait.</summary>
    /// <returns>null when the teardown may go ahead.</returns>
    public async Task<TeardownDeferral?> TryAdmitAsync(TeardownMessage message, CancellationToken cancellationToken)
    {
        var deferral = await TryAdmitAsync(message.Id, cancellationToken).ConfigureAwait(false);
        if (deferral is not null)
        {
            metrics?.TeardownDeferred(deferral.Cause.ToString());
            LogDeferred(message.Namespace, message.Deployment, deferral.Cause, deferral.Detail);
        }

        return deferral;
    }

    private async Task<TeardownDeferral?> TryAdmitAsync(string request, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < MaxAttempts; attempt++)
        {
            var stored = await store.GetAsync(cancellationToken).ConfigureAwait(false);
            var admission = TeardownBreakerRules.Admit(stored?.State ?? TeardownBreakerState.Empty, request, time.GetUtcNow(), options.Value);
            if (admission.Next is not { } next)
            {
                return admission.Deferral;
            }

            if (await store.TryWriteAsync(next, stored?.ETag, cancellationToken).ConfigureAwait(false) is not null)
            {
                return null;
            }
        }

        return new TeardownDeferral(DeferralCause.Contention, "the teardown breaker's state kept changing under this teardown");
    }

    /// <summary>
    /// Once per discovery cycle: records how many workloads count toward the limits and opens the breaker on a mass flip
    /// to Idle. Observe workloads, and all of them under Reaper:DryRun, count toward neither.
    /// </summary>
    public Task<MassIdleMeasure?> MeasureAsync(IReadOnlyList<MonitoredWorkload> workloads, CancellationToken cancellationToken) =>
        MeasureFleetAsync(workloads.Select(workload => (workload.Deployment, workload.Settings)), cancellationToken);

    /// <summary>As the other overload, from the opted-in Deployments before their pods are listed.</summary>
    public Task<MassIdleMeasure?> MeasureAsync(IReadOnlyList<OptedIn> deployments, CancellationToken cancellationToken) =>
        MeasureFleetAsync(deployments.Select(deployment => (deployment.Deployment, deployment.Settings)), cancellationToken);

    private async Task<MassIdleMeasure?> MeasureFleetAsync(IEnumerable<(Cluster.DeploymentInfo Deployment, SettingsResult Settings)> fleet, CancellationToken cancellationToken)
    {
        var counted = reaperOptions.Value.DryRun
            ? []
            : fleet.Where(workload => workload.Settings.Settings is { Action: not ReaperAction.Observe })
                .Select(workload => (workload.Deployment.Namespace, workload.Deployment.Name, workload.Deployment.Uid))
                .ToList();

        // Taken before the scan: a verdict written while it runs is then newer than this measure, and seen by the next.
        var now = time.GetUtcNow();
        var verdicts = await store.ListVerdictsAsync(cancellationToken).ConfigureAwait(false);
        for (var attempt = 0; attempt < MaxAttempts; attempt++)
        {
            var stored = await store.GetAsync(cancellationToken).ConfigureAwait(false);
            var state = stored?.State ?? TeardownBreakerState.Empty;
            var (next, measure) = TeardownBreakerRules.Measure(state, counted, verdicts, now, reaperOptions.Value.TimerPeriod, options.Value);
            next = next with { Slots = TeardownBreakerRules.LiveSlots(next, now) };
            if (await store.TryWriteAsync(next, stored?.ETag, cancellationToken).ConfigureAwait(false) is null)
            {
                continue;
            }

            if (next.IsOpen && !state.IsOpen)
            {
                metrics?.BreakerTripped();
                LogTripped(next.OpenedBecause!);
            }

            return measure;
        }

        LogMeasureLostRace();
        return null;
    }

    public async Task<BreakerStatus> StatusAsync(CancellationToken cancellationToken)
    {
        var stored = await store.GetAsync(cancellationToken).ConfigureAwait(false);
        return Status(stored?.State ?? TeardownBreakerState.Empty, time.GetUtcNow());
    }

    /// <summary>Closes the breaker; the hour's slots stay counted. Returns null if the state kept changing.</summary>
    public async Task<BreakerStatus?> ResetAsync(string closedBy, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < MaxAttempts; attempt++)
        {
            var now = time.GetUtcNow();
            var stored = await store.GetAsync(cancellationToken).ConfigureAwait(false);
            var state = stored?.State ?? TeardownBreakerState.Empty;
            if (!state.IsOpen)
            {
                return Status(state, now);
            }

            var closed = state with { OpenedAt = null, OpenedBecause = null, ClosedAt = now, ClosedBy = closedBy };
            if (await store.TryWriteAsync(closed, stored?.ETag, cancellationToken).ConfigureAwait(false) is not null)
            {
                LogReset(closedBy, state.OpenedAt!.Value, state.OpenedBecause);
                return Status(closed, now);
            }
        }

        return null;
    }

    private BreakerStatus Status(TeardownBreakerState state, DateTimeOffset now)
    {
        var live = TeardownBreakerRules.LiveSlots(state, now);
        var allowed = TeardownBreakerRules.Allowed(options.Value, state.MonitoredWorkloads);
        DateTimeOffset? nextSlot = allowed > 0 && live.Count >= allowed
            ? live[live.Count - allowed].At + TeardownBreakerRules.Window
            : null;
        return new BreakerStatus(state.IsOpen, state.OpenedAt, state.OpenedBecause, live.Count, allowed, state.MonitoredWorkloads, nextSlot,
            state.MeasuredAt, state.ClosedAt, state.ClosedBy);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Teardown of {Namespace}/{Name} deferred ({Cause}): {Detail}")]
    private partial void LogDeferred(string @namespace, string name, DeferralCause cause, string detail);

    [LoggerMessage(Level = LogLevel.Error, Message = "The teardown breaker opened: {Because}. Nothing is torn down until a person resets it")]
    private partial void LogTripped(string because);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The teardown breaker was reset by {ClosedBy}; it was open since {OpenedAt}: {Because}")]
    private partial void LogReset(string closedBy, DateTimeOffset openedAt, string? because);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The teardown breaker's measure gave up this cycle: its state kept changing")]
    private partial void LogMeasureLostRace();
}
