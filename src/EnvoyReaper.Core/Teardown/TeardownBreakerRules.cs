using System.Globalization;
using EnvoyReaper.Idleness;

namespace EnvoyReaper.Teardown;

/// <summary>Why a teardown was deferred; also the "reason" tag of the deferral metric.</summary>
public enum DeferralCause
{
    BreakerOpen,
    HourlyLimit,
    FractionLimit,
    FleetSizeUnknown,
    Contention,
}

public sealed record TeardownDeferral(DeferralCause Cause, string Detail);

/// <summary>The outcome of asking for a slot: a state to write (null: nothing to write), or a deferral.</summary>
public sealed record Admission(TeardownBreakerState? Next, TeardownDeferral? Deferral)
{
    public bool Admitted => Deferral is null;
}

/// <param name="WasActive">Counted workloads that were Active at the reference time.</param>
/// <param name="WentIdle">Of those, the ones Idle now.</param>
public sealed record MassIdleMeasure(int Counted, int WasActive, int WentIdle, bool Trips, DateTimeOffset? Since);

/// <summary>The breaker's decisions, free of storage and clocks: a rolling hour of slots and the mass-idle measure.</summary>
public static class TeardownBreakerRules
{
    public const int MaxSlots = 300;

    public static readonly TimeSpan Window = TimeSpan.FromHours(1);

    /// <summary>
    /// The teardowns allowed per rolling hour: the hourly maximum, and the fraction of the monitored workloads rounded up
    /// but not below MinTeardownsPerHour (which alone applies while no discovery cycle has counted the fleet).
    /// </summary>
    public static int Allowed(TeardownBreakerOptions options, int? monitored) =>
        Math.Min(options.MaxTeardownsPerHour, ByFraction(options, monitored));

    private static int ByFraction(TeardownBreakerOptions options, int? monitored) =>
        monitored is { } count
            ? (int)Math.Max(options.MinTeardownsPerHour, Math.Min(int.MaxValue, Math.Ceiling(options.MaxTeardownFraction * count - 1e-9)))
            : options.MinTeardownsPerHour;

    public static IReadOnlyList<TeardownSlot> LiveSlots(TeardownBreakerState state, DateTimeOffset now) =>
        state.Slots.Where(slot => slot.At > now - Window).OrderBy(slot => slot.At).ToList();

    public static Admission Admit(TeardownBreakerState state, string request, DateTimeOffset now, TeardownBreakerOptions options)
    {
        var live = LiveSlots(state, now);
        if (live.Any(slot => slot.Request == request))
        {
            return new Admission(null, null); // a retry of a teardown that already holds its slot
        }

        if (state.IsOpen)
        {
            return Defer(DeferralCause.BreakerOpen,
                $"the teardown breaker is open since {state.OpenedAt:u} ({state.OpenedBecause}); nothing is torn down until a person resets it (POST /api/breaker/reset or envoy-reaper breaker reset)");
        }

        var nextSlot = live.Count > 0 ? $"; the oldest slot frees at {live[0].At + Window:u}" : string.Empty;
        if (live.Count >= options.MaxTeardownsPerHour)
        {
            return Defer(DeferralCause.HourlyLimit,
                $"{live.Count} teardown(s) in the last hour reached Reaper:MaxTeardownsPerHour ({options.MaxTeardownsPerHour}){nextSlot}");
        }

        var byFraction = ByFraction(options, state.MonitoredWorkloads);
        if (live.Count >= byFraction)
        {
            var fleet = state.MonitoredWorkloads is { } monitored
                ? $"Reaper:MaxTeardownFraction ({options.MaxTeardownFraction} of {monitored} monitored workloads, at least Reaper:MinTeardownsPerHour {options.MinTeardownsPerHour}: {byFraction})"
                : $"Reaper:MinTeardownsPerHour ({byFraction}; no discovery cycle has counted the monitored workloads yet)";
            return Defer(state.MonitoredWorkloads is null ? DeferralCause.FleetSizeUnknown : DeferralCause.FractionLimit, string.Create(CultureInfo.InvariantCulture,
                $"{live.Count} teardown(s) in the last hour reached {fleet}{nextSlot}"));
        }

        return new Admission(state with { Slots = [.. live, new TeardownSlot(request, now)] }, null);
    }

    /// <summary>
    /// Compares the verdicts now with those at the reference time: the previous measure less one timer period (so that a
    /// flip whose checks straddle two cycles is still seen whole), and never before the breaker was last reset. A
    /// workload's state says what it was before its current verdict and since when, so one scan of the table answers
    /// both "Active then" and "Idle now".
    /// </summary>
    public static (TeardownBreakerState Next, MassIdleMeasure Measure) Measure(
        TeardownBreakerState state,
        IReadOnlyCollection<(string Namespace, string Deployment, string DeploymentUid)> counted,
        IReadOnlyDictionary<(string Namespace, string Deployment), VerdictRecord> verdicts,
        DateTimeOffset now,
        TimeSpan timerPeriod,
        TeardownBreakerOptions options)
    {
        DateTimeOffset? since = state.MeasuredAt is { } measured ? measured - timerPeriod : null;
        if (since is { } start && state.ClosedAt is { } closed && closed > start)
        {
            since = closed;
        }

        var wasActive = 0;
        var wentIdle = 0;
        if (since is { } reference)
        {
            foreach (var (ns, name, uid) in counted)
            {
                if (!verdicts.TryGetValue((ns, name), out var record) || record.DeploymentUid != uid)
                {
                    continue;
                }

                var changedSince = record.VerdictSince is { } changed && changed > reference;
                if (!(changedSince ? record.PriorVerdict == Verdict.Active : record.Verdict == Verdict.Active))
                {
                    continue;
                }

                wasActive++;
                if (changedSince && record.Verdict == Verdict.Idle)
                {
                    wentIdle++;
                }
            }
        }

        var trips = wentIdle >= options.MassIdleMinimum && wentIdle > options.MassIdleFraction * wasActive;
        var next = state with { MonitoredWorkloads = counted.Count, MeasuredAt = now };
        if (trips && !state.IsOpen)
        {
            next = next with
            {
                OpenedAt = now,
                OpenedBecause = $"{wentIdle} of the {wasActive} workloads Active at {since:u} went Idle together (Reaper:MassIdleFraction {options.MassIdleFraction.ToString(CultureInfo.InvariantCulture)}, Reaper:MassIdleMinimum {options.MassIdleMinimum})",
            };
        }

        return (next, new MassIdleMeasure(counted.Count, wasActive, wentIdle, trips, since));
    }

    private static Admission Defer(DeferralCause cause, string detail) => new(null, new TeardownDeferral(cause, detail));
}
