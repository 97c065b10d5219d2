using System.Text.Json.Nodes;
using EnvoyReaper.Cluster;
using EnvoyReaper.Workloads;

namespace EnvoyReaper.Core.Tests.Workloads;

public sealed class WorkloadSettingsParserTests
{
    private static readonly ReaperOptions Defaults = new()
    {
        DefaultMinConnections = 2,
        DefaultIdleTimeout = TimeSpan.FromMinutes(30),
        DefaultAction = ReaperAction.ScaleToZero,
        DefaultStatsPort = 15000,
        DefaultStatsPath = "/stats?format=json",
    };

    private readonly WorkloadSettingsParser parser = new(Defaults);

    private static Dictionary<string, string> Annotations(params (string Key, string Value)[] pairs) =>
        pairs.ToDictionary(pair => pair.Key, pair => pair.Value);

    private static MonitorInfo Monitor(
        string? deploymentName = "web",
        string? targetNamespace = null,
        string? serviceName = null,
        string? ingressName = null,
        string? checkInterval = null,
        JsonNode? minConnections = null,
        string? idleTimeout = null,
        string? action = null,
        JsonNode? statsPort = null,
        string? statsPath = null,
        JsonNode? listeners = null) =>
        new("team-a", "web-monitor", "mon-uid", deploymentName, targetNamespace, serviceName, ingressName, checkInterval,
            minConnections, idleTimeout, action, statsPort, statsPath, listeners);

    // ----- Annotations -----

    [Fact]
    public void No_annotations_take_every_default_from_the_options()
    {
        var result = parser.FromAnnotations(Annotations());

        Assert.True(result.IsValid);
        Assert.Empty(result.Errors);
        var settings = result.Settings!;
        Assert.Equal(2, settings.MinConnections);
        Assert.Equal(TimeSpan.FromMinutes(30), settings.IdleTimeout);
        Assert.Equal(ReaperAction.ScaleToZero, settings.Action);
        Assert.Equal(15000, settings.StatsPort);
        Assert.Equal("/stats?format=json", settings.StatsPath);
        Assert.Null(settings.Listeners);
        Assert.Null(settings.ServiceName);
        Assert.Null(settings.IngressName);
        Assert.Null(settings.CheckInterval);
    }

    [Fact]
    public void Every_annotation_is_read()
    {
        var result = parser.FromAnnotations(Annotations(
            ("envoy-reaper/min-connections", "5"),
            ("envoy-reaper/idle-timeout", "1h30m"),
            ("envoy-reaper/action", "observe"),
            ("envoy-reaper/stats-port", "9901"),
            ("envoy-reaper/stats-path", "/stats/prometheus"),
            ("envoy-reaper/listeners", "0.0.0.0_8080, ingress_http"),
            ("envoy-reaper/service", "web-svc"),
            ("envoy-reaper/ingress", "web.example"),
            ("envoy-reaper/check-interval", "30s")));

        Assert.Empty(result.Errors);
        var settings = Assert.IsType<WorkloadSettings>(result.Settings);
        Assert.Equal(5, settings.MinConnections);
        Assert.Equal(TimeSpan.FromMinutes(90), settings.IdleTimeout);
        Assert.Equal(ReaperAction.Observe, settings.Action);
        Assert.Equal(9901, settings.StatsPort);
        Assert.Equal("/stats/prometheus", settings.StatsPath);
        Assert.Equal(new[] { "0.0.0.0_8080", "ingress_http" }, settings.Listeners!);
        Assert.Equal("web-svc", settings.ServiceName);
        Assert.Equal("web.example", settings.IngressName);
        Assert.Equal(TimeSpan.FromSeconds(30), settings.CheckInterval);
    }

    [Theory]
    [InlineData("delete", ReaperAction.Delete)]
    [InlineData("scale-to-zero", ReaperAction.ScaleToZero)]
    [InlineData("observe", ReaperAction.Observe)]
    public void Action_annotation_accepts_the_three_contract_values(string value, ReaperAction expected)
    {
        var result = parser.FromAnnotations(Annotations(("envoy-reaper/action", value)));

        Assert.Equal(expected, result.Settings!.Action);
    }

    [Theory]
    [InlineData("10m", 600_000)]
    [InlineData("1h30m", 5_400_000)]
    [InlineData("45s", 45_000)]
    public void Idle_timeout_annotation_takes_go_durations(string value, long expectedMilliseconds)
    {
        var result = parser.FromAnnotations(Annotations(("envoy-reaper/idle-timeout", value)));

        Assert.Equal(TimeSpan.FromMilliseconds(expectedMilliseconds), result.Settings!.IdleTimeout);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("1000000")]
    public void Min_connections_accepts_its_range_bounds(string value)
    {
        var result = parser.FromAnnotations(Annotations(("envoy-reaper/min-connections", value)));

        Assert.True(result.IsValid);
        Assert.Equal(int.Parse(value, System.Globalization.CultureInfo.InvariantCulture), result.Settings!.MinConnections);
    }

    [Theory]
    [InlineData("envoy-reaper/min-connections", "abc")]
    [InlineData("envoy-reaper/min-connections", "-1")]
    [InlineData("envoy-reaper/min-connections", "1.5")]
    [InlineData("envoy-reaper/min-connections", "")]
    [InlineData("envoy-reaper/min-connections", "1000001")]
    [InlineData("envoy-reaper/idle-timeout", "ten minutes")]
    [InlineData("envoy-reaper/idle-timeout", "10")]
    [InlineData("envoy-reaper/idle-timeout", "-5m")]
    [InlineData("envoy-reaper/idle-timeout", "10 m")]
    [InlineData("envoy-reaper/idle-timeout", "0")]
    [InlineData("envoy-reaper/idle-timeout", "0s")]
    [InlineData("envoy-reaper/action", "destroy")]
    [InlineData("envoy-reaper/action", "")]
    [InlineData("envoy-reaper/stats-port", "70000")]
    [InlineData("envoy-reaper/stats-port", "0")]
    [InlineData("envoy-reaper/stats-port", "http")]
    [InlineData("envoy-reaper/stats-path", "stats")]
    [InlineData("envoy-reaper/stats-path", "http://evil.example/stats")]
    [InlineData("envoy-reaper/listeners", "")]
    [InlineData("envoy-reaper/listeners", "0.0.0.0_8080,bad listener")]
    [InlineData("envoy-reaper/service", "Bad_Name")]
    [InlineData("envoy-reaper/ingress", "-web")]
    [InlineData("envoy-reaper/check-interval", "often")]
    [InlineData("envoy-reaper/check-interval", "500ms")]
    public void A_bad_annotation_value_is_an_error_naming_the_annotation_and_yields_no_settings(string annotation, string value)
    {
        var result = parser.FromAnnotations(Annotations((annotation, value)));

        Assert.False(result.IsValid);
        Assert.Null(result.Settings);
        Assert.Contains(result.Errors, error => error.Contains(annotation, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("1s")]
    [InlineData("9s")]
    [InlineData("9.999s")]
    public void A_check_interval_below_the_floor_is_an_error_naming_the_floor_and_its_setting(string value)
    {
        var annotated = parser.FromAnnotations(Annotations(("envoy-reaper/check-interval", value)));
        var monitored = parser.FromMonitor(Monitor(checkInterval: value));

        Assert.Null(annotated.Settings);
        Assert.Null(monitored.Settings);
        var annotationError = Assert.Single(annotated.Errors);
        var monitorError = Assert.Single(monitored.Errors);
        Assert.Contains("envoy-reaper/check-interval", annotationError, StringComparison.Ordinal);
        Assert.Contains("spec.checkInterval", monitorError, StringComparison.Ordinal);
        Assert.All(new[] { annotationError, monitorError }, error =>
        {
            Assert.Contains("10s", error, StringComparison.Ordinal);
            Assert.Contains("Reaper:MinCheckInterval", error, StringComparison.Ordinal);
        });
    }

    [Fact]
    public void A_check_interval_at_the_floor_is_accepted()
    {
        Assert.Equal(TimeSpan.FromSeconds(10), parser.FromAnnotations(Annotations(("envoy-reaper/check-interval", "10s"))).Settings!.CheckInterval);
        Assert.Equal(TimeSpan.FromSeconds(10), parser.FromMonitor(Monitor(checkInterval: "10s")).Settings!.CheckInterval);
    }

    [Fact]
    public void The_check_interval_floor_follows_the_setting()
    {
        var strict = new WorkloadSettingsParser(new ReaperOptions { MinCheckInterval = TimeSpan.FromMinutes(1) });

        var result = strict.FromAnnotations(Annotations(("envoy-reaper/check-interval", "30s")));

        Assert.Null(result.Settings);
        Assert.Contains("1m", Assert.Single(result.Errors), StringComparison.Ordinal);
        Assert.Equal(TimeSpan.FromMinutes(1), strict.FromAnnotations(Annotations(("envoy-reaper/check-interval", "1m"))).Settings!.CheckInterval);
    }

    [Theory]
    [InlineData("00:00:00")]
    [InlineData("-00:00:10")]
    [InlineData("00:00:00.5")]
    public void A_check_interval_floor_under_one_second_is_refused_at_start(string value)
    {
        var options = new ReaperOptions { MinCheckInterval = TimeSpan.Parse(value, System.Globalization.CultureInfo.InvariantCulture) };

        var errors = options.Validate(new System.ComponentModel.DataAnnotations.ValidationContext(options)).ToList();

        Assert.Contains(errors, error => error.ErrorMessage!.Contains("Reaper:MinCheckInterval", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("/stats?format=json")]
    [InlineData("/stats#x")]
    [InlineData("/stats/pro metheus")]
    [InlineData("stats")]
    public void A_default_stats_path_that_a_check_message_could_not_carry_is_refused_at_start(string path)
    {
        var options = new ReaperOptions { DefaultStatsPath = path };

        var errors = options.Validate(new System.ComponentModel.DataAnnotations.ValidationContext(options)).ToList();

        Assert.Contains(errors, error => error.ErrorMessage!.Contains("Reaper:DefaultStatsPath", StringComparison.Ordinal));
    }

    [Fact]
    public void The_default_check_interval_floor_is_ten_seconds_and_valid()
    {
        var options = new ReaperOptions();

        Assert.Equal(TimeSpan.FromSeconds(10), options.MinCheckInterval);
        Assert.Empty(options.Validate(new System.ComponentModel.DataAnnotations.ValidationContext(options)));
    }

    [Fact]
    public void Several_bad_annotations_are_all_reported()
    {
        var result = parser.FromAnnotations(Annotations(
            ("envoy-reaper/min-connections", "abc"),
            ("envoy-reaper/action", "destroy"),
            ("envoy-reaper/stats-port", "70000")));

        Assert.Null(result.Settings);
        Assert.Contains(result.Errors, error => error.Contains("envoy-reaper/min-connections", StringComparison.Ordinal));
        Assert.Contains(result.Errors, error => error.Contains("envoy-reaper/action", StringComparison.Ordinal));
        Assert.Contains(result.Errors, error => error.Contains("envoy-reaper/stats-port", StringComparison.Ordinal));
    }

    [Fact]
    public void Annotations_outside_the_contract_are_ignored()
    {
        var result = parser.FromAnnotations(Annotations(
            ("deployment.kubernetes.io/revision", "7"),
            ("envoy-reaper/enabled", "true")));

        Assert.True(result.IsValid);
    }

    // ----- EnvoyMonitor spec -----

    [Fact]
    public void Monitor_with_only_a_deployment_name_takes_every_default()
    {
        var result = parser.FromMonitor(Monitor());

        Assert.Empty(result.Errors);
        var settings = result.Settings!;
        Assert.Equal(2, settings.MinConnections);
        Assert.Equal(TimeSpan.FromMinutes(30), settings.IdleTimeout);
        Assert.Equal(ReaperAction.ScaleToZero, settings.Action);
        Assert.Equal(15000, settings.StatsPort);
        Assert.Equal("/stats?format=json", settings.StatsPath);
    }

    [Fact]
    public void Monitor_spec_fields_are_read()
    {
        var result = parser.FromMonitor(Monitor(
            targetNamespace: "team-b",
            serviceName: "web-svc",
            ingressName: "web-ing",
            checkInterval: "2m",
            minConnections: JsonValue.Create(4),
            idleTimeout: "45m",
            action: "delete",
            statsPort: JsonValue.Create(9901),
            statsPath: "/stats/prometheus",
            listeners: new JsonArray("0.0.0.0_8080", "0.0.0.0_9443")));

        Assert.Empty(result.Errors);
        var settings = result.Settings!;
        Assert.Equal(4, settings.MinConnections);
        Assert.Equal(TimeSpan.FromMinutes(45), settings.IdleTimeout);
        Assert.Equal(ReaperAction.Delete, settings.Action);
        Assert.Equal(9901, settings.StatsPort);
        Assert.Equal("/stats/prometheus", settings.StatsPath);
        Assert.Equal(new[] { "0.0.0.0_8080", "0.0.0.0_9443" }, settings.Listeners!);
        Assert.Equal("web-svc", settings.ServiceName);
        Assert.Equal("web-ing", settings.IngressName);
        Assert.Equal(TimeSpan.FromMinutes(2), settings.CheckInterval);
    }

    [Fact]
    public void Monitor_min_connections_may_be_a_json_number_or_a_string()
    {
        Assert.Equal(3, parser.FromMonitor(Monitor(minConnections: JsonValue.Create(3))).Settings!.MinConnections);
        Assert.Equal(3, parser.FromMonitor(Monitor(minConnections: JsonValue.Create("3"))).Settings!.MinConnections);
        Assert.Equal(3, parser.FromMonitor(Monitor(minConnections: JsonNode.Parse("3"))).Settings!.MinConnections);
        Assert.Equal(3, parser.FromMonitor(Monitor(minConnections: JsonNode.Parse("\"3\""))).Settings!.MinConnections);
    }

    [Fact]
    public void Monitor_stats_port_may_be_a_json_number_or_a_string()
    {
        Assert.Equal(9901, parser.FromMonitor(Monitor(statsPort: JsonNode.Parse("9901"))).Settings!.StatsPort);
        Assert.Equal(9901, parser.FromMonitor(Monitor(statsPort: JsonValue.Create("9901"))).Settings!.StatsPort);
    }

    [Fact]
    public void Monitor_listeners_may_be_a_comma_separated_string()
    {
        var result = parser.FromMonitor(Monitor(listeners: JsonValue.Create("0.0.0.0_8080,0.0.0.0_9443")));

        Assert.Equal(new[] { "0.0.0.0_8080", "0.0.0.0_9443" }, result.Settings!.Listeners!);
    }

    public static TheoryData<string, string> BadMonitorNumbers => new()
    {
        { "-1", "spec.minConnections" },
        { "\"abc\"", "spec.minConnections" },
        { "1.5", "spec.minConnections" },
        { "true", "spec.minConnections" },
        { "[1]", "spec.minConnections" },
        { "{\"value\":1}", "spec.minConnections" },
        { "9999999999", "spec.minConnections" },
    };

    [Theory]
    [MemberData(nameof(BadMonitorNumbers))]
    public void Monitor_min_connections_that_is_not_a_valid_integer_is_an_error(string json, string field)
    {
        var result = parser.FromMonitor(Monitor(minConnections: JsonNode.Parse(json)));

        Assert.Null(result.Settings);
        Assert.Contains(result.Errors, error => error.Contains(field, StringComparison.Ordinal));
    }

    [Fact]
    public void Monitor_missing_deployment_name_is_an_error()
    {
        var result = parser.FromMonitor(Monitor(deploymentName: null));

        Assert.Null(result.Settings);
        Assert.Contains(result.Errors, error => error.Contains("deploymentName", StringComparison.Ordinal));
    }

    [Fact]
    public void Monitor_empty_deployment_name_is_an_error()
    {
        var result = parser.FromMonitor(Monitor(deploymentName: ""));

        Assert.Null(result.Settings);
        Assert.Contains(result.Errors, error => error.Contains("deploymentName", StringComparison.Ordinal));
    }

    [Fact]
    public void A_dotted_Service_name_is_a_configuration_error_not_settings_whose_check_message_is_refused()
    {
        // A Service name is a DNS label (no dots); the stats-check message reader refuses anything else, so settings
        // holding one would send a message that is poisoned every cycle, with no InvalidConfiguration Event for the owner.
        var annotated = parser.FromAnnotations(Annotations(("envoy-reaper/service", "web.v2")));
        var monitored = parser.FromMonitor(Monitor(serviceName: "web.v2"));

        Assert.Null(annotated.Settings);
        Assert.Contains(annotated.Errors, error => error.Contains("envoy-reaper/service", StringComparison.Ordinal));
        Assert.Null(monitored.Settings);
        Assert.Contains(monitored.Errors, error => error.Contains("spec.serviceName", StringComparison.Ordinal));
    }

    public static TheoryData<MonitorInfo, string> BadMonitors => new()
    {
        { Monitor(deploymentName: "Web_App"), "spec.deploymentName" },
        { Monitor(targetNamespace: "Team_B"), "spec.namespace" },
        { Monitor(idleTimeout: "ten minutes"), "spec.idleTimeout" },
        { Monitor(idleTimeout: "0s"), "spec.idleTimeout" },
        { Monitor(action: "destroy"), "spec.action" },
        { Monitor(statsPort: JsonValue.Create(70000)), "spec.statsPort" },
        { Monitor(statsPort: JsonValue.Create("70000")), "spec.statsPort" },
        { Monitor(statsPath: "stats"), "spec.statsPath" },
        { Monitor(serviceName: "Bad_Name"), "spec.serviceName" },
        { Monitor(ingressName: "Bad_Name"), "spec.ingressName" },
        { Monitor(checkInterval: "whenever"), "spec.checkInterval" },
        { Monitor(checkInterval: "100ms"), "spec.checkInterval" },
        { Monitor(listeners: JsonValue.Create(5)), "spec.listeners" },
        { Monitor(listeners: new JsonArray("0.0.0.0_8080", 7)), "spec.listeners" },
        { Monitor(listeners: new JsonArray()), "spec.listeners" },
    };

    [Theory]
    [MemberData(nameof(BadMonitors))]
    public void A_bad_monitor_field_is_an_error_naming_the_field_and_yields_no_settings(MonitorInfo monitor, string field)
    {
        var result = parser.FromMonitor(monitor);

        Assert.False(result.IsValid);
        Assert.Null(result.Settings);
        Assert.Contains(result.Errors, error => error.Contains(field, StringComparison.Ordinal));
    }

    // ----- Wake on traffic (issue 13) -----

    [Fact]
    public void Wake_is_off_unless_opted_in_and_old_settings_without_it_still_read()
    {
        var result = parser.FromAnnotations(Annotations());
        Assert.False(result.Settings!.Wake);
        Assert.False(result.Settings.WakeHold);

        var old = EnvoyReaper.Messaging.MessageReader.TryRead<EnvoyReaper.Messaging.TeardownMessage>(
            """{"version":1,"id":"m1","requestedAt":"2026-01-01T00:00:00Z","namespace":"a","deployment":"web","deploymentUid":"u1","source":"label","monitor":null,"settings":{"minConnections":1,"idleTimeout":"00:10:00","action":"delete","statsPort":15090,"statsPath":"/stats","listeners":null,"serviceName":null,"ingressName":null,"checkInterval":null},"idleSince":"2026-01-01T00:00:00Z"}""",
            1, out var message, out var error);
        Assert.True(old, error);
        Assert.False(message!.Settings.Wake);
    }

    [Fact]
    public void Wake_and_wake_hold_annotations_are_read()
    {
        var result = parser.FromAnnotations(Annotations(("envoy-reaper/wake", "true"), ("envoy-reaper/wake-hold", "true")));
        Assert.True(result.Settings!.Wake);
        Assert.True(result.Settings.WakeHold);
    }

    [Theory]
    [InlineData("envoy-reaper/wake", "yes")]
    [InlineData("envoy-reaper/wake-hold", "1")]
    public void A_wake_annotation_that_is_not_a_boolean_is_an_error(string annotation, string value)
    {
        var result = parser.FromAnnotations(Annotations((annotation, value)));
        Assert.Null(result.Settings);
        Assert.Contains(result.Errors, error => error.Contains(annotation, StringComparison.Ordinal));
    }

    [Fact]
    public void Spec_wake_and_wakeHold_are_read_from_the_monitor()
    {
        var result = parser.FromMonitor(Monitor() with { Wake = JsonValue.Create(true), WakeHold = JsonValue.Create(false) });
        Assert.True(result.Settings!.Wake);
        Assert.False(result.Settings.WakeHold);

        var bad = parser.FromMonitor(Monitor() with { Wake = JsonValue.Create("true") });
        Assert.Contains(bad.Errors, error => error.Contains("spec.wake", StringComparison.Ordinal));
    }
}
