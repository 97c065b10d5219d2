using EnvoyReaper.Functions.Tests.Support;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Functions.Tests;

/// <summary>
/// The settings the app reads, found by reading them: the app's own wiring is built over a configuration that records
/// every key asked for, and every options type of ours is bound. README.md's settings table and local.settings.sample.json
/// must agree with that list, so none of the three can drift.
/// </summary>
public sealed partial class SettingsDocumentationTests : IDisposable
{
    /// <summary>Read by the Functions host, not by our code: the worker runtime, and the timer's %ReaperSchedule% binding.</summary>
    private static readonly string[] HostSettings = ["FUNCTIONS_WORKER_RUNTIME", "ReaperSchedule"];

    private readonly UnreachableKubeConfig kubeconfig = new();

    public void Dispose() => kubeconfig.Dispose();

    [Fact]
    public void Every_setting_the_app_reads_is_in_the_readme_table()
    {
        var documented = ReadmeSettings();

        AssertNone(SettingsTheAppReads().Where(setting => !documented.Contains(setting)), "read by the app but not in README.md's settings table");
    }

    [Fact]
    public void Every_setting_in_the_readme_table_is_one_the_app_or_the_host_reads()
    {
        var read = SettingsTheAppReads();

        AssertNone(ReadmeSettings().Where(setting => !read.Contains(setting) && !HostSettings.Contains(setting, StringComparer.OrdinalIgnoreCase)), "in README.md's settings table but read by nothing");
    }

    [Fact]
    public void Every_setting_of_the_sample_is_read_and_in_the_readme_table()
    {
        var sample = JsonNode.Parse(File.ReadAllText(Path.Combine(RepositoryRoot(), "local.settings.sample.json")))!["Values"]!.AsObject().Select(pair => pair.Key).ToList();
        var read = SettingsTheAppReads();
        var documented = ReadmeSettings();

        AssertNone(sample.Where(setting => !documented.Contains(setting)), "in local.settings.sample.json but not in README.md's settings table");
        AssertNone(sample.Where(setting => !read.Contains(setting) && !HostSettings.Contains(setting, StringComparer.OrdinalIgnoreCase)), "in local.settings.sample.json but read by nothing");
    }

    [Fact]
    public void The_recording_finds_the_settings_of_every_options_type()
    {
        var read = SettingsTheAppReads();

        // One of each kind: a scalar of every section, a collection, and a setting read by hand.
        Assert.Contains("Reaper__DryRun", read);
        Assert.Contains("Reaper__MaxTeardownsPerHour", read);
        Assert.Contains("EnvoyStats__Timeout", read);
        Assert.Contains("Kubernetes__RequestTimeoutSeconds", read);
        Assert.Contains("Injection__AllowedNamespaces__N", read);
        Assert.Contains("AzureWebJobsStorage__accountName", read);
        Assert.Contains("APPLICATIONINSIGHTS_CONNECTION_STRING", read);
    }

    private static void AssertNone(IEnumerable<string> settings, string what)
    {
        var found = settings.Order(StringComparer.Ordinal).ToList();
        Assert.True(found.Count == 0, $"{what}: {string.Join(", ", found)}");
    }

    /// <summary>
    /// Each options type of ours bound from a section (found by binding it over a recording configuration) contributes
    /// "Section__Property" for each of its settable properties ("__N" for a collection); settings read by hand (the
    /// storage connection, the exporters) are the keys the recording saw.
    /// </summary>
    private HashSet<string> SettingsTheAppReads()
    {
        var settings = new Dictionary<string, string?>
        {
            ["AzureWebJobsStorage"] = "UseDevelopmentStorage=true",
            ["Kubernetes:Mode"] = "KubeConfig",
            ["Kubernetes:KubeConfigPath"] = kubeconfig.Path,
        };
        var registration = new RecordingConfigurationSource(settings);
        var services = new ServiceCollection().AddLogging();
        services.AddEnvoyReaperFunctions(new ConfigurationBuilder().Add(registration).Build());
        var optionsTypes = services
            .Where(descriptor => descriptor.ServiceType.IsGenericType && descriptor.ServiceType.GetGenericTypeDefinition() == typeof(IConfigureOptions<>))
            .Select(descriptor => descriptor.ServiceType.GetGenericArguments()[0])
            .Where(type => type.Namespace?.StartsWith("EnvoyReaper", StringComparison.Ordinal) == true)
            .Distinct()
            .ToList();
        Assert.True(optionsTypes.Count >= 5, $"found only {optionsTypes.Count} options types");

        var names = new HashSet<string>(registration.Provider.Keys(), StringComparer.OrdinalIgnoreCase);
        var sections = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var type in optionsTypes)
        {
            var recording = new RecordingConfigurationSource(settings);
            var typeServices = new ServiceCollection().AddLogging();
            typeServices.AddEnvoyReaperFunctions(new ConfigurationBuilder().Add(recording).Build());
            using var provider = typeServices.BuildServiceProvider();
            var accessor = provider.GetRequiredService(typeof(IOptions<>).MakeGenericType(type));
            try
            {
                _ = accessor.GetType().GetProperty("Value")!.GetValue(accessor);
            }
            catch (System.Reflection.TargetInvocationException exception) when (exception.InnerException is OptionsValidationException)
            {
                // Read before validated: the recording is complete.
            }

            names.UnionWith(recording.Provider.Keys());
            // A type bound to a nested section (Injection:Rollout) names it; the others are bound to a top-level one.
            var ownSection = type.GetField("SectionName", System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)?.GetValue(null) as string;
            var bound = ownSection is not null
                ? [ownSection]
                : recording.Provider.ListedSections().Where(section => !section.Contains(':', StringComparison.Ordinal));
            foreach (var section in bound.Select(section => section.Replace(":", "__", StringComparison.Ordinal)))
            {
                sections.Add(section);
                foreach (var property in type.GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance).Where(property => property.SetMethod?.IsPublic == true))
                {
                    var collection = property.PropertyType != typeof(string) && typeof(System.Collections.IEnumerable).IsAssignableFrom(property.PropertyType);
                    names.Add($"{section}__{property.Name}{(collection ? "__N" : string.Empty)}");
                }
            }
        }

        names.ExceptWith(sections); // the binder reads a section's own value too
        return names;
    }

    private static HashSet<string> ReadmeSettings()
    {
        var readme = File.ReadAllText(Path.Combine(RepositoryRoot(), "README.md"));
        var start = readme.IndexOf("\n## Settings", StringComparison.Ordinal);
        Assert.True(start >= 0, "README.md has no Settings section");
        var end = readme.IndexOf("\n## ", start + 1, StringComparison.Ordinal);
        var section = readme[start..(end < 0 ? readme.Length : end)];
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var row in section.Split('\n').Where(line => line.StartsWith("| `", StringComparison.Ordinal)))
        {
            foreach (Match name in BacktickedName().Matches(row.Split('|')[1]))
            {
                names.Add(name.Groups["name"].Value);
            }
        }

        return names;
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

    [GeneratedRegex("`(?<name>[A-Za-z_][A-Za-z0-9_.]*)`")]
    private static partial Regex BacktickedName();

    private sealed class RecordingConfigurationSource(IDictionary<string, string?> values) : IConfigurationSource
    {
        public RecordingConfigurationProvider Provider { get; } = new(values);

        public IConfigurationProvider Build(IConfigurationBuilder builder) => Provider;
    }

    /// <summary>Records every key read and every section whose children were listed (collections are bound that way).</summary>
    private sealed partial class RecordingConfigurationProvider : ConfigurationProvider
    {
        private readonly HashSet<string> keys = new(StringComparer.OrdinalIgnoreCase);
        private readonly HashSet<string> listed = new(StringComparer.OrdinalIgnoreCase);

        public RecordingConfigurationProvider(IDictionary<string, string?> values)
        {
            foreach (var (key, value) in values)
            {
                Data[key] = value;
            }
        }

        public override bool TryGet(string key, out string? value)
        {
            lock (keys)
            {
                keys.Add(key);
            }

            return base.TryGet(key, out value);
        }

        public override IEnumerable<string> GetChildKeys(IEnumerable<string> earlierKeys, string? parentPath)
        {
            if (parentPath is not null)
            {
                lock (keys)
                {
                    listed.Add(parentPath);
                }
            }

            return base.GetChildKeys(earlierKeys, parentPath);
        }

        /// <summary>The keys read, "Reaper:DryRun" as "Reaper__DryRun".</summary>
        public IEnumerable<string> Keys()
        {
            lock (keys)
            {
                return keys.Select(key => IndexSegment().Replace(key, ":N").Replace(":", "__", StringComparison.Ordinal)).ToList();
            }
        }

        public IEnumerable<string> ListedSections()
        {
            lock (keys)
            {
                return listed.ToList();
            }
        }

        [GeneratedRegex(@":\d+(?=:|$)")]
        private static partial Regex IndexSegment();
    }
}
