using System.Globalization;
using System.Net;
using Azure;
using Azure.Data.Tables;
using EnvoyReaper.Waking;

namespace EnvoyReaper.Storage;

/// <summary>
/// Waker ports as rows of the state table, one per port (row key: the port, zero-padded), in a partition beyond the
/// breaker's that no namespace can have. Taking a port is inserting its row: the table refuses a second insert, so two
/// instances never hold the same port.
/// </summary>
public sealed class TableWakerPortStore(TableClient table) : IWakerPortStore
{
    public const string PartitionKey = "~waker-ports";
    private const string OwnerColumn = "Owner";
    private readonly CreateOnce created = new(() => table.CreateIfNotExistsAsync());

    public async Task<IReadOnlyList<int>> AllocateAsync(string owner, int count, int first, int last, CancellationToken cancellationToken)
    {
        await created.EnsureAsync().ConfigureAwait(false);
        var taken = new HashSet<int>();
        var mine = new List<int>();
        await foreach (var row in table.QueryAsync<TableEntity>(filter: $"PartitionKey eq '{PartitionKey}'", select: ["RowKey", OwnerColumn], cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            var port = int.Parse(row.RowKey, NumberStyles.None, CultureInfo.InvariantCulture);
            taken.Add(port);
            if (row.GetString(OwnerColumn) == owner)
            {
                mine.Add(port);
            }
        }

        mine.Sort();
        var candidate = first;
        while (mine.Count < count)
        {
            while (candidate <= last && taken.Contains(candidate))
            {
                candidate++;
            }

            if (candidate > last)
            {
                throw new WakerPortsExhaustedException($"no free waker port left in {first}-{last} (settings Waker:PortRangeStart/End) for {owner}");
            }

            try
            {
                await table.AddEntityAsync(new TableEntity(PartitionKey, Key(candidate)) { [OwnerColumn] = owner }, cancellationToken).ConfigureAwait(false);
                mine.Add(candidate);
            }
            catch (RequestFailedException exception) when (exception.Status == (int)HttpStatusCode.Conflict)
            {
                // Another instance took it since the read.
            }

            taken.Add(candidate);
        }

        return mine.Take(count).ToList();
    }

    public async Task ReleaseAsync(string owner, CancellationToken cancellationToken)
    {
        await created.EnsureAsync().ConfigureAwait(false);
        var escaped = owner.Replace("'", "''", StringComparison.Ordinal);
        await foreach (var row in table.QueryAsync<TableEntity>(filter: $"PartitionKey eq '{PartitionKey}' and {OwnerColumn} eq '{escaped}'", select: ["PartitionKey", "RowKey"], cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            try
            {
                await table.DeleteEntityAsync(PartitionKey, row.RowKey, row.ETag, cancellationToken).ConfigureAwait(false);
            }
            catch (RequestFailedException exception) when (exception.Status is (int)HttpStatusCode.NotFound or (int)HttpStatusCode.PreconditionFailed)
            {
                // Released already, or taken over by a later allocation: not ours to delete.
            }
        }
    }

    private static string Key(int port) => port.ToString("D5", CultureInfo.InvariantCulture);
}
