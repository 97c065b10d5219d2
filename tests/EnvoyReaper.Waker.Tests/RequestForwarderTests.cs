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
}
