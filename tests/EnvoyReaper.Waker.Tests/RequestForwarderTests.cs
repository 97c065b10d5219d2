using EnvoyReaper.Waking;

namespace EnvoyReaper.Waker.Tests;

/// <summary>Whatever the request's target, the forward goes to the parked Service's own name, namespace and port.</summary>
public sealed class RequestForwarderTests
{
    private static readonly ParkedRoute Route = new(new ParkedWorkload("shop", "web", "web", "2026-12-03T05:00:00Z", true, [new ParkedPort(8080, "http", 20000)]), new ParkedPort(8080, "http", 20000));

    [Fact]
    public void The_authority_is_built_from_the_parked_Service_only()
    {
        Assert.Equal("http://web.shop.svc:8080/", RequestForwarder.ServiceAuthority(Route, "svc").ToString());
        Assert.Equal("http://web.shop.svc.cluster.local:8080/", RequestForwarder.ServiceAuthority(Route, "svc.cluster.local").ToString());
    }

    [Theory]
    [InlineData("/cart?item=7", "http://web.shop.svc:8080/cart?item=7")]
    [InlineData("//evil.example.com/x", "http://web.shop.svc:8080//evil.example.com/x")]
    [InlineData("/@evil.example.com/x", "http://web.shop.svc:8080/@evil.example.com/x")]
    [InlineData("/%2F%2Fevil.example.com", "http://web.shop.svc:8080/%2F%2Fevil.example.com")]
    public void The_request_target_only_ever_adds_a_path_and_query(string pathAndQuery, string expected)
    {
        var target = RequestForwarder.Target(RequestForwarder.ServiceAuthority(Route, "svc"), pathAndQuery);

        Assert.Equal(expected, target!.OriginalString);
        Assert.Equal(("web.shop.svc", 8080), (target.Host, target.Port));
    }

    [Theory]
    [InlineData("http://evil.example.com/x")]
    [InlineData("evil.example.com:80")]
    [InlineData("*")]
    public void A_target_that_is_not_a_path_is_refused(string pathAndQuery) =>
        Assert.Null(RequestForwarder.Target(RequestForwarder.ServiceAuthority(Route, "svc"), pathAndQuery));

    [Fact]
    public async Task Headers_the_client_names_in_Connection_are_hop_by_hop_and_not_forwarded()
    {
        // RFC 9110 7.6.1: a proxy removes every field the Connection header lists, as well as Connection itself.
        var capture = new CapturingHandler();
        var forwarder = new RequestForwarder(new SingleClientFactory(capture), Microsoft.Extensions.Options.Options.Create(new WakerOptions()));
        var context = new Microsoft.AspNetCore.Http.DefaultHttpContext();
        context.Request.Method = "GET";
        context.Request.Path = "/cart";
        context.Request.Host = new Microsoft.AspNetCore.Http.HostString("shop.example.com");
        context.Request.Headers.Connection = "keep-alive, X-Hop-Secret";
        context.Request.Headers["X-Hop-Secret"] = "for the waker only";
        context.Request.Headers["X-End-To-End"] = "kept";
        context.Response.Body = new MemoryStream();

        await forwarder.ForwardAsync(context, Route, CancellationToken.None);

        var sent = Assert.Single(capture.Requests);
        Assert.Equal("http://web.shop.svc:8080/cart", sent.RequestUri!.ToString());
        Assert.True(sent.Headers.Contains("X-End-To-End"));
        Assert.False(sent.Headers.Contains("X-Hop-Secret"));
        Assert.False(sent.Headers.Contains("Connection") && sent.Headers.Connection.Contains("X-Hop-Secret"));
    }

    private sealed class CapturingHandler : HttpMessageHandler
    {
        public List<HttpRequestMessage> Requests { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Requests.Add(request);
            return Task.FromResult(new HttpResponseMessage(System.Net.HttpStatusCode.OK) { Content = new StringContent("ok") });
        }
    }

    private sealed class SingleClientFactory(HttpMessageHandler handler) : IHttpClientFactory
    {
        public HttpClient CreateClient(string name) => new(handler, disposeHandler: false);
    }
}
