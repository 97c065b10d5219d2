using System.Net.Http.Headers;
using Azure.Core;
using k8s.Authentication;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EnvoyReaper.Kubernetes.Access;

/// <summary>
/// The bearer token of every Kubernetes request in <see cref="ClusterAccessMode.AksEntra"/>: an Entra access token for
/// <see cref="AksEntraAccess.Scope"/> from a <see cref="TokenCredential"/> (the app's managed identity). Plugged in as
/// <see cref="k8s.KubernetesClientConfiguration.TokenProvider"/>, so the client sets <c>Authorization: Bearer</c> on
/// each request, watches included.
/// </summary>
/// <remarks>
/// The token is cached and reused until <see cref="RefreshMargin"/> before it expires (half its lifetime for a token
/// shorter than twice the margin, earlier when the credential says so through <see cref="AccessToken.RefreshOn"/>).
/// Concurrent callers share one fetch. When a refresh fails while the cached token is still valid, the cached token
/// keeps being used (a warning is logged, the next attempt waits <see cref="RetryDelay"/>); without a valid token the
/// failure is an <see cref="AksEntraTokenException"/> and the request is not sent. The token itself is never logged.
/// </remarks>
public sealed partial class AksEntraTokenProvider : ITokenProvider, IDisposable
{
    public static readonly TimeSpan RefreshMargin = TimeSpan.FromMinutes(5);

    public static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(30);

    public static readonly TimeSpan DefaultFetchTimeout = TimeSpan.FromSeconds(60);

    private static readonly TokenRequestContext RequestContext = new([AksEntraAccess.Scope]);

    private readonly TokenCredential credential;
    private readonly TimeProvider timeProvider;
    private readonly ILogger logger;
    private readonly string identity;
    private readonly TimeSpan fetchTimeout;
    private readonly SemaphoreSlim fetchGate = new(1, 1);
    private volatile CachedToken? cached;

    /// <param name="credential">The managed identity (see <see cref="AksEntraAccess.CreateCredential"/>).</param>
    /// <param name="timeProvider">The clock that decides expiry; <see cref="TimeProvider.System"/> by default.</param>
    /// <param name="logger">Where fetches are reported (expiry times only).</param>
    /// <param name="clientId">The client id of the identity, for messages only.</param>
    /// <param name="fetchTimeout">The bound on one token request; <see cref="DefaultFetchTimeout"/> by default.</param>
    public AksEntraTokenProvider(
        TokenCredential credential,
        TimeProvider? timeProvider = null,
        ILogger<AksEntraTokenProvider>? logger = null,
        string? clientId = null,
        TimeSpan? fetchTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(credential);
        if (fetchTimeout is { } timeout && timeout <= TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(fetchTimeout), fetchTimeout, "The fetch timeout must be positive.");
        }

        this.credential = credential;
        this.timeProvider = timeProvider ?? TimeProvider.System;
        this.logger = logger ?? NullLogger<AksEntraTokenProvider>.Instance;
        identity = AksEntraAccess.DescribeIdentity(clientId);
        this.fetchTimeout = fetchTimeout ?? DefaultFetchTimeout;
    }

    /// <exception cref="AksEntraTokenException">No valid token could be obtained.</exception>
    public async Task<AuthenticationHeaderValue> GetAuthenticationHeaderAsync(CancellationToken cancellationToken)
    {
        var token = cached;
        if (token is not null && timeProvider.GetUtcNow() < token.RefreshAt)
        {
            return token.Header;
        }

        await fetchGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Another caller may have refreshed while this one waited.
            token = cached;
            var now = timeProvider.GetUtcNow();
            if (token is not null && now < token.RefreshAt)
            {
                return token.Header;
            }

            try
            {
                var fresh = await FetchAsync(cancellationToken).ConfigureAwait(false);
                cached = fresh;
                return fresh.Header;
            }
            catch (AksEntraTokenException exception) when (token is not null && timeProvider.GetUtcNow() < token.ExpiresOn)
            {
                var retryAt = timeProvider.GetUtcNow() + RetryDelay;
                cached = token with { RefreshAt = retryAt < token.ExpiresOn ? retryAt : token.ExpiresOn };
                LogRefreshFailed(exception, token.ExpiresOn);
                return token.Header;
            }
        }
        finally
        {
            fetchGate.Release();
        }
    }

    public void Dispose() => fetchGate.Dispose();

    private async Task<CachedToken> FetchAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (fetchTimeout != Timeout.InfiniteTimeSpan)
        {
            timeout.CancelAfter(fetchTimeout);
        }

        AccessToken accessToken;
        try
        {
            accessToken = await credential.GetTokenAsync(RequestContext, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException exception)
        {
            throw new AksEntraTokenException(
                $"No Microsoft Entra token for the AKS server application (scope {AksEntraAccess.Scope}) from {identity} within {fetchTimeout}.",
                exception);
        }
        catch (Exception exception) when (exception is not AksEntraTokenException)
        {
            throw new AksEntraTokenException(
                $"No Microsoft Entra token for the AKS server application (scope {AksEntraAccess.Scope}) from {identity}: {exception.Message} "
                + "The Kubernetes request was not sent. Check the identity assigned to the app and Kubernetes:ClientId.",
                exception);
        }

        if (string.IsNullOrWhiteSpace(accessToken.Token))
        {
            throw new AksEntraTokenException($"{identity} returned an empty token for the AKS server application (scope {AksEntraAccess.Scope}).");
        }

        var now = timeProvider.GetUtcNow();
        var lifetime = accessToken.ExpiresOn - now;
        var margin = lifetime < RefreshMargin + RefreshMargin ? lifetime / 2 : RefreshMargin;
        var refreshAt = accessToken.ExpiresOn - margin;
        if (accessToken.RefreshOn is { } hint && hint < refreshAt)
        {
            refreshAt = hint;
        }

        LogFetched(accessToken.ExpiresOn, refreshAt);
        return new CachedToken(new AuthenticationHeaderValue("Bearer", accessToken.Token), accessToken.ExpiresOn, refreshAt);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Got a Microsoft Entra token for the AKS API server, expiring at {ExpiresOn:O}, to be refreshed from {RefreshAt:O}")]
    private partial void LogFetched(DateTimeOffset expiresOn, DateTimeOffset refreshAt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not refresh the Microsoft Entra token for the AKS API server; the current one stays in use until {ExpiresOn:O}")]
    private partial void LogRefreshFailed(Exception exception, DateTimeOffset expiresOn);

    /// <summary>The header is built once per token; its ToString is the scheme and token, so the record is never logged.</summary>
    private sealed record CachedToken(AuthenticationHeaderValue Header, DateTimeOffset ExpiresOn, DateTimeOffset RefreshAt)
    {
        public override string ToString() => $"AKS Entra token expiring at {ExpiresOn:O}";
    }
}
