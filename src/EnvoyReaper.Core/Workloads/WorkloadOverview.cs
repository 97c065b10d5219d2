using EnvoyReaper.Idleness;
using EnvoyReaper.Messaging;
using EnvoyReaper.Teardown;

namespace EnvoyReaper.Workloads;

public sealed record WorkloadOverviewItem(
    string Namespace,
    string Name,
    string Source,
    string? Monitor,
    string Verdict,
    string? Reason,
    long? ActiveConnections,
    DateTimeOffset? IdleSince,
    string? IdleFor,
    string NextAction,
    DateTimeOffset? LastTeardown,
    string? LastSnapshot);

public sealed record WorkloadOverviewReport(IReadOnlyList<WorkloadOverviewItem> Workloads, IReadOnlyList<DiscoveryProblem> Problems, BreakerStatus Breaker);

/// <summary>What the reaper thinks of every monitored workload right now, from its own state: no stats are read.</summary>
public sealed class WorkloadOverview(
    WorkloadDiscovery discovery,
    IWorkloadStateStore states,
    TeardownBreaker breaker,
    TimeProvider time,
    Microsoft.Extensions.Options.IOptions<ReaperOptions> options)
{
    public async Task<WorkloadOverviewReport> BuildAsync(CancellationToken cancellationToken)
    {
        var found = await discovery.DiscoverAsync(cancellationToken).ConfigureAwait(false);
        var stored = await states.ListAsync(cancellationToken).ConfigureAwait(false);
        var breakerStatus = await breaker.StatusAsync(cancellationToken).ConfigureAwait(false);
        var now = time.GetUtcNow();
        var items = found.Workloads.Select(workload =>
        {
            var state = stored.TryGetValue((workload.Deployment.Namespace, workload.Deployment.Name), out var known) && known.DeploymentUid == workload.Deployment.Uid
                ? known
                : null;
            return new WorkloadOverviewItem(
                workload.Deployment.Namespace,
                workload.Deployment.Name,
                workload.Source == OptInSource.Monitor ? "monitor" : "label",
                workload.Monitor,
                state?.Verdict.ToString() ?? "NotCheckedYet",
                workload.Settings.IsValid ? state?.Reason : string.Join("; ", workload.Settings.Errors),
                state?.ActiveConnections,
                state?.IdleSince,
                state?.IdleSince is { } since ? GoDuration.Format(TimeSpan.FromSeconds(Math.Floor((now - since).TotalSeconds))) : null,
                NextAction(workload, state, breakerStatus, now),
                state?.TeardownCompletedAt,
                state?.LastSnapshot);
        }).ToList();
        return new WorkloadOverviewReport(items, found.Problems, breakerStatus);
    }

    private string NextAction(MonitoredWorkload workload, WorkloadState? state, BreakerStatus breakerStatus, DateTimeOffset now)
    {
        if (workload.Settings.Settings is not { } settings)
        {
            return "none: fix the configuration";
        }

        var action = options.Value.DryRun ? ReaperAction.Observe : settings.Action;
        return state switch
        {
            { Verdict: Verdict.Idle, TeardownCompletedAt: not null } => $"none: {state.TeardownAction ?? action.ToContractName()} done",
            { Verdict: Verdict.Idle, TeardownRequestedAt: not null } when action != ReaperAction.Observe && breakerStatus.Refusing =>
                $"{action.ToContractName()} deferred by the teardown breaker ({(breakerStatus.Open ? "open" : "hourly limit reached")})",
            { Verdict: Verdict.Idle, TeardownRequestedAt: not null } => $"{action.ToContractName()} in progress",
            { Verdict: Verdict.Idle, IdleSince: { } since } =>
                $"{action.ToContractName()} at {Max(since + settings.IdleTimeout, workload.Deployment.CreatedAt + options.Value.StartupGrace):u} if still idle",
            _ => "none",
        };
    }

    private static DateTimeOffset Max(DateTimeOffset left, DateTimeOffset right) => left > right ? left : right;
}
