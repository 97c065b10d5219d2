using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Azure.Core;
using Azure.Identity;
using EnvoyReaper.Kubernetes.Access;
using EnvoyReaper.TestSupport.Kubernetes;
using k8s;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace EnvoyReaper.Kubernetes.Tests;

/// <summary>
/// Kubernetes:Mode=AksEntra: bearer tokens for the AKS server application from an injected <see cref="TokenCredential"/>,
/// through the real <see cref="k8s.Kubernetes"/> client to loopback API servers (an HTTPS spy that records the
/// Authorization header, and <see cref="FakeKubernetesApiServer"/> behind a header-recording handler).
/// </summary>
public sealed class AksEntraAccessTests : IAsyncLifetime
{
    private const string AksScope = "6dae42f8-4368-4678-94ff-3960e28e3630/.default";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private static readonly DateTimeOffset Start = new(2025, 3, 1, 8, 0, 0, TimeSpan.Zero);

    private readonly CancellationTokenSource timeout = new(Bound);
    private readonly List<IDisposable> disposables = [];
    private FakeKubernetesApiServer server = null!;

    private CancellationToken Ct => timeout.Token;

    public async Task InitializeAsync() => server = await FakeKubernetesApiServer.StartAsync(TimeProvider.System);

    public async Task DisposeAsync()
    {
        foreach (var disposable in disposables)
        {
            disposable.Dispose();
        }

        await server.DisposeAsync();
        timeout.Dispose();
    }

    // ---------------------------------------------------------------- the scope

    [Fact]
    public async Task AksEntra_tokens_are_requested_for_the_AKS_server_application_scope_only()
    {
        Assert.Equal("6dae42f8-4368-4678-94ff-3960e28e3630", AksEntraAccess.ServerApplicationId);
        Assert.Equal(AksScope, AksEntraAccess.Scope);
        var clock = new FakeTimeProvider(Start);
        var credential = new FakeCredential((n, _) => Token($"token-{n}", clock.GetUtcNow().AddHours(1)));
        using var tokens = new AksEntraTokenProvider(credential, clock);

        var header = await tokens.GetAuthenticationHeaderAsync(Ct);

        Assert.Equal("Bearer", header.Scheme);
        Assert.Equal("token-1", header.Parameter);
        var scopes = Assert.Single(credential.Scopes);
        Assert.Equal([AksScope], scopes);
    }

    // ---------------------------------------------------------------- end to end through DI, over TLS

    [Fact]
    public async Task AksEntra_mode_through_DI_sends_the_managed_identity_token_as_bearer_to_the_API_server()
    {
        await using var spy = await HttpsSpyServer.StartAsync(Ct);
        var credential = new FakeCredential((n, _) => Token($"entra-token-{n}", DateTimeOffset.UtcNow.AddHours(1)));
        using var provider = BuildServices(
            new()
            {
                ["Kubernetes:Mode"] = "AksEntra",
                ["Kubernetes:Server"] = spy.BaseAddress,
                ["Kubernetes:CertificateAuthorityData"] = spy.CertificateAuthorityData,
                ["Kubernetes:ClientId"] = "11111111-2222-3333-4444-555555555555",
                ["Kubernetes:RequestTimeoutSeconds"] = "10",
            },
            credential);

        var client = provider.GetRequiredService<IKubernetes>();
        var first = await client.CoreV1.ListNamespaceAsync(cancellationToken: Ct);
        var second = await client.CoreV1.ReadNamespaceAsync("default", cancellationToken: Ct);

        Assert.Equal("default", Assert.Single(first.Items).Metadata.Name);
        Assert.Equal("default", second.Metadata.Name);
        Assert.Equal(["Bearer entra-token-1", "Bearer entra-token-1"], spy.AuthorizationHeaders);
        Assert.Equal(1, credential.Calls);
        Assert.All(credential.Scopes, scopes => Assert.Equal([AksScope], scopes));
        Assert.Same(provider.GetRequiredService<AksEntraTokenProvider>(), provider.GetRequiredService<AksEntraTokenProvider>());
    }

    [Fact]
    public async Task AksEntra_mode_without_CertificateAuthorityData_checks_the_API_server_against_the_system_trust()
    {
        await using var spy = await HttpsSpyServer.StartAsync(Ct);
        var credential = new FakeCredential((n, _) => Token($"entra-token-{n}", DateTimeOffset.UtcNow.AddHours(1)));
        using var provider = BuildServices(
            new() { ["Kubernetes:Mode"] = "AksEntra", ["Kubernetes:Server"] = spy.BaseAddress, ["Kubernetes:RequestTimeoutSeconds"] = "10" },
            credential);

        var client = provider.GetRequiredService<IKubernetes>();

        // The spy's self-signed certificate is in no system store: the TLS handshake fails, nothing reaches the handler.
        var exception = await Assert.ThrowsAsync<HttpRequestException>(() => client.CoreV1.ListNamespaceAsync(cancellationToken: Ct));
        Assert.IsType<System.Security.Authentication.AuthenticationException>(exception.InnerException);
        Assert.Empty(spy.AuthorizationHeaders);
    }

    [Fact]
    public void AksEntra_mode_builds_an_https_configuration_with_the_token_provider_and_the_given_CA()
    {
        var clock = new FakeTimeProvider(Start);
        using var tokens = new AksEntraTokenProvider(new FakeCredential((n, _) => Token("t", clock.GetUtcNow().AddHours(1))), clock);
        using var certificate = SelfSigned();
        var options = new ClusterAccessOptions
        {
            Mode = ClusterAccessMode.AksEntra,
            Server = "https://reaper-dns-abc123.hcp.westeurope.azmk8s.io:443/",
            CertificateAuthorityData = Convert.ToBase64String(Encoding.ASCII.GetBytes(certificate.ExportCertificatePem())),
            RequestTimeoutSeconds = 12,
        };

        var configuration = ClusterAccess.BuildConfiguration(options, tokens);

        Assert.Equal("https://reaper-dns-abc123.hcp.westeurope.azmk8s.io", configuration.Host);
        Assert.Same(tokens, configuration.TokenProvider);
        Assert.False(configuration.SkipTlsVerify);
        Assert.Null(configuration.AccessToken);
        Assert.Equal(certificate.Thumbprint, Assert.Single(configuration.SslCaCerts).Thumbprint);
        Assert.Equal(TimeSpan.FromSeconds(12), configuration.HttpClientTimeout);

        var withoutCa = ClusterAccess.BuildConfiguration(new ClusterAccessOptions { Mode = ClusterAccessMode.AksEntra, Server = options.Server }, tokens);
        Assert.Null(withoutCa.SslCaCerts);
    }

    // ---------------------------------------------------------------- caching and refresh

    [Fact]
    public async Task AksEntra_token_is_reused_until_five_minutes_before_expiry_then_refreshed()
    {
        var clock = new FakeTimeProvider(Start);
        var credential = new FakeCredential((n, _) => Token($"token-{n}", clock.GetUtcNow().AddMinutes(60)));
        using var tokens = new AksEntraTokenProvider(credential, clock);
        var (client, headers) = FakeServerClient(tokens);

        await client.CoreV1.ListNamespaceAsync(cancellationToken: Ct);
        clock.Advance(TimeSpan.FromMinutes(30));
        await client.CoreV1.ListNamespaceAsync(cancellationToken: Ct);
        clock.Advance(TimeSpan.FromMinutes(25) - TimeSpan.FromSeconds(1)); // 54:59 into a 60 min token
        await client.CoreV1.ListNamespaceAsync(cancellationToken: Ct);
        Assert.Equal(1, credential.Calls);

        clock.Advance(TimeSpan.FromSeconds(1)); // 55:00: five minutes before expiry
        await client.CoreV1.ListNamespaceAsync(cancellationToken: Ct);
        await client.CoreV1.ListNamespaceAsync(cancellationToken: Ct);

        Assert.Equal(2, credential.Calls);
        Assert.Equal(["Bearer token-1", "Bearer token-1", "Bearer token-1", "Bearer token-2", "Bearer token-2"], headers);
        Assert.Equal(5, server.Requests.Count);
    }

    [Fact]
    public async Task AksEntra_token_shorter_than_twice_the_margin_is_refreshed_at_half_its_lifetime()
    {
        var clock = new FakeTimeProvider(Start);
        var credential = new FakeCredential((n, _) => Token($"token-{n}", clock.GetUtcNow().AddMinutes(4)));
        using var tokens = new AksEntraTokenProvider(credential, clock);

        Assert.Equal("token-1", (await tokens.GetAuthenticationHeaderAsync(Ct)).Parameter);
        clock.Advance(TimeSpan.FromSeconds(119));
        Assert.Equal("token-1", (await tokens.GetAuthenticationHeaderAsync(Ct)).Parameter);
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal("token-2", (await tokens.GetAuthenticationHeaderAsync(Ct)).Parameter);
        Assert.Equal(2, credential.Calls);
    }

    [Fact]
    public async Task AksEntra_token_is_refreshed_earlier_when_the_credential_says_so_through_RefreshOn()
    {
        var clock = new FakeTimeProvider(Start);
        var credential = new FakeCredential((n, _) => ValueTask.FromResult(
            new AccessToken($"token-{n}", clock.GetUtcNow().AddHours(24), refreshOn: clock.GetUtcNow().AddHours(12))));
        using var tokens = new AksEntraTokenProvider(credential, clock);

        await tokens.GetAuthenticationHeaderAsync(Ct);
        clock.Advance(TimeSpan.FromHours(12) - TimeSpan.FromSeconds(1));
        Assert.Equal("token-1", (await tokens.GetAuthenticationHeaderAsync(Ct)).Parameter);
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal("token-2", (await tokens.GetAuthenticationHeaderAsync(Ct)).Parameter);
    }

    [Fact]
    public async Task AksEntra_concurrent_requests_share_one_token_fetch()
    {
        var clock = new FakeTimeProvider(Start);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var credential = new FakeCredential(async (n, ct) =>
        {
            await gate.Task.WaitAsync(ct);
            return new AccessToken($"token-{n}", clock.GetUtcNow().AddHours(1));
        });
        using var tokens = new AksEntraTokenProvider(credential, clock);
        var (client, headers) = FakeServerClient(tokens);

        var requests = Enumerable.Range(0, 16).Select(_ => Task.Run(() => client.CoreV1.ListNamespaceAsync(cancellationToken: Ct), Ct)).ToArray();
        await WaitUntilAsync(() => credential.Calls > 0);
        await Task.Delay(100, Ct); // let the others pile up behind the fetch
        Assert.Empty(server.Requests);
        gate.SetResult();
        await Task.WhenAll(requests).WaitAsync(Ct);

        Assert.Equal(1, credential.Calls);
        Assert.Equal(16, headers.Count);
        Assert.All(headers, header => Assert.Equal("Bearer token-1", header));
    }

    // ---------------------------------------------------------------- failures

    [Fact]
    public async Task AksEntra_credential_failure_is_a_clear_exception_and_no_anonymous_request_is_sent()
    {
        var clock = new FakeTimeProvider(Start);
        var credential = new FakeCredential((n, _) => n == 1
            ? throw new CredentialUnavailableException("ManagedIdentityCredential authentication unavailable. No response received from the managed identity endpoint.")
            : Token($"token-{n}", clock.GetUtcNow().AddHours(1)));
        using var tokens = new AksEntraTokenProvider(credential, clock, clientId: "11111111-2222-3333-4444-555555555555");
        var (client, headers) = FakeServerClient(tokens);

        var exception = await Assert.ThrowsAsync<AksEntraTokenException>(() => client.CoreV1.ListNamespaceAsync(cancellationToken: Ct));

        Assert.Contains(AksScope, exception.Message, StringComparison.Ordinal);
        Assert.Contains("11111111-2222-3333-4444-555555555555", exception.Message, StringComparison.Ordinal);
        Assert.Contains("No response received from the managed identity endpoint", exception.Message, StringComparison.Ordinal);
        Assert.IsType<CredentialUnavailableException>(exception.InnerException);
        Assert.Empty(server.Requests);
        Assert.Empty(headers);

        // The failure is not cached: the next request asks again and goes through.
        await client.CoreV1.ListNamespaceAsync(cancellationToken: Ct);
        Assert.Equal(2, credential.Calls);
        Assert.Equal(["Bearer token-2"], headers);
    }

    [Fact]
    public async Task AksEntra_empty_token_is_refused()
    {
        var credential = new FakeCredential((_, _) => Token(string.Empty, DateTimeOffset.UtcNow.AddHours(1)));
        using var tokens = new AksEntraTokenProvider(credential);

        var exception = await Assert.ThrowsAsync<AksEntraTokenException>(() => tokens.GetAuthenticationHeaderAsync(Ct));

        Assert.Contains("empty token", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AksEntra_failed_refresh_keeps_the_still_valid_token_until_it_expires()
    {
        var clock = new FakeTimeProvider(Start);
        var credential = new FakeCredential((n, _) => n == 1
            ? Token("token-1", clock.GetUtcNow().AddMinutes(60))
            : throw new AuthenticationFailedException("IMDS said no"));
        using var tokens = new AksEntraTokenProvider(credential, clock);

        await tokens.GetAuthenticationHeaderAsync(Ct);
        clock.Advance(TimeSpan.FromMinutes(56));
        Assert.Equal("token-1", (await tokens.GetAuthenticationHeaderAsync(Ct)).Parameter); // refresh failed, old token kept
        Assert.Equal(2, credential.Calls);
        Assert.Equal("token-1", (await tokens.GetAuthenticationHeaderAsync(Ct)).Parameter); // no retry within RetryDelay
        Assert.Equal(2, credential.Calls);

        clock.Advance(AksEntraTokenProvider.RetryDelay);
        Assert.Equal("token-1", (await tokens.GetAuthenticationHeaderAsync(Ct)).Parameter);
        Assert.Equal(3, credential.Calls);

        clock.Advance(TimeSpan.FromMinutes(4)); // 60:30: expired
        await Assert.ThrowsAsync<AksEntraTokenException>(() => tokens.GetAuthenticationHeaderAsync(Ct));
    }

    [Fact]
    public async Task AksEntra_hanging_credential_is_bounded_by_the_fetch_timeout()
    {
        var credential = new FakeCredential(async (_, ct) =>
        {
            await Task.Delay(Timeout.Infinite, ct);
            throw new InvalidOperationException("unreachable");
        });
        using var tokens = new AksEntraTokenProvider(credential, fetchTimeout: TimeSpan.FromMilliseconds(200));

        var exception = await Assert.ThrowsAsync<AksEntraTokenException>(() => tokens.GetAuthenticationHeaderAsync(Ct));

        Assert.Contains(AksScope, exception.Message, StringComparison.Ordinal);
        Assert.IsAssignableFrom<OperationCanceledException>(exception.InnerException);
    }

    [Fact]
    public async Task AksEntra_caller_cancellation_stays_a_cancellation()
    {
        var credential = new FakeCredential(async (_, ct) =>
        {
            await Task.Delay(Timeout.Infinite, ct);
            throw new InvalidOperationException("unreachable");
        });
        using var tokens = new AksEntraTokenProvider(credential);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cancel.CancelAfter(TimeSpan.FromMilliseconds(100));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => tokens.GetAuthenticationHeaderAsync(cancel.Token));
    }

    [Fact]
    public async Task AksEntra_token_never_appears_in_logs_or_exception_messages()
    {
        const string Secret = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.secret-payload.signature";
        var clock = new FakeTimeProvider(Start);
        var credential = new FakeCredential((n, _) => n == 1
            ? Token(Secret, clock.GetUtcNow().AddMinutes(60))
            : throw new AuthenticationFailedException("refresh failed"));
        var logger = new CapturingLogger();
        using var tokens = new AksEntraTokenProvider(credential, clock, logger);

        Assert.Equal(Secret, (await tokens.GetAuthenticationHeaderAsync(Ct)).Parameter);
        clock.Advance(TimeSpan.FromMinutes(58));
        await tokens.GetAuthenticationHeaderAsync(Ct);
        clock.Advance(TimeSpan.FromMinutes(3));
        var exception = await Assert.ThrowsAsync<AksEntraTokenException>(() => tokens.GetAuthenticationHeaderAsync(Ct));

        Assert.Contains(logger.Entries, entry => entry.Level == LogLevel.Information);
        Assert.Contains(logger.Entries, entry => entry.Level == LogLevel.Warning);
        Assert.All(logger.Entries, entry => Assert.DoesNotContain("secret-payload", entry.Text, StringComparison.Ordinal));
        Assert.DoesNotContain("secret-payload", exception.ToString(), StringComparison.Ordinal);
    }

    // ---------------------------------------------------------------- settings

    [Theory]
    [InlineData(null, "Kubernetes:Server is required when Kubernetes:Mode is AksEntra")]
    [InlineData("  ", "Kubernetes:Server is required when Kubernetes:Mode is AksEntra")]
    [InlineData("http://reaper.hcp.westeurope.azmk8s.io:443", "Kubernetes:Server 'http://reaper.hcp.westeurope.azmk8s.io:443' must be an https URL")]
    [InlineData("reaper.hcp.westeurope.azmk8s.io", "Kubernetes:Server 'reaper.hcp.westeurope.azmk8s.io' is not an absolute URL")]
    [InlineData("https://user:pw@reaper.hcp.westeurope.azmk8s.io", "Kubernetes:Server must be the API server's https URL without credentials")]
    public void AksEntra_settings_with_an_unusable_Server_fail_at_start_naming_the_setting(string? serverUrl, string expected)
    {
        using var provider = BuildServices(new() { ["Kubernetes:Mode"] = "AksEntra", ["Kubernetes:Server"] = serverUrl }, new FakeCredential((_, _) => throw new InvalidOperationException("not called")));

        var exception = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<ClusterAccessOptions>>().Value);

        var failure = Assert.Single(exception.Failures);
        Assert.Contains(expected, failure, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not base64 at all!", "Kubernetes:CertificateAuthorityData is not base64")]
    [InlineData("aGVsbG8gd29ybGQ=", "Kubernetes:CertificateAuthorityData holds no readable certificate")]
    [InlineData("LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0KQUFBQQotLS0tLUVORCBQVUJMSUMgS0VZLS0tLS0K", "Kubernetes:CertificateAuthorityData holds no certificate")]
    public void AksEntra_settings_with_unreadable_CertificateAuthorityData_fail_at_start_naming_the_setting(string data, string expected)
    {
        using var provider = BuildServices(
            new() { ["Kubernetes:Mode"] = "AksEntra", ["Kubernetes:Server"] = "https://reaper.hcp.westeurope.azmk8s.io:443", ["Kubernetes:CertificateAuthorityData"] = data },
            new FakeCredential((_, _) => throw new InvalidOperationException("not called")));

        var exception = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<ClusterAccessOptions>>().Value);

        Assert.Contains(expected, Assert.Single(exception.Failures), StringComparison.Ordinal);
    }

    [Fact]
    public void AksEntra_settings_with_a_ClientId_that_is_not_a_GUID_fail_at_start_naming_the_setting()
    {
        using var provider = BuildServices(
            new() { ["Kubernetes:Mode"] = "AksEntra", ["Kubernetes:Server"] = "https://reaper.hcp.westeurope.azmk8s.io:443", ["Kubernetes:ClientId"] = "my-identity" },
            new FakeCredential((_, _) => throw new InvalidOperationException("not called")));

        var exception = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<ClusterAccessOptions>>().Value);

        Assert.Contains("Kubernetes:ClientId 'my-identity' is not a GUID", Assert.Single(exception.Failures), StringComparison.Ordinal);
    }

    [Fact]
    public void AksEntra_settings_with_only_a_Server_are_valid_and_fetch_no_token_at_start()
    {
        var credential = new FakeCredential((_, _) => throw new InvalidOperationException("not called"));
        using var provider = BuildServices(new() { ["Kubernetes:Mode"] = "AksEntra", ["Kubernetes:Server"] = "https://reaper.hcp.westeurope.azmk8s.io:443" }, credential);

        var options = provider.GetRequiredService<IOptions<ClusterAccessOptions>>().Value;
        provider.GetRequiredService<IKubernetes>();

        Assert.Equal(ClusterAccessMode.AksEntra, options.Mode);
        Assert.Equal(0, credential.Calls);
    }

    [Fact]
    public void AksEntra_settings_without_a_mode_list_AksEntra_among_the_modes()
    {
        var exception = Assert.Throws<InvalidOperationException>(() => ClusterAccess.BuildConfiguration(new ClusterAccessOptions { Mode = null }));

        Assert.Contains("AksEntra", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AksEntra_credential_is_the_user_assigned_managed_identity_with_a_ClientId_else_DefaultAzureCredential()
    {
        Assert.IsType<ManagedIdentityCredential>(AksEntraAccess.CreateCredential(new ClusterAccessOptions { ClientId = "11111111-2222-3333-4444-555555555555" }));
        Assert.IsType<DefaultAzureCredential>(AksEntraAccess.CreateCredential(new ClusterAccessOptions()));

        using var provider = BuildServices(new() { ["Kubernetes:Mode"] = "AksEntra", ["Kubernetes:Server"] = "https://reaper.hcp.westeurope.azmk8s.io:443", ["Kubernetes:ClientId"] = "11111111-2222-3333-4444-555555555555" }, credential: null);
        Assert.IsType<ManagedIdentityCredential>(provider.GetRequiredKeyedService<TokenCredential>(AksEntraAccess.CredentialServiceKey));
    }

    // ---------------------------------------------------------------- helpers

    private static ValueTask<AccessToken> Token(string token, DateTimeOffset expiresOn) => ValueTask.FromResult(new AccessToken(token, expiresOn));

    private static ServiceProvider BuildServices(Dictionary<string, string?> settings, TokenCredential? credential)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddReaperKubernetes(configuration);
        if (credential is not null)
        {
            services.AddKeyedSingleton(AksEntraAccess.CredentialServiceKey, credential);
        }

        return services.BuildServiceProvider(new ServiceProviderOptions { ValidateScopes = true });
    }

    private (k8s.Kubernetes Client, ConcurrentQueue<string> Headers) FakeServerClient(AksEntraTokenProvider tokens)
    {
        var configuration = server.ClientConfiguration();
        configuration.TokenProvider = tokens;
        var spy = new AuthorizationSpy();
        var client = new k8s.Kubernetes(configuration, spy);
        disposables.Add(client);
        return (client, spy.Headers);
    }

    private async Task WaitUntilAsync(Func<bool> condition)
    {
        while (!condition())
        {
            await Task.Delay(10, Ct);
        }
    }

    private static X509Certificate2 SelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        using var ephemeral = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pfx), password: null);
    }

    /// <summary>A TokenCredential that counts calls, records the scopes and answers as told (call numbers start at 1).</summary>
    private sealed class FakeCredential(Func<int, CancellationToken, ValueTask<AccessToken>> answer) : TokenCredential
    {
        private int calls;

        public int Calls => Volatile.Read(ref calls);

        public ConcurrentQueue<string[]> Scopes { get; } = new();

        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            throw new NotSupportedException("The token provider must not block on the credential.");

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken)
        {
            var call = Interlocked.Increment(ref calls);
            Scopes.Enqueue(requestContext.Scopes.ToArray());
            return answer(call, cancellationToken);
        }
    }

    /// <summary>Records the Authorization header of every request the client sends.</summary>
    private sealed class AuthorizationSpy : DelegatingHandler
    {
        public ConcurrentQueue<string> Headers { get; } = new();

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Headers.Enqueue(request.Headers.Authorization?.ToString() ?? "(none)");
            return base.SendAsync(request, cancellationToken);
        }
    }

    private sealed class CapturingLogger : ILogger<AksEntraTokenProvider>
    {
        private readonly ConcurrentQueue<(LogLevel Level, string Text)> entries = new();

        public IReadOnlyList<(LogLevel Level, string Text)> Entries => entries.ToArray();

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            entries.Enqueue((logLevel, formatter(state, exception) + " " + exception));
    }

    /// <summary>
    /// A minimal HTTPS API server on 127.0.0.1 with a fresh self-signed certificate: answers namespace reads and records
    /// the Authorization header of every request.
    /// </summary>
    private sealed class HttpsSpyServer : IAsyncDisposable
    {
        private const string Namespace = """{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default","resourceVersion":"1"}}""";
        private const string NamespaceList = """{"apiVersion":"v1","kind":"NamespaceList","metadata":{"resourceVersion":"1"},"items":[""" + Namespace + "]}";

        private readonly WebApplication app;
        private readonly X509Certificate2 certificate;
        private readonly ConcurrentQueue<string> headers = new();

        private HttpsSpyServer(WebApplication app, X509Certificate2 certificate)
        {
            this.app = app;
            this.certificate = certificate;
        }

        public string BaseAddress { get; private set; } = null!;

        public string CertificateAuthorityData => Convert.ToBase64String(Encoding.ASCII.GetBytes(certificate.ExportCertificatePem()));

        public IReadOnlyList<string> AuthorizationHeaders => headers.ToArray();

        public static async Task<HttpsSpyServer> StartAsync(CancellationToken ct)
        {
            var certificate = SelfSigned();
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps(certificate)));
            var app = builder.Build();
            var spy = new HttpsSpyServer(app, certificate);
            app.Run(spy.HandleAsync);
            await app.StartAsync(ct);
            spy.BaseAddress = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return spy;
        }

        public async ValueTask DisposeAsync()
        {
            await app.StopAsync();
            await app.DisposeAsync();
            certificate.Dispose();
        }

        private async Task HandleAsync(HttpContext context)
        {
            headers.Enqueue(context.Request.Headers.Authorization.ToString());
            var path = context.Request.Path.Value;
            context.Response.ContentType = "application/json";
            if (context.Request.Method == "GET" && path == "/api/v1/namespaces")
            {
                await context.Response.WriteAsync(NamespaceList);
            }
            else if (context.Request.Method == "GET" && path == "/api/v1/namespaces/default")
            {
                await context.Response.WriteAsync(Namespace);
            }
            else
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                await context.Response.WriteAsync("""{"apiVersion":"v1","kind":"Status","status":"Failure","reason":"NotFound","code":404}""");
            }
        }
    }
}
