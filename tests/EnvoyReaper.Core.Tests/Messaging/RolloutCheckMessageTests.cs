using System.Text.Json.Nodes;
using EnvoyReaper.Messaging;

namespace EnvoyReaper.Core.Tests.Messaging;

/// <summary>The "inject-rollout" message is read as strictly as the others: the version, every field, Kubernetes names.</summary>
public sealed class RolloutCheckMessageTests
{
    private static readonly RolloutCheckMessage Message = new(RolloutCheckMessage.CurrentVersion, "0b4c6a0f5d3e4f7a8b9c0d1e2f3a4b5c", "9f8e7d6c5b4a39281706f5e4d3c2b1a0", "previews", "web");

    [Fact]
    public void A_rollout_check_round_trips()
    {
        Assert.True(MessageReader.TryRead<RolloutCheckMessage>(ReaperJson.Serialize(Message), RolloutCheckMessage.CurrentVersion, out var read, out var error), error);
        Assert.Equal(Message, read);
    }

    [Theory]
    [InlineData("another version", "version", "2")]
    [InlineData("a namespace that is no DNS-1123 label", "namespace", "\"Bad_NS\"")]
    [InlineData("a deployment name with a slash", "deployment", "\"web/../x\"")]
    [InlineData("an operation id with a quote", "operationId", "\"a'b\"")]
    [InlineData("no operation id", "operationId", null)]
    public void A_rollout_check_that_cannot_be_trusted_is_rejected(string description, string field, string? value)
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

        Assert.False(MessageReader.TryRead<RolloutCheckMessage>(node.ToJsonString(), RolloutCheckMessage.CurrentVersion, out _, out var error), description);
        Assert.False(string.IsNullOrEmpty(error));
    }
}
