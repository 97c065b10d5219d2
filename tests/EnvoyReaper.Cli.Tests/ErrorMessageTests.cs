using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using System.Text;
using EnvoyReaper.TestSupport.Kubernetes;
using EnvoyReaper.TestSupport.Storage;

namespace EnvoyReaper.Cli.Tests;

/// <summary>What a person sees when a command cannot do its work: one line in their words, never a stack trace.</summary>
public sealed class ErrorMessageTests : IAsyncLifetime
{
    private string directory = null!;

    public Task InitializeAsync()
    {
        directory = Directory.CreateTempSubdirectory("envoy-reaper-cli-errors-").FullName;
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        Directory.Delete(directory, recursive: true);
        return Task.CompletedTask;
    }

    private static async Task<(int Exit, string Out, string Error)> RunAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exit = await ReaperCommandLine.Build(TextReader.Null).Parse(args).InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr });
        return (exit, stdout.ToString(), stderr.ToString());
    }

    /// <summary>One "error: " line a user can act on: no stack trace, no exception type, no Functions setting.</summary>
    private static string AssertOneErrorLine(string error)
    {
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var line = Assert.Single(lines);
        Assert.StartsWith("error: ", line, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", line, StringComparison.Ordinal);
        Assert.DoesNotContain("Kubernetes:", line, StringComparison.Ordinal);
        Assert.DoesNotContain("DataAnnotation", line, StringComparison.Ordinal);
        Assert.DoesNotContain("Object reference", line, StringComparison.Ordinal);
        return line;
    }

    private string Write(string name, string content)
    {
        var path = Path.Combine(directory, name);
        File.WriteAllText(path, content);
        return path;
    }

    [Theory]
    [InlineData("scan")]
    [InlineData("restore")]
    public async Task A_missing_kubeconfig_names_the_path_tried_and_the_options(string command)
    {
        var missing = Path.Combine(directory, "no-such-kubeconfig");
        string[] args = command == "scan"
            ? ["scan", "--kubeconfig", missing]
            : ["restore", "-n", "games", "-d", "arena", "--storage", "UseDevelopmentStorage=true", "--kubeconfig", missing];

        var (exit, _, error) = await RunAsync(args);

        Assert.Equal(ExitCodes.Configuration, exit);
        var line = AssertOneErrorLine(error);
        Assert.Contains(missing, line, StringComparison.Ordinal);
        Assert.Contains("--kubeconfig", line, StringComparison.Ordinal);
        Assert.Contains("--context", line, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_kubeconfig_the_paths_tried_are_the_KUBECONFIG_entries_else_the_home_config()
    {
        var home = Path.Combine(directory, "home");
        var first = Path.Combine(directory, "a");
        var second = Write("b", "apiVersion: v1");

        var fromVariable = KubeConfigFile.Locate(explicitPath: null, kubeconfigVariable: $"{first}{Path.PathSeparator}{second}", home);
        var fromHome = KubeConfigFile.Locate(explicitPath: null, kubeconfigVariable: null, home);

        Assert.Equal(second, fromVariable.Path);
        Assert.Equal([first, second], fromVariable.Tried);
        Assert.Null(fromHome.Path);
        Assert.Equal([Path.Combine(home, ".kube", "config")], fromHome.Tried);
        var message = KubeConfigFile.NotFoundMessage(fromHome.Tried);
        Assert.Contains(Path.Combine(home, ".kube", "config"), message, StringComparison.Ordinal);
        Assert.Contains("--kubeconfig", message, StringComparison.Ordinal);
        Assert.Contains("--context", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_empty_kubeconfig_says_it_is_empty()
    {
        var empty = Write("empty", "\n");

        var (exit, _, error) = await RunAsync("scan", "--kubeconfig", empty);

        Assert.Equal(ExitCodes.Configuration, exit);
        var line = AssertOneErrorLine(error);
        Assert.Contains($"{empty} is empty", line, StringComparison.Ordinal);
        Assert.DoesNotContain("context 'current'", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_malformed_kubeconfig_says_it_is_not_a_kubeconfig()
    {
        var malformed = Write("malformed", "clusters: [ {name: a\n  - : :\n");

        var (exit, _, error) = await RunAsync("scan", "--kubeconfig", malformed);

        Assert.Equal(ExitCodes.Configuration, exit);
        var line = AssertOneErrorLine(error);
        Assert.Contains($"{malformed} is not a valid kubeconfig", line, StringComparison.Ordinal);
        Assert.DoesNotContain("context 'current'", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_kubeconfig_without_a_current_context_asks_for_one_and_lists_them()
    {
        await using var api = await FakeKubernetesApiServer.StartAsync();
        var path = api.WriteKubeConfig(directory, "kind-test");
        File.WriteAllLines(path, File.ReadAllLines(path).Where(line => !line.StartsWith("current-context", StringComparison.Ordinal)));

        var (exit, _, error) = await RunAsync("scan", "--kubeconfig", path);

        Assert.Equal(ExitCodes.Configuration, exit);
        var line = AssertOneErrorLine(error);
        Assert.Contains("no current context", line, StringComparison.Ordinal);
        Assert.Contains("--context", line, StringComparison.Ordinal);
        Assert.Contains("kind-test", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_context_names_the_contexts_the_kubeconfig_has()
    {
        await using var api = await FakeKubernetesApiServer.StartAsync();
        var path = api.WriteKubeConfig(directory, "kind-test");

        var (exit, _, error) = await RunAsync("scan", "--kubeconfig", path, "--context", "prod");

        Assert.Equal(ExitCodes.Configuration, exit);
        var line = AssertOneErrorLine(error);
        Assert.Contains("context 'prod'", line, StringComparison.Ordinal);
        Assert.Contains("kind-test", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task In_cluster_outside_a_pod_points_to_the_kubeconfig_options_not_to_a_functions_setting()
    {
        var (exit, _, error) = await RunAsync("scan", "--in-cluster");

        Assert.Equal(ExitCodes.Configuration, exit);
        var line = AssertOneErrorLine(error);
        Assert.Contains("--in-cluster", line, StringComparison.Ordinal);
        Assert.Contains("--kubeconfig", line, StringComparison.Ordinal);
        Assert.DoesNotContain("Mode", line, StringComparison.Ordinal);
    }

    private const string NginxNotFound = "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

    [Fact]
    public async Task An_html_error_page_from_a_wrong_server_url_is_cut_to_its_status_line()
    {
        var (exit, error) = await ScanAgainstAsync("404 Not Found", "text/html", NginxNotFound);

        Assert.Equal(ExitCodes.Unavailable, exit);
        var line = AssertOneErrorLine(error);
        Assert.Contains("404 Not Found", line, StringComparison.Ordinal);
        Assert.DoesNotContain("<", line, StringComparison.Ordinal);
        Assert.DoesNotContain("nginx", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_api_server_refusal_says_its_status_line_and_the_message_of_its_status_body()
    {
        const string Forbidden = """{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"deployments.apps is forbidden: User \"alice\" cannot list resource \"deployments\" in API group \"apps\" at the cluster scope","reason":"Forbidden","details":{"group":"apps","kind":"deployments"},"code":403}""";

        var (exit, error) = await ScanAgainstAsync("403 Forbidden", "application/json", Forbidden);

        Assert.Equal(ExitCodes.Unavailable, exit);
        var line = AssertOneErrorLine(error);
        Assert.Contains("403 Forbidden: deployments.apps is forbidden: User \"alice\" cannot list", line, StringComparison.Ordinal);
        Assert.DoesNotContain("{", line, StringComparison.Ordinal);
    }

    /// <summary>`scan` against a server that answers every request with this status and body.</summary>
    private async Task<(int Exit, string Error)> ScanAgainstAsync(string status, string contentType, string body)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var server = ServeAsync(listener, status, contentType, body, stop.Token);
        var path = Write($"server-{port}", $"""
            apiVersion: v1
            kind: Config
            clusters:
            - name: wrong
              cluster:
                server: http://127.0.0.1:{port}
            contexts:
            - name: wrong
              context:
                cluster: wrong
                user: wrong
            current-context: wrong
            users:
            - name: wrong
              user:
                token: t
            """);

        var (exit, _, error) = await RunAsync("scan", "--kubeconfig", path);
        await stop.CancelAsync();
        await server;
        return (exit, error);
    }

    [Theory]
    [InlineData("snapshots")]
    [InlineData("restore")]
    [InlineData("breaker-status")]
    [InlineData("breaker-reset")]
    public async Task Storage_that_refuses_the_credential_is_one_error_line_with_exit_3(string command)
    {
        await AzuriteStorage.EnsureReachableAsync();
        await using var api = await FakeKubernetesApiServer.StartAsync();
        var kubeconfig = api.WriteKubeConfig(directory);
        var wrongKey = string.Join(';', AzuriteStorage.ConnectionString.Split(';').Select(part =>
            part.StartsWith("AccountKey=", StringComparison.Ordinal) ? "AccountKey=" + Convert.ToBase64String(new byte[64]) : part));
        string[] args = command switch
        {
            "snapshots" => ["snapshots", "-n", "games", "-d", "arena", "--storage", wrongKey],
            "restore" => ["restore", "-n", "games", "-d", "arena", "--storage", wrongKey, "--kubeconfig", kubeconfig],
            "breaker-status" => ["breaker", "status", "--storage", wrongKey],
            _ => ["breaker", "reset", "--storage", wrongKey],
        };

        var (exit, _, error) = await RunAsync(args);

        Assert.Equal(ExitCodes.Unavailable, exit);
        Assert.Contains("403", AssertOneErrorLine(error), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("snapshots")]
    [InlineData("restore")]
    [InlineData("breaker-status")]
    public async Task A_malformed_storage_connection_string_says_so_with_exit_2(string command)
    {
        await using var api = await FakeKubernetesApiServer.StartAsync();
        var kubeconfig = api.WriteKubeConfig(directory);
        string[] args = command switch
        {
            "snapshots" => ["snapshots", "-n", "games", "-d", "arena", "--storage", "not a connection string"],
            "restore" => ["restore", "-n", "games", "-d", "arena", "--storage", "not a connection string", "--kubeconfig", kubeconfig],
            _ => ["breaker", "status", "--storage", "not a connection string"],
        };

        var (exit, _, error) = await RunAsync(args);

        Assert.Equal(ExitCodes.Configuration, exit);
        Assert.Contains("--storage", AssertOneErrorLine(error), StringComparison.Ordinal);
    }

    private static async Task ServeAsync(TcpListener listener, string status, string contentType, string body, CancellationToken cancellationToken)
    {
        for (var served = 0; served < 50 && !cancellationToken.IsCancellationRequested; served++)
        {
            TcpClient client;
            try
            {
                client = await listener.AcceptTcpClientAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            using (client)
            {
                var stream = client.GetStream();
                var buffer = new byte[16 * 1024];
                var request = new StringBuilder();
                while (!request.ToString().Contains("\r\n\r\n", StringComparison.Ordinal) && request.Length < 64 * 1024)
                {
                    var read = await stream.ReadAsync(buffer, cancellationToken);
                    if (read == 0)
                    {
                        break;
                    }

                    request.Append(Encoding.ASCII.GetString(buffer, 0, read));
                }

                var response = $"HTTP/1.1 {status}\r\nServer: nginx\r\nContent-Type: {contentType}\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\nConnection: close\r\n\r\n{body}";
                await stream.WriteAsync(Encoding.UTF8.GetBytes(response), cancellationToken);
            }
        }
    }
}
