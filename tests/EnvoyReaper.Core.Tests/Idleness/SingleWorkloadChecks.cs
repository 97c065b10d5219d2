using EnvoyReaper.Idleness;
using EnvoyReaper.Messaging;

namespace EnvoyReaper.Core.Tests.Idleness;

/// <summary>A check of one workload, as a version-1 message is read: a batch of one.</summary>
internal static class SingleWorkloadChecks
{
    public static async Task<CheckResult> ProcessAsync(this StatsCheckProcessor processor, StatsCheckMessage message, string messageId, CancellationToken cancellationToken) =>
        Assert.Single(await processor.ProcessAsync(message.ToBatch(), messageId, cancellationToken));
}
