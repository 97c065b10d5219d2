using EnvoyReaper.TestSupport.Logging;
using System.Net;
using EnvoyReaper.Cluster;
using EnvoyReaper.TestSupport.Kubernetes;
using EnvoyReaper.Workloads;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace EnvoyReaper.Kubernetes.Tests;

/// <summary>
/// API Priority and Fairness answers an overloaded API server's requests with 429 and Retry-After before processing
/// them: the client waits as told and tries again, within a bound of retries and of total waiting.
/// </summary>
public sealed class ThrottledRequestRetryHandlerTests : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private readonly CancellationTokenSource timeout = new(Bound);
    private readonly FakeTimeProvider time = new(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));
    private readonly ListLogger<ThrottledRequestRetryHandler> logger = new();
    private readonly List<k8s.Kubernetes> clients = [];
    private FakeKubernetesApiServer server = null!;

    private CancellationToken Ct => timeout.Token;

    public async Task InitializeAsync() => server = await FakeKubernetesApiServer.StartAsync(TimeProvider.System);

    public async Task DisposeAsync()
    {
        foreach (var client in clients)
        {
            client.Dispose();
        }

        timeout.Dispose();
        await server.DisposeAsync();
    }

    private KubernetesCluster Cluster(int retries = 5, int budgetSeconds = 20)
    {
        var handler = new ThrottledRequestRetryHandler(new ThrottleRetryPolicy(retries, TimeSpan.FromSeconds(budgetSeconds)), time, logger);
        var client = new k8s.Kubernetes(server.ClientConfiguration(), handler);
        clients.Add(client);
        return new KubernetesCluster(client, Options.Create(new ReaperOptions()), TimeProvider.System);
    }

    /// <summary>Runs <paramref name="work"/> while the fake clock moves on, a second at a time, until it ends (bounded).</summary>
    private async Task<T> AdvancingAsync<T>(Func<Task<T>> work)
    {
        var task = Task.Run(work, Ct);
        for (var step = 0; step < 400 && !task.IsCompleted; step++)
        {
            await Task.Delay(5, Ct);
            time.Advance(TimeSpan.FromSeconds(1));
        }

        return await task.WaitAsync(Bound, Ct);
    }

    private static async Task<List<T>> ToListAsync<T>(IAsyncEnumerable<T> items)
    {
        var list = new List<T>();
        await foreach (var item in items)
        {
            list.Add(item);
        }

        return list;
    }

    private List<RecordedRequest> DeploymentLists() => server.Requests.Where(request => request.Method == "GET" && request.Path.EndsWith("/deployments", StringComparison.Ordinal)).ToList();

    [Fact]
    public async Task A_throttled_list_waits_for_Retry_After_and_then_succeeds()
    {
        server.SeedWorkload("default", "shop", ["10.0.0.1"]);
        server.FailNext("GET", "deployments", 429, "TooManyRequests", times: 2, retryAfter: TimeSpan.FromSeconds(3));
        var cluster = Cluster();
        var started = time.GetUtcNow();

        var deployments = await AdvancingAsync(() => ToListAsync(cluster.ListDeploymentsAsync(null, ReaperLabels.EnabledSelector, Ct)));

        Assert.Equal("default/shop", Assert.Single(deployments).Ref.ToString());
        Assert.Equal([429, 429, 200], DeploymentLists().Select(request => request.StatusCode));
        Assert.True(time.GetUtcNow() - started >= TimeSpan.FromSeconds(6), "each retry waits for the server's Retry-After");
        Assert.Equal(2, logger.Lines.Count(line => line.Level == LogLevel.Information && line.Message.Contains("429", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_server_that_keeps_throttling_fails_after_the_retry_count_with_a_clear_log_line()
    {
        server.SeedWorkload("default", "shop", ["10.0.0.1"]);
        server.FailNext("GET", "deployments", 429, "TooManyRequests", times: 100, retryAfter: TimeSpan.FromSeconds(1));
        var cluster = Cluster(retries: 3);

        var exception = await Assert.ThrowsAsync<HttpOperationException>(() => AdvancingAsync(() => ToListAsync(cluster.ListDeploymentsAsync(null, ReaperLabels.EnabledSelector, Ct))));

        Assert.Equal(HttpStatusCode.TooManyRequests, exception.Response.StatusCode);
        Assert.Equal(4, DeploymentLists().Count);
        var line = Assert.Single(logger.Lines, line => line.Level == LogLevel.Warning);
        Assert.Contains("GET /apis/apps/v1/deployments", line.Message, StringComparison.Ordinal);
        Assert.Contains("429", line.Message, StringComparison.Ordinal);
        Assert.Contains("3 retries", line.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_Retry_After_beyond_the_waiting_budget_fails_at_once_with_a_clear_log_line()
    {
        server.SeedWorkload("default", "shop", ["10.0.0.1"]);
        server.FailNext("GET", "deployments", 429, "TooManyRequests", times: 100, retryAfter: TimeSpan.FromSeconds(60));
        var cluster = Cluster(budgetSeconds: 20);

        var exception = await Assert.ThrowsAsync<HttpOperationException>(() => AdvancingAsync(() => ToListAsync(cluster.ListDeploymentsAsync(null, ReaperLabels.EnabledSelector, Ct))));

        Assert.Equal(HttpStatusCode.TooManyRequests, exception.Response.StatusCode);
        Assert.Single(DeploymentLists());
        var line = Assert.Single(logger.Lines, line => line.Level == LogLevel.Warning);
        Assert.Contains("Retry-After 00:01:00", line.Message, StringComparison.Ordinal);
        Assert.Contains("00:00:20", line.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_delete_refused_by_throttling_with_Retry_After_was_not_processed_and_is_sent_again()
    {
        var shop = server.SeedWorkload("retail", "shop", ["10.0.0.1"]);
        server.FailNext("DELETE", "deployments", 429, "TooManyRequests", retryAfter: TimeSpan.FromSeconds(1));
        var cluster = Cluster();

        var outcome = await AdvancingAsync(() => cluster.DeleteAsync(ResourceKind.Deployment, "retail", "shop", shop.Deployment.Metadata.Uid, null, Ct));

        Assert.Equal(DeleteOutcome.Deleted, outcome);
        Assert.False(server.Exists<V1Deployment>("retail", "shop"));
        Assert.Equal([429, 200], server.Requests.Where(request => request.Method == "DELETE").Select(request => request.StatusCode));
    }

    [Fact]
    public async Task A_write_refused_with_429_but_no_Retry_After_may_have_been_processed_and_is_not_sent_again()
    {
        using var inner = new ScriptedHandler(_ => new HttpResponseMessage(HttpStatusCode.TooManyRequests));
        using var invoker = new HttpMessageInvoker(new ThrottledRequestRetryHandler(new ThrottleRetryPolicy(5, TimeSpan.FromSeconds(20)), time, logger) { InnerHandler = inner });

        using var response = await invoker.SendAsync(new HttpRequestMessage(HttpMethod.Delete, "http://127.0.0.1:1/api/v1/namespaces/a/pods/b"), Ct);

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal(1, inner.Calls);
    }

    [Fact]
    public async Task A_read_refused_with_429_and_no_Retry_After_is_retried_after_a_second()
    {
        var answers = new Queue<HttpStatusCode>([HttpStatusCode.TooManyRequests, HttpStatusCode.OK]);
        using var inner = new ScriptedHandler(_ => new HttpResponseMessage(answers.Dequeue()));
        using var invoker = new HttpMessageInvoker(new ThrottledRequestRetryHandler(new ThrottleRetryPolicy(5, TimeSpan.FromSeconds(20)), time, logger) { InnerHandler = inner });
        var started = time.GetUtcNow();

        using var response = await AdvancingAsync(() => invoker.SendAsync(new HttpRequestMessage(HttpMethod.Get, "http://127.0.0.1:1/api/v1/pods"), Ct));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, inner.Calls);
        Assert.True(time.GetUtcNow() - started >= TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task Other_failures_are_not_retried()
    {
        using var inner = new ScriptedHandler(_ => new HttpResponseMessage(HttpStatusCode.InternalServerError));
        using var invoker = new HttpMessageInvoker(new ThrottledRequestRetryHandler(new ThrottleRetryPolicy(5, TimeSpan.FromSeconds(20)), time, logger) { InnerHandler = inner });

        using var response = await invoker.SendAsync(new HttpRequestMessage(HttpMethod.Get, "http://127.0.0.1:1/api/v1/pods"), Ct);

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal(1, inner.Calls);
    }

    private sealed class ScriptedHandler(Func<HttpRequestMessage, HttpResponseMessage> answer) : HttpMessageHandler
    {
        public int Calls { get; private set; }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Calls++;
            return Task.FromResult(answer(request));
        }
    }
}
