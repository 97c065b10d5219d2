using System.Text.Json.Nodes;
using EnvoyReaper.Messaging;
using EnvoyReaper.Waking;

namespace EnvoyReaper.Core.Tests.Waking;

/// <summary>The "wake" message comes from the waker, a component anyone in the cluster can reach: read as strictly as the others.</summary>
public sealed class WakeMessageTests
{
    private static readonly WakeMessage Message = new(WakeMessage.CurrentVersion, "0b4c6a0f5d3e4f7a8b9c0d1e2f3a4b5c", new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero), "previews", "web");

    [Fact]
    public void A_wake_message_round_trips()
    {
        Assert.True(MessageReader.TryRead<WakeMessage>(ReaperJson.Serialize(Message), WakeMessage.CurrentVersion, out var read, out var error), error);
        Assert.Equal(Message, read);
    }

    [Theory]
    [InlineData("another version", "version", "2")]
    [InlineData("a namespace that is no DNS-1123 label", "namespace", "\"Bad_NS\"")]
    [InlineData("a Service name with a dot (not a DNS-1035 label)", "service", "\"web.x\"")]
    [InlineData("a Service name with a slash", "service", "\"web/../x\"")]
    [InlineData("an id with a quote", "id", "\"a'b\"")]
    [InlineData("no first-request time", "firstRequestAt", null)]
    [InlineData("no Service", "service", null)]
    public void A_wake_message_that_cannot_be_trusted_is_rejected(string description, string field, string? value)
    {
        var node = JsonNode.Parse(ReaperJson.Serialize(Message))!.AsObject();
        if (value is null)
        {
            node.Remove(field);
        }
        else
        {
            node[field] = JsonNode.Parse(value);
        }

        Assert.False(MessageReader.TryRead<WakeMessage>(node.ToJsonString(), WakeMessage.CurrentVersion, out _, out var error), description);
        Assert.False(string.IsNullOrEmpty(error));
    }
}
