using System.Collections.Concurrent;
using Microsoft.Azure.Functions.Worker;

namespace EnvoyReaper.Benchmarks.Cycle;

/// <summary>
/// The part of a FunctionContext the queue functions read: the message id in the binding data (as the queue trigger
/// provides it). A plain class rather than a mock, so that building one costs nothing measurable.
/// </summary>
internal sealed class BenchFunctionContext(string messageId, long dequeueCount, IServiceProvider services) : FunctionContext
{
    public override string InvocationId { get; } = Guid.NewGuid().ToString();

    public override string FunctionId => "CheckStats";

    public override TraceContext TraceContext => throw new NotSupportedException();

    public override BindingContext BindingContext { get; } = new QueueBindingContext(messageId, dequeueCount);

    public override RetryContext RetryContext => throw new NotSupportedException();

    public override IServiceProvider InstanceServices { get; set; } = services;

    public override FunctionDefinition FunctionDefinition => throw new NotSupportedException();

    public override IDictionary<object, object> Items { get; set; } = new ConcurrentDictionary<object, object>();

    public override Microsoft.Azure.Functions.Worker.IInvocationFeatures Features => throw new NotSupportedException();

    private sealed class QueueBindingContext(string messageId, long dequeueCount) : BindingContext
    {
        public override IReadOnlyDictionary<string, object?> BindingData { get; } =
            new Dictionary<string, object?> { ["Id"] = messageId, ["DequeueCount"] = dequeueCount };
    }
}
