using System.Globalization;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Waker;

/// <summary>
/// Sends a held request, once, to the woken workload's own Service and streams the answer back. The destination is
/// built only from the parked Service (its name, namespace and port): never from the request's Host or target, so a
/// client cannot make the waker call anything else.
/// </summary>
public sealed class RequestForwarder(IHttpClientFactory clients, IOptions<WakerOptions> options)
{
    public const string ClientName = "forward";

    private static readonly HashSet<string> HopByHop = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Host",
    };

    /// <summary>http://{service}.{namespace}.{suffix}:{port}: the only place a request is ever forwarded to.</summary>
    public static Uri ServiceAuthority(ParkedRoute route, string dnsSuffix)
    {
        ArgumentNullException.ThrowIfNull(route);
        return new Uri(string.Create(CultureInfo.InvariantCulture, $"http://{route.Workload.Service}.{route.Workload.Namespace}.{dnsSuffix}:{route.Port.Port}/"));
    }

    /// <summary>The request's path and query on <paramref name="authority"/>; null when they would leave it.</summary>
    public static Uri? Target(Uri authority, string pathAndQuery)
    {
        ArgumentNullException.ThrowIfNull(authority);
        if (!pathAndQuery.StartsWith('/'))
        {
            return null;
        }

        var target = new Uri(authority.GetLeftPart(UriPartial.Authority) + pathAndQuery);
        return target.Scheme == authority.Scheme && target.Host == authority.Host && target.Port == authority.Port ? target : null;
    }

    public async Task ForwardAsync(HttpContext context, ParkedRoute route, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var request = context.Request;

        // The raw target in origin form keeps the client's encoding; an absolute-form target gives its path only.
        var rawTarget = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
        var pathAndQuery = rawTarget is { Length: > 0 } && rawTarget[0] == '/' ? rawTarget : (request.PathBase + request.Path).ToUriComponent() + request.QueryString.ToUriComponent();
        var target = Target(ServiceAuthority(route, options.Value.ServiceDnsSuffix), pathAndQuery);
        if (target is null)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }

        using var message = new HttpRequestMessage(new HttpMethod(request.Method), target);
        if (request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0)
        {
            message.Content = new StreamContent(request.Body);
        }

        // Fields the client names in Connection are hop-by-hop too (RFC 9110 7.6.1): meant for the waker, not the app.
        var named = request.Headers.Connection
            .SelectMany(value => (value ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .ToHashSet(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in request.Headers)
        {
            if (HopByHop.Contains(name) || named.Contains(name))
            {
                continue;
            }

            if (!message.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values))
            {
                message.Content?.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
            }
        }

        // The app sees the Host its client asked for, as through the Ingress; the connection goes to the Service only.
        message.Headers.Host = request.Host.HasValue ? request.Host.Value : null;

        using var client = clients.CreateClient(ClientName);
        using var response = await client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        context.Response.StatusCode = (int)response.StatusCode;
        foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
        {
            if (!HopByHop.Contains(name))
            {
                context.Response.Headers[name] = values.ToArray();
            }
        }

        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await body.CopyToAsync(context.Response.Body, cancellationToken).ConfigureAwait(false);
    }
}
