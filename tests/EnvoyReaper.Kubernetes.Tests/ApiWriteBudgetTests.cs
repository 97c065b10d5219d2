using EnvoyReaper.TestSupport.Logging;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace EnvoyReaper.Kubernetes.Tests;

/// <summary>The write budget's token bucket and its two classes, on a fake clock.</summary>
public sealed class ApiWriteBudgetTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private readonly CancellationTokenSource timeout = new(Bound);
    private readonly FakeTimeProvider time = new(new DateTimeOffset(2026, 12, 3, 12, 0, 0, TimeSpan.Zero));
    private readonly List<ApiWriteBudget> budgets = [];

    private CancellationToken Ct => timeout.Token;

    public void Dispose()
    {
        foreach (var budget in budgets)
        {
            budget.Dispose();
        }

        timeout.Dispose();
    }

    private ApiWriteBudget Budget(double perSecond = 10, int burst = 2, double highWaitSeconds = 15, double lowWaitSeconds = 1, ILogger<ApiWriteBudget>? logger = null)
    {
        var budget = new ApiWriteBudget(new ApiWriteBudgetPolicy(perSecond, burst, TimeSpan.FromSeconds(highWaitSeconds), TimeSpan.FromSeconds(lowWaitSeconds)), time, logger);
        budgets.Add(budget);
        return budget;
    }

    /// <summary>Lets continuations run (they are asynchronous) without moving the fake clock.</summary>
    private static async Task SettleAsync() => await Task.Delay(50);

    /// <summary>Until <paramref name="count"/> of <paramref name="writes"/> have their token (continuations run on the pool), within a bound.</summary>
    private async Task<int> GrantedAsync(IReadOnlyList<Task> writes, int count)
    {
        for (var attempt = 0; attempt < 200 && writes.Count(write => write.IsCompletedSuccessfully) < count; attempt++)
        {
            await Task.Delay(10, Ct);
        }

        await SettleAsync();
        return writes.Count(write => write.IsCompletedSuccessfully);
    }

    [Fact]
    public async Task The_burst_goes_at_once_and_the_next_write_waits_for_the_next_token()
    {
        var budget = Budget(perSecond: 10, burst: 2);

        await budget.AcquireAsync(ApiWritePriority.High, Ct);
        await budget.AcquireAsync(ApiWritePriority.High, Ct);
        var third = budget.AcquireAsync(ApiWritePriority.High, Ct);
        await SettleAsync();

        Assert.False(third.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(50));
        await SettleAsync();
        Assert.False(third.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(50));
        await third.WaitAsync(Bound, Ct);
    }

    [Fact]
    public async Task Over_a_long_run_no_more_than_the_rate_plus_the_burst_is_granted()
    {
        var budget = Budget(perSecond: 10, burst: 5, highWaitSeconds: 100);
        var writes = Enumerable.Range(0, 60).Select(_ => budget.AcquireAsync(ApiWritePriority.High, Ct)).ToList();
        await SettleAsync();

        for (var second = 1; second <= 3; second++)
        {
            for (var tenth = 0; tenth < 10; tenth++)
            {
                time.Advance(TimeSpan.FromMilliseconds(100));
                await SettleAsync();
            }

            Assert.Equal(5 + (10 * second), await GrantedAsync(writes, 5 + (10 * second)));
        }
    }

    [Fact]
    public async Task A_high_priority_write_goes_before_low_priority_ones_that_waited_longer()
    {
        var budget = Budget(perSecond: 10, burst: 1, lowWaitSeconds: 5);
        await budget.AcquireAsync(ApiWritePriority.High, Ct);
        var firstLow = budget.AcquireAsync(ApiWritePriority.Low, Ct);
        var secondLow = budget.AcquireAsync(ApiWritePriority.Low, Ct);
        var high = budget.AcquireAsync(ApiWritePriority.High, Ct);
        await SettleAsync();
        Assert.Equal((1, 2), budget.Waiting);

        time.Advance(TimeSpan.FromMilliseconds(100));
        await high.WaitAsync(Bound, Ct);
        await SettleAsync();
        Assert.False(firstLow.IsCompleted);
        Assert.False(secondLow.IsCompleted);

        time.Advance(TimeSpan.FromMilliseconds(100));
        await firstLow.WaitAsync(Bound, Ct);
        await SettleAsync();
        Assert.False(secondLow.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(100));
        await secondLow.WaitAsync(Bound, Ct);
    }

    [Fact]
    public async Task A_low_priority_write_is_dropped_at_once_when_the_queue_ahead_is_longer_than_its_wait()
    {
        var budget = Budget(perSecond: 10, burst: 1, lowWaitSeconds: 0.55);
        await budget.AcquireAsync(ApiWritePriority.High, Ct);
        var waiting = Enumerable.Range(0, 5).Select(_ => budget.AcquireAsync(ApiWritePriority.Low, Ct)).ToList();
        await SettleAsync();

        // Five are ahead: the sixth would wait 0.6 s, beyond its bound, and is dropped without waiting.
        var dropped = await Assert.ThrowsAsync<ApiWriteBudgetException>(() => budget.AcquireAsync(ApiWritePriority.Low, Ct));

        Assert.Equal(ApiWritePriority.Low, dropped.Priority);
        Assert.Equal((0, 5), budget.Waiting);
        for (var step = 0; step < 5; step++)
        {
            time.Advance(TimeSpan.FromMilliseconds(100));
            await SettleAsync();
        }

        await Task.WhenAll(waiting).WaitAsync(Bound, Ct);
    }

    [Fact]
    public async Task A_low_priority_write_overtaken_by_high_priority_ones_past_its_wait_is_dropped()
    {
        var budget = Budget(perSecond: 10, burst: 1, highWaitSeconds: 100, lowWaitSeconds: 1);
        await budget.AcquireAsync(ApiWritePriority.High, Ct);
        var low = budget.AcquireAsync(ApiWritePriority.Low, Ct);
        var highs = Enumerable.Range(0, 20).Select(_ => budget.AcquireAsync(ApiWritePriority.High, Ct)).ToList();
        await SettleAsync();

        for (var step = 0; step < 11; step++)
        {
            time.Advance(TimeSpan.FromMilliseconds(100));
            await SettleAsync();
        }

        await Assert.ThrowsAsync<ApiWriteBudgetException>(() => low.WaitAsync(Bound, Ct));
        Assert.Equal(11, await GrantedAsync(highs, 11));
        Assert.Equal((9, 0), budget.Waiting);
    }

    [Fact]
    public async Task A_high_priority_write_waits_at_most_its_bound_and_then_fails_without_a_token()
    {
        var budget = Budget(perSecond: 1, burst: 1, highWaitSeconds: 2.5);
        await budget.AcquireAsync(ApiWritePriority.High, Ct);
        var queued = Enumerable.Range(0, 3).Select(_ => budget.AcquireAsync(ApiWritePriority.High, Ct)).ToList();
        await SettleAsync();

        for (var step = 0; step < 5; step++)
        {
            time.Advance(TimeSpan.FromMilliseconds(500));
            await SettleAsync();
        }

        Assert.Equal(2, await GrantedAsync(queued.Take(2).ToList(), 2));
        var failed = await Assert.ThrowsAsync<ApiWriteBudgetException>(() => queued[2].WaitAsync(Bound, Ct));
        Assert.Equal(ApiWritePriority.High, failed.Priority);
        Assert.Equal((0, 0), budget.Waiting);
    }

    [Fact]
    public async Task A_cancelled_wait_ends_at_once_and_leaves_its_token_to_the_next_write()
    {
        var budget = Budget(perSecond: 10, burst: 1);
        await budget.AcquireAsync(ApiWritePriority.High, Ct);
        using var cancel = new CancellationTokenSource();
        var cancelled = budget.AcquireAsync(ApiWritePriority.High, cancel.Token);
        var next = budget.AcquireAsync(ApiWritePriority.High, Ct);
        await SettleAsync();

        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(Bound, Ct));
        time.Advance(TimeSpan.FromMilliseconds(100));
        await next.WaitAsync(Bound, Ct);
        Assert.Equal((0, 0), budget.Waiting);
    }

    [Fact]
    public async Task An_already_cancelled_write_takes_no_token()
    {
        var budget = Budget(perSecond: 10, burst: 1);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => budget.AcquireAsync(ApiWritePriority.High, new CancellationToken(canceled: true)));

        await budget.AcquireAsync(ApiWritePriority.High, Ct).WaitAsync(TimeSpan.Zero, Ct);
    }

    [Fact]
    public async Task The_priority_of_a_flow_is_high_unless_a_low_scope_is_open()
    {
        Assert.Equal(ApiWritePriority.High, ApiWritePriorityScope.Current);
        ApiWritePriority inside;
        using (ApiWritePriorityScope.Low())
        {
            inside = await Task.Run(() => ApiWritePriorityScope.Current, Ct);
        }

        Assert.Equal(ApiWritePriority.Low, inside);
        Assert.Equal(ApiWritePriority.High, ApiWritePriorityScope.Current);
    }

    [Fact]
    public async Task A_burst_of_dropped_low_priority_writes_logs_one_warning_per_interval_with_the_count_and_examples()
    {
        var logger = new ListLogger<ApiWriteBudget>();
        var budget = Budget(perSecond: 1, burst: 1, lowWaitSeconds: 0.5, logger: logger);
        await budget.AcquireAsync(ApiWritePriority.High, Ct);

        for (var i = 0; i < 1000; i++)
        {
            await Assert.ThrowsAsync<ApiWriteBudgetException>(() => budget.AcquireAsync(ApiWritePriority.Low, $"team-a/app-{i}", Ct));
        }

        Assert.DoesNotContain(logger.Lines, line => line.Level >= LogLevel.Warning);
        Assert.Equal(1000, logger.Lines.Count(line => line.Level == LogLevel.Debug && line.Message.Contains("team-a/app-", StringComparison.Ordinal)));

        time.Advance(ApiWriteBudget.DropReportInterval);

        var warning = Assert.Single(logger.Lines, line => line.Level >= LogLevel.Warning);
        Assert.Contains("1000 low-priority", warning.Message, StringComparison.Ordinal);
        Assert.Contains("team-a/app-0", warning.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("team-a/app-999", warning.Message, StringComparison.Ordinal);

        await budget.AcquireAsync(ApiWritePriority.High, Ct);
        await Assert.ThrowsAsync<ApiWriteBudgetException>(() => budget.AcquireAsync(ApiWritePriority.Low, "team-b/late", Ct));
        time.Advance(ApiWriteBudget.DropReportInterval);

        var warnings = logger.Lines.Where(line => line.Level >= LogLevel.Warning).ToList();
        Assert.Equal(2, warnings.Count);
        Assert.Contains("1 low-priority", warnings[1].Message, StringComparison.Ordinal);
        Assert.Contains("team-b/late", warnings[1].Message, StringComparison.Ordinal);

        time.Advance(ApiWriteBudget.DropReportInterval * 3);
        Assert.Equal(2, logger.Lines.Count(line => line.Level >= LogLevel.Warning));
    }

    [Fact]
    public async Task A_high_priority_write_refused_is_not_counted_as_a_dropped_courtesy_write()
    {
        var logger = new ListLogger<ApiWriteBudget>();
        var budget = Budget(perSecond: 1, burst: 1, highWaitSeconds: 0.5, logger: logger);
        await budget.AcquireAsync(ApiWritePriority.High, Ct);
        var refused = budget.AcquireAsync(ApiWritePriority.High, "team-a/teardown", Ct);
        await SettleAsync();
        time.Advance(TimeSpan.FromSeconds(0.6));

        await Assert.ThrowsAsync<ApiWriteBudgetException>(() => refused.WaitAsync(Bound, Ct));
        time.Advance(ApiWriteBudget.DropReportInterval);

        Assert.DoesNotContain(logger.Lines, line => line.Message.Contains("low-priority", StringComparison.Ordinal));
    }
}
