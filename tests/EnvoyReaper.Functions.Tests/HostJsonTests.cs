using System.Text.Json.Nodes;

namespace EnvoyReaper.Functions.Tests;

public sealed class HostJsonTests
{
    [Fact]
    public void Host_json_is_copied_to_the_output_and_keeps_Base64_queue_messages()
    {
        // The app writes Base64 with QueueClient; the trigger must decode the same way, or every message is poisoned.
        var host = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "host.json")))!;
        Assert.Equal("2.0", host["version"]!.GetValue<string>());
        Assert.Equal("base64", host["extensions"]!["queues"]!["messageEncoding"]!.GetValue<string>());
        Assert.InRange(host["extensions"]!["queues"]!["maxDequeueCount"]!.GetValue<int>(), 1, 10);
    }
}
