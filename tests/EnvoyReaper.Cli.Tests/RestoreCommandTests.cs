using System.CommandLine;
using EnvoyReaper.Storage;
using EnvoyReaper.Teardown;
using EnvoyReaper.TestSupport.Kubernetes;
using EnvoyReaper.TestSupport.Storage;
using k8s.Models;

namespace EnvoyReaper.Cli.Tests;

/// <summary>`snapshots` and `restore` against Azurite and the fake API server.</summary>
public sealed class RestoreCommandTests : IAsyncLifetime
{
    private readonly string container = AzuriteStorage.UniqueName("clisnap");
    private FakeKubernetesApiServer api = null!;
    private string directory = null!;
    private string kubeconfig = null!;

    public async Task InitializeAsync()
    {
        await AzuriteStorage.EnsureReachableAsync();
        api = await FakeKubernetesApiServer.StartAsync();
        directory = Directory.CreateTempSubdirectory("envoy-reaper-cli-restore-").FullName;
        kubeconfig = api.WriteKubeConfig(directory);
    }

    public async Task DisposeAsync()
    {
        await api.DisposeAsync();
        await AzuriteStorage.Blobs().GetBlobContainerClient(container).DeleteIfExistsAsync();
        Directory.Delete(directory, recursive: true);
    }

    private static async Task<(int Exit, string Out, string Error)> RunAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exit = await ReaperCommandLine.Build().Parse(args).InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr });
        return (exit, stdout.ToString(), stderr.ToString());
    }

    private async Task<string> SnapshotThenDeleteAsync()
    {
        var seeded = api.SeedWorkload("previews", "pr-9", ["10.0.0.9"], withIngress: false);
        var store = new BlobSnapshotStore(AzuriteStorage.Blobs().GetBlobContainerClient(container));
        var name = WorkloadSnapshot.NameFor("previews", "pr-9", seeded.Deployment.Metadata.Uid, DateTimeOffset.UtcNow);
        await store.SaveOnceAsync(name, new WorkloadSnapshot(WorkloadSnapshot.CurrentVersion, "previews", "pr-9", seeded.Deployment.Metadata.Uid,
            DateTimeOffset.UtcNow, "delete", "idle", [api.Get("apps", "v1", "deployments", "previews", "pr-9")!, api.Get("", "v1", "services", "previews", "pr-9-service")!]),
            CancellationToken.None);
        var client = new k8s.Kubernetes(api.ClientConfiguration());
        await k8s.AppsV1OperationsExtensions.DeleteNamespacedDeploymentAsync(client.AppsV1, "pr-9", "previews");
        await k8s.CoreV1OperationsExtensions.DeleteNamespacedServiceAsync(client.CoreV1, "pr-9-service", "previews");
        return name;
    }

    [Fact]
    public async Task Snapshots_lists_the_snapshots_of_a_workload()
    {
        var name = await SnapshotThenDeleteAsync();

        var (exit, output, error) = await RunAsync("snapshots", "-n", "previews", "-d", "pr-9", "--storage", AzuriteStorage.ConnectionString, "--snapshot-container", container);

        Assert.True(exit == 0, error);
        Assert.Equal(name, output.Trim());
    }

    [Fact]
    public async Task Restore_recreates_the_deleted_objects()
    {
        await SnapshotThenDeleteAsync();

        var (exit, output, error) = await RunAsync("restore", "-n", "previews", "-d", "pr-9", "--storage", AzuriteStorage.ConnectionString,
            "--snapshot-container", container, "--kubeconfig", kubeconfig);

        Assert.True(exit == 0, error);
        Assert.Contains("Restored", output);
        Assert.True(api.Exists<V1Deployment>("previews", "pr-9"));
        Assert.True(api.Exists<V1Service>("previews", "pr-9-service"));
    }

    [Fact]
    public async Task Restore_over_a_Deployment_not_created_from_the_snapshot_is_refused_with_exit_4()
    {
        await SnapshotThenDeleteAsync();
        api.SeedWorkload("previews", "pr-9", ["10.0.0.10"], withService: false, withIngress: false);

        var (exit, _, error) = await RunAsync("restore", "-n", "previews", "-d", "pr-9", "--storage", AzuriteStorage.ConnectionString,
            "--snapshot-container", container, "--kubeconfig", kubeconfig);

        Assert.Equal(4, exit);
        Assert.Contains("exists", error);
        Assert.False(api.Exists<V1Service>("previews", "pr-9-service"));
    }

    [Fact]
    public async Task Restore_run_again_after_it_completed_succeeds_and_creates_nothing()
    {
        await SnapshotThenDeleteAsync();
        await RunAsync("restore", "-n", "previews", "-d", "pr-9", "--storage", AzuriteStorage.ConnectionString, "--snapshot-container", container, "--kubeconfig", kubeconfig);

        var (exit, output, error) = await RunAsync("restore", "-n", "previews", "-d", "pr-9", "--storage", AzuriteStorage.ConnectionString,
            "--snapshot-container", container, "--kubeconfig", kubeconfig);

        Assert.True(exit == 0, error);
        Assert.Contains("already restored", output);
    }

    [Fact]
    public async Task Restore_of_a_scale_to_zero_snapshot_whose_Deployment_someone_scaled_since_exits_4_and_changes_nothing()
    {
        var seeded = api.SeedWorkload("previews", "pr-9", ["10.0.0.9"], withIngress: false);
        var store = new BlobSnapshotStore(AzuriteStorage.Blobs().GetBlobContainerClient(container));
        await store.SaveOnceAsync(WorkloadSnapshot.NameFor("previews", "pr-9", seeded.Deployment.Metadata.Uid, DateTimeOffset.UtcNow),
            new WorkloadSnapshot(WorkloadSnapshot.CurrentVersion, "previews", "pr-9", seeded.Deployment.Metadata.Uid, DateTimeOffset.UtcNow, "scale-to-zero", "idle",
                [api.Get("apps", "v1", "deployments", "previews", "pr-9")!]),
            CancellationToken.None);
        var client = new k8s.Kubernetes(api.ClientConfiguration());
        await k8s.AppsV1OperationsExtensions.PatchNamespacedDeploymentAsync(client.AppsV1,
            new V1Patch("""{"spec":{"replicas":5}}""", V1Patch.PatchType.MergePatch), "pr-9", "previews");

        var (exit, _, error) = await RunAsync("restore", "-n", "previews", "-d", "pr-9", "--storage", AzuriteStorage.ConnectionString,
            "--snapshot-container", container, "--kubeconfig", kubeconfig);

        Assert.Equal(4, exit);
        Assert.Contains("5 replica(s)", error);
        Assert.Equal(5, api.Get<V1Deployment>("previews", "pr-9")!.Spec.Replicas);
    }

    [Fact]
    public async Task Without_storage_the_error_says_how_to_give_it()
    {
        var (exit, _, error) = await RunAsync("snapshots", "-n", "previews", "-d", "pr-9", "--storage", "");

        Assert.NotEqual(0, exit);
        Assert.Contains("--storage", error);
    }

    [Fact]
    public async Task Restore_with_the_API_server_unreachable_is_a_clear_error_not_a_stack_trace()
    {
        await SnapshotThenDeleteAsync();
        await api.DisposeAsync();

        var (exit, _, error) = await RunAsync("restore", "-n", "previews", "-d", "pr-9", "--storage", AzuriteStorage.ConnectionString,
            "--snapshot-container", container, "--kubeconfig", kubeconfig);

        Assert.Equal(3, exit);
        Assert.StartsWith("error: cannot reach the API server", error);
        Assert.DoesNotContain("   at ", error);
    }
}
