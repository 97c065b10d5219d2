using System.CommandLine;

namespace EnvoyReaper.Cli.Tests;

/// <summary>What every command shares: how a command line that cannot be run as written is answered.</summary>
public sealed class CommandLineTests
{
    [Theory]
    [InlineData("breaker", "status", "--output", "xml")]
    [InlineData("restore", "--namespace")]
    [InlineData("scan", "--bogus")]
    [InlineData("nonsense")]
    [InlineData]
    public async Task A_usage_error_of_any_command_is_one_line_on_stderr_with_the_usage_exit_code(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        var exit = await ReaperCommandLine.InvokeAsync(args, new InvocationConfiguration { Output = stdout, Error = stderr });

        Assert.Equal(1, exit);
        Assert.Empty(stdout.ToString());
        var line = Assert.Single(stderr.ToString().TrimEnd('\n').Split('\n'));
        Assert.StartsWith("error: ", line);
        Assert.EndsWith("--help')", line);
    }
}
