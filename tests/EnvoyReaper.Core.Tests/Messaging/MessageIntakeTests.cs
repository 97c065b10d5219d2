using EnvoyReaper.Messaging;
using EnvoyReaper.Workloads;
using Microsoft.Extensions.Logging;
using NSubstitute;

namespace EnvoyReaper.Core.Tests.Messaging;

public sealed class MessageIntakeTests
{
    private readonly IWorkQueue queue = Substitute.For<IWorkQueue>();

    private readonly ListLogger logger = new();

    private MessageIntake Intake() => new(queue, logger);

    private static string ValidTeardown() => ReaperJson.Serialize(new TeardownMessage(
        TeardownMessage.CurrentVersion,
        "td-1",
        new DateTimeOffset(2025, 3, 1, 12, 0, 0, TimeSpan.Zero),
        "team-a",
        "web",
        "0c7d4e2a-5b1f-4c8e-9a3d-6f2b1e0d9c87",
        OptInSource.Monitor,
        "web-monitor",
        new WorkloadSettings(1, TimeSpan.FromMinutes(10), ReaperAction.Delete, 15090, "/stats", ["0.0.0.0_8080"], "web", "web", TimeSpan.FromMinutes(1)),
        new DateTimeOffset(2025, 3, 1, 11, 45, 0, TimeSpan.Zero)));

    [Fact]
    public async Task A_readable_message_is_accepted_and_not_parked()
    {
        var message = await Intake().AcceptAsync<TeardownMessage>(QueueNames.Teardown, ValidTeardown(), "m-1", TeardownMessage.CurrentVersion, CancellationToken.None);

        Assert.NotNull(message);
        Assert.Equal("web", message.Deployment);
        await queue.DidNotReceiveWithAnyArgs().MoveToPoisonAsync(default!, default!, default);
    }

    [Theory]
    [InlineData("{\"version\":1,\"action\":\"destroy\"}")]
    [InlineData("{\"version\":2}")]
    [InlineData("garbage")]
    public async Task An_unreadable_message_is_refused_and_parked_unchanged_in_the_poison_queue(string body)
    {
        var message = await Intake().AcceptAsync<TeardownMessage>(QueueNames.Teardown, body, "m-2", TeardownMessage.CurrentVersion, CancellationToken.None);

        Assert.Null(message);
        await queue.Received(1).MoveToPoisonAsync(QueueNames.Teardown, body, Arg.Any<CancellationToken>());
    }

    [Fact]
    public async Task A_stale_version_of_a_valid_message_is_refused()
    {
        var body = ValidTeardown().Replace("\"version\":1", "\"version\":2", StringComparison.Ordinal);

        var message = await Intake().AcceptAsync<TeardownMessage>(QueueNames.Teardown, body, "m-3", TeardownMessage.CurrentVersion, CancellationToken.None);

        Assert.Null(message);
        await queue.Received(1).MoveToPoisonAsync(QueueNames.Teardown, body, Arg.Any<CancellationToken>());
    }

    [Theory]
    [InlineData("team/a")]
    [InlineData("team?a")]
    [InlineData("team#a")]
    public async Task A_message_with_a_namespace_that_is_no_Kubernetes_name_is_parked_at_once_with_id_field_and_reason_logged(string @namespace)
    {
        var body = ValidTeardown().Replace("\"namespace\":\"team-a\"", "\"namespace\":" + System.Text.Json.JsonSerializer.Serialize(@namespace), StringComparison.Ordinal);
        Assert.Contains(@namespace, body, StringComparison.Ordinal);

        var message = await Intake().AcceptAsync<TeardownMessage>(QueueNames.Teardown, body, "m-4", TeardownMessage.CurrentVersion, CancellationToken.None);

        Assert.Null(message);
        await queue.Received(1).MoveToPoisonAsync(QueueNames.Teardown, body, Arg.Any<CancellationToken>());
        var line = Assert.Single(logger.Lines);
        Assert.Equal(LogLevel.Error, line.Level);
        Assert.Contains("m-4", line.Message, StringComparison.Ordinal);
        Assert.Contains("'namespace'", line.Message, StringComparison.Ordinal);
        Assert.Contains("DNS-1123 label", line.Message, StringComparison.Ordinal);
    }

    private sealed class ListLogger : ILogger<MessageIntake>
    {
        public List<(LogLevel Level, string Message)> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add((logLevel, formatter(state, exception)));
    }
}
