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

/// <summary>The "park" message names a snapshot, which becomes a blob name: only a snapshot of the named Deployment passes.</summary>
public sealed class ParkMessageTests
{
    private static readonly ParkMessage Message = new(ParkMessage.CurrentVersion, "0b4c6a0f5d3e4f7a8b9c0d1e2f3a4b5c", "previews", "web",
        "previews/web/20261125T120000.0000000Z-0c7d4e2a-5b1f-4c8e-9a3d-6f2b1e0d9c87.json", Hold: false);

    [Fact]
    public void A_park_message_round_trips()
    {
        Assert.True(MessageReader.TryRead<ParkMessage>(ReaperJson.Serialize(Message), ParkMessage.CurrentVersion, out var read, out var error), error);
        Assert.Equal(Message, read);
    }

    [Theory]
    [InlineData("a snapshot of another Deployment", "\"previews/other/20261125T120000.0000000Z-0c7d4e2a.json\"")]
    [InlineData("a snapshot path that climbs out", "\"previews/web/../../x/20261125T120000.0000000Z-u.json\"")]
    [InlineData("no snapshot name at all", "\"previews/web/\"")]
    public void A_park_message_naming_anything_but_a_snapshot_of_its_Deployment_is_rejected(string description, string snapshot)
    {
        var node = JsonNode.Parse(ReaperJson.Serialize(Message))!.AsObject();
        node["snapshot"] = JsonNode.Parse(snapshot);

        Assert.False(MessageReader.TryRead<ParkMessage>(node.ToJsonString(), ParkMessage.CurrentVersion, out _, out var error), description);
        Assert.Contains("snapshot", error);
    }
}
