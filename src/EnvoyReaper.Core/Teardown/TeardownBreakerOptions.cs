using System.ComponentModel.DataAnnotations;

namespace EnvoyReaper.Teardown;

/// <summary>
/// The teardown breaker's limits, read from the "Reaper" section (Reaper:MaxTeardownsPerHour and the rest) with the
/// other settings of the reaper, but bound and validated on their own.
/// </summary>
public sealed class TeardownBreakerOptions : IValidatableObject
{
    /// <summary>
    /// Most teardowns in any rolling hour, across all instances. Bounded so that the hour's slots fit in one table row.
    /// </summary>
    [Range(1, TeardownBreakerRules.MaxSlots)]
    public int MaxTeardownsPerHour { get; set; } = 50;

    /// <summary>Most teardowns in any rolling hour as a fraction of the monitored workloads (rounded up).</summary>
    public double MaxTeardownFraction { get; set; } = 0.2;

    /// <summary>
    /// The fraction never allows fewer than this many per hour (bounded by MaxTeardownsPerHour): a fifth of a fleet of
    /// four is one teardown an hour, which protects nothing and leaves idle workloads running. It is also the limit
    /// while no discovery cycle has counted the fleet. 0: the fraction alone.
    /// </summary>
    [Range(0, TeardownBreakerRules.MaxSlots)]
    public int MinTeardownsPerHour { get; set; } = 5;

    /// <summary>The breaker opens when more than this fraction of the workloads Active at the last cycle are Idle now.</summary>
    public double MassIdleFraction { get; set; } = 0.5;

    /// <summary>...and at least this many of them went Idle, so that a small fleet going quiet at night does not trip it.</summary>
    [Range(1, 1_000_000)]
    public int MassIdleMinimum { get; set; } = 10;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!(MaxTeardownFraction > 0 && MaxTeardownFraction <= 1))
        {
            yield return new ValidationResult("Reaper:MaxTeardownFraction must be more than 0 and at most 1", [nameof(MaxTeardownFraction)]);
        }

        if (!(MassIdleFraction > 0 && MassIdleFraction < 1))
        {
            yield return new ValidationResult("Reaper:MassIdleFraction must be more than 0 and less than 1", [nameof(MassIdleFraction)]);
        }
    }
}
