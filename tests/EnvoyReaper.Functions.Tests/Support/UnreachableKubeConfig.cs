namespace EnvoyReaper.Functions.Tests.Support;

/// <summary>
/// A valid kubeconfig whose server nothing answers (127.0.0.1:1): for tests that build the app's container and must
/// not reach a cluster.
/// </summary>
public sealed class UnreachableKubeConfig : IDisposable
{
    public UnreachableKubeConfig() => File.WriteAllText(Path, """
        apiVersion: v1
        kind: Config
        clusters:
        - name: test
          cluster: { server: "http://127.0.0.1:1" }
        contexts:
        - name: test
          context: { cluster: test, user: test }
        users:
        - name: test
          user: { token: test-token }
        current-context: test
        """);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"kubeconfig-{Guid.NewGuid():N}.yaml");

    public void Dispose() => File.Delete(Path);
}
