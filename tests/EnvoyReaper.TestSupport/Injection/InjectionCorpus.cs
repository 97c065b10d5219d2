using k8s;
using k8s.Models;

namespace EnvoyReaper.TestSupport.Injection;

/// <summary>
/// Manifests shaped like real projects' (tests/EnvoyReaper.Core.Tests/Injection/Corpus), loaded strictly with the
/// Kubernetes client: an unknown field fails the load.
/// </summary>
public sealed class InjectionCorpus(string file, IReadOnlyList<object> objects)
{
    public static IEnumerable<string> Files =>
        System.IO.Directory.GetFiles(CorpusDirectory, "*.yaml").Select(Path.GetFileName).Order(StringComparer.Ordinal)!;

    private static string CorpusDirectory => Path.Combine(AppContext.BaseDirectory, "InjectionCorpus");

    public string File => file;

    public IReadOnlyList<object> Objects => objects;

    public IReadOnlyList<V1Deployment> Deployments => objects.OfType<V1Deployment>().ToList();

    public IReadOnlyList<V1Service> Services => objects.OfType<V1Service>().ToList();

    public static string PathOf(string name) => Path.Combine(CorpusDirectory, name);

    public static string Text(string name) => System.IO.File.ReadAllText(PathOf(name));

    public static InjectionCorpus Load(string name) => new(name, KubernetesYaml.LoadAllFromString(Text(name), strict: true));

    public V1Deployment Deployment(string name) => Deployments.Single(deployment => deployment.Metadata.Name == name);

    public V1Service Service(string name) => Services.Single(service => service.Metadata.Name == name);
}
