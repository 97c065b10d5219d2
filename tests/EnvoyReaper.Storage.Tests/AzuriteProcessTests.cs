using System.Diagnostics;
using System.Net.Sockets;
using EnvoyReaper.TestSupport.Storage;

namespace EnvoyReaper.Storage.Tests;

/// <summary>The Azurite the test support starts by itself when ENVOYREAPER_TEST_STORAGE is not set.</summary>
public sealed class AzuriteProcessTests
{
    [Fact]
    public async Task Started_azurite_serves_the_current_sdk_on_free_ephemeral_ports_and_is_gone_after_dispose()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(6));
        var azurite = await AzuriteProcess.StartAsync(AzuriteProcess.DefaultToolsDirectory(), timeout.Token);
        int[] ports = [azurite.BlobPort, azurite.QueuePort, azurite.TablePort];
        try
        {
            Assert.All(ports, port => Assert.False(port is >= 10000 and <= 10002 or >= 20000 and <= 28999, $"port {port} is a fixed or reserved one"));
            Assert.Equal(3, ports.Distinct().Count());

            // The SDKs send API versions newer than Azurite 3.37.0 knows: this fails without --skipApiVersionCheck.
            var queue = new Azure.Storage.Queues.QueueClient(azurite.ConnectionString, "probe");
            await queue.CreateIfNotExistsAsync(cancellationToken: timeout.Token);
            var table = new Azure.Data.Tables.TableClient(azurite.ConnectionString, "probe");
            await table.CreateIfNotExistsAsync(timeout.Token);
            var container = new Azure.Storage.Blobs.BlobContainerClient(azurite.ConnectionString, "probe");
            await container.CreateIfNotExistsAsync(cancellationToken: timeout.Token);
        }
        finally
        {
            azurite.Dispose();
        }

        Assert.True(azurite.HasExited);
        var closed = false;
        for (var attempt = 0; attempt < 20 && !closed; attempt++) // the kill reaches Azurite itself a moment after its guard
        {
            closed = !(await Task.WhenAll(ports.Select(IsListeningAsync))).Any(listening => listening);
            if (!closed)
            {
                await Task.Delay(250, timeout.Token);
            }
        }

        Assert.True(closed, "Azurite still listens after dispose");
    }

    [Fact]
    public async Task Azurite_stops_by_itself_when_the_process_that_started_it_is_killed()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(6));
        using var owner = Process.Start(new ProcessStartInfo("sleep", "120") { UseShellExecute = false })!;
        using var azurite = await AzuriteProcess.StartAsync(AzuriteProcess.DefaultToolsDirectory(), owner.Id, timeout.Token);
        Assert.True(await IsListeningAsync(azurite.QueuePort));

        owner.Kill();
        await owner.WaitForExitAsync(timeout.Token);

        var stopped = false;
        for (var attempt = 0; attempt < 40 && !stopped; attempt++) // the guard polls its owner every second: 20 s at most
        {
            await Task.Delay(500, timeout.Token);
            stopped = azurite.HasExited && !await IsListeningAsync(azurite.QueuePort);
        }

        Assert.True(stopped, "Azurite outlived the process that started it");
    }

    private static async Task<bool> IsListeningAsync(int port)
    {
        using var client = new TcpClient();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await client.ConnectAsync("127.0.0.1", port, timeout.Token);
            return true;
        }
        catch (Exception exception) when (exception is SocketException or OperationCanceledException)
        {
            return false;
        }
    }
}
