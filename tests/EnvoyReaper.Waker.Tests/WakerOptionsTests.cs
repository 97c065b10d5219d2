using Microsoft.Extensions.Options;

namespace EnvoyReaper.Waker.Tests;

/// <summary>Settings that cannot work stop the waker at start, naming the setting.</summary>
public sealed class WakerOptionsTests
{
    private static Dictionary<string, string?> Valid() => new()
    {
        ["Kubernetes:Mode"] = "AksEntra",
        ["Kubernetes:Server"] = "https://cluster.hcp.westeurope.azmk8s.io:443",
        ["Waker:QueueConnection"] = "UseDevelopmentStorage=true",
        ["Waker:HealthPort"] = "0",
    };

    [Theory]
    [InlineData("Waker:QueueConnection", null, "Waker:QueueConnection")]
    [InlineData("Waker:HealthPort", "20005", "Waker:HealthPort")]
    [InlineData("Waker:PortRangeStart", "30000", "Waker:PortRangeStart")]
    [InlineData("Waker:ServiceDnsSuffix", "evil.example.com:80/", "Waker:ServiceDnsSuffix")]
    [InlineData("Waker:ListenAddress", "everywhere", "Waker:ListenAddress")]
    [InlineData("Waker:HoldTimeout", "01:00:00", "Waker:HoldTimeout")]
    [InlineData("Waker:WatchNamespaces:0", "Team_A", "Waker:WatchNamespaces")]
    [InlineData("Kubernetes:Mode", null, "Kubernetes:Mode")]
    public async Task An_unusable_setting_stops_the_waker_at_start_naming_it(string key, string? value, string named)
    {
        var settings = Valid();
        settings[key] = value;
        await using var app = WakerApplication.Build([], settings);

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync(timeout.Token));
        Assert.Contains(named, exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_defaults_match_the_reapers_waker_port_range_and_keep_the_health_port_outside_it()
    {
        var options = new WakerOptions();

        Assert.Equal((20000, 20999), (options.PortRangeStart, options.PortRangeEnd));
        Assert.False(options.IsWakerPort(options.HealthPort));
        Assert.Equal(TimeSpan.FromSeconds(5), options.RefreshInterval);
        Assert.Equal("svc", options.ServiceDnsSuffix);
    }
}

/// <summary>Every waker setting is in README.md's waker settings table, and the table names no setting that does not exist.</summary>
public sealed partial class WakerSettingsDocumentationTests
{
    [Fact]
    public void Every_waker_setting_is_documented_in_the_README_and_every_documented_one_exists()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Functions.sln")))
        {
            root = root.Parent;
        }

        var readme = File.ReadAllText(Path.Combine(root!.FullName, "README.md"));
        var start = readme.IndexOf("| waker setting |", StringComparison.Ordinal);
        Assert.True(start >= 0, "README.md has no waker settings table");
        var table = string.Join('\n', readme[start..].Split('\n').TakeWhile(line => line.StartsWith('|')));
        var documented = WakerSetting().Matches(table).Select(match => match.Groups["name"].Value).ToHashSet(StringComparer.Ordinal);
        var settings = typeof(WakerOptions).GetProperties().Where(property => property.CanWrite).Select(property => property.Name).ToHashSet(StringComparer.Ordinal);

        Assert.Empty(settings.Except(documented));
        Assert.Empty(documented.Except(settings));
    }

    [System.Text.RegularExpressions.GeneratedRegex("`Waker__(?<name>[A-Za-z]+)")]
    private static partial System.Text.RegularExpressions.Regex WakerSetting();
}
