using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Envoy;

/// <summary>
/// Reads Envoy statistics over HTTP with a per-request timeout and a bounded, pooled body buffer, and parses them in
/// the format the request asked for.
/// </summary>
public sealed class EnvoyStatsReader : IEnvoyStatsReader
{
    private const int InitialBufferBytes = 64 * 1024;

    private readonly HttpClient _httpClient;
    private readonly TimeSpan _timeout;

    /// <summary>The connection handling the reader is registered with (and the benchmark's ceiling measures against).</summary>
    public static SocketsHttpHandler CreateHandler() => new()
    {
        // Pod IPs are reached directly: an HTTP proxy from the environment must never see them.
        UseProxy = false,
        AllowAutoRedirect = false,
        UseCookies = false,
        PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        MaxConnectionsPerServer = 4,
        ConnectTimeout = TimeSpan.FromSeconds(2),
    };
    private readonly int _maxResponseBytes;

    public EnvoyStatsReader(HttpClient httpClient, IOptions<EnvoyStatsReaderOptions> options)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentNullException.ThrowIfNull(options);
        EnvoyStatsReaderOptions value = options.Value;
        if (value.Timeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(options), value.Timeout, "EnvoyStatsReaderOptions.Timeout must be positive.");
        }

        if (value.MaxResponseBytes is < 1 or > EnvoyStatsReaderOptions.MaxAllowedResponseBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(options), value.MaxResponseBytes, "EnvoyStatsReaderOptions.MaxResponseBytes must be between 1 byte and 1 GiB.");
        }

        _httpClient = httpClient;
        _timeout = value.Timeout;
        _maxResponseBytes = value.MaxResponseBytes;
    }

    /// <summary>
    /// The URL read for <paramref name="endpoint"/> and the format its body must have.
    /// A path ending in <c>/stats/prometheus</c> is read as Prometheus and gets no <c>format</c> parameter; any other
    /// path gets <c>format=json</c> unless its own query names a format (<c>json</c>, <c>prometheus</c> or
    /// <c>text</c>). <c>filter=</c><see cref="EnvoyStatsQuery.Filter"/> is added unless the path carries a filter.
    /// </summary>
    /// <exception cref="ArgumentException">The IP, port or path is not usable.</exception>
    public static Uri BuildRequestUri(StatsEndpoint endpoint, out StatsFormat format)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        string host = FormatHost(endpoint.PodIp);
        if (endpoint.Port is < 1 or > 65535)
        {
            throw new ArgumentException($"port {endpoint.Port} is out of range", nameof(endpoint));
        }

        string rawPath = endpoint.Path ?? string.Empty;
        if (!rawPath.StartsWith('/') || rawPath.Contains('#', StringComparison.Ordinal) || rawPath.Any(char.IsWhiteSpace))
        {
            throw new ArgumentException($"path '{rawPath}' must start with '/' and contain no blanks or fragment", nameof(endpoint));
        }

        int q = rawPath.IndexOf('?', StringComparison.Ordinal);
        string path = q < 0 ? rawPath : rawPath[..q];
        string query = q < 0 ? string.Empty : rawPath[(q + 1)..];

        string? formatValue = null;
        bool hasFilter = false;
        foreach (string part in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = part.IndexOf('=', StringComparison.Ordinal);
            string name = Uri.UnescapeDataString(eq < 0 ? part : part[..eq]);
            if (name == "format")
            {
                formatValue = eq < 0 ? string.Empty : Uri.UnescapeDataString(part[(eq + 1)..]);
            }
            else if (name == "filter")
            {
                hasFilter = true;
            }
        }

        var parameters = new StringBuilder(query.TrimEnd('&'));
        if (path.EndsWith("/stats/prometheus", StringComparison.Ordinal))
        {
            format = StatsFormat.Prometheus;
        }
        else if (formatValue is null)
        {
            format = StatsFormat.Json;
            Append(parameters, "format=json");
        }
        else
        {
            format = formatValue switch
            {
                "json" => StatsFormat.Json,
                "prometheus" => StatsFormat.Prometheus,
                "text" => StatsFormat.Text,
                _ => throw new ArgumentException($"format '{formatValue}' in path '{rawPath}' is not json, prometheus or text", nameof(endpoint)),
            };
        }

        if (!hasFilter)
        {
            Append(parameters, "filter=" + Uri.EscapeDataString(EnvoyStatsQuery.Filter));
        }

        return new Uri($"http://{host}:{endpoint.Port.ToString(CultureInfo.InvariantCulture)}{path}?{parameters}", UriKind.Absolute);

        static void Append(StringBuilder sb, string parameter)
        {
            if (sb.Length > 0)
            {
                sb.Append('&');
            }

            sb.Append(parameter);
        }
    }

    /// <inheritdoc />
    public async Task<StatsReadResult> ReadAsync(StatsEndpoint endpoint, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        cancellationToken.ThrowIfCancellationRequested();

        Uri uri;
        StatsFormat format;
        try
        {
            uri = BuildRequestUri(endpoint, out format);
        }
        catch (ArgumentException ex)
        {
            return new StatsReadResult.Failure("invalid endpoint: " + ex.Message.Split(" (Parameter", 2)[0]);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_timeout);
        byte[]? buffer = null;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, uri);
            using HttpResponseMessage response = await _httpClient
                .SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token)
                .ConfigureAwait(false);

            if (response.StatusCode != HttpStatusCode.OK)
            {
                return new StatsReadResult.Failure($"HTTP {(int)response.StatusCode}");
            }

            long? declared = response.Content.Headers.ContentLength;
            if (declared > _maxResponseBytes)
            {
                return TooLarge();
            }

            Stream body = await response.Content.ReadAsStreamAsync(timeout.Token).ConfigureAwait(false);
            await using (body.ConfigureAwait(false))
            {
                // Read at most _maxResponseBytes + 1 bytes: one more than allowed proves the body is too large.
                int capacity = (int)Math.Min(declared is > 0 ? declared.Value + 1 : InitialBufferBytes, _maxResponseBytes + 1L);
                buffer = ArrayPool<byte>.Shared.Rent(capacity);
                int length = 0;
                while (true)
                {
                    if (length == buffer.Length)
                    {
                        if (length > _maxResponseBytes)
                        {
                            return TooLarge();
                        }

                        int grown = (int)Math.Min(buffer.Length * 2L, _maxResponseBytes + 1L);
                        byte[] bigger = ArrayPool<byte>.Shared.Rent(grown);
                        buffer.AsSpan(0, length).CopyTo(bigger);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = bigger;
                    }

                    int room = (int)Math.Min(buffer.Length - length, _maxResponseBytes + 1L - length);
                    int read = await body.ReadAsync(buffer.AsMemory(length, room), timeout.Token).ConfigureAwait(false);
                    if (read == 0)
                    {
                        break;
                    }

                    length += read;
                    if (length > _maxResponseBytes)
                    {
                        return TooLarge();
                    }
                }

                return Parse(buffer, length, format);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException)
        {
            // Our own timeout, or HttpClient.Timeout if that one is shorter.
            return new StatsReadResult.Failure($"timed out after {FormatDuration(_timeout)}");
        }
        catch (HttpRequestException ex)
        {
            return new StatsReadResult.Failure(DescribeTransportError(ex, "request failed"));
        }
        catch (IOException ex)
        {
            return new StatsReadResult.Failure(DescribeTransportError(ex, "connection lost while reading the body"));
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            // A peer that resets right after accepting can surface from the connection pool as a bare SocketException.
            return new StatsReadResult.Failure(ex.SocketErrorCode switch
            {
                System.Net.Sockets.SocketError.ConnectionRefused => "connection refused",
                System.Net.Sockets.SocketError.ConnectionReset or System.Net.Sockets.SocketError.NotConnected => "connection reset",
                _ => $"socket error {ex.SocketErrorCode}",
            });
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        StatsReadResult.Failure TooLarge() =>
            new($"response larger than the {FormatSize(_maxResponseBytes)} limit");
    }

    private static StatsReadResult Parse(byte[] buffer, int length, StatsFormat format)
    {
        try
        {
            return new StatsReadResult.Success(EnvoyStatsParser.Parse(buffer.AsSpan(0, length), format), length);
        }
        catch (EnvoyStatsFormatException ex)
        {
            string name = format switch
            {
                StatsFormat.Json => "JSON",
                StatsFormat.Prometheus => "Prometheus",
                _ => "text",
            };
            return new StatsReadResult.Failure($"unparseable {name}: {ex.Message}");
        }
    }

    private static string FormatHost(string podIp)
    {
        if (string.IsNullOrWhiteSpace(podIp))
        {
            throw new ArgumentException("pod IP is empty", nameof(podIp));
        }

        string bare = podIp.Length > 1 && podIp[0] == '[' && podIp[^1] == ']' ? podIp[1..^1] : podIp;
        if (!IPAddress.TryParse(bare, out IPAddress? address))
        {
            throw new ArgumentException($"'{podIp}' is not an IP address", nameof(podIp));
        }

        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            return "[" + address.ToString().Replace("%", "%25", StringComparison.Ordinal) + "]";
        }

        // IPAddress.TryParse also takes "10.1" or "167772161"; a pod IP is always a dotted quad.
        string canonical = address.ToString();
        if (!string.Equals(canonical, bare, StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{podIp}' is not a dotted-quad IPv4 address", nameof(podIp));
        }

        return canonical;
    }

    internal static string DescribeTransportError(Exception ex, string fallback)
    {
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            if (e is SocketException socket)
            {
                return socket.SocketErrorCode switch
                {
                    SocketError.ConnectionRefused => "connection refused",
                    SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown => "connection reset",
                    SocketError.TimedOut => "connect timed out",
                    SocketError.HostUnreachable or SocketError.NetworkUnreachable or SocketError.HostDown or SocketError.NetworkDown => "host unreachable",
                    SocketError.AddressNotAvailable => "address not available",
                    _ => $"{fallback}: socket error {socket.SocketErrorCode}",
                };
            }
        }

        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            HttpRequestError? error = e switch
            {
                HttpRequestException h => h.HttpRequestError,
                HttpIOException io => io.HttpRequestError,
                _ => null,
            };
            switch (error)
            {
                case HttpRequestError.ResponseEnded:
                    return "connection closed before the response was complete";
                case HttpRequestError.InvalidResponse:
                    return "invalid HTTP response";
                case HttpRequestError.ConnectionError:
                    return "connection failed";
            }
        }

        return $"{fallback}: {ex.Message}";
    }

    internal static string FormatDuration(TimeSpan duration)
    {
        if (duration.Ticks % TimeSpan.TicksPerSecond == 0)
        {
            return ((long)duration.TotalSeconds).ToString(CultureInfo.InvariantCulture) + "s";
        }

        if (duration.Ticks % TimeSpan.TicksPerMillisecond == 0)
        {
            return ((long)duration.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) + "ms";
        }

        return duration.TotalMilliseconds.ToString("0.###", CultureInfo.InvariantCulture) + "ms";
    }

    internal static string FormatSize(long bytes) =>
        bytes % (1024 * 1024) == 0 ? $"{bytes / (1024 * 1024)} MiB"
        : bytes % 1024 == 0 ? $"{bytes / 1024} KiB"
        : $"{bytes} bytes";
}
