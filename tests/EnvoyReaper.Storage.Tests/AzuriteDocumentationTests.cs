using System.Text.RegularExpressions;

namespace EnvoyReaper.Storage.Tests;

/// <summary>What a new user reads: the Quick start, and every Azurite command they may copy.</summary>
public sealed partial class AzuriteDocumentationTests
{
    private static readonly string Root = RepositoryRoot();

    public static TheoryData<string> DocumentsAndScripts()
    {
        var data = new TheoryData<string>();
        foreach (var path in (string[])["README.md", "DEVELOPERS.md", ".ci/run", "tests/EnvoyReaper.Benchmarks.Cycle/README.md"])
        {
            data.Add(path);
        }

        foreach (var script in Directory.EnumerateFiles(Path.Combine(Root, "infra"), "*.sh", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetRelativePath(Root, script));
        }

        foreach (var source in Directory.EnumerateFiles(Path.Combine(Root, "tests"), "*.cs", SearchOption.AllDirectories)
                     .Concat(Directory.EnumerateFiles(Path.Combine(Root, "src"), "*.cs", SearchOption.AllDirectories))
                     .Where(path => !path.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                         && !path.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                         && File.ReadAllText(path).Contains("azurite", StringComparison.OrdinalIgnoreCase))
                     .Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetRelativePath(Root, source));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(DocumentsAndScripts))]
    public void Every_azurite_command_passes_the_flags_the_storage_sdks_in_use_need(string path)
    {
        var text = File.ReadAllText(Path.Combine(Root, path)).Replace("\\\n", " ", StringComparison.Ordinal);
        foreach (Match command in AzuriteCommand().Matches(text))
        {
            var line = Regex.Replace(command.Value, @"\s+", " ");
            Assert.True(line.Contains("--skipApiVersionCheck", StringComparison.Ordinal) && line.Contains("--loose", StringComparison.Ordinal),
                $"{path}: `{line}` lacks --skipApiVersionCheck --loose (the SDKs send API versions Azurite 3.37.0 refuses)");
        }
    }

    [Fact]
    public void The_readme_opens_with_a_quick_start_naming_node_and_both_commands()
    {
        var readme = File.ReadAllText(Path.Combine(Root, "README.md"));
        var sections = readme.Split("\n## ");
        Assert.StartsWith("Quick start", sections[1], StringComparison.Ordinal);
        Assert.Single(sections, section => section.StartsWith("Quick start", StringComparison.Ordinal));
        var quickStart = sections[1];
        Assert.Contains("Node.js", quickStart.Split("\n\n")[0], StringComparison.Ordinal); // in its first lines
        Assert.Contains("dotnet test Functions.sln", quickStart, StringComparison.Ordinal);
        Assert.Contains("infra/local/run.sh", quickStart, StringComparison.Ordinal);
    }

    [Fact]
    public void Ci_runs_exactly_the_readme_test_command_and_starts_no_azurite_of_its_own()
    {
        var ci = File.ReadAllText(Path.Combine(Root, ".ci", "run"));

        Assert.Matches(new Regex(@"^timeout \d+ dotnet test Functions\.sln 2>&1", RegexOptions.Multiline), ci);
        Assert.DoesNotMatch(new Regex(@"azurite@|\.bin/azurite|npm install", RegexOptions.IgnoreCase), ci);
        Assert.DoesNotContain("ENVOYREAPER_TEST_STORAGE=", ci, StringComparison.Ordinal);
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

    /// <summary>An Azurite invocation: the package or its binary, then its flags, up to the end of the command or code span.</summary>
    [GeneratedRegex(@"(azurite@\d[\w.]*|\.bin/azurite|node_modules/azurite\S*)((?:[ \t]+|\n(?=--))--?[\w-]+(?:[ \t]+(?!--)[^\s`""'|;&)]+)?)+")]
    private static partial Regex AzuriteCommand();
}
