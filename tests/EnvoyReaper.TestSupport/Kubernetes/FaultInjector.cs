namespace EnvoyReaper.TestSupport.Kubernetes;

/// <summary>Planned failures and delays, matched on HTTP method and a substring of the request path.</summary>
internal sealed class FaultInjector
{
    private sealed class PlannedFailure(string method, string pathContains, int statusCode, string reason, int times, TimeSpan? retryAfter)
    {
        public int Remaining { get; set; } = times;

        public bool Matches(string requestMethod, string path) =>
            Remaining > 0
            && (method == "*" || string.Equals(method, requestMethod, StringComparison.OrdinalIgnoreCase))
            && path.Contains(pathContains, StringComparison.Ordinal);

        public ApiException ToException() =>
            ApiStatus.Injected(statusCode, reason, retryAfter ?? (statusCode == 429 ? TimeSpan.FromSeconds(1) : null));
    }

    private sealed record PlannedDelay(string PathContains, TimeSpan Delay);

    private readonly Lock gate = new();
    private readonly List<PlannedFailure> failures = [];
    private readonly List<PlannedDelay> delays = [];

    public void AddFailure(string method, string pathContains, int statusCode, string reason, int times, TimeSpan? retryAfter)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(times, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(statusCode, 400);
        lock (gate)
        {
            failures.Add(new PlannedFailure(method, pathContains, statusCode, reason, times, retryAfter));
        }
    }

    public void AddDelay(string pathContains, TimeSpan delay)
    {
        lock (gate)
        {
            delays.Add(new PlannedDelay(pathContains, delay));
        }
    }

    public void Clear()
    {
        lock (gate)
        {
            failures.Clear();
            delays.Clear();
        }
    }

    /// <summary>Consumes one planned failure matching the request, oldest first.</summary>
    public ApiException? TakeFailure(string method, string path)
    {
        lock (gate)
        {
            var failure = failures.FirstOrDefault(candidate => candidate.Matches(method, path));
            if (failure is null)
            {
                return null;
            }

            failure.Remaining--;
            if (failure.Remaining == 0)
            {
                failures.Remove(failure);
            }

            return failure.ToException();
        }
    }

    public TimeSpan DelayFor(string path)
    {
        lock (gate)
        {
            return delays.Where(delay => path.Contains(delay.PathContains, StringComparison.Ordinal))
                .Select(delay => delay.Delay)
                .DefaultIfEmpty(TimeSpan.Zero)
                .Max();
        }
    }
}
