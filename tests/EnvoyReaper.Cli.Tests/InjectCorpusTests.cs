using k8s.Models;
using static EnvoyReaper.Cli.Tests.InjectRunner;

namespace EnvoyReaper.Cli.Tests;

/// <summary>
/// `envoy-reaper inject` on multi-document manifests shaped like real projects' (Corpus/): Helm output with empty
/// templates, a List (also as kubectl prints it in JSON), custom resources and old apiVersions, two Deployments, objects
/// without a namespace.
/// </summary>
public sealed class InjectCorpusTests
{
    public static TheoryData<string> CorpusFiles => new(Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Corpus")).Select(Path.GetFileName).Order()!);

    [Theory]
    [MemberData(nameof(CorpusFiles))]
    public async Task Every_corpus_manifest_is_injected_into_strictly_valid_objects(string file)
    {
        var (exit, output, error) = await RunAsync(Corpus(file), "inject", "-f", "-");

        Assert.True(exit == 0, error);
        var (typed, _) = LoadStrict(output);
        var deployments = typed.OfType<V1Deployment>().ToList();
        Assert.NotEmpty(deployments);
        foreach (var deployment in deployments)
        {
            Assert.Single(deployment.Spec.Template.Spec.Containers, container => container.Name == "envoy");
            var configMap = Assert.Single(typed.OfType<V1ConfigMap>(), map => map.Metadata.Name == $"{deployment.Metadata.Name}-envoy");
            Assert.Equal(deployment.Metadata.NamespaceProperty, configMap.Metadata.NamespaceProperty);
            Assert.Contains(typed.OfType<V1Service>(), service => service.Spec.Ports.Any(port => port.TargetPort?.Value == "envoy-inbound"));
        }
    }

    [Theory]
    [MemberData(nameof(CorpusFiles))]
    public async Task Inject_on_its_own_output_of_a_corpus_manifest_changes_nothing(string file)
    {
        var (_, first, _) = await RunAsync(Corpus(file), "inject", "-f", "-");

        var (exit, second, error) = await RunAsync(first, "inject", "-f", "-");

        Assert.True(exit == 0, error);
        Assert.Equal(first, second);
    }

    [Theory]
    [MemberData(nameof(CorpusFiles))]
    public async Task Documents_the_tool_does_not_change_pass_through_byte_for_byte(string file)
    {
        var input = Corpus(file);

        var (exit, output, error) = await RunAsync(input, "inject", "-f", "-");

        Assert.True(exit == 0, error);
        var outputDocuments = Documents(output);
        foreach (var document in Documents(input))
        {
            var kind = Root(document) is { } root ? TypeKey(root) : "empty";
            if (kind is not ("apps/v1/Deployment" or "v1/Service" or "v1/List"))
            {
                Assert.Contains(document, outputDocuments);
            }
        }
    }

    [Fact]
    public async Task Empty_and_comment_only_documents_as_Helm_prints_them_survive_in_place()
    {
        var input = Corpus("helm-podinfo.yaml");

        var (exit, output, error) = await RunAsync(input, "inject", "-f", "-");

        Assert.True(exit == 0, error);
        Assert.StartsWith("---\n# Source: podinfo/templates/hpa.yaml\n# hpa disabled in values.yaml\n---\n# Source: podinfo/templates/serviceaccount.yaml\n", output);
        Assert.Contains("---\n# Source: podinfo/templates/redis/config.yaml\n\n---\n", output);
        Assert.Contains("---\n# Source: podinfo/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\n", output);
        Assert.EndsWith("---\n# Source: podinfo/templates/tests/cache.yaml\n# helm test hooks are disabled\n---\n---\n", output);
    }

    [Theory]
    [InlineData("helm-podinfo.yaml")]
    [InlineData("no-namespace.yaml")]
    public async Task Objects_without_a_namespace_stay_without_one_and_the_ConfigMap_gets_none(string file)
    {
        var (exit, output, error) = await RunAsync(Corpus(file), "inject", "-f", "-");

        Assert.True(exit == 0, error);
        var (typed, _) = LoadStrict(output);
        Assert.Contains(typed, item => item is V1ConfigMap);
        Assert.All(typed.Cast<k8s.IKubernetesObject<V1ObjectMeta>>(), item => Assert.Null(item.Metadata.NamespaceProperty));
        Assert.DoesNotContain("namespace:", output);
    }

    [Fact]
    public async Task The_items_of_a_List_are_injected_inside_the_List()
    {
        var (exit, output, error) = await RunAsync(Corpus("list.yaml"), "inject", "-f", "-");

        Assert.True(exit == 0, error);
        var list = Assert.Single(Documents(output).Select(Root).OfType<YamlDotNet.RepresentationModel.YamlMappingNode>());
        Assert.Equal("v1/List", TypeKey(list));
        var (typed, other) = LoadStrict(output);
        Assert.Empty(other);
        Assert.Equal(["ConfigMap/frontend-envoy", "Deployment/frontend", "Service/frontend", "ConfigMap/guestbook-settings"],
            typed.Cast<k8s.IKubernetesObject<V1ObjectMeta>>().Select(item => $"{item.Kind}/{item.Metadata.Name}"));
        Assert.Contains(typed.OfType<V1Deployment>().Single().Spec.Template.Spec.Containers, container => container.Name == "envoy");
        Assert.Equal("envoy-inbound", typed.OfType<V1Service>().Single().Spec.Ports.Single().TargetPort.Value);
        var settings = typed.OfType<V1ConfigMap>().Single(map => map.Metadata.Name == "guestbook-settings");
        Assert.Equal("dns", settings.Data["GET_HOSTS_FROM"]);
        Assert.Equal("Welcome to the guestbook\n---\nsign below\n", settings.Data["banner"]);
    }

    [Fact]
    public async Task Custom_resources_and_old_apiVersions_pass_through_and_the_apps_v1_Deployment_is_injected()
    {
        var input = Corpus("crd-and-old-apis.yaml");

        var (exit, output, error) = await RunAsync(input, "inject", "-f", "-");

        Assert.True(exit == 0, error);
        var inputDocuments = Documents(input);
        var outputDocuments = Documents(output);
        Assert.Equal(inputDocuments[0], outputDocuments[0]); // ServiceMonitor
        Assert.Equal(inputDocuments[1], outputDocuments[1]); // extensions/v1beta1 Ingress
        Assert.Equal(inputDocuments[2], outputDocuments[2]); // extensions/v1beta1 Deployment: not injected
        Assert.Contains("legacy-cart", error);
        var (typed, _) = LoadStrict(output);
        Assert.Equal("checkout", Assert.Single(typed.OfType<V1Deployment>()).Metadata.Name);
        Assert.Equal("shop", Assert.Single(typed.OfType<V1ConfigMap>()).Metadata.NamespaceProperty);
    }

    [Fact]
    public async Task Every_Deployment_of_a_file_is_injected_with_its_own_ConfigMap_and_Service()
    {
        var (exit, output, error) = await RunAsync(Corpus("two-deployments.yaml"), "inject", "-f", "-");

        Assert.True(exit == 0, error);
        var (typed, _) = LoadStrict(output);
        Assert.Equal(["frontend", "catalog"], typed.OfType<V1Deployment>().Where(item => item.Spec.Template.Spec.Containers.Any(container => container.Name == "envoy")).Select(item => item.Metadata.Name));
        Assert.Equal(["frontend-envoy", "catalog-envoy"], typed.OfType<V1ConfigMap>().Select(map => map.Metadata.Name));
        Assert.Contains("port_value: 8080", typed.OfType<V1ConfigMap>().First().Data["envoy.yaml"]);
        Assert.Contains("port_value: 3550", typed.OfType<V1ConfigMap>().Last().Data["envoy.yaml"]);
        Assert.All(typed.OfType<V1Service>(), service => Assert.Equal("envoy-inbound", service.Spec.Ports.Single().TargetPort.Value));
    }

    [Fact]
    public async Task The_deployment_option_injects_one_Deployment_and_passes_the_others_through()
    {
        var input = Corpus("two-deployments.yaml");

        var (exit, output, error) = await RunAsync(input, "inject", "-f", "-", "--deployment", "catalog");

        Assert.True(exit == 0, error);
        var inputDocuments = Documents(input);
        var outputDocuments = Documents(output);
        Assert.Equal(inputDocuments[0], outputDocuments[0]);
        Assert.Equal(inputDocuments[1], outputDocuments[1]);
        var (typed, _) = LoadStrict(output);
        Assert.Equal("catalog-envoy", Assert.Single(typed.OfType<V1ConfigMap>()).Metadata.Name);
    }

    [Fact]
    public async Task A_deployment_option_naming_no_Deployment_of_the_file_is_refused()
    {
        var (exit, output, error) = await RunAsync(Corpus("two-deployments.yaml"), "inject", "-f", "-", "--deployment", "cart");

        Assert.Equal(2, exit);
        Assert.Empty(output);
        Assert.Contains("cart", error);
    }

    [Fact]
    public async Task Windows_line_endings_are_read_and_the_untouched_documents_keep_them()
    {
        var input = Corpus("two-deployments.yaml").ReplaceLineEndings("\r\n");

        var (exit, output, error) = await RunAsync(input, "inject", "-f", "-", "--deployment", "catalog");

        Assert.True(exit == 0, error);
        Assert.StartsWith(string.Concat(Documents(input).Take(2)), output);
        Assert.Equal("catalog", Assert.Single(LoadStrict(output).Typed.OfType<V1Deployment>(), item => item.Spec.Template.Spec.Containers.Any(container => container.Name == "envoy")).Metadata.Name);
        var (again, second, _) = await RunAsync(output, "inject", "-f", "-", "--deployment", "catalog");
        Assert.Equal(0, again);
        Assert.Equal(output, second);
    }

    [Fact]
    public async Task A_List_printed_as_JSON_comes_out_as_block_YAML()
    {
        var (exit, output, error) = await RunAsync(Corpus("kubectl-get-list.json"), "inject", "-f", "-");

        Assert.True(exit == 0, error);
        Assert.StartsWith("\"apiVersion\": \"v1\"\n\"items\":\n", output);
        Assert.Equal(["ConfigMap", "Deployment", "Service"], LoadStrict(output).Typed.Cast<k8s.IKubernetesObject<V1ObjectMeta>>().Select(item => item.Kind));
    }

    [Fact]
    public async Task A_refusal_after_a_warning_is_still_one_error_line_and_prints_nothing()
    {
        var input = Corpus("crd-and-old-apis.yaml") + "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: { name: broken, namespace: shop }\nspec: {}\n";

        var (exit, output, error) = await RunAsync(input, "inject", "-f", "-");

        Assert.Equal(2, exit);
        Assert.Empty(output);
        Assert.Equal("error: Deployment broken has no pod template (spec.template.spec)\n", error.ReplaceLineEndings("\n"));
    }
}
