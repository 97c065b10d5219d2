using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Abstractions;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace EnvoyReaper.Functions.Tests.Support;

public sealed record HttpResult(int Status, JsonNode Body, string? ContentType)
{
    public string? Location { get; init; }
}

/// <summary>Runs an HTTP function's IActionResult through ASP.NET Core's executors, so tests see what a client sees.</summary>
public static class HttpResults
{
    private static readonly IServiceProvider Mvc = new ServiceCollection().AddLogging().AddMvcCore().Services.BuildServiceProvider();

    public static DefaultHttpContext Request(string method, string? json = null, string query = "", IServiceProvider? services = null)
    {
        var context = new DefaultHttpContext { RequestServices = services ?? Mvc };
        context.Request.Method = method;
        context.Request.QueryString = new QueryString(query);
        if (json is not null)
        {
            context.Request.Body = new MemoryStream(Encoding.UTF8.GetBytes(json));
            context.Request.ContentType = "application/json";
        }

        return context;
    }

    public static async Task<HttpResult> ExecuteAsync(DefaultHttpContext context, IActionResult result)
    {
        var body = new MemoryStream();
        context.Response.Body = body;
        await result.ExecuteResultAsync(new ActionContext(context, new RouteData(), new ActionDescriptor()));
        var text = Encoding.UTF8.GetString(body.ToArray());
        Assert.DoesNotContain("   at ", text); // never a stack trace
        return new HttpResult(context.Response.StatusCode, JsonNode.Parse(text)!, context.Response.ContentType)
        {
            Location = context.Response.Headers.Location.ToString() is { Length: > 0 } location ? location : null,
        };
    }
}
