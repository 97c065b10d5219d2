using EnvoyReaper.Messaging;
using EnvoyReaper.Workloads;
using Microsoft.Extensions.Logging.Abstractions;
using NSubstitute;

namespace EnvoyReaper.Core.Tests.Messaging;

public sealed class MessageIntakeTests
{
    private readonly IWorkQueue queue = Substitute.For<IWorkQueue>();

    private MessageIntake Intake() => new(queue, NullLogger<MessageIntake>.Instance);

    private static string ValidTeardown() => ReaperJson.Serialize(new TeardownMessage(
        TeardownMessage.CurrentVersion,
        "td-1",
        new DateTimeOffset(2025, 3, 1, 12, 0, 0, TimeSpan.Zero),
        "team-a",
        "web",
        "dep-uid",
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
}
