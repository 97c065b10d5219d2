using EnvoyReaper.Waking;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using NSubstitute;

namespace EnvoyReaper.Waker.Tests;

/// <summary>One wake per parking, shared by concurrent requests, re-sent only after the bound, rate-limited overall.</summary>
public sealed class WakeRequesterTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 3, 6, 0, 0, TimeSpan.Zero);

    private readonly FakeTimeProvider time = new(T0);
    private readonly RecordingQueue queue = new();

    private static ParkedWorkload Workload(string service = "web", string parkedAt = "2026-12-03T05:00:00Z") =>
        new("shop", service, service, parkedAt, false, [new ParkedPort(80, "http", 20000)]);

    private WakeRequester Requester(int wakesPerMinute = 60)
    {
        var options = Options.Create(new WakerOptions
        {
            WakesPerMinute = wakesPerMinute,
            WakeResendAfter = TimeSpan.FromMinutes(5),
            WakeRetryAfter = TimeSpan.FromSeconds(10),
            QueueConnection = "UseDevelopmentStorage=true",
        });
        return new WakeRequester(queue, new WakeRateLimiter(options, time), options, time, Substitute.For<IHostApplicationLifetime>(), NullLogger<WakeRequester>.Instance);
    }

    private sealed class RecordingQueue : IWakeQueue
    {
        private readonly List<WakeMessage> sent = [];

        public TaskCompletionSource Gate { get; set; } = CompletedGate();

        public int Failures { get; set; }

        public IReadOnlyList<WakeMessage> Sent
        {
            get
            {
                lock (sent)
                {
                    return sent.ToList();
                }
            }
        }

        public static TaskCompletionSource CompletedGate()
        {
            var gate = new TaskCompletionSource();
            gate.SetResult();
            return gate;
        }

        public async Task SendAsync(WakeMessage message, TimeSpan timeToLive, CancellationToken cancellationToken)
        {
            await Gate.Task.WaitAsync(TimeSpan.FromSeconds(10), cancellationToken);
            lock (sent)
            {
                if (Failures > 0)
                {
                    Failures--;
                    throw new InvalidOperationException("the storage account is away");
                }

                sent.Add(message);
            }
        }
    }

    [Fact]
    public async Task Concurrent_requests_of_one_parking_share_one_send()
    {
        var requester = Requester();
        queue.Gate = new TaskCompletionSource();

        var outcomes = Enumerable.Range(0, 100).Select(_ => requester.RequestAsync(Workload())).ToList();
        queue.Gate.SetResult();

        Assert.All(await Task.WhenAll(outcomes), outcome => Assert.Equal(WakeOutcome.Sent, outcome));
        var message = Assert.Single(queue.Sent);
        Assert.Equal(("shop", "web", T0), (message.Namespace, message.Service, message.FirstRequestAt));
    }

    [Fact]
    public async Task A_workload_still_parked_after_the_resend_bound_gets_one_more_wake_with_its_first_request_time()
    {
        var requester = Requester();
        await requester.RequestAsync(Workload());

        time.Advance(TimeSpan.FromMinutes(4));
        await requester.RequestAsync(Workload());
        Assert.Single(queue.Sent);

        time.Advance(TimeSpan.FromMinutes(1));
        await requester.RequestAsync(Workload());
        await requester.RequestAsync(Workload());

        Assert.Equal(2, queue.Sent.Count);
        Assert.Equal(T0, queue.Sent[1].FirstRequestAt);
        Assert.NotEqual(queue.Sent[0].Id, queue.Sent[1].Id);
    }

    [Fact]
    public async Task A_new_parking_of_the_same_Service_is_woken_afresh_and_a_forgotten_one_starts_over()
    {
        var requester = Requester();
        await requester.RequestAsync(Workload(parkedAt: "2026-12-03T05:00:00Z"));
        await requester.RequestAsync(Workload(parkedAt: "2026-12-03T05:30:00Z"));
        Assert.Equal(2, queue.Sent.Count);

        requester.Forget(new HashSet<string>());
        time.Advance(TimeSpan.FromSeconds(1));
        await requester.RequestAsync(Workload(parkedAt: "2026-12-03T05:30:00Z"));

        Assert.Equal(3, queue.Sent.Count);
        Assert.Equal(T0.AddSeconds(1), queue.Sent[2].FirstRequestAt);
    }

    [Fact]
    public async Task A_failed_send_is_tried_again_only_after_the_retry_delay()
    {
        var requester = Requester();
        queue.Failures = 1;

        Assert.Equal(WakeOutcome.Failed, await requester.RequestAsync(Workload()));
        Assert.Equal(WakeOutcome.Failed, await requester.RequestAsync(Workload()));
        time.Advance(TimeSpan.FromSeconds(10));

        Assert.Equal(WakeOutcome.Sent, await requester.RequestAsync(Workload()));
        Assert.Single(queue.Sent);
    }

    [Fact]
    public async Task Wakes_over_the_rate_are_not_sent_until_the_bucket_refills()
    {
        var requester = Requester(wakesPerMinute: 2);

        var outcomes = new List<WakeOutcome>();
        foreach (var service in new[] { "a", "b", "c" })
        {
            outcomes.Add(await requester.RequestAsync(Workload(service)));
        }

        Assert.Equal([WakeOutcome.Sent, WakeOutcome.Sent, WakeOutcome.RateLimited], outcomes);
        time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(WakeOutcome.Sent, await requester.RequestAsync(Workload("c")));
        Assert.Equal(["a", "b", "c"], queue.Sent.Select(message => message.Service));
    }
}
