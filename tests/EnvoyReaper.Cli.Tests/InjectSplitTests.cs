using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using static EnvoyReaper.Cli.Tests.InjectRunner;

namespace EnvoyReaper.Cli.Tests;

/// <summary>
/// Issue 10 item 10, offline: `inject --split DIR` writes what may be applied at once (1-workloads.yaml: the Deployments,
/// their ConfigMaps, every other document, and the Services as they were) apart from what must wait for the rollout
/// (2-services.yaml: the Services pointed at Envoy), so that a GitOps user can apply the second set after the first.
/// </summary>
public sealed class InjectSplitTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("envoy-reaper-split-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    public static TheoryData<string> CorpusFiles => InjectCorpusTests.CorpusFiles;

    private async Task<(string First, string Second, string Error)> SplitAsync(string input, params string[] extra)
    {
        var target = Path.Combine(directory, Guid.NewGuid().ToString("N"));
        var (exit, output, error) = await RunAsync(input, ["inject", "-f", "-", "--split", target, .. extra]);
        Assert.True(exit == 0, error);
        Assert.Empty(output);
        return (File.ReadAllText(Path.Combine(target, "1-workloads.yaml")), File.ReadAllText(Path.Combine(target, "2-services.yaml")), error);
    }

    private static JsonNode Json(object item) => JsonNode.Parse(KubernetesJson.Serialize(item))!;

    private static string Key(IKubernetesObject<V1ObjectMeta> item) => $"{item.Kind}/{item.Metadata.NamespaceProperty}/{item.Metadata.Name}";

    [Theory]
    [MemberData(nameof(CorpusFiles))]
    public async Task Split_puts_the_Service_changes_in_a_second_set_and_the_first_set_with_the_second_is_the_unsplit_output(string file)
    {
        var input = Corpus(file);
        var (_, whole, _) = await RunAsync(input, "inject", "-f", "-");

        var (first, second, _) = await SplitAsync(input);

        var (firstObjects, firstOther) = LoadStrict(first);
        var (secondObjects, secondOther) = LoadStrict(second);
        var (wholeObjects, wholeOther) = LoadStrict(whole);
        var (inputObjects, _) = LoadStrict(input);

        // The second set: only Services, each pointed at Envoy, each exactly as the unsplit output has it.
        Assert.Empty(secondOther);
        Assert.NotEmpty(secondObjects);
        foreach (var service in secondObjects)
        {
            var retargeted = Assert.IsType<V1Service>(service);
            Assert.Contains(retargeted.Spec.Ports, port => port.TargetPort?.Value == "envoy-inbound");
            Assert.True(JsonNode.DeepEquals(Json(retargeted), Json(wholeObjects.OfType<V1Service>().Single(candidate => Key(candidate) == Key(retargeted)))));
        }

        // The first set: the Services as they were in the input, everything else as the unsplit output.
        foreach (var service in firstObjects.OfType<V1Service>())
        {
            Assert.True(JsonNode.DeepEquals(Json(service), Json(inputObjects.OfType<V1Service>().Single(candidate => Key(candidate) == Key(service)))), Key(service));
            Assert.DoesNotContain(service.Spec.Ports, port => port.TargetPort?.Value == "envoy-inbound");
        }

        var merged = firstObjects.Select(item => item is V1Service service
            ? secondObjects.OfType<V1Service>().SingleOrDefault(candidate => Key(candidate) == Key(service)) ?? item
            : item).ToList();
        Assert.Equal(wholeObjects.Count, merged.Count);
        Assert.All(wholeObjects.Zip(merged), pair => Assert.True(JsonNode.DeepEquals(Json(pair.First), Json(pair.Second))));
        Assert.Equal(wholeOther.Count, firstOther.Count);
        Assert.NotEmpty(firstObjects.OfType<V1Deployment>());
        Assert.All(firstObjects.OfType<V1Deployment>(), deployment => Assert.Single(deployment.Spec.Template.Spec.Containers, container => container.Name == "envoy"));
    }

    [Theory]
    [MemberData(nameof(CorpusFiles))]
    public async Task Documents_the_tool_does_not_change_pass_through_the_first_set_byte_for_byte_and_changed_Services_too(string file)
    {
        var input = Corpus(file);

        var (first, _, _) = await SplitAsync(input);

        var firstDocuments = Documents(first);
        foreach (var document in Documents(input))
        {
            var kind = Root(document) is { } root ? TypeKey(root) : "empty";
            if (kind is not ("apps/v1/Deployment" or "v1/List"))
            {
                Assert.Contains(document, firstDocuments);
            }
        }
    }

    [Theory]
    [MemberData(nameof(CorpusFiles))]
    public async Task Split_on_its_own_first_set_gives_the_same_two_sets(string file)
    {
        var (first, second, _) = await SplitAsync(Corpus(file));

        var (again, againSecond, _) = await SplitAsync(first);

        Assert.Equal(first, again);
        Assert.Equal(second, againSecond);
    }

    [Fact]
    public async Task Split_says_on_stderr_which_set_to_apply_when()
    {
        var (_, _, error) = await SplitAsync(Corpus("two-deployments.yaml"));

        Assert.Contains("1-workloads.yaml", error);
        Assert.Contains("2-services.yaml", error);
        Assert.Contains("kubectl rollout status", error);
    }

    [Fact]
    public async Task Split_without_a_Service_to_change_writes_a_second_set_without_objects_and_warns()
    {
        const string lonely = """
            apiVersion: apps/v1
            kind: Deployment
            metadata: { name: worker }
            spec:
              selector: { matchLabels: { app: worker } }
              template:
                metadata: { labels: { app: worker } }
                spec:
                  containers:
                    - name: worker
                      image: registry.example.com/worker:1
                      ports: [{ containerPort: 8080 }]
            """;

        var (first, second, error) = await SplitAsync(lonely);

        Assert.Single(LoadStrict(first).Typed.OfType<V1Deployment>());
        Assert.Empty(LoadStrict(second).Typed);
        Assert.Empty(LoadStrict(second).Other);
        Assert.Contains("no Service", error);
    }

    [Fact]
    public async Task Split_and_its_directory_are_documented_in_help()
    {
        var (_, output, _) = await RunAsync(null, "inject", "--help");

        Assert.Contains("--split", output);
        Assert.Contains("2-services.yaml", output);
    }
}
