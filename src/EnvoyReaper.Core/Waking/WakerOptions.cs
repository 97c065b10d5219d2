using System.ComponentModel.DataAnnotations;
using EnvoyReaper.Workloads;

namespace EnvoyReaper.Waking;

/// <summary>Settings section "Waker": where the waker runs, the ports parking hands out, and how long a wake may take.</summary>
public sealed class WakerOptions : IValidatableObject
{
    public const string SectionName = "Waker";

    /// <summary>Namespace of the waker's Service, whose ready endpoints parked Services are pointed at.</summary>
    public string Namespace { get; set; } = "envoy-reaper";

    /// <summary>Name of the waker's Service.</summary>
    public string ServiceName { get; set; } = "envoy-reaper-waker";

    /// <summary>First port of the range parking allocates waker ports from (one per parked Service port).</summary>
    public int PortRangeStart { get; set; } = 20000;

    /// <summary>Last port of that range (inclusive).</summary>
    public int PortRangeEnd { get; set; } = 20999;

    /// <summary>How long a wake waits before it looks at the Deployment again.</summary>
    public TimeSpan CheckInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a woken Deployment may take to become available before the wake counts as failed (it stays parked).</summary>
    public TimeSpan ReadyTimeout { get; set; } = TimeSpan.FromMinutes(10);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!KubernetesNames.IsDns1123Label(Namespace))
        {
            yield return new ValidationResult("Waker:Namespace must be a namespace name (a DNS-1123 label)", [nameof(Namespace)]);
        }

        if (!KubernetesNames.IsDns1123Label(ServiceName))
        {
            yield return new ValidationResult("Waker:ServiceName must be a Service name (a DNS-1123 label)", [nameof(ServiceName)]);
        }

        if (PortRangeStart < 1024 || PortRangeEnd > 65535 || PortRangeStart > PortRangeEnd || PortRangeEnd - PortRangeStart >= 10000)
        {
            yield return new ValidationResult("Waker:PortRangeStart and Waker:PortRangeEnd must be a range of at most 10000 ports within 1024-65535, start first", [nameof(PortRangeStart), nameof(PortRangeEnd)]);
        }

        if (CheckInterval < TimeSpan.FromSeconds(1) || CheckInterval > TimeSpan.FromMinutes(10))
        {
            yield return new ValidationResult("Waker:CheckInterval must be between 1 second and 10 minutes", [nameof(CheckInterval)]);
        }

        if (ReadyTimeout < CheckInterval || ReadyTimeout > TimeSpan.FromHours(24))
        {
            yield return new ValidationResult("Waker:ReadyTimeout must be at least the check interval and at most 24 hours", [nameof(ReadyTimeout)]);
        }
    }
}
