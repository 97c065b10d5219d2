using System.Net;
using System.Net.Http.Headers;
using System.Reflection;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace EnvoyReaper.TestSupport.Kubernetes;

/// <summary>
/// An in-process Kubernetes API server on a loopback port, faithful to the documented API conventions for the
/// resource types in <see cref="ResourceTypeRegistry"/>: v1 Status errors, resourceVersion/generation/uid semantics,
/// optimistic concurrency, label and field selectors, paginated lists, the patch flavours, the status and scale
/// subresources, delete preconditions and cascading deletion.
/// </summary>
public sealed partial class FakeKubernetesApiServer : IAsyncDisposable
{
    // The API server writes quotes in messages as \" rather than the \u0022 System.Text.Json emits by default.
    private static readonly JsonSerializerOptions WireFormat = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly WebApplication app;
    private readonly KubernetesApi api;
    private readonly FaultInjector faults = new();
    private readonly Lock recordingGate = new();
    private readonly List<RecordedRequest> requests = [];
    private readonly List<(string Method, string PathContains, Func<Task> Action)> hooks = [];
    private int writeCount;
    private long responseBytes;

    private FakeKubernetesApiServer(WebApplication app, TimeProvider timeProvider)
    {
        this.app = app;
        api = new KubernetesApi(timeProvider);
    }

    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>Every request answered so far (faults included), oldest first.</summary>
    public IReadOnlyList<RecordedRequest> Requests
    {
        get
        {
            lock (recordingGate)
            {
                return requests.ToArray();
            }
        }
    }

    /// <summary>POST, PUT, PATCH and DELETE requests that succeeded without dryRun (no-op updates included).</summary>
    public int WriteCount => Volatile.Read(ref writeCount);

    /// <summary>The bytes of every response body sent since the last <see cref="ResetRecording"/> (faults included).</summary>
    public long ResponseBytes
    {
        get
        {
            lock (recordingGate)
            {
                return responseBytes;
            }
        }
    }

    /// <summary>Deletions accepted through the API, with the propagation policy that applied.</summary>
    public IReadOnlyList<RecordedDeletion> Deletions => api.Deletions;

    public static Task<FakeKubernetesApiServer> StartAsync(CancellationToken ct = default) => StartAsync(TimeProvider.System, ct);

    public static async Task<FakeKubernetesApiServer> StartAsync(TimeProvider timeProvider, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(timeProvider);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = [],
            ApplicationName = typeof(FakeKubernetesApiServer).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var server = new FakeKubernetesApiServer(app, timeProvider);
        app.Run(server.HandleAsync);
        await app.StartAsync(ct).ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.BaseAddress = new Uri(address.EndsWith('/') ? address : address + "/");
        return server;
    }

    public KubernetesClientConfiguration ClientConfiguration() => new() { Host = BaseAddress.ToString() };

    /// <summary>
    /// Writes <c>kubeconfig-{contextName}.yaml</c> into <paramref name="directory"/>: one cluster, context and user, all
    /// named <paramref name="contextName"/>, with the context current and namespace "default". Returns its path.
    /// </summary>
    public string WriteKubeConfig(string directory, string contextName = "fake")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(contextName);
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, $"kubeconfig-{contextName}.yaml");
        var name = YamlQuote(contextName);
        var yaml = new StringBuilder()
            .AppendLine("apiVersion: v1")
            .AppendLine("kind: Config")
            .AppendLine("clusters:")
            .AppendLine($"- name: {name}")
            .AppendLine("  cluster:")
            .AppendLine($"    server: {YamlQuote(BaseAddress.ToString().TrimEnd('/'))}")
            .AppendLine("contexts:")
            .AppendLine($"- name: {name}")
            .AppendLine("  context:")
            .AppendLine($"    cluster: {name}")
            .AppendLine($"    user: {name}")
            .AppendLine("    namespace: default")
            .AppendLine($"current-context: {name}")
            .AppendLine("preferences: {}")
            .AppendLine("users:")
            .AppendLine($"- name: {name}")
            .AppendLine("  user:")
            // KubernetesClient refuses a user without credentials; the fake accepts any token (or none).
            .AppendLine("    token: fake-token")
            .ToString();
        File.WriteAllText(path, yaml);
        return path;
    }

    public void ResetRecording()
    {
        lock (recordingGate)
        {
            requests.Clear();
            Interlocked.Exchange(ref writeCount, 0);
            responseBytes = 0;
        }

        api.ResetRecording();
    }

    /// <summary>
    /// Answers the next <paramref name="times"/> requests whose method matches (or "*") and whose path contains
    /// <paramref name="pathContains"/> with a v1 Status failure. A 429 always carries Retry-After (1 s unless given).
    /// </summary>
    public void FailNext(string method, string pathContains, int statusCode, string reason, int times = 1, TimeSpan? retryAfter = null) =>
        faults.AddFailure(method, pathContains, statusCode, reason, times, retryAfter);

    /// <summary>Delays every request whose path contains <paramref name="pathContains"/> until <see cref="ClearFaults"/>.</summary>
    public void Delay(string pathContains, TimeSpan delay) => faults.AddDelay(pathContains, delay);

    public void ClearFaults() => faults.Clear();

    /// <summary>
    /// Runs <paramref name="action"/> once, before the server handles the next request whose method matches and whose
    /// path contains <paramref name="pathContains"/>: another client's requests (made by the action) arrive first, as
    /// they may on a real server between two requests of one client.
    /// </summary>
    public void BeforeNext(string method, string pathContains, Func<Task> action)
    {
        lock (recordingGate)
        {
            hooks.Add((method, pathContains, action));
        }
    }

    /// <summary>Makes every continue token issued so far answer 410 Gone, as after an etcd compaction.</summary>
    public void ExpireContinueTokens() => api.ExpireContinueTokens();

    /// <summary>Stored objects the list requests looked at (matched against their selectors or served): the cost of paging.</summary>
    public long ObjectsReadByLists => api.ObjectsReadByLists;

    /// <summary>
    /// Stores an object as if created through the API (uid, creationTimestamp, generation filled when absent; a fresh
    /// resourceVersion always), but keeping its status. Namespaced objects default to "default" and their namespace is
    /// created when missing. Throws when the object already exists.
    /// </summary>
    public T Seed<T>(T obj)
        where T : IKubernetesObject<V1ObjectMeta>
    {
        ArgumentNullException.ThrowIfNull(obj);
        var type = ResolveType(typeof(T), obj.ApiVersion, obj.Kind);
        var json = JsonNode.Parse(KubernetesJson.Serialize(obj))!.AsObject();
        var stored = api.Seed(type, json);
        return KubernetesJson.Deserialize<T>(stored.ToJsonString());
    }

    public JsonObject SeedJson(string group, string version, string plural, JsonObject obj)
    {
        ArgumentNullException.ThrowIfNull(obj);
        return api.Seed(ResourceTypeRegistry.Require(group, version, plural), obj);
    }

    /// <summary>A copy of a stored object with kind and apiVersion, or null. Group "" (or "core") is the core group.</summary>
    public JsonObject? Get(string group, string version, string plural, string? ns, string name) =>
        api.Get(ResourceTypeRegistry.Require(group, version, plural), ns, name);

    public T? Get<T>(string? ns, string name)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        var json = api.Get(ResolveType(typeof(T), null, null), ns, name);
        return json is null ? null : KubernetesJson.Deserialize<T>(json.ToJsonString());
    }

    public bool Exists<T>(string? ns, string name)
        where T : class, IKubernetesObject<V1ObjectMeta> =>
        api.Get(ResolveType(typeof(T), null, null), ns, name) is not null;

    /// <summary>Copies of the stored objects ordered by namespace then name; all namespaces when <paramref name="ns"/> is null.</summary>
    public IReadOnlyList<JsonObject> List(string group, string version, string plural, string? ns = null) =>
        api.List(ResourceTypeRegistry.Require(group, version, plural), ns);

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync().ConfigureAwait(false);
        await app.DisposeAsync().ConfigureAwait(false);
    }

    private static ResourceType ResolveType(Type clrType, string? apiVersion, string? kind)
    {
        if (!string.IsNullOrEmpty(apiVersion) && !string.IsNullOrEmpty(kind))
        {
            var (group, version) = ResourceTypeRegistry.SplitApiVersion(apiVersion);
            return ResourceTypeRegistry.FindByKind(group, version, kind)
                ?? throw new ArgumentException($"The fake API server does not serve {kind} in {apiVersion}.");
        }

        var entity = clrType.GetCustomAttribute<KubernetesEntityAttribute>()
            ?? throw new ArgumentException($"{clrType.Name} has no KubernetesEntity attribute and the object names no apiVersion and kind.");
        return (string.IsNullOrEmpty(entity.PluralName) ? null : ResourceTypeRegistry.Find(entity.Group ?? "", entity.ApiVersion, entity.PluralName))
            ?? ResourceTypeRegistry.FindByKind(entity.Group ?? "", entity.ApiVersion, entity.Kind)
            ?? throw new ArgumentException($"The fake API server does not serve {entity.Kind} in {entity.Group}/{entity.ApiVersion}.");
    }

    /// <summary>
    /// The API server gzips a response (APIResponseCompression, beta and on by default since 1.16) when the client sends
    /// Accept-Encoding: gzip and the serialized object is over 128 KiB (defaultGzipThresholdBytes), at level 1 (BestSpeed).
    /// </summary>
    public const int GzipThresholdBytes = 128 * 1024;

    private static bool AcceptsGzip(Microsoft.Extensions.Primitives.StringValues acceptEncoding) =>
        acceptEncoding.SelectMany(value => (value ?? "").Split(','))
            .Select(coding => coding.Split(';')[0].Trim())
            .Any(coding => coding.Equals("gzip", StringComparison.OrdinalIgnoreCase));

    private static byte[] Gzip(byte[] content)
    {
        using var output = new MemoryStream();
        using (var gzip = new System.IO.Compression.GZipStream(output, System.IO.Compression.CompressionLevel.Fastest))
        {
            gzip.Write(content);
        }

        return output.ToArray();
    }

    private static string YamlQuote(string value) => "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var body = await new StreamReader(request.Body, Encoding.UTF8).ReadToEndAsync(context.RequestAborted).ConfigureAwait(false);
        var path = request.Path.Value ?? "/";
        Func<Task>? before = null;
        lock (recordingGate)
        {
            var index = hooks.FindIndex(hook => string.Equals(hook.Method, request.Method, StringComparison.OrdinalIgnoreCase) && path.Contains(hook.PathContains, StringComparison.Ordinal));
            if (index >= 0)
            {
                before = hooks[index].Action;
                hooks.RemoveAt(index);
            }
        }

        if (before is not null)
        {
            await before().ConfigureAwait(false);
        }

        var delay = faults.DelayFor(path);
        if (delay > TimeSpan.Zero)
        {
            // Real time on purpose: a fake TimeProvider in the test would otherwise stall the request forever.
            await Task.Delay(delay, context.RequestAborted).ConfigureAwait(false);
        }

        var handlingStart = System.Diagnostics.Stopwatch.GetTimestamp();
        var mediaType = MediaTypeHeaderValue.TryParse(request.ContentType, out var parsed) ? parsed.MediaType?.ToLowerInvariant() : null;
        var response = faults.TakeFailure(request.Method, path) is { } failure
            ? new ApiResponse(failure.StatusCode, failure.Status, RetryAfter: failure.RetryAfter)
            : api.Handle(new ApiRequest(
                request.Method,
                path,
                request.Query.ToDictionary(pair => pair.Key, pair => pair.Value.OfType<string>().ToArray(), StringComparer.Ordinal),
                mediaType,
                body));

        var content = Encoding.UTF8.GetBytes(response.Body.ToJsonString(WireFormat));
        var compressed = content.Length > GzipThresholdBytes && AcceptsGzip(request.Headers.AcceptEncoding);
        var payload = compressed ? Gzip(content) : content;
        var handlingTime = System.Diagnostics.Stopwatch.GetElapsedTime(handlingStart);

        // Recorded before the response is written, so a test that has its answer also sees the record.
        lock (recordingGate)
        {
            requests.Add(new RecordedRequest(request.Method, path, request.QueryString.Value?.TrimStart('?') ?? "", request.ContentType, response.StatusCode, body) { ResponseBytes = payload.Length, ContentBytes = content.Length, Compressed = compressed, HandlingTime = handlingTime });
            responseBytes += payload.Length;
            if (response.Persisted)
            {
                Interlocked.Increment(ref writeCount);
            }
        }

        context.Response.StatusCode = response.StatusCode;
        context.Response.ContentType = "application/json";
        if (response.RetryAfter is { } retryAfter)
        {
            context.Response.Headers.RetryAfter = ApiStatus.RetryAfterSeconds(retryAfter).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        if (compressed)
        {
            context.Response.Headers.ContentEncoding = "gzip";
            context.Response.Headers.Vary = "Accept-Encoding";
        }

        context.Response.ContentLength = payload.Length;
        await context.Response.Body.WriteAsync(payload, context.RequestAborted).ConfigureAwait(false);
    }
}
