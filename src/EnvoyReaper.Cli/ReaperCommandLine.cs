using System.CommandLine;
using EnvoyReaper.Kubernetes;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Cli;

public static class ReaperCommandLine
{
    /// <param name="input">Standard input for "inject -f -" (tests pass their own).</param>
    public static RootCommand Build(TextReader? input = null)
    {
        var root = new RootCommand("envoy-reaper: operator tools for EnvoyReaper, the idle-workload reaper for Envoy-fronted Deployments.");
        root.Subcommands.Add(BuildScan());
        root.Subcommands.Add(BuildInject(input ?? Console.In));
        root.Subcommands.Add(BuildSnapshots());
        root.Subcommands.Add(BuildRestore());
        root.Subcommands.Add(BuildBreaker());
        GuardedAction.GuardAll(root);
        DocumentExitCodes(root, string.Empty);
        return root;
    }

    /// <summary>
    /// Runs a command line. A usage error (unknown option, missing value, missing required option) is one line on stderr
    /// and the usage exit code, for every command, where the parser alone would print the whole help.
    /// </summary>
    public static async Task<int> InvokeAsync(string[] args, InvocationConfiguration? configuration = null, TextReader? input = null, CancellationToken cancellationToken = default)
    {
        configuration ??= new InvocationConfiguration();
        var parseResult = Build(input).Parse(args);
        if (parseResult.Errors.Count == 0)
        {
            return await parseResult.InvokeAsync(configuration, cancellationToken);
        }

        var path = new List<string>();
        for (var result = parseResult.CommandResult; result.Parent is System.CommandLine.Parsing.CommandResult parent; result = parent)
        {
            path.Insert(0, result.Command.Name);
        }

        var command = string.Join(' ', ["envoy-reaper", .. path]);
        await configuration.Error.WriteLineAsync(
            $"error: {string.Join("; ", parseResult.Errors.Select(error => System.Text.RegularExpressions.Regex.Replace(error.Message, @"\s*[\r\n]+\s*", " ").TrimEnd('.')))} (see '{command} --help')");
        return UsageExitCode;
    }

    /// <summary>The exit code of a command line that cannot be run as written.</summary>
    public const int UsageExitCode = ExitCodes.Usage;

    private static void DocumentExitCodes(Command command, string path)
    {
        if (ExitCodes.ByCommand.ContainsKey(path))
        {
            command.Description = $"{command.Description} {ExitCodes.Describe(path)}";
        }

        foreach (var subcommand in command.Subcommands)
        {
            DocumentExitCodes(subcommand, path.Length == 0 ? subcommand.Name : $"{path} {subcommand.Name}");
        }
    }

    private static Command BuildScan()
    {
        var dryRun = new Option<bool>("--dry-run") { Description = "Read only (always on: scan never writes to the cluster or to storage)." };
        var output = new Option<string>("--output", "-o") { Description = "Output format.", DefaultValueFactory = _ => "table" };
        output.AcceptOnlyFromAmong("table", "json");
        var kubeconfig = new Option<string?>("--kubeconfig") { Description = "Path of the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)." };
        var context = new Option<string?>("--context") { Description = "kubeconfig context to use (default: the current context)." };
        var inCluster = new Option<bool>("--in-cluster") { Description = "Use the pod's service account instead of a kubeconfig." };
        var storage = new Option<string?>("--storage")
        {
            Description = "Storage connection string of the reaper, to show its teardown breaker too (default: $AzureWebJobsStorage; without it the breaker is not shown).",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("AzureWebJobsStorage"),
        };
        var table = StateTableOption();

        var scan = new Command("scan", "Check every monitored workload once with the reaper's own rules and print its verdict and why, and the teardown breaker.")
        {
            dryRun, output, kubeconfig, context, inCluster, storage, table,
        };
        scan.SetAction(async (parseResult, cancellationToken) =>
        {
            var access = ClusterAccessFor(parseResult.GetValue(inCluster), parseResult.GetValue(kubeconfig), parseResult.GetValue(context));
            var stdout = parseResult.InvocationConfiguration.Output;
            var stderr = parseResult.InvocationConfiguration.Error;
            return await ScanCommand.RunAsync(access, parseResult.GetValue(output) ?? "table", parseResult.GetValue(storage), parseResult.GetValue(table)!, stdout, stderr, cancellationToken);
        });
        return scan;
    }

    private static Option<string> NamespaceOption() => new("--namespace", "-n") { Description = "Namespace of the workload.", Required = true };

    private static Option<string> DeploymentOption() => new("--deployment", "-d") { Description = "Name of the Deployment.", Required = true };

    private static Option<string?> StorageOption() => new("--storage")
    {
        Description = "Storage connection string of the reaper (default: $AzureWebJobsStorage).",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("AzureWebJobsStorage"),
    };

    private static Option<string> ContainerOption() => new("--snapshot-container")
    {
        Description = "Blob container of the snapshots (default: $Reaper__SnapshotContainer, else envoy-reaper-snapshots).",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("Reaper__SnapshotContainer") ?? "envoy-reaper-snapshots",
    };

    private static Option<string> StateTableOption() => new("--state-table")
    {
        Description = "Table of the reaper's state, which holds the breaker (default: $Reaper__StateTable, else EnvoyReaperState).",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("Reaper__StateTable") ?? "EnvoyReaperState",
    };

    private static Command BuildBreaker()
    {
        var storage = StorageOption();
        var table = StateTableOption();
        var output = new Option<string>("--output", "-o") { Description = "Output format.", DefaultValueFactory = _ => "table" };
        output.AcceptOnlyFromAmong("table", "json");
        var status = new Command("status", "Show the teardown breaker: open or closed and why, teardowns in the last hour and the limit.")
        {
            storage, table, output,
        };
        status.SetAction(async (parseResult, cancellationToken) => await BreakerCommands.StatusAsync(
            parseResult.GetValue(storage), parseResult.GetValue(table)!, parseResult.GetValue(output) ?? "table",
            parseResult.InvocationConfiguration.Output, parseResult.InvocationConfiguration.Error, cancellationToken));

        var resetStorage = StorageOption();
        var resetTable = StateTableOption();
        var reset = new Command("reset", "Close the teardown breaker after checking why it opened; deferred teardowns go ahead at their next request if the workloads are still idle. The hour's teardowns stay counted.")
        {
            resetStorage, resetTable,
        };
        reset.SetAction(async (parseResult, cancellationToken) => await BreakerCommands.ResetAsync(
            parseResult.GetValue(resetStorage), parseResult.GetValue(resetTable)!,
            parseResult.InvocationConfiguration.Output, parseResult.InvocationConfiguration.Error, cancellationToken));

        return new Command("breaker", "The teardown breaker shared by every instance of the reaper: it defers teardowns past the hourly limits, and opens on a mass flip to Idle until a person resets it.")
        {
            status, reset,
        };
    }

    private static Command BuildSnapshots()
    {
        var ns = NamespaceOption();
        var deployment = DeploymentOption();
        var storage = StorageOption();
        var container = ContainerOption();
        var command = new Command("snapshots", "List the snapshots the reaper took of a workload, oldest first.") { ns, deployment, storage, container };
        command.SetAction(async (parseResult, cancellationToken) => await RestoreCommands.ListAsync(
            parseResult.GetValue(ns)!, parseResult.GetValue(deployment)!, parseResult.GetValue(storage), parseResult.GetValue(container)!,
            parseResult.InvocationConfiguration.Output, parseResult.InvocationConfiguration.Error, cancellationToken));
        return command;
    }

    private static Command BuildRestore()
    {
        var ns = NamespaceOption();
        var deployment = DeploymentOption();
        var snapshot = new Option<string?>("--snapshot") { Description = "Snapshot name (default: the newest)." };
        var storage = StorageOption();
        var container = ContainerOption();
        var kubeconfig = new Option<string?>("--kubeconfig") { Description = "Path of the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)." };
        var context = new Option<string?>("--context") { Description = "kubeconfig context to use." };
        var command = new Command("restore", "Recreate a torn-down workload from its snapshot, or scale a scaled-to-zero one back.")
        {
            ns, deployment, snapshot, storage, container, kubeconfig, context,
        };
        command.SetAction(async (parseResult, cancellationToken) => await RestoreCommands.RestoreAsync(
            ClusterAccessFor(inCluster: false, parseResult.GetValue(kubeconfig), parseResult.GetValue(context)),
            parseResult.GetValue(ns)!, parseResult.GetValue(deployment)!, parseResult.GetValue(snapshot), parseResult.GetValue(storage), parseResult.GetValue(container)!,
            parseResult.InvocationConfiguration.Output, parseResult.InvocationConfiguration.Error, cancellationToken));
        return command;
    }

    private static Command BuildInject(TextReader input)
    {
        // Values are strings: InjectCommand checks them with the endpoint's validator, so that the messages are the
        // endpoint's, naming the flags.
        Option<string?> Value(string name, string description, params string[] aliases) => new(name, aliases) { Description = description };

        var file = new Option<string>("--filename", "-f") { Description = "Manifest file (any number of YAML documents, Lists too), or - for standard input.", Required = true };
        var deployment = Value("--deployment", "Inject only the apps/v1 Deployment of this name (default: every one in the input).", "-d");
        var appPort = Value("--app-port", "The port the app listens on (default: the app containers' only port).");
        var protocol = Value("--protocol", "http, http2 (also grpc, h2c), tcp or udp (default: inferred from appProtocol, port names and well-known ports).");
        var service = Value("--service", "The Service to point at Envoy, when several select the pods.");
        var ingress = Value("--ingress", "The Ingress in front of the Service, recorded for the reaper (envoy-reaper/ingress).");
        var idleTimeout = Value("--idle-timeout", "How long the workload may be idle before the reaper acts, such as 10m (envoy-reaper/idle-timeout).");
        var minConnections = Value("--min-connections", "Active connections at or below which the workload counts as idle (envoy-reaper/min-connections).");
        var action = Value("--action", "What the reaper does when idle: delete, scale-to-zero or observe (envoy-reaper/action).");
        var noMonitor = new Option<bool>("--no-monitor") { Description = "Inject the sidecar without opting the workload in to the reaper." };
        var split = Value("--split", $"Write two document sets into this directory instead of printing: {InjectCommand.WorkloadsFile} (the Deployments, their ConfigMaps, every other document, the Services as they were) to apply first, and {InjectCommand.ServicesFile} (the Services pointed at Envoy) to apply only once the rollout is complete.");
        var inject = new Command("inject", "Print the manifests with an Envoy sidecar injected into every apps/v1 Deployment (Service pointed at Envoy, a ConfigMap per Deployment); every other document passes through unchanged. Writes nothing to a cluster. ")
        {
            file, deployment, appPort, protocol, service, ingress, idleTimeout, minConnections, action, noMonitor, split,
        };
        inject.SetAction(async (parseResult, cancellationToken) =>
        {
            var arguments = new InjectArguments(
                parseResult.GetValue(file)!,
                parseResult.GetValue(deployment),
                parseResult.GetValue(appPort),
                parseResult.GetValue(protocol),
                parseResult.GetValue(service),
                parseResult.GetValue(ingress),
                parseResult.GetValue(idleTimeout),
                parseResult.GetValue(minConnections),
                parseResult.GetValue(action),
                Monitor: !parseResult.GetValue(noMonitor),
                Split: parseResult.GetValue(split));
            return await InjectCommand.RunAsync(arguments, input, parseResult.InvocationConfiguration.Output, parseResult.InvocationConfiguration.Error, cancellationToken);
        });
        return inject;
    }

    /// <summary>The cluster access of a command, checked here so that a problem is told in the CLI's options, not the app's settings.</summary>
    private static ClusterAccessOptions ClusterAccessFor(bool inCluster, string? kubeconfig, string? context)
    {
        if (!inCluster)
        {
            return new ClusterAccessOptions { Mode = ClusterAccessMode.KubeConfig, KubeConfigPath = KubeConfigFile.Resolve(kubeconfig, context), Context = context };
        }

        if (!k8s.KubernetesClientConfiguration.IsInCluster())
        {
            throw new CommandFailedException(ExitCodes.Configuration,
                "--in-cluster works only inside a pod (KUBERNETES_SERVICE_HOST/PORT or the service account token are missing): outside the cluster pass --kubeconfig PATH and --context NAME");
        }

        return new ClusterAccessOptions { Mode = ClusterAccessMode.InCluster };
    }

    /// <summary>Null when <paramref name="storage"/> is a connection string the client of <paramref name="service"/> accepts.</summary>
    internal static string? StorageProblem(string? storage, string service)
    {
        if (string.IsNullOrWhiteSpace(storage))
        {
            return "no storage connection: pass --storage or set AzureWebJobsStorage";
        }

        try
        {
            _ = service == "table" ? (object)new Azure.Data.Tables.TableServiceClient(storage) : new Azure.Storage.Blobs.BlobServiceClient(storage);
            return null;
        }
        catch (Exception exception) when (exception is FormatException or ArgumentException or InvalidOperationException)
        {
            return $"the storage connection string (--storage, else AzureWebJobsStorage) cannot be used: {CommandFailure.FirstLine(exception.Message)}";
        }
    }

    /// <summary>The same services as the function app, minus storage and queues: a scan writes nothing.</summary>
    internal static ServiceProvider BuildServices(ClusterAccessOptions access)
    {
        var configuration = new ConfigurationBuilder()
            .AddEnvironmentVariables()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Kubernetes:Mode"] = access.Mode?.ToString(),
                ["Kubernetes:KubeConfigPath"] = access.KubeConfigPath,
                ["Kubernetes:Context"] = access.Context,
            })
            .Build();
        var services = new ServiceCollection()
            .AddLogging(logging => logging.AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace).SetMinimumLevel(LogLevel.Warning))
            .AddReaperCore(configuration)
            .AddReaperKubernetes(configuration);
        return services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
    }

    internal static void ValidateOptions(IServiceProvider services)
    {
        _ = services.GetRequiredService<IOptions<ClusterAccessOptions>>().Value;
        _ = services.GetRequiredService<IOptions<Workloads.ReaperOptions>>().Value;
    }
}
