using Azure.Storage.Queues.Models;
using EnvoyReaper.Kubernetes.Injection;
using EnvoyReaper.Messaging;
using Microsoft.Azure.Functions.Worker;

namespace EnvoyReaper.Functions;

/// <summary>Checks an injection's rollout; once it is complete, makes the change that waited for it (see <see cref="InjectionRollouts"/>).</summary>
public sealed class FinishInjectionRollout(MessageIntake intake, InjectionRollouts rollouts)
{
    // Bound to the QueueMessage itself for its real message id (see CheckStats).
    [Function(nameof(FinishInjectionRollout))]
    public async Task Run([QueueTrigger(QueueNames.InjectRollout, Connection = "AzureWebJobsStorage")] QueueMessage message, CancellationToken cancellationToken)
    {
        if (await intake.AcceptAsync<RolloutCheckMessage>(QueueNames.InjectRollout, message.Body.ToString(), message.MessageId, RolloutCheckMessage.CurrentVersion, cancellationToken) is { } check)
        {
            await rollouts.ProcessAsync(check, cancellationToken);
        }
    }
}
