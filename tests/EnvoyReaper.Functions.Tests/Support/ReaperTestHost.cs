using System.Text;
using Azure.Storage.Queues.Models;
using EnvoyReaper.Messaging;
using EnvoyReaper.TestSupport.Envoy;
using EnvoyReaper.TestSupport.Kubernetes;
using EnvoyReaper.TestSupport.Storage;
using EnvoyReaper.Workloads;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace EnvoyReaper.Functions.Tests.Support;

/// <summary>
/// The function app as the Functions host would run it, minus the host: the container Program.cs builds, real Azurite
/// queues/tables/blobs, the real Kubernetes client against the fake API server through a kubeconfig, and the queue
/// trigger's delivery imitated faithfully (Base64-decoded bodies, message ids, visibility delays).
/// </summary>
public sealed class ReaperTestHost : IAsyncDisposable
{
    private readonly ServiceProvider services;
    private readonly string directory;

    private ReaperTestHost(FakeKubernetesApiServer api, FakeTimeProvider time, ServiceProvider services, string directory, string stateTable, string snapshotContainer)
    {
        Api = api;
        Time = time;
        this.services = services;
        this.directory = directory;
        StateTable = stateTable;
        SnapshotContainer = snapshotContainer;
    }

    public FakeKubernetesApiServer Api { get; }

    public FakeTimeProvider Time { get; }

    public string StateTable { get; }

    public string SnapshotContainer { get; }

    public IServiceProvider Services => services;

    public List<string> Logs { get; } = [];

    public static async Task<ReaperTestHost> StartAsync(Dictionary<string, string?>? settings = null)
    {
        await AzuriteStorage.ResetQueuesAsync(
            QueueNames.StatsCheck, QueueNames.Teardown, QueueNames.InjectRollout, QueueNames.StatsCheck + "-poison", QueueNames.Teardown + "-poison", QueueNames.InjectRollout + "-poison",
            QueueNames.Wake, QueueNames.Wake + "-poison", QueueNames.Park, QueueNames.Park + "-poison");
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));
        var api = await FakeKubernetesApiServer.StartAsync(time);
        var directory = Directory.CreateTempSubdirectory("envoy-reaper-test-").FullName;
        var kubeconfig = api.WriteKubeConfig(directory);
        var stateTable = AzuriteStorage.UniqueName("state");
        var snapshotContainer = AzuriteStorage.UniqueName("snapshots");
        var values = new Dictionary<string, string?>
        {
            ["AzureWebJobsStorage"] = AzuriteStorage.ConnectionString,
            ["Kubernetes:Mode"] = "KubeConfig",
            ["Kubernetes:KubeConfigPath"] = kubeconfig,
            ["Kubernetes:Context"] = "fake",

            // The write budget refills on the app's clock, which stands still within a cycle here: with the default burst a
            // hundred workloads turning idle at once would wait for tokens that never come. The budget has its own tests.
            ["Kubernetes:ApiWriteBurst"] = "1000",
            ["Reaper:StateTable"] = stateTable,
            ["Reaper:SnapshotContainer"] = snapshotContainer,
            ["Reaper:DefaultIdleTimeout"] = "00:10:00",
            ["Reaper:StartupGrace"] = "00:05:00",
            ["EnvoyStats:Timeout"] = "00:00:01",
            // Azurite's visibility delays are real time: the shortest interval keeps the rollout tests quick.
            ["Injection:Rollout:CheckInterval"] = "00:00:01",
            ["Waker:CheckInterval"] = "00:00:01",
        };
        foreach (var (key, value) in settings ?? [])
        {
            values[key] = value;
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var host = default(ReaperTestHost);
        var collection = new ServiceCollection();
        collection.AddLogging(logging => logging.SetMinimumLevel(LogLevel.Debug).AddProvider(new ListLoggerProvider(() => host!.Logs)));
        collection.AddEnvoyReaperFunctions(configuration);
        collection.AddSingleton<TimeProvider>(time);
        var provider = collection.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        host = new ReaperTestHost(api, time, provider, directory, stateTable, snapshotContainer);
        return host;
    }

    public T Create<T>() => ActivatorUtilities.CreateInstance<T>(services);

    /// <summary>Fires the discovery timer once.</summary>
    public Task RunTimerAsync(DateTime? lastRun = null) =>
        RunTimerAsync(new TimerInfo { ScheduleStatus = lastRun is null ? null : new ScheduleStatus { Last = lastRun.Value } });

    /// <summary>Fires the discovery timer once with the trigger's payload as given.</summary>
    public Task RunTimerAsync(TimerInfo timer) => Create<DiscoverWorkloads>().Run(timer, CancellationToken.None);

    /// <summary>Delivers every visible stats-check message to the function, as the trigger would. Returns how many.</summary>
    public Task<int> DeliverStatsChecksAsync() => DeliverAsync(QueueNames.StatsCheck, message => Create<CheckStats>().Run(message, CancellationToken.None));

    public Task<int> DeliverTeardownsAsync() => DeliverAsync(QueueNames.Teardown, message => Create<TearDown>().Run(message, CancellationToken.None));

    /// <summary>Delivers every visible "park" message (parking requested by a teardown or the timer) to the Park function.</summary>
    public Task<int> DeliverParksAsync() => DeliverAsync(QueueNames.Park, message => Create<Park>().Run(message, CancellationToken.None));

    /// <summary>
    /// Delivers the next rollout check to its function, waiting for its visibility delay (real time in Azurite, at most
    /// 5 s). Returns the message as delivered (to deliver it again), or null when none is queued.
    /// </summary>
    public Task<QueueMessage?> DeliverNextRolloutCheckAsync() => DeliverNextRolloutCheckAsync(DeliverRolloutCheckAsync);

    /// <summary>As <see cref="DeliverNextRolloutCheckAsync()"/>, to the given function.</summary>
    public static Task<QueueMessage?> DeliverNextRolloutCheckAsync(Func<QueueMessage, Task> function) => DeliverNextAsync(QueueNames.InjectRollout, function);

    /// <summary>Delivers the next "wake" message (a wake's own check, after its visibility delay) to the Wake function.</summary>
    public Task<QueueMessage?> DeliverNextWakeAsync() => DeliverNextAsync(QueueNames.Wake, message => Create<Wake>().Run(message, CancellationToken.None));

    private static async Task<QueueMessage?> DeliverNextAsync(string queueName, Func<QueueMessage, Task> function)
    {
        var queue = AzuriteStorage.Queues(base64: false).GetQueueClient(queueName);
        for (var attempt = 0; attempt < 50; attempt++)
        {
            QueueMessage[] batch = (await queue.ReceiveMessagesAsync(1, TimeSpan.FromSeconds(30))).Value;
            if (batch.Length == 1)
            {
                var message = batch[0];
                var body = Encoding.UTF8.GetString(Convert.FromBase64String(message.Body.ToString()));
                var delivered = QueuesModelFactory.QueueMessage(message.MessageId, message.PopReceipt, body, message.DequeueCount, message.NextVisibleOn, message.InsertedOn, message.ExpiresOn);
                await function(delivered);
                await queue.DeleteMessageAsync(message.MessageId, message.PopReceipt);
                return delivered;
            }

            if ((await queue.GetPropertiesAsync()).Value.ApproximateMessagesCount == 0)
            {
                return null;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100));
        }

        throw new InvalidOperationException($"no {queueName} message became visible within 5 s");
    }

    public Task DeliverRolloutCheckAsync(QueueMessage message) => Create<FinishInjectionRollout>().Run(message, CancellationToken.None);

    /// <summary>Moves the clock of the reaper and of the cluster, and the Envoys' uptime with it, as real Envoys' moves.</summary>
    public void Advance(TimeSpan by, FakeEnvoyFleet? envoys = null)
    {
        Time.Advance(by);
        foreach (var pod in envoys?.Pods ?? [])
        {
            pod.UptimeSeconds += (ulong)by.TotalSeconds;
        }
    }

    /// <summary>Whole cycles one minute apart.</summary>
    public async Task RunCyclesAsync(int count, FakeEnvoyFleet? envoys = null)
    {
        for (var i = 0; i < count; i++)
        {
            await RunCycleAsync();
            Advance(TimeSpan.FromMinutes(1), envoys);
        }
    }

    /// <summary>One whole cycle: timer, then the checks it queued, then any teardown they raised and the parking those asked for.</summary>
    public async Task RunCycleAsync()
    {
        await RunTimerAsync();
        await DeliverStatsChecksAsync();
        await DeliverTeardownsAsync();
        await DeliverParksAsync();
    }

    /// <summary>
    /// The QueueMessage the queue functions are bound to, as the worker builds it from what the host sends (its message
    /// id, pop receipt, dequeue count, times, and the Base64-decoded body as text). The host also fills the invocation's
    /// binding data, with a JSON body's own fields merged in over the queue's (so a body "id" hides the queue's Id
    /// there): the functions read neither.
    /// </summary>
    public static QueueMessage Delivery(string messageId, string body, long dequeueCount = 1) =>
        QueuesModelFactory.QueueMessage(messageId, "AgAAAAMAAAAAAAAA", body, dequeueCount, DateTimeOffset.UtcNow.AddSeconds(30), DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(7));

    private static async Task<int> DeliverAsync(string queueName, Func<QueueMessage, Task> function)
    {
        var queue = AzuriteStorage.Queues(base64: false).GetQueueClient(queueName);
        var delivered = 0;
        for (var round = 0; round < 100; round++)
        {
            QueueMessage[] batch = (await queue.ReceiveMessagesAsync(32, TimeSpan.FromSeconds(30))).Value;
            if (batch.Length == 0)
            {
                return delivered;
            }

            foreach (var message in batch)
            {
                // The trigger decodes Base64 (host.json messageEncoding) before handing the string to the function.
                var body = Encoding.UTF8.GetString(Convert.FromBase64String(message.Body.ToString()));
                await function(QueuesModelFactory.QueueMessage(message.MessageId, message.PopReceipt, body, message.DequeueCount, message.NextVisibleOn, message.InsertedOn, message.ExpiresOn));
                await queue.DeleteMessageAsync(message.MessageId, message.PopReceipt);
                delivered++;
            }
        }

        throw new InvalidOperationException($"{queueName} never drained");
    }

    public async ValueTask DisposeAsync()
    {
        if (Environment.GetEnvironmentVariable("ENVOYREAPER_TEST_LOGS") is { Length: > 0 } logFile)
        {
            lock (Logs)
            {
                File.AppendAllLines(logFile, Logs);
            }
        }

        await services.DisposeAsync();
        await Api.DisposeAsync();
        try
        {
            await AzuriteStorage.Tables().DeleteTableAsync(StateTable);
            await AzuriteStorage.Blobs().DeleteBlobContainerAsync(SnapshotContainer);
        }
        catch (Azure.RequestFailedException)
        {
            // Nothing was created.
        }

        Directory.Delete(directory, recursive: true);
    }
}

internal sealed class ListLoggerProvider(Func<List<string>> sink) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new ListLogger(sink, categoryName);

    public void Dispose()
    {
    }

    private sealed class ListLogger(Func<List<string>> sink, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var list = sink();
            lock (list)
            {
                list.Add($"{logLevel}: {category}: {formatter(state, exception)}");
            }
        }
    }
}
