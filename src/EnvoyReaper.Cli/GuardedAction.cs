using System.CommandLine;
using System.CommandLine.Invocation;

namespace EnvoyReaper.Cli;

/// <summary>Runs a command's action so that whatever it throws reaches the user as one "error:" line and an exit code.</summary>
internal sealed class GuardedAction(AsynchronousCommandLineAction action) : AsynchronousCommandLineAction
{
    public override async Task<int> InvokeAsync(ParseResult parseResult, CancellationToken cancellationToken = default)
    {
        try
        {
            return await action.InvokeAsync(parseResult, cancellationToken);
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            var (exitCode, message) = CommandFailure.Describe(exception);
            await parseResult.InvocationConfiguration.Error.WriteLineAsync($"error: {message}");
            return exitCode;
        }
    }

    /// <summary>Guards the action of <paramref name="command"/> and of every command under it.</summary>
    public static void GuardAll(Command command)
    {
        if (command.Action is AsynchronousCommandLineAction asynchronous and not GuardedAction)
        {
            command.Action = new GuardedAction(asynchronous);
        }

        foreach (var subcommand in command.Subcommands)
        {
            GuardAll(subcommand);
        }
    }
}
