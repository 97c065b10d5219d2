using System.CommandLine;
using System.Text.RegularExpressions;

namespace EnvoyReaper.Cli.Tests;

/// <summary>Every command's exit codes, as --help and README.md give them.</summary>
public sealed partial class ExitCodeTests
{
    public static TheoryData<string> Commands() => new(ExitCodes.ByCommand.Keys);

    private static async Task<(int Exit, string Out, string Error)> RunAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exit = await ReaperCommandLine.Build(TextReader.Null).Parse(args).InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr });
        return (exit, stdout.ToString(), stderr.ToString());
    }

    private static string Collapse(string text) => Whitespace().Replace(text, " ");

    [Fact]
    public void Every_command_has_documented_exit_codes()
    {
        var leaves = new List<string>();
        void Walk(Command command, string path)
        {
            if (command.Subcommands.Count == 0)
            {
                leaves.Add(path);
            }

            foreach (var subcommand in command.Subcommands)
            {
                Walk(subcommand, path.Length == 0 ? subcommand.Name : $"{path} {subcommand.Name}");
            }
        }

        Walk(ReaperCommandLine.Build(TextReader.Null), string.Empty);
        Assert.Equal(leaves.Order(), ExitCodes.ByCommand.Keys.Order());
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public async Task Every_command_lists_its_exit_codes_in_its_help(string command)
    {
        var (exit, output, _) = await RunAsync([.. command.Split(' '), "--help"]);

        Assert.Equal(0, exit);
        Assert.Contains(ExitCodes.Describe(command), Collapse(output), StringComparison.Ordinal);
    }

    [Fact]
    public void The_readme_lists_the_exit_codes_of_every_command_as_the_help_does()
    {
        var readme = File.ReadAllText(Path.Combine(RepositoryRoot(), "README.md"));
        var rows = ReadmeRow().Matches(readme).ToDictionary(match => match.Groups["command"].Value, match => match.Groups["codes"].Value.Trim());

        foreach (var command in ExitCodes.ByCommand.Keys)
        {
            Assert.True(rows.TryGetValue(command, out var codes), $"README.md has no exit-code row for `envoy-reaper {command}`");
            Assert.Equal(ExitCodes.Describe(command), codes);
        }
    }

    [Fact]
    public async Task An_invalid_command_line_exits_with_the_usage_code()
    {
        var (exit, _, error) = await RunAsync("snapshots", "--no-such-option");

        Assert.Equal(ExitCodes.Usage, exit);
        Assert.NotEmpty(error);
    }

    [Fact]
    public async Task Inject_of_a_file_that_does_not_exist_exits_with_the_configuration_code()
    {
        var (exit, _, error) = await RunAsync("inject", "-f", Path.Combine(Path.GetTempPath(), $"missing-{Guid.NewGuid():N}.yaml"));

        Assert.Equal(ExitCodes.Configuration, exit);
        Assert.StartsWith("error: ", error, StringComparison.Ordinal);
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Functions.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("Functions.sln not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    [GeneratedRegex(@"^\| `envoy-reaper (?<command>[a-z ]+)` \| (?<codes>.+?) \|\s*$", RegexOptions.Multiline)]
    private static partial Regex ReadmeRow();
}
