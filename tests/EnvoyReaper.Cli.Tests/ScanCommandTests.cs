using System.CommandLine;
using System.Text.Json.Nodes;
using EnvoyReaper.TestSupport.Envoy;
using EnvoyReaper.TestSupport.Kubernetes;

namespace EnvoyReaper.Cli.Tests;

/// <summary>`envoy-reaper scan` through the real Kubernetes client (kubeconfig) and fake Envoys over HTTP.</summary>
public sealed class ScanCommandTests : IAsyncLifetime
{
    private FakeKubernetesApiServer api = null!;
    private FakeEnvoyFleet envoys = null!;
    private string directory = null!;
    private string kubeconfig = null!;

    public async Task InitializeAsync()
    {
        api = await FakeKubernetesApiServer.StartAsync();
        envoys = await FakeEnvoyFleet.StartAsync(3);
        directory = Directory.CreateTempSubdirectory("envoy-reaper-cli-").FullName;
        kubeconfig = api.WriteKubeConfig(directory, "kind-test");
    }

    public async Task DisposeAsync()
    {
        await envoys.DisposeAsync();
        await api.DisposeAsync();
        Directory.Delete(directory, recursive: true);
    }

    private async Task<(int Exit, string Out, string Error)> RunAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exit = await ReaperCommandLine.Build().Parse(args).InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr });
        return (exit, stdout.ToString(), stderr.ToString());
    }

    private Dictionary<string, string> StatsPort() => new() { ["envoy-reaper/stats-port"] = envoys.Port.ToString(System.Globalization.CultureInfo.InvariantCulture) };

    [Fact]
    public async Task Scan_prints_every_monitored_workload_with_its_verdict_and_no_unmonitored_one()
    {
        envoys.Pods[0].SetListener("0.0.0.0_15001", active: 3, total: 10);
        envoys.Pods[1].SetListener("0.0.0.0_15001", active: 0, total: 10);
        envoys.Pods[2].Fault = EnvoyFault.Status503;
        api.SeedWorkload("games", "busy", [envoys.Pods[0].Ip], StatsPort());
        api.SeedWorkload("games", "quiet", [envoys.Pods[1].Ip], StatsPort());
        api.SeedWorkload("preview", "broken", [envoys.Pods[2].Ip], StatsPort());
        api.SeedWorkload("games", "unwatched", [envoys.Pods[1].Ip], StatsPort(), labelOptIn: false);
        api.ResetRecording();

        var (exit, output, error) = await RunAsync("scan", "--dry-run", "--output", "json", "--kubeconfig", kubeconfig, "--context", "kind-test");

        Assert.True(exit == 0, error);
        var workloads = JsonNode.Parse(output)!["workloads"]!.AsArray().ToDictionary(item => item!["name"]!.GetValue<string>());
        Assert.Equal(["broken", "busy", "quiet"], workloads.Keys.Order());
        Assert.Equal("Active", workloads["busy"]!["verdict"]!.GetValue<string>());
        Assert.Equal(3, workloads["busy"]!["activeConnections"]!.GetValue<int>());
        Assert.Equal("Idle", workloads["quiet"]!["verdict"]!.GetValue<string>());
        Assert.Equal(0, workloads["quiet"]!["activeConnections"]!.GetValue<int>());
        Assert.Equal("Unknown", workloads["broken"]!["verdict"]!.GetValue<string>());
        Assert.Null(workloads["broken"]!["activeConnections"]);
        Assert.Contains("503", workloads["broken"]!["reason"]!.GetValue<string>());
        Assert.Equal("preview", workloads["broken"]!["namespace"]!.GetValue<string>());
        Assert.Equal(0, api.WriteCount); // a scan writes nothing at all
    }

    [Fact]
    public async Task Scan_prints_a_table_by_default()
    {
        envoys.Pods[0].SetListener("0.0.0.0_15001", active: 2, total: 2);
        api.SeedWorkload("games", "busy", [envoys.Pods[0].Ip], StatsPort());

        var (exit, output, _) = await RunAsync("scan", "--kubeconfig", kubeconfig);

        Assert.Equal(0, exit);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("NAMESPACE", lines[0]);
        Assert.Contains(lines, line => line.StartsWith("games", StringComparison.Ordinal) && line.Contains("busy") && line.Contains("Active"));
    }

    [Fact]
    public async Task A_missing_kubeconfig_is_a_clear_error_with_a_non_zero_exit()
    {
        var (exit, output, error) = await RunAsync("scan", "--kubeconfig", Path.Combine(directory, "nope.yaml"));

        Assert.NotEqual(0, exit);
        Assert.Empty(output);
        Assert.Contains("nope.yaml", error);
    }

    [Fact]
    public async Task An_unknown_context_is_a_clear_error()
    {
        var (exit, _, error) = await RunAsync("scan", "--kubeconfig", kubeconfig, "--context", "prod");

        Assert.NotEqual(0, exit);
        Assert.Contains("prod", error);
    }

    [Fact]
    public async Task An_unreachable_API_server_is_a_clear_error()
    {
        await api.DisposeAsync();

        var (exit, _, error) = await RunAsync("scan", "--kubeconfig", kubeconfig);

        Assert.Equal(3, exit);
        Assert.Contains("API server", error);
    }

    [Fact]
    public async Task An_unsupported_output_format_is_rejected()
    {
        var (exit, _, error) = await RunAsync("scan", "--output", "yaml", "--kubeconfig", kubeconfig);

        Assert.NotEqual(0, exit);
        Assert.Contains("yaml", error);
    }

    [Fact]
    public async Task Help_describes_the_scan_options()
    {
        var (exit, output, _) = await RunAsync("scan", "--help");

        Assert.Equal(0, exit);
        Assert.Contains("--dry-run", output);
        Assert.Contains("--output", output);
        Assert.Contains("--kubeconfig", output);
        Assert.Contains("--context", output);
    }
}
