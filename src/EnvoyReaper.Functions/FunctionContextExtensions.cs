using Microsoft.Azure.Functions.Worker;

namespace EnvoyReaper.Functions;

internal static class FunctionContextExtensions
{
    /// <summary>The queue message id from the trigger's binding data, for logs that let an operator find the message.</summary>
    public static string QueueMessageId(this FunctionContext context) =>
        context.BindingContext.BindingData.TryGetValue("Id", out var id) && id is not null ? id.ToString() ?? context.InvocationId : context.InvocationId;
}
