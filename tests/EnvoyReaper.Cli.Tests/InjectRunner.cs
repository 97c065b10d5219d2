using System.CommandLine;
using System.Text.RegularExpressions;
using k8s;
using k8s.Models;
using YamlDotNet.RepresentationModel;

namespace EnvoyReaper.Cli.Tests;

/// <summary>Runs `envoy-reaper inject` in-process and reads its output the way kubectl would, strictly.</summary>
internal static partial class InjectRunner
{
    public static readonly Dictionary<string, Type> StrictKinds = new()
    {
        ["v1/ConfigMap"] = typeof(V1ConfigMap),
        ["v1/Service"] = typeof(V1Service),
        ["v1/ServiceAccount"] = typeof(V1ServiceAccount),
        ["apps/v1/Deployment"] = typeof(V1Deployment),
    };

    public static async Task<(int Exit, string Out, string Error)> RunAsync(string? stdin, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exit = await ReaperCommandLine.InvokeAsync(args, new InvocationConfiguration { Output = stdout, Error = stderr }, new StringReader(stdin ?? string.Empty));
        return (exit, stdout.ToString(), stderr.ToString());
    }

    /// <summary>The raw text of each YAML document: a line starting with "---" at column 0 begins one (YAML 1.2, 9.1.3).</summary>
    public static List<string> Documents(string text)
    {
        var documents = new List<string>();
        var current = new System.Text.StringBuilder();
        foreach (var line in LineRegex().Matches(text).Select(match => match.Value))
        {
            if (DocumentStartRegex().IsMatch(line) && current.Length > 0)
            {
                documents.Add(current.ToString());
                current.Clear();
            }

            current.Append(line);
        }

        if (current.Length > 0)
        {
            documents.Add(current.ToString());
        }

        return documents;
    }

    /// <summary>The root mapping of a document, or null for an empty (or comment-only) one.</summary>
    public static YamlMappingNode? Root(string document)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(document));
        return stream.Documents.Count == 0 ? null : stream.Documents[0].RootNode as YamlMappingNode;
    }

    public static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is YamlScalarNode scalar ? scalar.Value : null;

    public static string TypeKey(YamlMappingNode node) => $"{Scalar(node, "apiVersion")}/{Scalar(node, "kind")}";

    /// <summary>
    /// Every object of known kind deserialized strictly (unknown fields throw), including the items of a List; objects
    /// of other kinds returned as their YAML nodes.
    /// </summary>
    public static (List<object> Typed, List<YamlMappingNode> Other) LoadStrict(string text)
    {
        var typed = new List<object>();
        var other = new List<YamlMappingNode>();
        void Add(YamlMappingNode node)
        {
            if (TypeKey(node) == "v1/List")
            {
                foreach (var item in ((YamlSequenceNode)node.Children[new YamlScalarNode("items")]).Children)
                {
                    Add((YamlMappingNode)item);
                }
            }
            else if (StrictKinds.TryGetValue(TypeKey(node), out var type))
            {
                typed.Add(KubernetesYaml.LoadAllFromString(Text(node), new Dictionary<string, Type> { [TypeKey(node)] = type }, strict: true).Single());
            }
            else
            {
                other.Add(node);
            }
        }

        foreach (var document in Documents(text))
        {
            if (Root(document) is { } root)
            {
                Add(root);
            }
        }

        return (typed, other);
    }

    public static string Text(YamlNode node)
    {
        var writer = new StringWriter();
        new YamlStream(new YamlDocument(node)).Save(writer, assignAnchors: false);
        return writer.ToString();
    }

    public static string Corpus(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Corpus", name));

    [GeneratedRegex(@"[^\n]*\n|[^\n]+$")]
    private static partial Regex LineRegex();

    [GeneratedRegex(@"^---(\s|$)")]
    private static partial Regex DocumentStartRegex();
}
