using System.Buffers;
using System.Diagnostics;
using System.Net;
using Azure.Data.Tables;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;
using EnvoyReaper.Envoy;
using EnvoyReaper.Messaging;
using EnvoyReaper.Storage;

namespace EnvoyReaper.Benchmarks.Cycle;

public sealed record CeilingResult(string Name, int Gets, int Failures, TimeSpan Elapsed, long Bytes, int Connections, TimeSpan Cpu, TimeSpan FirstPass, long Allocated)
{
    public double GetsPerSecond => Gets / Elapsed.TotalSeconds;
}

public sealed record StorageBaselineResult(int Messages, TimeSpan Enqueue, TimeSpan Drain, double ReceiveMeanMs, double GetMeanMs, double DeleteMeanMs, TimeSpan CpuSelf, TimeSpan? CpuAzurite, TimeSpan EnqueueCpuSelf, TimeSpan? EnqueueCpuAzurite)
{
    public int PerMessage { get; init; } = 1;

    public int QueueMessages { get; init; }

    public double MessagesPerSecond => Messages / Drain.TotalSeconds;
}

public static class Baselines
{
    /// <summary>
    /// The raw ceiling: a bare HttpClient loop GETting exactly the URLs the reaper reads (same filter, same order), with
    /// the same bound on concurrent reads and the reaper's own handler (EnvoyStatsReader.CreateHandler),
    /// reading each body into a pooled buffer and doing nothing with it.
    /// </summary>
    public static async Task<CeilingResult> HttpCeilingAsync(string name, IReadOnlyList<Uri> urls, int concurrency, bool newConnectionEach, int passes = 1)
    {
        var connections = 0;
        using var handler = EnvoyStatsReader.CreateHandler();
        handler.ConnectCallback = async (context, token) =>
        {
            Interlocked.Increment(ref connections);
            var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(context.DnsEndPoint, token).ConfigureAwait(false);
                return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        };
        using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(10) };
        CeilingResult? result = null;
        var firstPass = TimeSpan.Zero;
        for (var pass = 0; pass < passes; pass++)
        {
            connections = 0;
            long bytes = 0;
            var failures = 0;
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var allocatedBefore = GC.GetTotalAllocatedBytes(false);
            var started = Stopwatch.GetTimestamp();
            await Parallel.ForEachAsync(urls, new ParallelOptions { MaxDegreeOfParallelism = concurrency }, async (url, token) =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, url);
                if (newConnectionEach)
                {
                    request.Headers.ConnectionClose = true;
                }

                try
                {
                    using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, token).ConfigureAwait(false);
                    var body = await response.Content.ReadAsStreamAsync(token).ConfigureAwait(false);
                    await using (body.ConfigureAwait(false))
                    {
                        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
                        try
                        {
                            int read, total = 0;
                            while ((read = await body.ReadAsync(buffer.AsMemory(total), token).ConfigureAwait(false)) > 0)
                            {
                                total += read;
                                if (total == buffer.Length)
                                {
                                    total = 0;
                                }
                            }

                            Interlocked.Add(ref bytes, total);
                        }
                        finally
                        {
                            ArrayPool<byte>.Shared.Return(buffer);
                        }
                    }

                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        Interlocked.Increment(ref failures);
                    }
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref failures);
                }
            }).ConfigureAwait(false);
            var elapsed = Stopwatch.GetElapsedTime(started);
            if (pass == 0)
            {
                firstPass = elapsed;
            }

            result = new CeilingResult(name, urls.Count, failures, elapsed, bytes, connections, Process.GetCurrentProcess().TotalProcessorTime - cpuBefore, firstPass, GC.GetTotalAllocatedBytes(false) - allocatedBefore);
        }

        return result!;
    }

    /// <summary>
    /// The storage floor of one unchanged check: the same queue messages enqueued by the real AzureWorkQueue, then
    /// drained by the same receive loops doing only what an unchanged check does in storage (read the state row,
    /// delete the message), with no stats read.
    /// </summary>
    public static async Task<StorageBaselineResult> StorageFloorAsync(Harness harness, BenchOptions options, IReadOnlyList<ScheduledCheck> checks)
    {
        await harness.ResetQueuesAsync();
        var queue = new AzureWorkQueue(new QueueServiceClient(options.Storage, AzureWorkQueue.ClientOptions()));
        var cpu0 = harness.Cpu.Read();
        var started = Stopwatch.GetTimestamp();
        await queue.EnqueueStatsChecksAsync(checks, CancellationToken.None);
        var enqueue = Stopwatch.GetElapsedTime(started);
        var cpu1 = harness.Cpu.Read();

        var raw = harness.RawQueue(QueueNames.StatsCheck);
        var table = harness.StateTableClient();
        var receives = new CallStats();
        var gets = new CallStats();
        var deletes = new CallStats();
        var processed = 0;
        started = Stopwatch.GetTimestamp();
        var deadline = started + (long)(TimeSpan.FromMinutes(5).TotalSeconds * Stopwatch.Frequency);
        var loops = Enumerable.Range(0, options.Receivers).Select(_ => Task.Run(async () =>
        {
            while (Volatile.Read(ref processed) < checks.Count)
            {
                if (Stopwatch.GetTimestamp() > deadline)
                {
                    throw new TimeoutException($"the storage floor did not drain in 5 minutes ({Volatile.Read(ref processed)} of {checks.Count})");
                }

                var t = Stopwatch.GetTimestamp();
                QueueMessage[] batch = (await raw.ReceiveMessagesAsync(options.Batch, TimeSpan.FromMinutes(5))).Value;
                receives.Add(Stopwatch.GetTimestamp() - t);
                if (batch.Length == 0)
                {
                    await Task.Delay(20);
                    continue;
                }

                await Task.WhenAll(batch.Select(async message =>
                {
                    var body = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(message.Body.ToString()));
                    var parsed = MessageReader.TryReadStatsCheck(body, out var read, out string? _) ? read! : checks[0].Message;
                    foreach (var workload in parsed.Workloads)
                    {
                        var t1 = Stopwatch.GetTimestamp();
                        await table.GetEntityIfExistsAsync<TableEntity>(parsed.Namespace, workload.Deployment);
                        gets.Add(Stopwatch.GetTimestamp() - t1);
                    }

                    var t2 = Stopwatch.GetTimestamp();
                    await raw.DeleteMessageAsync(message.MessageId, message.PopReceipt);
                    deletes.Add(Stopwatch.GetTimestamp() - t2);
                    Interlocked.Increment(ref processed);
                }));
            }
        })).ToArray();
        await Task.WhenAll(loops);
        var drain = Stopwatch.GetElapsedTime(started);
        var cpu2 = harness.Cpu.Read();
        return new StorageBaselineResult(checks.Sum(check => check.Message.Workloads.Count), enqueue, drain, receives.MeanMs, gets.MeanMs, deletes.MeanMs,
            cpu2.Self - cpu1.Self, cpu2.Azurite - cpu1.Azurite, cpu1.Self - cpu0.Self, cpu1.Azurite - cpu0.Azurite);
    }

    /// <summary>
    /// What batching would save: the same workloads, B to a message (consecutive Deployments of one namespace, so that
    /// their state rows are one partition range), drained by the same loops doing one range query for the B state rows
    /// and one delete per message. Rate in workloads/s.
    /// </summary>
    public static async Task<StorageBaselineResult> BatchedStorageFloorAsync(Harness harness, BenchOptions options, IReadOnlyList<ScheduledCheck> checks, int perMessage)
    {
        await harness.ResetQueuesAsync();
        var groups = checks.SelectMany(check => check.Message.Workloads.Select(workload => (check.Message, Workload: workload)))
            .GroupBy(pair => pair.Message.Namespace)
            .SelectMany(ns => ns.OrderBy(pair => pair.Workload.Deployment, StringComparer.Ordinal).Chunk(perMessage)
                .Select(chunk => chunk[0].Message with { Workloads = chunk.Select(pair => pair.Workload).ToList() }))
            .ToList();
        var workloads = groups.Sum(group => group.Workloads.Count);
        var queue = new QueueClient(options.Storage, QueueNames.StatsCheck, AzureWorkQueue.ClientOptions());
        var cpu0 = harness.Cpu.Read();
        var started = Stopwatch.GetTimestamp();
        await Parallel.ForEachAsync(groups, new ParallelOptions { MaxDegreeOfParallelism = AzureWorkQueue.MaxParallelSends }, async (group, token) =>
            await queue.SendMessageAsync(ReaperJson.Serialize(group), cancellationToken: token));
        var enqueue = Stopwatch.GetElapsedTime(started);
        var cpu1 = harness.Cpu.Read();

        var raw = harness.RawQueue(QueueNames.StatsCheck);
        var table = harness.StateTableClient();
        var receives = new CallStats();
        var queries = new CallStats();
        var deletes = new CallStats();
        var processed = 0;
        var rows = 0;
        started = Stopwatch.GetTimestamp();
        var deadline = started + (long)(TimeSpan.FromMinutes(5).TotalSeconds * Stopwatch.Frequency);
        var loops = Enumerable.Range(0, options.Receivers).Select(_ => Task.Run(async () =>
        {
            while (Volatile.Read(ref processed) < groups.Count)
            {
                if (Stopwatch.GetTimestamp() > deadline)
                {
                    throw new TimeoutException($"the storage floor did not drain in 5 minutes ({Volatile.Read(ref processed)} of {groups.Count})");
                }

                var t = Stopwatch.GetTimestamp();
                QueueMessage[] batch = (await raw.ReceiveMessagesAsync(options.Batch, TimeSpan.FromMinutes(5))).Value;
                receives.Add(Stopwatch.GetTimestamp() - t);
                if (batch.Length == 0)
                {
                    await Task.Delay(20);
                    continue;
                }

                await Task.WhenAll(batch.Select(async message =>
                {
                    var body = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(message.Body.ToString()));
                    var group = System.Text.Json.JsonSerializer.Deserialize<StatsCheckBatchMessage>(body, ReaperJson.Options)!;
                    var t1 = Stopwatch.GetTimestamp();
                    var filter = TableClient.CreateQueryFilter($"PartitionKey eq {group.Namespace} and RowKey ge {group.Workloads[0].Deployment} and RowKey le {group.Workloads[^1].Deployment}");
                    await foreach (var row in table.QueryAsync<TableEntity>(filter))
                    {
                        Interlocked.Increment(ref rows);
                    }

                    queries.Add(Stopwatch.GetTimestamp() - t1);
                    t1 = Stopwatch.GetTimestamp();
                    await raw.DeleteMessageAsync(message.MessageId, message.PopReceipt);
                    deletes.Add(Stopwatch.GetTimestamp() - t1);
                    Interlocked.Increment(ref processed);
                }));
            }
        })).ToArray();
        await Task.WhenAll(loops);
        var drain = Stopwatch.GetElapsedTime(started);
        var cpu2 = harness.Cpu.Read();
        if (rows != workloads)
        {
            Failures.Note($"batched floor read {rows} state rows for {workloads} workloads");
        }

        return new StorageBaselineResult(workloads, enqueue, drain, receives.MeanMs, queries.MeanMs, deletes.MeanMs,
            cpu2.Self - cpu1.Self, cpu2.Azurite - cpu1.Azurite, cpu1.Self - cpu0.Self, cpu1.Azurite - cpu0.Azurite)
        { PerMessage = perMessage, QueueMessages = groups.Count };
    }

    /// <summary>The URLs the reaper reads, in the order of its checks.</summary>
    public static List<Uri> StatsUrls(Harness harness) =>
        harness.WorkloadPods.SelectMany(pods => pods)
            .Select(pod => EnvoyStatsReader.BuildRequestUri(new StatsEndpoint(pod.Ip, harness.Fleet.Port, "/stats"), out _))
            .ToList();
}
