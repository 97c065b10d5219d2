using System.Collections.Concurrent;
using Azure.Core;
using Azure.Core.Pipeline;

namespace EnvoyReaper.TestSupport.Storage;

/// <summary>
/// Counts the requests an Azure SDK client sends, per service and operation, once per attempt: what the storage
/// account bills as transactions (a Table transaction of 100 entities is one request, hence one transaction).
/// Add it per retry (<see cref="HttpPipelinePosition.PerRetry"/>) to a client's options; one counter per service.
/// </summary>
public sealed class StorageRequestCounter : HttpPipelineSynchronousPolicy
{
    private readonly ConcurrentDictionary<string, long> counts = new(StringComparer.Ordinal);
    private long total;

    public long Total => Interlocked.Read(ref total);

    /// <summary>Requests by "METHOD kind" (e.g. "POST $batch", "DELETE message").</summary>
    public IReadOnlyDictionary<string, long> ByKind => new Dictionary<string, long>(counts, StringComparer.Ordinal);

    public void Reset()
    {
        counts.Clear();
        Interlocked.Exchange(ref total, 0);
    }

    public override void OnSendingRequest(HttpMessage message)
    {
        Interlocked.Increment(ref total);
        counts.AddOrUpdate(Kind(message.Request), 1, (_, count) => count + 1);
    }

    private static string Kind(Request request)
    {
        var path = request.Uri.ToUri().AbsolutePath;
        var what = path.Contains("$batch", StringComparison.Ordinal) ? "$batch"
            : path.EndsWith("/messages", StringComparison.Ordinal) ? "messages"
            : path.Contains("/messages/", StringComparison.Ordinal) ? "message"
            : path.Contains('(') ? "entity"
            : "resource";
        return $"{request.Method} {what}";
    }
}
