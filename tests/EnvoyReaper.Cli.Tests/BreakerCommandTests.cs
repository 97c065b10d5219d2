using System.CommandLine;
using System.Text.Json.Nodes;
using EnvoyReaper.Storage;
using EnvoyReaper.Teardown;
using EnvoyReaper.TestSupport.Envoy;
using EnvoyReaper.TestSupport.Kubernetes;
using EnvoyReaper.TestSupport.Storage;

namespace EnvoyReaper.Cli.Tests;

/// <summary>`breaker status|reset` and the breaker in `scan`, against Azurite (and the fake API server for scan).</summary>
public sealed class BreakerCommandTests : IAsyncLifetime
{
    private static readonly DateTimeOffset OpenedAt = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    private readonly string table = AzuriteStorage.UniqueName("clibreaker");

    public async Task InitializeAsync() => await AzuriteStorage.EnsureReachableAsync();

    public async Task DisposeAsync() => await AzuriteStorage.Tables().DeleteTableAsync(table);

    private static async Task<(int Exit, string Out, string Error)> RunAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exit = await ReaperCommandLine.Build().Parse(args).InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr });
        return (exit, stdout.ToString(), stderr.ToString());
    }

    private TableTeardownBreakerStore Store() => new(AzuriteStorage.Tables().GetTableClient(table));

    private async Task OpenBreakerAsync() =>
        Assert.NotNull(await Store().TryWriteAsync(
            new TeardownBreakerState([new TeardownSlot("r1", DateTimeOffset.UtcNow.AddMinutes(-5))], 100, OpenedAt, OpenedAt, "20 of the 20 workloads Active went Idle together"),
            null, CancellationToken.None));

    [Fact]
    public async Task Status_shows_an_open_breaker_and_why_and_exits_4_then_reset_closes_it()
    {
        await OpenBreakerAsync();

        var (exit, output, error) = await RunAsync("breaker", "status", "--storage", AzuriteStorage.ConnectionString, "--state-table", table);
        Assert.True(exit == BreakerCommands.OpenExitCode, error);
        Assert.Contains("OPEN since 2026-11-25 12:00:00Z: 20 of the 20 workloads Active went Idle together", output);
        Assert.Contains("teardowns in the last hour: 1 of 20 allowed", output);

        (exit, output, error) = await RunAsync("breaker", "reset", "--storage", AzuriteStorage.ConnectionString, "--state-table", table);
        Assert.True(exit == 0, error);
        Assert.Contains("teardown breaker: closed", output);
        Assert.Contains($"by cli:{Environment.UserName}", output);
        Assert.False((await Store().GetAsync(CancellationToken.None))!.State.IsOpen);

        (exit, output, _) = await RunAsync("breaker", "status", "--storage", AzuriteStorage.ConnectionString, "--state-table", table, "-o", "json");
        Assert.Equal(0, exit);
        var json = JsonNode.Parse(output)!;
        Assert.False(json["open"]!.GetValue<bool>());
        Assert.Equal(1, json["teardownsLastHour"]!.GetValue<int>());
    }

    [Fact]
    public async Task Without_storage_the_breaker_commands_say_so_and_exit_2()
    {
        var (exit, _, error) = await RunAsync("breaker", "reset", "--storage", "");

        Assert.Equal(2, exit);
        Assert.Contains("no storage connection", error);
    }

    [Fact]
    public async Task Help_documents_the_exit_codes()
    {
        var (exit, output, _) = await RunAsync("breaker", "status", "--help");

        Assert.Equal(0, exit);
        Assert.Contains("4 open", output);
        Assert.Contains("--state-table", output);
    }

    [Fact]
    public async Task Scan_with_storage_shows_the_breaker_below_the_workloads()
    {
        await OpenBreakerAsync();
        await using var api = await FakeKubernetesApiServer.StartAsync();
        await using var envoys = await FakeEnvoyFleet.StartAsync(1);
        var directory = Directory.CreateTempSubdirectory("envoy-reaper-cli-breaker-").FullName;
        try
        {
            var kubeconfig = api.WriteKubeConfig(directory);
            envoys.Pods[0].SetListener("0.0.0.0_15001", active: 1, total: 1);
            api.SeedWorkload("games", "busy", [envoys.Pods[0].Ip], new Dictionary<string, string> { ["envoy-reaper/stats-port"] = envoys.Port.ToString(System.Globalization.CultureInfo.InvariantCulture) });

            var (exit, output, error) = await RunAsync("scan", "--kubeconfig", kubeconfig, "--storage", AzuriteStorage.ConnectionString, "--state-table", table);
            Assert.True(exit == 0, error);
            Assert.Contains("busy", output);
            Assert.Contains("teardown breaker: OPEN since", output);

            (exit, output, error) = await RunAsync("scan", "--kubeconfig", kubeconfig, "-o", "json", "--storage", AzuriteStorage.ConnectionString, "--state-table", table);
            Assert.True(exit == 0, error);
            Assert.True(JsonNode.Parse(output)!["breaker"]!["open"]!.GetValue<bool>());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
