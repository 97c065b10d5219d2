using System.Text.Json.Nodes;
using EnvoyReaper.Messaging;
using EnvoyReaper.Workloads;

namespace EnvoyReaper.Core.Tests.Messaging;

public sealed class MessageReaderTests
{
    private static readonly DateTimeOffset DueAt = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private static readonly WorkloadSettings FullSettings = new(
        2, TimeSpan.FromMinutes(15), ReaperAction.ScaleToZero, 15090, "/stats/prometheus",
        ["0.0.0.0_8080", "ingress_http"], "web-svc", "web-ing", TimeSpan.FromSeconds(30));

    /// <summary>What a label opt-in with no optional annotation produces: every optional field is null.</summary>
    private static readonly WorkloadSettings PlainSettings = new(
        1, TimeSpan.FromMinutes(10), ReaperAction.Delete, 15090, "/stats", null, null, null, null);

    /// <summary>Every field set, including the nullable ones.</summary>
    private static StatsCheckMessage FullStatsCheck() => new(
        StatsCheckMessage.CurrentVersion,
        "0f8e3c",
        DueAt,
        "team-a",
        "web",
        "dep-uid",
        DueAt.AddDays(-3),
        OptInSource.Monitor,
        "web-monitor",
        FullSettings,
        ["a leftover note"],
        [new PodTarget("web-5d8f-abcde", "pod-uid-1", "10.0.0.7", true), new PodTarget("web-5d8f-fghij", "pod-uid-2", "10.0.0.8", false)],
        1);

    /// <summary>The common case: a labelled Deployment (no monitor) with valid settings (no configuration errors).</summary>
    private static StatsCheckMessage LabelStatsCheck() => new(
        StatsCheckMessage.CurrentVersion,
        "1a2b3c",
        DueAt,
        "team-a",
        "web",
        "dep-uid",
        DueAt.AddDays(-3),
        OptInSource.Label,
        null,
        PlainSettings,
        null,
        [new PodTarget("web-5d8f-abcde", "pod-uid-1", "10.0.0.7", false)],
        0);

    /// <summary>An opt-in whose annotations could not be read: no settings, only the errors.</summary>
    private static StatsCheckMessage InvalidConfigurationStatsCheck() => LabelStatsCheck() with
    {
        Settings = null,
        ConfigurationErrors = ["envoy-reaper/min-connections: 'abc' is not an integer between 0 and 1000000"],
    };

    private static TeardownMessage FullTeardown() => new(
        TeardownMessage.CurrentVersion, "td-1", DueAt, "team-a", "web", "dep-uid", OptInSource.Monitor, "web-monitor", FullSettings, DueAt.AddMinutes(-15));

    private static TeardownMessage LabelTeardown() => new(
        TeardownMessage.CurrentVersion, "td-2", DueAt, "team-a", "web", "dep-uid", OptInSource.Label, null, PlainSettings, DueAt.AddMinutes(-15));

    private static T RoundTrip<T>(T message, int version)
        where T : class
    {
        var body = ReaperJson.Serialize(message);
        Assert.True(MessageReader.TryRead<T>(body, version, out var read, out var error), $"rejected: {error}\nbody: {body}");
        Assert.Null(error);
        return read;
    }

    private static void AssertSameSettings(WorkloadSettings? expected, WorkloadSettings? actual)
    {
        if (expected is null)
        {
            Assert.Null(actual);
            return;
        }

        Assert.NotNull(actual);
        Assert.Equal(expected with { Listeners = null }, actual with { Listeners = null });
        Assert.Equal(expected.Listeners, actual.Listeners);
    }

    private static void AssertSame(StatsCheckMessage expected, StatsCheckMessage actual)
    {
        Assert.Equal(expected.Version, actual.Version);
        Assert.Equal(expected.Id, actual.Id);
        Assert.Equal(expected.DueAt, actual.DueAt);
        Assert.Equal(expected.Namespace, actual.Namespace);
        Assert.Equal(expected.Deployment, actual.Deployment);
        Assert.Equal(expected.DeploymentUid, actual.DeploymentUid);
        Assert.Equal(expected.DeploymentCreatedAt, actual.DeploymentCreatedAt);
        Assert.Equal(expected.Source, actual.Source);
        Assert.Equal(expected.Monitor, actual.Monitor);
        AssertSameSettings(expected.Settings, actual.Settings);
        Assert.Equal(expected.ConfigurationErrors, actual.ConfigurationErrors);
        Assert.Equal(expected.Pods, actual.Pods);
        Assert.Equal(expected.NotReadyPods, actual.NotReadyPods);
    }

    private static void AssertSame(TeardownMessage expected, TeardownMessage actual)
    {
        Assert.Equal(expected with { Settings = PlainSettings }, actual with { Settings = PlainSettings });
        AssertSameSettings(expected.Settings, actual.Settings);
    }

    // ----- Round trips -----

    [Fact]
    public void A_fully_populated_stats_check_round_trips()
    {
        var message = FullStatsCheck();

        AssertSame(message, RoundTrip(message, StatsCheckMessage.CurrentVersion));
    }

    [Fact]
    public void A_label_opt_in_stats_check_without_monitor_or_configuration_errors_round_trips()
    {
        var message = LabelStatsCheck();

        AssertSame(message, RoundTrip(message, StatsCheckMessage.CurrentVersion));
    }

    [Fact]
    public void A_stats_check_for_an_invalid_configuration_round_trips_with_its_errors_and_no_settings()
    {
        var message = InvalidConfigurationStatsCheck();

        var read = RoundTrip(message, StatsCheckMessage.CurrentVersion);

        AssertSame(message, read);
        Assert.Null(read.Settings);
    }

    [Fact]
    public void A_fully_populated_teardown_round_trips()
    {
        var message = FullTeardown();

        AssertSame(message, RoundTrip(message, TeardownMessage.CurrentVersion));
    }

    [Fact]
    public void A_label_opt_in_teardown_without_monitor_round_trips()
    {
        var message = LabelTeardown();

        AssertSame(message, RoundTrip(message, TeardownMessage.CurrentVersion));
    }

    // ----- Rejections -----

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("not json at all")]
    [InlineData("{\"version\":1,")]
    [InlineData("[1,2,3]")]
    [InlineData("\"version\"")]
    [InlineData("null")]
    [InlineData("{}")]
    [InlineData("{\"version\":\"1\"}")]
    [InlineData("{\"version\":null}")]
    [InlineData("{\"version\":1}")]
    public void Bodies_that_are_not_a_message_are_rejected_with_a_reason(string? body)
    {
        Assert.False(MessageReader.TryRead<StatsCheckMessage>(body, StatsCheckMessage.CurrentVersion, out var message, out var error));
        Assert.Null(message);
        Assert.False(string.IsNullOrWhiteSpace(error));
    }

    public static TheoryData<string, string> BadStatsCheckMutations => new()
    {
        { "missing version", """{"remove":"version"}""" },
        { "version 2", """{"set":"version","value":2}""" },
        { "version 0", """{"set":"version","value":0}""" },
        { "version as string", """{"set":"version","value":"1"}""" },
        { "version 1.5", """{"set":"version","value":1.5}""" },
        { "unknown action", """{"set":"settings.action","value":"destroy"}""" },
        { "action as integer", """{"set":"settings.action","value":0}""" },
        { "unknown source", """{"set":"source","value":"annotation"}""" },
        { "null namespace", """{"set":"namespace","value":null}""" },
        { "missing namespace", """{"remove":"namespace"}""" },
        { "null deployment uid", """{"set":"deploymentUid","value":null}""" },
        { "missing deployment uid", """{"remove":"deploymentUid"}""" },
        { "missing due time", """{"remove":"dueAt"}""" },
        { "null pods", """{"set":"pods","value":null}""" },
        { "pods not a list", """{"set":"pods","value":{"ip":"10.0.0.7"}}""" },
        { "wrong idle timeout", """{"set":"settings.idleTimeout","value":"ten minutes"}""" },
        { "idle timeout as number", """{"set":"settings.idleTimeout","value":600}""" },
        { "min connections as text", """{"set":"settings.minConnections","value":"many"}""" },
        { "null stats path", """{"set":"settings.statsPath","value":null}""" },
        { "not ready pods as text", """{"set":"notReadyPods","value":"two"}""" },
    };

    [Theory]
    [MemberData(nameof(BadStatsCheckMutations))]
    public void A_stats_check_that_this_version_cannot_fully_understand_is_rejected(string description, string mutation)
    {
        var node = JsonNode.Parse(ReaperJson.Serialize(FullStatsCheck()))!.AsObject();
        Assert.True(MessageReader.TryRead<StatsCheckMessage>(node.ToJsonString(), StatsCheckMessage.CurrentVersion, out _, out _), "the unmutated message must be accepted");
        Apply(node, JsonNode.Parse(mutation)!.AsObject());

        var accepted = MessageReader.TryRead<StatsCheckMessage>(node.ToJsonString(), StatsCheckMessage.CurrentVersion, out var message, out var error);

        Assert.False(accepted, $"{description} was accepted: {node.ToJsonString()}");
        Assert.Null(message);
        Assert.False(string.IsNullOrWhiteSpace(error));
    }

    public static TheoryData<string, string> BadTeardownMutations => new()
    {
        { "missing version", """{"remove":"version"}""" },
        { "version 2", """{"set":"version","value":2}""" },
        { "unknown action", """{"set":"settings.action","value":"destroy"}""" },
        { "unknown source", """{"set":"source","value":"crd"}""" },
        { "null settings", """{"set":"settings","value":null}""" },
        { "missing settings", """{"remove":"settings"}""" },
        { "missing idle since", """{"remove":"idleSince"}""" },
        { "null deployment", """{"set":"deployment","value":null}""" },
        { "null deployment uid", """{"set":"deploymentUid","value":null}""" },
    };

    [Theory]
    [MemberData(nameof(BadTeardownMutations))]
    public void A_teardown_that_this_version_cannot_fully_understand_is_rejected(string description, string mutation)
    {
        var node = JsonNode.Parse(ReaperJson.Serialize(FullTeardown()))!.AsObject();
        Assert.True(MessageReader.TryRead<TeardownMessage>(node.ToJsonString(), TeardownMessage.CurrentVersion, out _, out _), "the unmutated message must be accepted");
        Apply(node, JsonNode.Parse(mutation)!.AsObject());

        var accepted = MessageReader.TryRead<TeardownMessage>(node.ToJsonString(), TeardownMessage.CurrentVersion, out var message, out var error);

        Assert.False(accepted, $"{description} was accepted: {node.ToJsonString()}");
        Assert.Null(message);
        Assert.False(string.IsNullOrWhiteSpace(error));
    }

    [Fact]
    public void A_stats_check_is_not_accepted_as_a_teardown()
    {
        var body = ReaperJson.Serialize(FullStatsCheck());

        Assert.False(MessageReader.TryRead<TeardownMessage>(body, TeardownMessage.CurrentVersion, out _, out var error));
        Assert.False(string.IsNullOrWhiteSpace(error));
    }

    [Fact]
    public void The_rejection_reason_names_an_unsupported_version()
    {
        var node = JsonNode.Parse(ReaperJson.Serialize(FullStatsCheck()))!.AsObject();
        node["version"] = 7;

        Assert.False(MessageReader.TryRead<StatsCheckMessage>(node.ToJsonString(), StatsCheckMessage.CurrentVersion, out _, out var error));
        Assert.Contains("7", error, StringComparison.Ordinal);
    }

    /// <summary>{"remove":"a.b"} or {"set":"a.b","value":...} on a message's JSON.</summary>
    private static void Apply(JsonObject message, JsonObject mutation)
    {
        var path = (mutation["remove"] ?? mutation["set"])!.GetValue<string>().Split('.');
        var parent = message;
        foreach (var segment in path[..^1])
        {
            parent = parent[segment]!.AsObject();
        }

        if (mutation.ContainsKey("remove"))
        {
            Assert.True(parent.Remove(path[^1]), $"no field {path[^1]} to remove");
        }
        else
        {
            Assert.True(parent.ContainsKey(path[^1]), $"no field {path[^1]} to set");
            parent[path[^1]] = mutation["value"]?.DeepClone();
        }
    }
}
