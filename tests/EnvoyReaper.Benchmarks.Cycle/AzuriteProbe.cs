using System.Diagnostics;
using Azure.Data.Tables;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;

namespace EnvoyReaper.Benchmarks.Cycle;

/// <summary>
/// How Azurite's cost per operation depends on how many messages (or rows) it holds: the same operations at several
/// depths, 32 at a time, with Azurite's CPU time per operation.
/// </summary>
public static class AzuriteProbe
{
    public static async Task RunAsync(BenchOptions options, TextWriter o)
    {
        var cpu = new CpuClock(options.Storage);
        var body = Convert.ToBase64String(new byte[1000]); // about the size of a 3-pod stats-check message
        var state = new string('x', 900);
        o.WriteLine($"Azurite pid {cpu.AzuritePid}");
        o.WriteLine();
        o.WriteLine("| operation (32 at a time) | depth (messages or rows) | ops | time | ops/s | Azurite CPU ms/op | this process CPU ms/op |");
        o.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var depth in options.ProbeAzurite!)
        {
            var queue = new QueueClient(options.Storage, "probe" + Guid.NewGuid().ToString("n")[..12], new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None });
            await queue.CreateAsync();
            await Measure(o, cpu, "queue send", depth, depth, async i => await queue.SendMessageAsync(body));
            if (options.ProbeClear)
            {
                await Measure(o, cpu, "queue clear (one call)", depth, 1, async i => await queue.ClearMessagesAsync());
                await Measure(o, cpu, "queue send", depth, depth, async i => await queue.SendMessageAsync(body));
            }

            var received = new System.Collections.Concurrent.ConcurrentQueue<QueueMessage>();
            await Measure(o, cpu, "queue receive of 32", depth, (depth + 31) / 32, async i =>
            {
                foreach (var message in (await queue.ReceiveMessagesAsync(32, TimeSpan.FromMinutes(10))).Value)
                {
                    received.Enqueue(message);
                }
            });
            var all = received.ToArray();
            await Measure(o, cpu, "queue delete", depth, all.Length, async i => await queue.DeleteMessageAsync(all[i].MessageId, all[i].PopReceipt));
            await queue.DeleteAsync();

            var table = new TableServiceClient(options.Storage).GetTableClient("probe" + Guid.NewGuid().ToString("n")[..12]);
            await table.CreateAsync();
            await Measure(o, cpu, "table insert", depth, depth, async i => await table.AddEntityAsync(new TableEntity($"ns-{i % 20:D2}", $"w-{i:D6}") { ["State"] = state }));
            await Measure(o, cpu, "table point read", depth, depth, async i => await table.GetEntityIfExistsAsync<TableEntity>($"ns-{i % 20:D2}", $"w-{i:D6}"));
            await table.DeleteAsync();
        }
    }

    private static async Task Measure(TextWriter o, CpuClock cpu, string name, int depth, int count, Func<int, Task> operation)
    {
        var before = cpu.Read();
        var started = Stopwatch.GetTimestamp();
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, _) => await operation(i));
        var elapsed = Stopwatch.GetElapsedTime(started);
        var after = cpu.Read();
        var azurite = after.Azurite - before.Azurite;
        o.WriteLine($"| {name} | {depth:N0} | {count:N0} | {elapsed.TotalSeconds:F2} s | {count / elapsed.TotalSeconds:N0} | {(azurite is { } a ? (a.TotalMilliseconds / count).ToString("F2") : "?")} | {(after.Self - before.Self).TotalMilliseconds / count:F2} |");
    }
}
