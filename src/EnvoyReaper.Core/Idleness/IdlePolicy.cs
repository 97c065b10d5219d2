using EnvoyReaper.Workloads;

namespace EnvoyReaper.Idleness;

public sealed record CheckInput(
    string DeploymentUid,
    DateTimeOffset DeploymentCreatedAt,
    WorkloadSettings? Settings,
    IReadOnlyList<string>? ConfigurationErrors,
    IReadOnlyList<PodReading> Pods,
    int NotReadyPods);

public sealed record Evaluation(
    Verdict Verdict,
    string Reason,
    long? ActiveConnections,
    WorkloadState State,
    bool StateChanged,
    bool TeardownDue,
    Verdict? PreviousVerdict)
{
    public bool VerdictChanged => PreviousVerdict != Verdict;
}

/// <summary>
/// Decides Active / Idle / Unknown for a workload and whether its idle streak has reached the timeout.
/// Only a full, comparable reading of every pod can be Idle; anything else is Unknown and restarts the streak.
/// </summary>
public sealed class IdlePolicy(ReaperOptions options)
{
    public Evaluation Evaluate(CheckInput input, WorkloadState? previous, DateTimeOffset now)
    {
        if (previous is not null && previous.DeploymentUid != input.DeploymentUid)
        {
            previous = null; // The Deployment was recreated under the same name: nothing of the old one applies.
        }

        var (verdict, reason, active) = Decide(input, previous, now);

        // Quiet under a minimum of 3 says nothing about a minimum of 1: a lowered minimum starts the streak again.
        var streakCarries = previous is not null
            && (previous.QuietBelow is not { } judgedBelow || input.Settings is not { } minimum || judgedBelow <= minimum.MinConnections);
        var quietSince = QuietSince(input, streakCarries ? previous : null, verdict, active, now);
        // Only the same pods carry an idle streak: a pod that went away (scaled down, evicted) may have had users
        // since its last read, so the streak of the pods left starts at this, their first complete quiet sample.
        var idleSince = verdict == Verdict.Idle
            ? (streakCarries && previous is { Verdict: Verdict.Idle, IdleSince: { } since } && SamePods(input.Pods, previous.Pods) ? since : quietSince)
            : null;
        int? quietBelow = quietSince is not null || idleSince is not null ? input.Settings?.MinConnections : null;
        var activeByGauge = verdict == Verdict.Active && input.Settings is { } current && active >= current.MinConnections;
        var baselines = NextBaselines(input, previous, activeByGauge, now);

        DateTimeOffset? teardownRequestedAt = verdict == Verdict.Idle ? previous?.TeardownRequestedAt : null;
        DateTimeOffset? teardownCompletedAt = verdict == Verdict.Idle ? previous?.TeardownCompletedAt : null;
        var teardownAction = verdict == Verdict.Idle ? previous?.TeardownAction : null;
        var teardownDue = false;
        if (verdict == Verdict.Idle
            && input.Settings is { } settings
            && now - idleSince!.Value >= settings.IdleTimeout
            && now - StartedAt(input, previous) >= options.StartupGrace
            && (teardownCompletedAt is null || OnlyObserved(teardownAction, settings))
            && (teardownRequestedAt is null || now - teardownRequestedAt.Value >= options.MessageMaxAge))
        {
            teardownDue = true;
            teardownRequestedAt = now;
            teardownCompletedAt = null;
            teardownAction = null;
        }

        var unchanged = previous is not null
            && previous.Verdict == verdict
            && previous.Reason == reason
            && previous.IdleSince == idleSince
            && previous.TeardownRequestedAt == teardownRequestedAt
            && previous.TeardownCompletedAt == teardownCompletedAt
            && previous.TeardownAction == teardownAction
            && previous.QuietSince == quietSince
            && previous.QuietBelow == quietBelow
            && SameBaselines(previous.Pods, baselines);

        var state = new WorkloadState(
            input.DeploymentUid,
            verdict,
            reason,
            active,
            idleSince,
            unchanged ? previous!.LastChange : now,
            baselines,
            teardownRequestedAt,
            teardownCompletedAt,
            previous?.LastSnapshot,
            teardownAction,
            quietSince,
            quietBelow);
        // Unknown says nothing about users: a workload that went Active, Unknown (a restart, renamed listeners), Idle
        // went from Active to Idle, and the teardown breaker's mass-idle measure must see it so.
        state = state with { WokenAt = previous?.WokenAt };
        state = previous is not null && previous.Verdict == verdict
            ? state with { PriorVerdict = previous.PriorVerdict, VerdictSince = previous.VerdictSince }
            : state with { PriorVerdict = previous is { Verdict: Verdict.Unknown, PriorVerdict: { } beforeUnknown } ? beforeUnknown : previous?.Verdict, VerdictSince = now };
        return new Evaluation(verdict, reason, active, state, !unchanged, teardownDue, previous?.Verdict);
    }

    /// <summary>When the workload last started: its creation, or a later wake on traffic that scaled it back.</summary>
    private static DateTimeOffset StartedAt(CheckInput input, WorkloadState? previous) =>
        previous?.WokenAt is { } woken && woken > input.DeploymentCreatedAt ? woken : input.DeploymentCreatedAt;

    /// <summary>
    /// Since when the workload is known to have had fewer connections than the minimum and no new one. A quiet, complete
    /// sample vouches for itself; an Idle verdict (no counter moved since the stored sample) extends the stored sample's
    /// time back, so an idle streak starts when the traffic stopped being seen, not one check later. Anything less than a
    /// complete quiet sample vouches for nothing.
    /// </summary>
    private static DateTimeOffset? QuietSince(CheckInput input, WorkloadState? previous, Verdict verdict, long? active, DateTimeOffset now)
    {
        var completeAndQuiet = input.Settings is { } settings
            && input.Pods.Count > 0
            && input.NotReadyPods == 0
            && input.Pods.All(pod => pod.Readable)
            && active < settings.MinConnections;
        if (!completeAndQuiet)
        {
            return null;
        }

        if (verdict != Verdict.Idle || previous is null || !SamePods(input.Pods, previous.Pods))
        {
            return now;
        }

        // States written before QuietSince existed: an idle streak already vouches for its start.
        var since = previous.QuietSince ?? (previous.Verdict == Verdict.Idle ? previous.IdleSince : null);
        return since is { } earlier && earlier <= now ? earlier : now;
    }

    /// <summary>
    /// Whether <paramref name="stored"/> holds counters read after this sample: a counter of the same Envoy lower here
    /// than stored (counters only grow), or this Envoy started well before the stored one, and the stored state written
    /// after this sample was taken. Both, so that neither a reset counter nor a clock ahead on another instance alone
    /// can make a check drop its sample.
    /// </summary>
    public bool IsOlderSample(CheckInput input, WorkloadState stored, DateTimeOffset sampledAt)
    {
        if (stored.DeploymentUid != input.DeploymentUid || stored.LastChange <= sampledAt)
        {
            return false;
        }

        foreach (var pod in input.Pods)
        {
            var baseline = stored.Pods.FirstOrDefault(candidate => candidate.PodUid == pod.PodUid);
            if (!pod.Readable || baseline is null)
            {
                continue;
            }

            var startedAt = StartedAt(pod, sampledAt);
            if (startedAt is { } start && baseline.EnvoyStartedAt is { } storedStart)
            {
                if (start + options.RestartSlack < storedStart)
                {
                    return true; // the stored counters are from the Envoy that replaced this one
                }

                if (start > storedStart + options.RestartSlack)
                {
                    continue; // restarted since the stored sample: its counters are not comparable
                }
            }

            foreach (var (listener, total) in pod.ConnectionTotals)
            {
                if (baseline.ConnectionTotals.TryGetValue(listener, out var storedTotal) && storedTotal > total)
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>A pod gone since the stored sample may have had connections after it: only the same pods vouch for the time between.</summary>
    private static bool SamePods(IReadOnlyList<PodReading> pods, IReadOnlyList<PodBaseline> baselines) =>
        pods.Count == baselines.Count && pods.All(pod => baselines.Any(baseline => baseline.PodUid == pod.PodUid));

    /// <summary>
    /// A teardown that only observed (action observe, or Reaper:DryRun) does not stand in the way of a real one once
    /// the settings allow it; otherwise one teardown per idle streak.
    /// </summary>
    private bool OnlyObserved(string? completedAction, WorkloadSettings settings) =>
        completedAction == ReaperAction.Observe.ToContractName()
        && !options.DryRun
        && settings.Action != ReaperAction.Observe;

    /// <summary>
    /// A verdict from one sample, for a dry scan that keeps no state: counters cannot be compared, so a quiet
    /// workload reads as Idle on its gauges alone; everything else follows the same rules as a check.
    /// </summary>
    public (Verdict Verdict, string Reason, long? ActiveConnections) EvaluateSample(CheckInput input, DateTimeOffset now)
    {
        var sameAsNow = input.Pods.Where(pod => pod.Readable)
            .Select(pod => new PodBaseline(pod.PodUid, StartedAt(pod, now), pod.ConnectionTotals, pod.UptimeSeconds, ReadAt(pod, now), pod.Restarts))
            .ToList();
        var previous = new WorkloadState(input.DeploymentUid, Verdict.Unknown, null, null, null, now, sameAsNow, null, null, null);
        var (verdict, reason, active) = Decide(input, previous, now);
        return verdict == Verdict.Idle
            ? (verdict, $"{active} active connection(s), minimum {input.Settings!.MinConnections} (one sample: counters not compared)", active)
            : (verdict, reason, active);
    }

    private (Verdict Verdict, string Reason, long? Active) Decide(CheckInput input, WorkloadState? previous, DateTimeOffset now)
    {
        if (input.Settings is not { } settings)
        {
            return (Verdict.Unknown, "invalid configuration: " + string.Join("; ", input.ConfigurationErrors ?? ["no settings"]), null);
        }

        if (input.Pods.Count == 0)
        {
            return (Verdict.Unknown, input.NotReadyPods > 0 ? $"no ready pod ({input.NotReadyPods} not ready)" : "no running pod", null);
        }

        var readable = input.Pods.Where(pod => pod.Readable).ToList();
        long active = SaturatingSum(readable);
        if (active >= settings.MinConnections && readable.Count > 0)
        {
            return (Verdict.Active, $"{active} active connection(s), minimum {settings.MinConnections}", active);
        }

        var baselines = previous?.Pods.ToDictionary(pod => pod.PodUid) ?? [];
        string? restarted = null;
        foreach (var pod in readable)
        {
            if (!baselines.TryGetValue(pod.PodUid, out var baseline))
            {
                restarted ??= $"pod {pod.PodName} is new: its counters were recorded for the next check";
                continue;
            }

            if (Restart(pod, baseline, now) is { } restart)
            {
                restarted ??= $"pod {pod.PodName}'s Envoy or a container restarted ({restart}): its counters were recorded for the next check";
                continue;
            }

            switch (Compare(pod, baseline))
            {
                case CounterChange.Moved:
                    return (Verdict.Active, $"pod {pod.PodName} accepted connections since the last check", active);
                case CounterChange.Reset:
                    restarted ??= $"pod {pod.PodName}'s Envoy restarted: its counters went down or changed listeners, and were recorded for the next check";
                    break;
            }
        }

        var unreadable = input.Pods.FirstOrDefault(pod => !pod.Readable);
        if (unreadable is not null)
        {
            return (Verdict.Unknown, $"pod {unreadable.PodName}: {unreadable.FailureReason}", readable.Count > 0 ? active : null);
        }

        if (input.NotReadyPods > 0)
        {
            return (Verdict.Unknown, $"{input.NotReadyPods} pod(s) not ready", active);
        }

        if (restarted is not null)
        {
            return (Verdict.Unknown, restarted, active);
        }

        return (Verdict.Idle, $"{active} active connection(s), minimum {settings.MinConnections}, no new connections", active);
    }

    /// <summary>Parsed gauges are whatever an Envoy said: their sum saturates (still at least any minimum) rather than throw.</summary>
    private static long SaturatingSum(IEnumerable<PodReading> pods)
    {
        long sum = 0;
        foreach (var pod in pods)
        {
            var connections = pod.ActiveConnections > long.MaxValue ? long.MaxValue : (long)pod.ActiveConnections;
            sum = connections > long.MaxValue - sum ? long.MaxValue : sum + connections;
        }

        return sum;
    }

    private enum CounterChange
    {
        Same,
        Moved,
        Reset,
    }

    /// <summary>server.uptime belongs to the moment the pod was read, which may be a little before the check's sample time.</summary>
    private static DateTimeOffset ReadAt(PodReading pod, DateTimeOffset now) => now - pod.ReadBeforeSample;

    private static DateTimeOffset? StartedAt(PodReading pod, DateTimeOffset now) =>
        pod.UptimeSeconds is { } uptime && uptime < (ulong)TimeSpan.FromDays(3650).TotalSeconds
            ? ReadAt(pod, now) - TimeSpan.FromSeconds(uptime)
            : null;

    /// <summary>
    /// Why the pod's Envoy (or another of its containers) restarted since <paramref name="baseline"/> was read, or null if
    /// nothing says so. Any restart makes the counters incomparable: connections the old Envoy accepted after the
    /// baseline died with it. server.uptime grows with the wall clock, so it must have grown by the time between the two
    /// reads, less <see cref="ReaperOptions.RestartSlack"/> (the stats flush, whole seconds, clocks); the container
    /// restarts are the kubelet's own count, which also sees a crash right after a start.
    /// </summary>
    private string? Restart(PodReading pod, PodBaseline baseline, DateTimeOffset now)
    {
        if (baseline.Restarts is { } before && pod.Restarts != before)
        {
            return pod.Restarts is { } after
                ? $"container restarts {before.Count} -> {after.Count}, last start {before.LastStartedAt:u} -> {after.LastStartedAt:u}"
                : "its container restarts can no longer be read";
        }

        if (pod.UptimeSeconds is not { } uptime)
        {
            return baseline.Uptime is null ? null : "server.uptime is no longer reported";
        }

        if (baseline.Uptime is { } earlierUptime)
        {
            if (uptime < earlierUptime)
            {
                return $"server.uptime went down from {earlierUptime} s to {uptime} s";
            }

            if (baseline.SampledAt is { } earlierRead)
            {
                // Doubles: parsed uptimes may be absurd, and this arithmetic must not throw on them.
                var elapsed = (ReadAt(pod, now) - earlierRead).TotalSeconds;
                if (uptime + options.RestartSlack.TotalSeconds < earlierUptime + elapsed)
                {
                    return $"server.uptime is {uptime} s, {elapsed:0} s after a read at {earlierUptime} s";
                }
            }
        }

        if (StartedAt(pod, now) is { } startedAt && baseline.EnvoyStartedAt is { } previousStart && startedAt > previousStart + options.RestartSlack)
        {
            return $"Envoy started at {startedAt:u}, after {previousStart:u}";
        }

        return null;
    }

    private static CounterChange Compare(PodReading pod, PodBaseline baseline)
    {
        foreach (var listener in baseline.ConnectionTotals.Keys)
        {
            if (!pod.ConnectionTotals.ContainsKey(listener))
            {
                return CounterChange.Reset; // A counter that vanished cannot be compared: never read it as "no change".
            }
        }

        var moved = false;
        foreach (var (listener, total) in pod.ConnectionTotals)
        {
            if (!baseline.ConnectionTotals.TryGetValue(listener, out var previousTotal))
            {
                return CounterChange.Reset; // A listener we never saw: compare from the next check on.
            }

            if (total < previousTotal)
            {
                return CounterChange.Reset;
            }

            moved |= total > previousTotal;
        }

        return moved ? CounterChange.Moved : CounterChange.Same;
    }

    private IReadOnlyList<PodBaseline> NextBaselines(CheckInput input, WorkloadState? previous, bool activeByGauge, DateTimeOffset now)
    {
        var previousByUid = previous?.Pods.ToDictionary(pod => pod.PodUid) ?? [];

        // A busy workload stays Active on its gauge alone; refreshing its counters every cycle would be a write per
        // cycle for nothing. The older baseline only makes the first quiet check after it read as Active once more.
        // Only while the gauge alone says Active: a verdict drawn from moved counters must move the baseline on, or the
        // same old movement would read as activity again at every later check and the workload would never go idle.
        var keepOld = activeByGauge
            && previous?.Verdict == Verdict.Active
            && input.Pods.All(pod => previousByUid.ContainsKey(pod.PodUid))
            && previousByUid.Count == input.Pods.Count;
        if (keepOld)
        {
            return previous!.Pods;
        }

        var next = new List<PodBaseline>(input.Pods.Count);
        foreach (var pod in input.Pods)
        {
            if (pod.Readable)
            {
                var startedAt = StartedAt(pod, now);
                if (previousByUid.TryGetValue(pod.PodUid, out var old) && Restart(pod, old, now) is null)
                {
                    // The same Envoy with the same counters: the stored read still stands for them, so that an unchanged
                    // workload writes nothing, and the next check is measured against that read.
                    if (old.Restarts == pod.Restarts
                        && (old.Uptime is null) == (pod.UptimeSeconds is null)
                        && SameTotals(old.ConnectionTotals, pod.ConnectionTotals))
                    {
                        next.Add(old);
                        continue;
                    }

                    // Keep the recorded start while Envoy has not restarted.
                    startedAt = old.EnvoyStartedAt ?? startedAt;
                }

                next.Add(new PodBaseline(pod.PodUid, startedAt, pod.ConnectionTotals, pod.UptimeSeconds, ReadAt(pod, now), pod.Restarts));
            }
            else if (previousByUid.TryGetValue(pod.PodUid, out var unreadableBaseline))
            {
                next.Add(unreadableBaseline);
            }
        }

        return next;
    }

    private static bool SameTotals(IReadOnlyDictionary<string, ulong> left, IReadOnlyDictionary<string, ulong> right) =>
        left.Count == right.Count
        && left.All(pair => right.TryGetValue(pair.Key, out var other) && other == pair.Value);

    private static bool SameBaselines(IReadOnlyList<PodBaseline> left, IReadOnlyList<PodBaseline> right)
    {
        if (left.Count != right.Count)
        {
            return false;
        }

        for (var i = 0; i < left.Count; i++)
        {
            var a = left[i];
            var b = right[i];
            if (a.PodUid != b.PodUid || a.EnvoyStartedAt != b.EnvoyStartedAt || a.Uptime != b.Uptime || a.SampledAt != b.SampledAt
                || a.Restarts != b.Restarts || !SameTotals(a.ConnectionTotals, b.ConnectionTotals))
            {
                return false;
            }
        }

        return true;
    }
}
