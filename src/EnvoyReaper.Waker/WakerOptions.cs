using System.ComponentModel.DataAnnotations;
using System.Net;
using EnvoyReaper.Workloads;

namespace EnvoyReaper.Waker;

/// <summary>Settings section "Waker" (environment: Waker__Name).</summary>
public sealed class WakerOptions : IValidatableObject
{
    public const string SectionName = "Waker";

    /// <summary>The address every listener binds: 0.0.0.0 in a pod, 127.0.0.1 in the tests.</summary>
    public string ListenAddress { get; set; } = "0.0.0.0";

    /// <summary>The port of the health endpoints (/healthz/live, /healthz/ready), outside the waker port range; 0 = any free port.</summary>
    [Range(0, 65535)]
    public int HealthPort { get; set; } = 8080;

    /// <summary>The range the reaper allocates waker ports from (its default, 20000-20999); a port outside it is never listened on.</summary>
    [Range(1024, 65535)]
    public int PortRangeStart { get; set; } = 20000;

    [Range(1024, 65535)]
    public int PortRangeEnd { get; set; } = 20999;

    /// <summary>The most waker ports listened on at once; parkings beyond it are not served (and logged).</summary>
    [Range(1, 10000)]
    public int MaxWakerPorts { get; set; } = 1000;

    /// <summary>How often the parked Services are listed.</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The namespaces to look for parked Services in; empty = every namespace (one cluster-wide list).</summary>
    public IList<string> WatchNamespaces { get; set; } = [];

    [Range(1, 5000)]
    public int ListPageSize { get; set; } = 500;

    /// <summary>The most parked Services read per refresh (all namespaces together).</summary>
    [Range(1, 100000)]
    public int MaxParkedServices { get; set; } = 5000;

    /// <summary>Retry-After of the 503 answers, in seconds.</summary>
    [Range(1, 3600)]
    public int RetryAfterSeconds { get; set; } = 5;

    /// <summary>How often the "waking up" page reloads itself, in seconds.</summary>
    [Range(1, 60)]
    public int PageRefreshSeconds { get; set; } = 5;

    /// <summary>The longest a request of a Service parked with the hold option waits for its workload before a 503.</summary>
    public TimeSpan HoldTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The most requests held at once; beyond it a request is answered at once as without the hold option.</summary>
    [Range(0, 100000)]
    public int MaxHeldRequests { get; set; } = 1000;

    /// <summary>
    /// The DNS suffix of Services: a held request goes to http://{service}.{namespace}.{suffix}:{port}. "svc" in a
    /// cluster ("svc.cluster.local" also works); the tests use "localhost" and resolve it to their 127.0.0.1 fakes.
    /// </summary>
    public string ServiceDnsSuffix { get; set; } = "svc";

    /// <summary>The longest a forwarded request may take, response body included.</summary>
    public TimeSpan ForwardTimeout { get; set; } = TimeSpan.FromSeconds(100);

    /// <summary>A workload still parked this long after its wake was sent gets one more wake message (on the next request).</summary>
    public TimeSpan WakeResendAfter { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>After a wake that could not be sent (storage error, rate limit), how long before a request may try again.</summary>
    public TimeSpan WakeRetryAfter { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Wake messages sent per minute at most, all workloads together.</summary>
    [Range(1, 100000)]
    public int WakesPerMinute { get; set; } = 60;

    /// <summary>The time to live of a wake message on the queue: an old request should not wake a workload hours later.</summary>
    public TimeSpan WakeMessageTimeToLive { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>The storage connection string of the reaper's account (the queue "wake"); or use QueueServiceUri.</summary>
    public string? QueueConnection { get; set; }

    /// <summary>Identity-based alternative to QueueConnection: https://{account}.queue.core.windows.net.</summary>
    public Uri? QueueServiceUri { get; set; }

    /// <summary>With QueueServiceUri: the client id of a user-assigned managed identity (else DefaultAzureCredential).</summary>
    public string? QueueClientId { get; set; }

    public IPAddress ListenIPAddress() => IPAddress.Parse(ListenAddress);

    public bool IsWakerPort(int port) => port >= PortRangeStart && port <= PortRangeEnd;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!IPAddress.TryParse(ListenAddress, out _))
        {
            yield return new ValidationResult($"Waker:ListenAddress '{ListenAddress}' is not an IP address", [nameof(ListenAddress)]);
        }

        if (PortRangeStart > PortRangeEnd)
        {
            yield return new ValidationResult($"Waker:PortRangeStart {PortRangeStart} is above Waker:PortRangeEnd {PortRangeEnd}", [nameof(PortRangeStart)]);
        }

        if (HealthPort != 0 && IsWakerPort(HealthPort))
        {
            yield return new ValidationResult($"Waker:HealthPort {HealthPort} is in the waker port range {PortRangeStart}-{PortRangeEnd}", [nameof(HealthPort)]);
        }

        foreach (var (name, value, min, max) in new[]
        {
            (nameof(RefreshInterval), RefreshInterval, TimeSpan.FromMilliseconds(50), TimeSpan.FromMinutes(10)),
            (nameof(HoldTimeout), HoldTimeout, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(10)),
            (nameof(ForwardTimeout), ForwardTimeout, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(30)),
            (nameof(WakeResendAfter), WakeResendAfter, TimeSpan.FromSeconds(1), TimeSpan.FromDays(1)),
            (nameof(WakeRetryAfter), WakeRetryAfter, TimeSpan.Zero, TimeSpan.FromHours(1)),
            (nameof(WakeMessageTimeToLive), WakeMessageTimeToLive, TimeSpan.FromSeconds(10), TimeSpan.FromDays(7)),
        })
        {
            if (value < min || value > max)
            {
                yield return new ValidationResult($"Waker:{name} {value} is outside {min}-{max}", [name]);
            }
        }

        foreach (var @namespace in WatchNamespaces)
        {
            if (!KubernetesNames.IsDns1123Label(@namespace))
            {
                yield return new ValidationResult($"Waker:WatchNamespaces: '{@namespace}' is not a namespace name", [nameof(WatchNamespaces)]);
            }
        }

        // The suffix ends the authority of every forwarded request: a DNS name, nothing that could add a port or a path.
        if (!KubernetesNames.IsDns1123Subdomain(ServiceDnsSuffix))
        {
            yield return new ValidationResult($"Waker:ServiceDnsSuffix '{ServiceDnsSuffix}' is not a DNS name such as svc or svc.cluster.local", [nameof(ServiceDnsSuffix)]);
        }

        if (string.IsNullOrWhiteSpace(QueueConnection) && QueueServiceUri is null)
        {
            yield return new ValidationResult("Waker:QueueConnection (a storage connection string) or Waker:QueueServiceUri (identity-based) is required", [nameof(QueueConnection)]);
        }
    }
}
