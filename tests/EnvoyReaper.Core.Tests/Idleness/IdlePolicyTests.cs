using EnvoyReaper.Cluster;
using EnvoyReaper.Idleness;
using EnvoyReaper.Workloads;
using Microsoft.Extensions.Time.Testing;

namespace EnvoyReaper.Core.Tests.Idleness;

public sealed class IdlePolicyTests
{
    private const string DeploymentUid = "dep-uid-1";
    private const string Listener = "0.0.0.0_8080";

    private static readonly DateTimeOffset T0 = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);

    /// <summary>Envoy in every pod started two hours before the first check.</summary>
    private static readonly DateTimeOffset EnvoyStart = T0 - TimeSpan.FromHours(2);

    /// <summary>Well past the startup grace.</summary>
    private static readonly DateTimeOffset OldDeployment = T0 - TimeSpan.FromDays(3);

    private static readonly ReaperOptions Options = new()
    {
        StartupGrace = TimeSpan.FromMinutes(5),
        MessageMaxAge = TimeSpan.FromMinutes(5),
    };

    private readonly IdlePolicy policy = new(Options);

    private static WorkloadSettings Settings(int minConnections = 1, TimeSpan? idleTimeout = null) => new(
        minConnections,
        idleTimeout ?? TimeSpan.FromMinutes(10),
        ReaperAction.Delete,
        15090,
        "/stats",
        null,
        null,
        null,
        null);

    /// <summary>A readable pod whose server.uptime is consistent with an Envoy started at <paramref name="envoyStart"/>.</summary>
    private static PodReading Pod(
        DateTimeOffset now,
        string uid = "pod-a",
        ulong active = 0,
        ulong total = 100,
        DateTimeOffset? envoyStart = null) =>
        new(uid, "web-abc-" + uid, true, null, active, new Dictionary<string, ulong> { [Listener] = total },
            (ulong)(now - (envoyStart ?? EnvoyStart)).TotalSeconds);

    private static PodReading Unreadable(string uid = "pod-b") => PodReading.Unreadable(uid, "web-abc-" + uid, "connection refused");

    private static CheckInput Input(
        IReadOnlyList<PodReading> pods,
        WorkloadSettings? settings = null,
        int notReady = 0,
        string deploymentUid = DeploymentUid,
        DateTimeOffset? createdAt = null) =>
        new(deploymentUid, createdAt ?? OldDeployment, settings ?? Settings(), null, pods, notReady);

    private Evaluation Check(WorkloadState? previous, DateTimeOffset now, params PodReading[] pods) =>
        policy.Evaluate(Input(pods), previous, now);

    /// <summary>
    /// Two quiet checks a minute apart: the second one is the first Idle (at T0 + 1 min), idle since the first sample
    /// (T0), which had no connection open and whose counters did not move after it.
    /// </summary>
    private WorkloadState IdleAtT0PlusOneMinute(WorkloadSettings? settings = null, DateTimeOffset? createdAt = null)
    {
        var first = policy.Evaluate(Input([Pod(T0)], settings, createdAt: createdAt), null, T0);
        Assert.Equal(Verdict.Unknown, first.Verdict);
        var now = T0.AddMinutes(1);
        var second = policy.Evaluate(Input([Pod(now)], settings, createdAt: createdAt), first.State, now);
        Assert.Equal(Verdict.Idle, second.Verdict);
        Assert.Equal(T0, second.State.IdleSince);
        return second.State;
    }

    private static WorkloadState StateWith(
        Verdict verdict,
        DateTimeOffset? idleSince,
        IReadOnlyList<PodBaseline> pods,
        DateTimeOffset? teardownRequestedAt = null,
        DateTimeOffset? teardownCompletedAt = null,
        string deploymentUid = DeploymentUid) =>
        new(deploymentUid, verdict, "earlier", 0, idleSince, T0, pods, teardownRequestedAt, teardownCompletedAt, null);

    private static PodBaseline Baseline(string uid = "pod-a", ulong total = 100) =>
        new(uid, EnvoyStart, new Dictionary<string, ulong> { [Listener] = total });

    // ----- Active / Idle on the gauges and counters -----

    [Fact]
    public void Active_connections_summed_over_pods_reaching_the_minimum_make_the_workload_Active()
    {
        var previous = StateWith(Verdict.Idle, T0.AddMinutes(-5), [Baseline("pod-a"), Baseline("pod-b")]);

        var evaluation = policy.Evaluate(
            Input([Pod(T0, "pod-a", active: 1), Pod(T0, "pod-b", active: 2)], Settings(minConnections: 3)), previous, T0);

        Assert.Equal(Verdict.Active, evaluation.Verdict);
        Assert.Equal(3, evaluation.ActiveConnections);
    }

    [Fact]
    public void Active_connections_below_the_minimum_with_unchanged_counters_on_every_pod_is_Idle()
    {
        var previous = StateWith(Verdict.Unknown, null, [Baseline("pod-a"), Baseline("pod-b")]);

        var evaluation = policy.Evaluate(
            Input([Pod(T0, "pod-a", active: 1), Pod(T0, "pod-b", active: 1)], Settings(minConnections: 3)), previous, T0);

        Assert.Equal(Verdict.Idle, evaluation.Verdict);
        Assert.Equal(2, evaluation.ActiveConnections);
        Assert.Equal(T0, evaluation.State.IdleSince);
    }

    [Fact]
    public void Min_connections_zero_never_reads_as_Idle_even_after_many_quiet_checks()
    {
        var settings = Settings(minConnections: 0, idleTimeout: TimeSpan.FromMinutes(1));
        WorkloadState? state = null;
        for (var minute = 0; minute < 20; minute++)
        {
            var now = T0.AddMinutes(minute);
            var evaluation = policy.Evaluate(Input([Pod(now)], settings), state, now);
            Assert.NotEqual(Verdict.Idle, evaluation.Verdict);
            Assert.False(evaluation.TeardownDue);
            Assert.Null(evaluation.State.IdleSince);
            state = evaluation.State;
        }
    }

    [Fact]
    public void Connections_accepted_since_the_last_check_make_the_workload_Active_with_none_open_now()
    {
        var idle = IdleAtT0PlusOneMinute();
        var now = T0.AddMinutes(2);

        var evaluation = Check(idle, now, Pod(now, active: 0, total: 101));

        Assert.Equal(Verdict.Active, evaluation.Verdict);
        Assert.Null(evaluation.State.IdleSince);
        Assert.False(evaluation.TeardownDue);
    }

    [Fact]
    public void Counters_that_moved_on_one_pod_make_the_workload_Active_even_if_another_pod_is_unreadable()
    {
        var previous = StateWith(Verdict.Idle, T0.AddMinutes(-5), [Baseline("pod-a", total: 100)]);

        var evaluation = Check(previous, T0, Pod(T0, "pod-a", total: 150), Unreadable("pod-b"));

        Assert.Equal(Verdict.Active, evaluation.Verdict);
        Assert.Null(evaluation.State.IdleSince);
    }

    // ----- No comparable baseline: Unknown, and the baseline is recorded -----

    [Fact]
    public void First_sight_of_a_pod_is_Unknown_and_records_its_counters_for_the_next_check()
    {
        var first = Check(null, T0, Pod(T0));

        Assert.Equal(Verdict.Unknown, first.Verdict);
        Assert.Null(first.State.IdleSince);
        Assert.False(first.TeardownDue);
        var baseline = Assert.Single(first.State.Pods);
        Assert.Equal("pod-a", baseline.PodUid);
        Assert.Equal(100UL, baseline.ConnectionTotals[Listener]);

        var now = T0.AddMinutes(1);
        var second = Check(first.State, now, Pod(now));
        Assert.Equal(Verdict.Idle, second.Verdict);
    }

    [Fact]
    public void A_new_pod_uid_is_Unknown_not_Idle_until_its_counters_can_be_compared()
    {
        var idle = IdleAtT0PlusOneMinute();
        var now = T0.AddMinutes(2);

        // The pod was replaced: same name pattern, new UID, low counters from a fresh Envoy.
        var replaced = Check(idle, now, Pod(now, uid: "pod-new", total: 3, envoyStart: now.AddSeconds(-40)));

        Assert.Equal(Verdict.Unknown, replaced.Verdict);
        Assert.Null(replaced.State.IdleSince);
        Assert.Contains(replaced.State.Pods, pod => pod.PodUid == "pod-new");

        var later = now.AddMinutes(1);
        var next = Check(replaced.State, later, Pod(later, uid: "pod-new", total: 3, envoyStart: now.AddSeconds(-40)));
        Assert.Equal(Verdict.Idle, next.Verdict);
        Assert.Equal(now, next.State.IdleSince); // the new pod's first sample was quiet and nothing moved after it
    }

    [Fact]
    public void A_new_pod_next_to_a_known_quiet_pod_is_Unknown()
    {
        var idle = IdleAtT0PlusOneMinute();
        var now = T0.AddMinutes(2);

        var evaluation = Check(idle, now, Pod(now, "pod-a"), Pod(now, "pod-b"));

        Assert.Equal(Verdict.Unknown, evaluation.Verdict);
        Assert.Null(evaluation.State.IdleSince);
    }

    [Fact]
    public void A_listener_total_lower_than_before_is_Unknown_and_becomes_the_new_baseline()
    {
        var idle = IdleAtT0PlusOneMinute();
        var now = T0.AddMinutes(2);

        var evaluation = Check(idle, now, Pod(now, total: 40));

        Assert.Equal(Verdict.Unknown, evaluation.Verdict);
        Assert.Null(evaluation.State.IdleSince);
        Assert.Equal(40UL, Assert.Single(evaluation.State.Pods).ConnectionTotals[Listener]);

        var later = now.AddMinutes(1);
        Assert.Equal(Verdict.Idle, Check(evaluation.State, later, Pod(later, total: 40)).Verdict);
    }

    [Fact]
    public void Envoy_restart_seen_in_server_uptime_is_Unknown_even_when_the_totals_look_unchanged()
    {
        var idle = IdleAtT0PlusOneMinute();
        var now = T0.AddMinutes(2);
        var restartedAt = now.AddSeconds(-45); // a later start by far more than 30 s

        var evaluation = Check(idle, now, Pod(now, total: 100, envoyStart: restartedAt));

        Assert.Equal(Verdict.Unknown, evaluation.Verdict);
        Assert.Null(evaluation.State.IdleSince);
        Assert.False(evaluation.TeardownDue);

        var later = now.AddMinutes(1);
        var next = Check(evaluation.State, later, Pod(later, total: 100, envoyStart: restartedAt));
        Assert.Equal(Verdict.Idle, next.Verdict);
        Assert.Equal(now, next.State.IdleSince); // from the first sample of the restarted Envoy, not from before the restart
    }

    [Fact]
    public void Envoy_restart_with_higher_totals_is_Unknown_not_a_counter_delta()
    {
        var idle = IdleAtT0PlusOneMinute();
        var now = T0.AddMinutes(2);

        var evaluation = Check(idle, now, Pod(now, total: 500, envoyStart: now.AddSeconds(-50)));

        Assert.Equal(Verdict.Unknown, evaluation.Verdict);
    }

    [Fact]
    public void Server_uptime_lagging_within_the_restart_slack_is_not_a_restart()
    {
        var idle = IdleAtT0PlusOneMinute();
        var now = T0.AddMinutes(2);

        // The stats flush lags: uptime reads 8 s short, as if Envoy had started 8 s later.
        var evaluation = Check(idle, now, Pod(now, envoyStart: EnvoyStart.AddSeconds(8)));

        Assert.Equal(Verdict.Idle, evaluation.Verdict);
        Assert.Equal(T0, evaluation.State.IdleSince);
    }

    [Fact]
    public void A_connection_total_that_vanished_since_the_baseline_is_not_read_as_unchanged()
    {
        // Spec: never act on data that could not be read, including a missing statistic. The baseline had a
        // downstream_cx_total for the listener; this reading has none, so "counters did not move" is unknown.
        var idle = IdleAtT0PlusOneMinute();
        var now = T0.AddMinutes(2);
        var withoutTotal = new PodReading("pod-a", "web-abc-pod-a", true, null, 0, new Dictionary<string, ulong>(),
            (ulong)(now - EnvoyStart).TotalSeconds);

        var evaluation = Check(idle, now, withoutTotal);

        Assert.NotEqual(Verdict.Idle, evaluation.Verdict);
        Assert.Null(evaluation.State.IdleSince);
    }

    // ----- Unreadable, missing, not ready, misconfigured: Unknown -----

    [Fact]
    public void Unreadable_pod_makes_the_workload_Unknown_and_resets_the_idle_streak()
    {
        var previous = StateWith(Verdict.Idle, T0.AddMinutes(-9), [Baseline("pod-a"), Baseline("pod-b")]);

        var evaluation = Check(previous, T0, Pod(T0, "pod-a"), Unreadable("pod-b"));

        Assert.Equal(Verdict.Unknown, evaluation.Verdict);
        Assert.Null(evaluation.State.IdleSince);
        Assert.False(evaluation.TeardownDue);
        Assert.Contains("connection refused", evaluation.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Unreadable_pod_never_lets_an_overdue_idle_streak_reach_teardown()
    {
        var previous = StateWith(Verdict.Idle, T0.AddHours(-5), [Baseline("pod-a")]);

        var evaluation = Check(previous, T0, Unreadable("pod-a"));

        Assert.Equal(Verdict.Unknown, evaluation.Verdict);
        Assert.False(evaluation.TeardownDue);
        Assert.Null(evaluation.State.IdleSince);
        Assert.Null(evaluation.State.TeardownRequestedAt);
    }

    [Fact]
    public void Readable_pods_over_the_minimum_are_Active_despite_an_unreadable_pod()
    {
        var evaluation = Check(null, T0, Pod(T0, "pod-a", active: 5), Unreadable("pod-b"));

        Assert.Equal(Verdict.Active, evaluation.Verdict);
        Assert.Equal(5, evaluation.ActiveConnections);
    }

    [Fact]
    public void No_pod_at_all_is_Unknown()
    {
        var previous = StateWith(Verdict.Idle, T0.AddHours(-1), [Baseline()]);

        var evaluation = policy.Evaluate(Input([]), previous, T0);

        Assert.Equal(Verdict.Unknown, evaluation.Verdict);
        Assert.False(evaluation.TeardownDue);
        Assert.Null(evaluation.State.IdleSince);
    }

    [Fact]
    public void Only_not_ready_pods_is_Unknown()
    {
        var previous = StateWith(Verdict.Idle, T0.AddHours(-1), [Baseline()]);

        var evaluation = policy.Evaluate(Input([], notReady: 2), previous, T0);

        Assert.Equal(Verdict.Unknown, evaluation.Verdict);
        Assert.False(evaluation.TeardownDue);
    }

    [Fact]
    public void Not_ready_pods_next_to_quiet_readable_pods_make_the_workload_Unknown()
    {
        var previous = StateWith(Verdict.Idle, T0.AddHours(-1), [Baseline()]);

        var evaluation = policy.Evaluate(Input([Pod(T0)], notReady: 1), previous, T0);

        Assert.Equal(Verdict.Unknown, evaluation.Verdict);
        Assert.False(evaluation.TeardownDue);
        Assert.Null(evaluation.State.IdleSince);
    }

    [Fact]
    public void Missing_settings_with_configuration_errors_is_Unknown_and_names_the_error()
    {
        var previous = StateWith(Verdict.Idle, T0.AddHours(-1), [Baseline()]);
        var input = new CheckInput(DeploymentUid, OldDeployment, null, ["envoy-reaper/min-connections: 'abc' is not an integer"], [Pod(T0)], 0);

        var evaluation = policy.Evaluate(input, previous, T0);

        Assert.Equal(Verdict.Unknown, evaluation.Verdict);
        Assert.False(evaluation.TeardownDue);
        Assert.Null(evaluation.State.IdleSince);
        Assert.Contains("envoy-reaper/min-connections", evaluation.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_settings_without_errors_is_still_Unknown()
    {
        var input = new CheckInput(DeploymentUid, OldDeployment, null, null, [Pod(T0)], 0);

        Assert.Equal(Verdict.Unknown, policy.Evaluate(input, null, T0).Verdict);
    }

    // ----- The idle streak and the teardown marks -----

    [Fact]
    public void Active_resets_idle_since_and_clears_the_teardown_marks()
    {
        var previous = StateWith(Verdict.Idle, T0.AddMinutes(-30), [Baseline()], teardownRequestedAt: T0.AddMinutes(-2), teardownCompletedAt: T0.AddMinutes(-1));

        var evaluation = Check(previous, T0, Pod(T0, active: 4));

        Assert.Equal(Verdict.Active, evaluation.Verdict);
        Assert.Null(evaluation.State.IdleSince);
        Assert.Null(evaluation.State.TeardownRequestedAt);
        Assert.Null(evaluation.State.TeardownCompletedAt);
        Assert.True(evaluation.StateChanged);
    }

    [Fact]
    public void Unknown_resets_idle_since_and_clears_the_teardown_marks()
    {
        var previous = StateWith(Verdict.Idle, T0.AddMinutes(-30), [Baseline()], teardownRequestedAt: T0.AddMinutes(-2), teardownCompletedAt: T0.AddMinutes(-1));

        var evaluation = Check(previous, T0, Unreadable("pod-a"));

        Assert.Equal(Verdict.Unknown, evaluation.Verdict);
        Assert.Null(evaluation.State.IdleSince);
        Assert.Null(evaluation.State.TeardownRequestedAt);
        Assert.Null(evaluation.State.TeardownCompletedAt);
    }

    [Fact]
    public void Idle_keeps_the_earliest_idle_since_across_checks()
    {
        var state = IdleAtT0PlusOneMinute();
        for (var minute = 2; minute <= 6; minute++)
        {
            var now = T0.AddMinutes(minute);
            var evaluation = Check(state, now, Pod(now));
            Assert.Equal(Verdict.Idle, evaluation.Verdict);
            Assert.Equal(T0, evaluation.State.IdleSince);
            state = evaluation.State;
        }
    }

    [Fact]
    public void Teardown_is_due_once_idle_for_the_timeout_and_marks_the_request()
    {
        var previous = StateWith(Verdict.Idle, T0.AddMinutes(-10), [Baseline()]);

        var evaluation = Check(previous, T0, Pod(T0));

        Assert.Equal(Verdict.Idle, evaluation.Verdict);
        Assert.True(evaluation.TeardownDue);
        Assert.Equal(T0, evaluation.State.TeardownRequestedAt);
        Assert.Equal(T0.AddMinutes(-10), evaluation.State.IdleSince);
        Assert.True(evaluation.StateChanged);
    }

    [Fact]
    public void Teardown_is_not_due_before_the_idle_timeout()
    {
        var previous = StateWith(Verdict.Idle, T0.AddMinutes(-10).AddSeconds(1), [Baseline()]);

        var evaluation = Check(previous, T0, Pod(T0));

        Assert.Equal(Verdict.Idle, evaluation.Verdict);
        Assert.False(evaluation.TeardownDue);
        Assert.Null(evaluation.State.TeardownRequestedAt);
    }

    [Fact]
    public void Teardown_is_not_due_while_the_deployment_is_younger_than_the_startup_grace()
    {
        // Short idle timeout, but the Deployment was created 3 minutes ago (grace 5 minutes).
        var settings = Settings(idleTimeout: TimeSpan.FromMinutes(1));
        var created = T0.AddMinutes(-3);
        var previous = StateWith(Verdict.Idle, T0.AddMinutes(-2), [Baseline()]);

        var evaluation = policy.Evaluate(Input([Pod(T0)], settings, createdAt: created), previous, T0);

        Assert.Equal(Verdict.Idle, evaluation.Verdict);
        Assert.False(evaluation.TeardownDue);

        var afterGrace = T0.AddMinutes(3);
        var later = policy.Evaluate(Input([Pod(afterGrace)], settings, createdAt: created), evaluation.State, afterGrace);
        Assert.True(later.TeardownDue);
    }

    [Fact]
    public void A_workload_woken_on_traffic_gets_the_startup_grace_again_from_its_wake()
    {
        // An old Deployment (created days ago) scaled back by a wake 3 minutes ago: grace 5 minutes from the wake.
        var settings = Settings(idleTimeout: TimeSpan.FromMinutes(1));
        var previous = StateWith(Verdict.Idle, T0.AddMinutes(-2), [Baseline()]) with { WokenAt = T0.AddMinutes(-3) };

        var evaluation = policy.Evaluate(Input([Pod(T0)], settings), previous, T0);

        Assert.Equal(Verdict.Idle, evaluation.Verdict);
        Assert.False(evaluation.TeardownDue);
        Assert.Equal(T0.AddMinutes(-3), evaluation.State.WokenAt);

        var afterGrace = T0.AddMinutes(3);
        var later = policy.Evaluate(Input([Pod(afterGrace)], settings), evaluation.State, afterGrace);
        Assert.True(later.TeardownDue);
    }

    [Fact]
    public void Teardown_is_never_due_again_once_a_teardown_completed()
    {
        var previous = StateWith(Verdict.Idle, T0.AddHours(-2), [Baseline()], teardownRequestedAt: T0.AddHours(-1), teardownCompletedAt: T0.AddMinutes(-59));

        var evaluation = Check(previous, T0, Pod(T0));

        Assert.Equal(Verdict.Idle, evaluation.Verdict);
        Assert.False(evaluation.TeardownDue);
        Assert.Equal(T0.AddMinutes(-59), evaluation.State.TeardownCompletedAt);
    }

    [Fact]
    public void Teardown_is_not_requested_again_within_message_max_age_but_is_after_it()
    {
        var previous = StateWith(Verdict.Idle, T0.AddMinutes(-10), [Baseline()]);
        var due = Check(previous, T0, Pod(T0));
        Assert.True(due.TeardownDue);

        var state = due.State;
        for (var minute = 1; minute <= 4; minute++)
        {
            var now = T0.AddMinutes(minute);
            var evaluation = Check(state, now, Pod(now));
            Assert.Equal(Verdict.Idle, evaluation.Verdict);
            Assert.False(evaluation.TeardownDue);
            Assert.Equal(T0, evaluation.State.TeardownRequestedAt);
            state = evaluation.State;
        }

        // The earlier request has expired (its message would be dropped as stale) and nothing completed: ask again.
        var afterMaxAge = T0.AddMinutes(6);
        var again = Check(state, afterMaxAge, Pod(afterMaxAge));
        Assert.True(again.TeardownDue);
        Assert.Equal(afterMaxAge, again.State.TeardownRequestedAt);
    }

    // ----- State writes -----

    [Fact]
    public void A_second_identical_idle_check_changes_nothing_even_though_uptime_advanced()
    {
        var idle = IdleAtT0PlusOneMinute();
        var now = T0.AddMinutes(2);

        var evaluation = Check(idle, now, Pod(now));

        Assert.Equal(Verdict.Idle, evaluation.Verdict);
        Assert.False(evaluation.StateChanged);
        Assert.False(evaluation.VerdictChanged);
        Assert.Equal(idle.LastChange, evaluation.State.LastChange);
    }

    [Fact]
    public void Uptime_reading_a_few_seconds_short_between_checks_does_not_rewrite_the_state()
    {
        var idle = IdleAtT0PlusOneMinute();
        var now = T0.AddMinutes(2);

        var evaluation = Check(idle, now, Pod(now, envoyStart: EnvoyStart.AddSeconds(4)));

        Assert.Equal(Verdict.Idle, evaluation.Verdict);
        Assert.False(evaluation.StateChanged);
    }

    [Fact]
    public void A_second_identical_active_check_changes_nothing()
    {
        var first = Check(null, T0, Pod(T0, active: 3));
        Assert.Equal(Verdict.Active, first.Verdict);
        Assert.True(first.StateChanged);

        var now = T0.AddMinutes(1);
        var second = Check(first.State, now, Pod(now, active: 3, total: 180));

        Assert.Equal(Verdict.Active, second.Verdict);
        Assert.False(second.StateChanged);
    }

    [Fact]
    public void A_second_identical_unknown_check_changes_nothing()
    {
        var first = Check(null, T0, Unreadable("pod-a"));
        Assert.True(first.StateChanged);

        var second = Check(first.State, T0.AddMinutes(1), Unreadable("pod-a"));

        Assert.Equal(Verdict.Unknown, second.Verdict);
        Assert.False(second.StateChanged);
    }

    [Fact]
    public void Going_from_idle_to_unknown_is_a_state_change()
    {
        var idle = IdleAtT0PlusOneMinute();

        var evaluation = Check(idle, T0.AddMinutes(2), Unreadable("pod-a"));

        Assert.True(evaluation.StateChanged);
        Assert.True(evaluation.VerdictChanged);
        Assert.Equal(Verdict.Idle, evaluation.PreviousVerdict);
    }

    [Fact]
    public void A_recreated_deployment_with_a_new_uid_discards_the_previous_state()
    {
        // The old Deployment had been idle for hours and even completed a teardown; the new one shares only its name.
        var previous = StateWith(Verdict.Idle, T0.AddHours(-3), [Baseline()], teardownRequestedAt: T0.AddHours(-1), teardownCompletedAt: T0.AddHours(-1), deploymentUid: "old-uid");

        var evaluation = policy.Evaluate(Input([Pod(T0)], deploymentUid: "new-uid"), previous, T0);

        Assert.Equal(Verdict.Unknown, evaluation.Verdict); // the pod has no baseline under the new Deployment
        Assert.Equal("new-uid", evaluation.State.DeploymentUid);
        Assert.Null(evaluation.State.IdleSince);
        Assert.Null(evaluation.State.TeardownRequestedAt);
        Assert.Null(evaluation.State.TeardownCompletedAt);
        Assert.Null(evaluation.PreviousVerdict);
        Assert.False(evaluation.TeardownDue);
        Assert.True(evaluation.StateChanged);
    }

    // ----- When an idle streak starts -----

    [Fact]
    public void Short_connections_seen_only_in_the_counters_start_the_idle_streak_at_the_check_that_saw_them()
    {
        var previous = StateWith(Verdict.Idle, T0.AddMinutes(-30), [Baseline(total: 100)]);
        var churn = Check(previous, T0, Pod(T0, total: 103));
        Assert.Equal(Verdict.Active, churn.Verdict);
        Assert.Equal(T0, churn.State.QuietSince); // nothing open at T0, so no user from then on unless a counter moves

        var quiet = Check(churn.State, T0.AddMinutes(1), Pod(T0.AddMinutes(1), total: 103));

        Assert.Equal(Verdict.Idle, quiet.Verdict);
        Assert.Equal(T0, quiet.State.IdleSince);
    }

    [Fact]
    public void A_connection_open_at_the_last_check_starts_the_idle_streak_only_at_the_check_that_finds_it_closed()
    {
        var previous = StateWith(Verdict.Idle, T0.AddMinutes(-30), [Baseline(total: 100)]);
        var open = Check(previous, T0, Pod(T0, active: 1, total: 100));
        Assert.Equal(Verdict.Active, open.Verdict);
        Assert.Null(open.State.QuietSince);

        var later = T0.AddMinutes(1);
        var closed = Check(open.State, later, Pod(later, active: 0, total: 100));

        Assert.Equal(Verdict.Idle, closed.Verdict);
        Assert.Equal(later, closed.State.IdleSince);
    }

    [Fact]
    public void Connections_below_the_minimum_at_the_last_check_count_as_quiet()
    {
        var settings = Settings(minConnections: 3);
        var previous = StateWith(Verdict.Idle, T0.AddMinutes(-30), [Baseline(total: 100)]);
        var churn = policy.Evaluate(Input([Pod(T0, active: 2, total: 101)], settings), previous, T0);
        Assert.Equal(Verdict.Active, churn.Verdict);

        var later = T0.AddMinutes(1);
        var quiet = policy.Evaluate(Input([Pod(later, active: 2, total: 101)], settings), churn.State, later);

        Assert.Equal(Verdict.Idle, quiet.Verdict);
        Assert.Equal(T0, quiet.State.IdleSince);
    }

    [Fact]
    public void An_incomplete_last_check_vouches_for_nothing_and_the_idle_streak_starts_now()
    {
        var later = T0.AddMinutes(1);
        var baselines = new[] { Baseline("pod-a"), Baseline("pod-b") };

        var unreadable = Check(StateWith(Verdict.Idle, T0.AddMinutes(-30), baselines), T0, Pod(T0, "pod-a"), Unreadable("pod-b"));
        var notReady = policy.Evaluate(Input([Pod(T0, "pod-a"), Pod(T0, "pod-b")], notReady: 1), StateWith(Verdict.Idle, T0.AddMinutes(-30), baselines), T0);

        foreach (var incomplete in new[] { unreadable, notReady })
        {
            Assert.Equal(Verdict.Unknown, incomplete.Verdict);
            Assert.Null(incomplete.State.QuietSince);
            var next = Check(incomplete.State, later, Pod(later, "pod-a"), Pod(later, "pod-b"));
            Assert.Equal(Verdict.Idle, next.Verdict);
            Assert.Equal(later, next.State.IdleSince);
        }
    }

    [Fact]
    public void A_pod_gone_since_the_last_check_may_have_had_users_so_the_idle_streak_starts_now()
    {
        var previous = StateWith(Verdict.Idle, T0.AddMinutes(-30), [Baseline("pod-a"), Baseline("pod-b")]);
        var churn = Check(previous, T0, Pod(T0, "pod-a", total: 105), Pod(T0, "pod-b"));
        Assert.Equal(T0, churn.State.QuietSince);

        var later = T0.AddMinutes(1);
        var oneLeft = Check(churn.State, later, Pod(later, "pod-a", total: 105));

        Assert.Equal(Verdict.Idle, oneLeft.Verdict);
        Assert.Equal(later, oneLeft.State.IdleSince);
    }

    [Fact]
    public void A_quiet_streak_keeps_its_start_and_writes_nothing_new()
    {
        var churn = Check(StateWith(Verdict.Idle, T0.AddMinutes(-30), [Baseline(total: 100)]), T0, Pod(T0, total: 101));
        var first = Check(churn.State, T0.AddMinutes(1), Pod(T0.AddMinutes(1), total: 101));
        var second = Check(first.State, T0.AddMinutes(2), Pod(T0.AddMinutes(2), total: 101));

        Assert.Equal(T0, second.State.QuietSince);
        Assert.Equal(T0, second.State.IdleSince);
        Assert.False(second.StateChanged);
    }

    [Fact]
    public void A_lowered_minimum_of_connections_starts_the_idle_streak_again()
    {
        // Two users were connected under a minimum of 3 (idle then); the owner lowers the minimum to 1 and the users leave.
        var streak = policy.Evaluate(Input([Pod(T0, active: 2)], Settings(minConnections: 3)), StateWith(Verdict.Idle, T0.AddMinutes(-5), [Baseline()]), T0);
        Assert.Equal(T0.AddMinutes(-5), streak.State.IdleSince);
        Assert.Equal(3, streak.State.QuietBelow);

        var later = T0.AddMinutes(1);
        var lowered = policy.Evaluate(Input([Pod(later, active: 0)], Settings(minConnections: 1)), streak.State, later);

        Assert.Equal(Verdict.Idle, lowered.Verdict);
        Assert.Equal(later, lowered.State.IdleSince); // under a minimum of 1 it was busy until after T0
        Assert.Equal(1, lowered.State.QuietBelow);
    }

    [Fact]
    public void A_raised_minimum_of_connections_keeps_the_idle_streak()
    {
        var streak = policy.Evaluate(Input([Pod(T0)], Settings(minConnections: 1)), StateWith(Verdict.Idle, T0.AddMinutes(-5), [Baseline()]), T0);

        var later = T0.AddMinutes(1);
        var raised = policy.Evaluate(Input([Pod(later)], Settings(minConnections: 3)), streak.State, later);

        Assert.Equal(T0.AddMinutes(-5), raised.State.IdleSince); // quiet under 1 is quiet under 3
    }

    // ----- Which of two samples is older -----

    private static WorkloadState StoredAt(DateTimeOffset lastChange, ulong total, DateTimeOffset? envoyStart = null) =>
        new(DeploymentUid, Verdict.Idle, "earlier", 0, lastChange, lastChange,
            [new PodBaseline("pod-a", envoyStart ?? EnvoyStart, new Dictionary<string, ulong> { [Listener] = total })], null, null, null);

    [Fact]
    public void A_sample_with_lower_counters_than_a_state_stored_after_it_is_the_older_one()
    {
        Assert.True(policy.IsOlderSample(Input([Pod(T0, total: 100)]), StoredAt(T0.AddSeconds(5), total: 104), T0));
    }

    [Fact]
    public void Lower_counters_than_a_state_stored_before_the_sample_are_a_reset_not_an_older_sample()
    {
        Assert.False(policy.IsOlderSample(Input([Pod(T0, total: 100)]), StoredAt(T0.AddSeconds(-60), total: 104), T0));
        Assert.Equal(Verdict.Unknown, Check(StoredAt(T0.AddSeconds(-60), total: 104), T0, Pod(T0, total: 100)).Verdict);
    }

    [Fact]
    public void A_state_stored_later_by_another_clock_with_the_same_or_lower_counters_does_not_drop_the_sample()
    {
        Assert.False(policy.IsOlderSample(Input([Pod(T0, total: 100)]), StoredAt(T0.AddMinutes(5), total: 100), T0));
        Assert.False(policy.IsOlderSample(Input([Pod(T0, total: 100)]), StoredAt(T0.AddMinutes(5), total: 90), T0));
    }

    [Fact]
    public void A_sample_from_the_Envoy_before_a_restart_is_older_than_one_stored_from_the_Envoy_after_it()
    {
        var restarted = T0.AddSeconds(-30);
        Assert.True(policy.IsOlderSample(Input([Pod(T0, total: 500)]), StoredAt(T0.AddSeconds(5), total: 2, envoyStart: restarted), T0));
        Assert.False(policy.IsOlderSample(Input([Pod(T0, total: 2, envoyStart: restarted)]), StoredAt(T0.AddSeconds(5), total: 500), T0));
    }

    // ----- Realistic sequences over time -----

    [Fact]
    public void Minute_by_minute_quiet_checks_reach_teardown_exactly_ten_minutes_after_the_first_quiet_sample()
    {
        var clock = new FakeTimeProvider(T0);
        WorkloadState? state = null;
        DateTimeOffset? firstIdle = null;
        DateTimeOffset? dueAt = null;
        var dueCount = 0;

        for (var check = 0; check < 15; check++)
        {
            var now = clock.GetUtcNow();
            var evaluation = Check(state, now, Pod(now));
            if (evaluation.Verdict == Verdict.Idle)
            {
                firstIdle ??= now;
            }

            if (evaluation.TeardownDue)
            {
                dueCount++;
                dueAt ??= now;
            }

            state = evaluation.State;
            clock.Advance(TimeSpan.FromMinutes(1));
        }

        // The first check only records the baseline, but it was a quiet sample: the streak counts from it.
        Assert.Equal(T0.AddMinutes(1), firstIdle);
        Assert.Equal(T0.AddMinutes(10), dueAt);
        Assert.Equal(1, dueCount); // checks 11..14 fall within MessageMaxAge of the request
    }

    [Fact]
    public void One_active_check_in_the_middle_of_an_idle_streak_restarts_the_clock()
    {
        var clock = new FakeTimeProvider(T0);
        WorkloadState? state = null;
        ulong total = 100;
        var verdicts = new List<Verdict>();
        DateTimeOffset? dueAt = null;

        for (var minute = 0; minute <= 20; minute++)
        {
            var now = clock.GetUtcNow();
            if (minute == 6)
            {
                total += 2; // two short connections came and went between the checks at minute 5 and 6
            }

            var evaluation = Check(state, now, Pod(now, total: total));
            verdicts.Add(evaluation.Verdict);
            if (evaluation.TeardownDue)
            {
                dueAt ??= now;
            }

            state = evaluation.State;
            clock.Advance(TimeSpan.FromMinutes(1));
        }

        var v = verdicts.ToArray();
        Assert.Equal(Verdict.Unknown, v[0]);
        Assert.All(v[1..6], verdict => Assert.Equal(Verdict.Idle, verdict));
        Assert.Equal(Verdict.Active, v[6]);
        Assert.All(v[7..], verdict => Assert.Equal(Verdict.Idle, verdict));

        // Without the activity it would have been due at minute 10; the streak restarted at minute 6, the first check
        // after the connections (nothing was open then and no counter moved after it).
        Assert.Equal(T0.AddMinutes(16), dueAt);
    }

    [Fact]
    public void Active_gauge_in_the_middle_of_an_idle_streak_restarts_the_clock()
    {
        var clock = new FakeTimeProvider(T0);
        WorkloadState? state = null;
        DateTimeOffset? dueAt = null;

        for (var minute = 0; minute <= 20; minute++)
        {
            var now = clock.GetUtcNow();
            var evaluation = Check(state, now, Pod(now, active: minute == 8 ? 1UL : 0UL));
            if (minute == 8)
            {
                Assert.Equal(Verdict.Active, evaluation.Verdict);
            }

            if (evaluation.TeardownDue)
            {
                dueAt ??= now;
            }

            state = evaluation.State;
            clock.Advance(TimeSpan.FromMinutes(1));
        }

        Assert.Equal(T0.AddMinutes(19), dueAt); // first Idle again at minute 9
    }

    [Fact]
    public void An_unreadable_check_in_the_middle_of_an_idle_streak_restarts_the_clock()
    {
        var clock = new FakeTimeProvider(T0);
        WorkloadState? state = null;
        DateTimeOffset? dueAt = null;

        for (var minute = 0; minute <= 20; minute++)
        {
            var now = clock.GetUtcNow();
            var pod = minute == 9 ? Unreadable("pod-a") : Pod(now);
            var evaluation = Check(state, now, pod);
            if (evaluation.TeardownDue)
            {
                dueAt ??= now;
            }

            state = evaluation.State;
            clock.Advance(TimeSpan.FromMinutes(1));
        }

        Assert.Equal(T0.AddMinutes(20), dueAt); // Idle again from minute 10
    }

    // ----- EvaluateSample: one sample, no state -----

    [Fact]
    public void EvaluateSample_quiet_readable_pods_are_Idle()
    {
        var (verdict, _, active) = policy.EvaluateSample(Input([Pod(T0, "pod-a"), Pod(T0, "pod-b")]), T0);

        Assert.Equal(Verdict.Idle, verdict);
        Assert.Equal(0, active);
    }

    [Fact]
    public void EvaluateSample_busy_pods_are_Active()
    {
        var (verdict, _, active) = policy.EvaluateSample(Input([Pod(T0, "pod-a", active: 2)]), T0);

        Assert.Equal(Verdict.Active, verdict);
        Assert.Equal(2, active);
    }

    [Fact]
    public void EvaluateSample_an_unreadable_pod_is_Unknown()
    {
        var (verdict, reason, _) = policy.EvaluateSample(Input([Pod(T0, "pod-a"), Unreadable("pod-b")]), T0);

        Assert.Equal(Verdict.Unknown, verdict);
        Assert.Contains("connection refused", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void EvaluateSample_not_ready_pods_or_no_pods_or_no_settings_are_Unknown()
    {
        Assert.Equal(Verdict.Unknown, policy.EvaluateSample(Input([Pod(T0)], notReady: 1), T0).Verdict);
        Assert.Equal(Verdict.Unknown, policy.EvaluateSample(Input([]), T0).Verdict);
        Assert.Equal(Verdict.Unknown, policy.EvaluateSample(new CheckInput(DeploymentUid, OldDeployment, null, ["bad"], [Pod(T0)], 0), T0).Verdict);
    }

    // ----- a pod that went away ends the idle streak -----

    [Fact]
    public void An_idle_workload_scaled_down_restarts_its_idle_streak_and_requests_no_teardown()
    {
        var previous = StateWith(Verdict.Idle, T0.AddMinutes(-30), [Baseline("pod-a"), Baseline("pod-b")]);

        var scaledDown = Check(previous, T0, Pod(T0, "pod-a"));

        Assert.False(scaledDown.TeardownDue);
        Assert.Equal(Verdict.Idle, scaledDown.Verdict);
        Assert.Equal(T0, scaledDown.State.IdleSince);
        Assert.Equal(T0, scaledDown.State.QuietSince);
        Assert.Null(scaledDown.State.TeardownRequestedAt);

        // The new pod set keeps its own streak from its first complete quiet sample.
        var later = T0.AddMinutes(10);
        var due = Check(scaledDown.State, later, Pod(later, "pod-a"));
        Assert.Equal(T0, due.State.IdleSince);
        Assert.True(due.TeardownDue);
    }

    [Fact]
    public void A_pod_replaced_during_an_idle_streak_ends_it()
    {
        var previous = StateWith(Verdict.Idle, T0.AddMinutes(-30), [Baseline("pod-a"), Baseline("pod-b")]);

        var replaced = Check(previous, T0, Pod(T0, "pod-a"), Pod(T0, "pod-c"));

        Assert.Equal(Verdict.Unknown, replaced.Verdict);
        Assert.False(replaced.TeardownDue);
        Assert.Null(replaced.State.IdleSince);
    }

    // ----- arithmetic on parsed values never throws -----

    [Fact]
    public void Absurd_active_gauges_on_many_pods_do_not_overflow_the_sum()
    {
        var pods = Enumerable.Range(0, 1100).Select(i => Pod(T0, $"pod-{i}", active: ulong.MaxValue)).ToArray();

        var evaluation = policy.Evaluate(Input(pods), null, T0);

        Assert.NotEqual(Verdict.Idle, evaluation.Verdict);
        Assert.Equal(long.MaxValue, evaluation.ActiveConnections);
        Assert.NotEqual(Verdict.Idle, policy.EvaluateSample(Input(pods), T0).Verdict);
    }

    // ----- any restart between two reads makes the pod Unknown -----

    private static PodReading Restarting(DateTimeOffset now, ulong uptime, ulong total = 0, ContainerRestarts? restarts = null) =>
        new("pod-a", "web-abc-pod-a", true, null, 0, new Dictionary<string, ulong> { [Listener] = total }, uptime, restarts);

    [Theory]
    [InlineData(50UL, 30UL)] // read at 50 s of uptime, crashed 30 s later: 30 s of uptime at the next read, a minute on
    [InlineData(20UL, 45UL)] // read at 20 s, crashed 15 s later: more uptime than before, far less than the minute between
    public void An_Envoy_restarted_shortly_after_its_start_between_two_reads_is_Unknown(ulong uptimeAtBaseline, ulong uptimeNow)
    {
        var baseline = policy.Evaluate(Input([Restarting(T0, uptimeAtBaseline)]), null, T0);
        var quiet = T0.AddSeconds(1);
        var stillQuiet = policy.Evaluate(Input([Restarting(quiet, uptimeAtBaseline + 1)]), baseline.State, quiet);
        Assert.Equal(Verdict.Idle, stillQuiet.Verdict);

        var now = T0.AddMinutes(1);
        var evaluation = policy.Evaluate(Input([Restarting(now, uptimeNow)]), stillQuiet.State, now);

        Assert.Equal(Verdict.Unknown, evaluation.Verdict);
        Assert.Null(evaluation.State.IdleSince);
        Assert.Contains("restarted", evaluation.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Uptime_that_kept_pace_with_the_clock_within_the_flush_slack_is_not_a_restart()
    {
        var baseline = policy.Evaluate(Input([Restarting(T0, 50)]), null, T0);
        var now = T0.AddMinutes(1);

        // The stats flush (5 s by default) may have refreshed server.uptime last a few seconds ago.
        var evaluation = policy.Evaluate(Input([Restarting(now, 105)]), baseline.State, now);

        Assert.Equal(Verdict.Idle, evaluation.Verdict);
        Assert.Equal(T0, evaluation.State.IdleSince);
    }

    [Fact]
    public void Uptime_judged_from_when_each_pod_was_read_not_from_when_the_check_ended()
    {
        var baseline = policy.Evaluate(Input([Restarting(T0, 50)]), null, T0);
        var now = T0.AddMinutes(1);

        // Read 20 s before the check ended (it waited for the other reads): 80 s of uptime is exactly on time.
        var lateRead = Restarting(now, 90) with { ReadBeforeSample = TimeSpan.FromSeconds(20) };
        var evaluation = policy.Evaluate(Input([lateRead]), baseline.State, now);

        Assert.Equal(Verdict.Idle, evaluation.Verdict);
    }

    [Fact]
    public void A_changed_container_restart_count_is_Unknown_even_when_uptime_and_counters_look_unchanged()
    {
        var started = T0.AddHours(-2);
        var baseline = policy.Evaluate(Input([Restarting(T0, 7200, restarts: new ContainerRestarts(0, started))]), null, T0);
        var now = T0.AddMinutes(1);

        var evaluation = policy.Evaluate(Input([Restarting(now, 7260, restarts: new ContainerRestarts(1, started))]), baseline.State, now);

        Assert.Equal(Verdict.Unknown, evaluation.Verdict);
        Assert.Contains("restarted", evaluation.Reason, StringComparison.Ordinal);

        var later = now.AddMinutes(1);
        var next = policy.Evaluate(Input([Restarting(later, 7320, restarts: new ContainerRestarts(1, started))]), evaluation.State, later);
        Assert.Equal(Verdict.Idle, next.Verdict);
        Assert.Equal(now, next.State.IdleSince);
    }

    [Fact]
    public void A_changed_container_start_time_is_Unknown()
    {
        var baseline = policy.Evaluate(Input([Restarting(T0, 7200, restarts: new ContainerRestarts(3, T0.AddHours(-2)))]), null, T0);
        var now = T0.AddMinutes(1);

        var evaluation = policy.Evaluate(Input([Restarting(now, 7260, restarts: new ContainerRestarts(3, T0.AddSeconds(30)))]), baseline.State, now);

        Assert.Equal(Verdict.Unknown, evaluation.Verdict);
    }

    [Fact]
    public void Container_restarts_that_can_no_longer_be_read_are_Unknown()
    {
        var baseline = policy.Evaluate(Input([Restarting(T0, 7200, restarts: new ContainerRestarts(0, T0.AddHours(-2)))]), null, T0);
        var now = T0.AddMinutes(1);

        Assert.Equal(Verdict.Unknown, policy.Evaluate(Input([Restarting(now, 7260)]), baseline.State, now).Verdict);
    }

    [Fact]
    public void A_quiet_check_with_a_restart_free_pod_writes_nothing_new()
    {
        var restarts = new ContainerRestarts(0, T0.AddHours(-2));
        var first = policy.Evaluate(Input([Restarting(T0, 7200, restarts: restarts)]), null, T0);
        var idle = policy.Evaluate(Input([Restarting(T0.AddMinutes(1), 7260, restarts: restarts)]), first.State, T0.AddMinutes(1));
        Assert.Equal(Verdict.Idle, idle.Verdict);

        var again = policy.Evaluate(Input([Restarting(T0.AddMinutes(2), 7320, restarts: restarts)]), idle.State, T0.AddMinutes(2));

        Assert.Equal(Verdict.Idle, again.Verdict);
        Assert.False(again.StateChanged);
    }

    [Fact]
    public void A_state_stored_before_restarts_were_recorded_still_reads_and_compares()
    {
        const string json = """
            {"deploymentUid":"dep-uid-1","verdict":"idle","reason":"earlier","activeConnections":0,"idleSince":"2025-03-01T11:59:00+00:00",
             "lastChange":"2025-03-01T12:00:00+00:00","pods":[{"podUid":"pod-a","envoyStartedAt":"2025-03-01T10:00:00+00:00","connectionTotals":{"0.0.0.0_8080":100}}],
             "teardownRequestedAt":null,"teardownCompletedAt":null,"lastSnapshot":null}
            """;
        var stored = System.Text.Json.JsonSerializer.Deserialize<WorkloadState>(json, EnvoyReaper.Messaging.ReaperJson.Options)!;
        Assert.Null(stored.Pods[0].Uptime);

        var evaluation = Check(stored, T0, Pod(T0));

        Assert.Equal(Verdict.Idle, evaluation.Verdict);
        Assert.NotNull(evaluation.State.Pods[0].Uptime);
    }
}

