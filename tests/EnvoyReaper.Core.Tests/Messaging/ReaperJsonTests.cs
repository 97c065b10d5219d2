using System.Text.Json;
using System.Text.Json.Nodes;
using EnvoyReaper.Messaging;
using EnvoyReaper.Workloads;

namespace EnvoyReaper.Core.Tests.Messaging;

public sealed class ReaperJsonTests
{
    [Theory]
    [InlineData(ReaperAction.Delete, "delete")]
    [InlineData(ReaperAction.ScaleToZero, "scale-to-zero")]
    [InlineData(ReaperAction.Observe, "observe")]
    public void Actions_serialize_as_their_contract_names(ReaperAction action, string expected)
    {
        Assert.Equal($"\"{expected}\"", ReaperJson.Serialize(action));
        Assert.Equal(expected, action.ToContractName());
        Assert.Equal(action, JsonSerializer.Deserialize<ReaperAction>($"\"{expected}\"", ReaperJson.Options));
    }

    [Theory]
    [InlineData(OptInSource.Label, "label")]
    [InlineData(OptInSource.Monitor, "monitor")]
    public void Opt_in_sources_serialize_as_lower_case_names(OptInSource source, string expected)
    {
        Assert.Equal($"\"{expected}\"", ReaperJson.Serialize(source));
        Assert.Equal(source, JsonSerializer.Deserialize<OptInSource>($"\"{expected}\"", ReaperJson.Options));
    }

    [Theory]
    [InlineData("\"destroy\"")]
    [InlineData("0")]
    [InlineData("2")]
    [InlineData("null")]
    public void Unknown_or_integer_action_values_do_not_deserialize(string json)
    {
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<ReaperAction>(json, ReaperJson.Options));
    }

    [Fact]
    public void A_message_is_written_with_camel_case_fields_and_contract_enum_names()
    {
        var message = new TeardownMessage(
            TeardownMessage.CurrentVersion,
            "td-1",
            new DateTimeOffset(2025, 3, 1, 12, 0, 0, TimeSpan.Zero),
            "team-a",
            "web",
            "dep-uid",
            OptInSource.Monitor,
            "web-monitor",
            new WorkloadSettings(1, TimeSpan.FromMinutes(10), ReaperAction.ScaleToZero, 15090, "/stats", ["0.0.0.0_8080"], "web", "web", TimeSpan.FromMinutes(1)),
            new DateTimeOffset(2025, 3, 1, 11, 45, 0, TimeSpan.Zero));

        var json = JsonNode.Parse(ReaperJson.Serialize(message))!;

        Assert.Equal(1, json["version"]!.GetValue<int>());
        Assert.Equal("monitor", json["source"]!.GetValue<string>());
        Assert.Equal("scale-to-zero", json["settings"]!["action"]!.GetValue<string>());
        Assert.Equal("dep-uid", json["deploymentUid"]!.GetValue<string>());
    }
}
