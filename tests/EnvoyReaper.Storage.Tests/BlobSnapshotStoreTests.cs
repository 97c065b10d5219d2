using System.Text.Json.Nodes;
using EnvoyReaper.Teardown;
using EnvoyReaper.TestSupport.Storage;

namespace EnvoyReaper.Storage.Tests;

public sealed class BlobSnapshotStoreTests : IAsyncLifetime
{
    private readonly string containerName = AzuriteStorage.UniqueName("snaptest");
    private BlobSnapshotStore store = null!;

    public async Task InitializeAsync()
    {
        await AzuriteStorage.EnsureReachableAsync();
        store = new BlobSnapshotStore(AzuriteStorage.Blobs().GetBlobContainerClient(containerName));
    }

    public async Task DisposeAsync() => await AzuriteStorage.Blobs().GetBlobContainerClient(containerName).DeleteIfExistsAsync();

    private static WorkloadSnapshot Snapshot(DateTimeOffset at) => new(
        WorkloadSnapshot.CurrentVersion, "games", "arena", "uid-1", at, "delete", "idle since ...",
        [new JsonObject { ["apiVersion"] = "apps/v1", ["kind"] = "Deployment", ["metadata"] = new JsonObject { ["name"] = "arena" } }]);

    private async Task<string> SaveAsync(WorkloadSnapshot snapshot)
    {
        var name = WorkloadSnapshot.NameFor(snapshot.Namespace, snapshot.Deployment, snapshot.DeploymentUid, snapshot.TakenAt);
        await store.SaveOnceAsync(name, snapshot, CancellationToken.None);
        return name;
    }

    [Fact]
    public async Task Listing_and_reading_with_a_read_only_credential_work_and_create_nothing()
    {
        var readOnly = new BlobSnapshotStore(new Azure.Storage.Blobs.BlobContainerClient(AzuriteStorage.ReadOnlyConnectionString(), containerName));

        Assert.Empty(await readOnly.ListAsync("games", "arena", CancellationToken.None));
        Assert.Null(await readOnly.GetAsync("games/arena/missing.json", CancellationToken.None));
        Assert.False(await AzuriteStorage.Blobs().GetBlobContainerClient(containerName).ExistsAsync(), "a read created the container");

        var saved = await SaveAsync(Snapshot(DateTimeOffset.UnixEpoch.AddDays(20_000)));
        Assert.Equal([saved], await readOnly.ListAsync("games", "arena", CancellationToken.None));
        Assert.NotNull(await readOnly.GetAsync(saved, CancellationToken.None));
    }

    [Fact]
    public async Task Snapshots_are_listed_oldest_first_and_read_back_whole()
    {
        var first = await SaveAsync(Snapshot(DateTimeOffset.UnixEpoch.AddDays(20_000)));
        var second = await SaveAsync(Snapshot(DateTimeOffset.UnixEpoch.AddDays(20_001)));
        await SaveAsync(Snapshot(DateTimeOffset.UnixEpoch) with { Deployment = "arena-2" });

        Assert.Equal([first, second], await store.ListAsync("games", "arena", CancellationToken.None));
        var read = await store.GetAsync(second, CancellationToken.None);
        Assert.NotNull(read);
        Assert.Equal("Deployment", read.Objects[0]["kind"]!.GetValue<string>());
        Assert.Equal("uid-1", read.DeploymentUid);
    }

    [Fact]
    public async Task A_missing_snapshot_reads_as_null()
    {
        Assert.Null(await store.GetAsync("games/arena/none.json", CancellationToken.None));
    }

    [Fact]
    public async Task A_snapshot_is_written_once_and_a_second_save_under_its_name_keeps_and_returns_the_first()
    {
        var name = WorkloadSnapshot.NameFor("games", "arena", "uid-1", DateTimeOffset.UnixEpoch.AddDays(20_000));
        var whole = Snapshot(DateTimeOffset.UnixEpoch.AddDays(20_000)) with
        {
            Objects = [.. Snapshot(DateTimeOffset.UnixEpoch).Objects, new JsonObject { ["apiVersion"] = "v1", ["kind"] = "Service", ["metadata"] = new JsonObject { ["name"] = "arena" } }],
        };
        await store.SaveOnceAsync(name, whole, CancellationToken.None);

        var returned = await store.SaveOnceAsync(name, Snapshot(DateTimeOffset.UnixEpoch.AddDays(20_001)), CancellationToken.None);

        Assert.Equal(2, returned.Objects.Count);
        Assert.Equal(whole.TakenAt, returned.TakenAt);
        var stored = await store.GetAsync(name, CancellationToken.None);
        Assert.Equal(2, stored!.Objects.Count);
        Assert.Equal([name], await store.ListAsync("games", "arena", CancellationToken.None));
    }
}
