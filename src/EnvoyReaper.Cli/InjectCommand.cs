using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using EnvoyReaper.Injection;
using k8s;
using k8s.Models;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace EnvoyReaper.Cli;

/// <summary>The command line of `inject`, as typed: values are checked by <see cref="InjectCommand"/>, not by the parser.</summary>
internal sealed record InjectArguments(
    string File,
    string? Deployment,
    string? AppPort,
    string? Protocol,
    string? Service,
    string? Ingress,
    string? IdleTimeout,
    string? MinConnections,
    string? Action,
    bool Monitor,
    string? Split = null);

/// <summary>
/// Offline injection for GitOps, like istioctl kube-inject: manifests in, injected manifests out, with the planner the
/// endpoint uses. Every apps/v1 Deployment of the input (or the one named) is injected, also inside a List; every other
/// document is copied byte for byte; running it on its own output prints the same output.
/// </summary>
internal static partial class InjectCommand
{
    /// <summary>With --split: what may be applied at once (the Services as they were).</summary>
    public const string WorkloadsFile = "1-workloads.yaml";

    /// <summary>With --split: the Services pointed at Envoy, to apply once the rollout is complete.</summary>
    public const string ServicesFile = "2-services.yaml";

    public const int UsageExitCode = ExitCodes.Usage;
    public const int UnprocessableExitCode = ExitCodes.Configuration;
    public const int InternalErrorExitCode = ExitCodes.Usage;

    /// <summary>The command line flag of each field of <see cref="InjectionRequest"/> the CLI takes.</summary>
    private static readonly Dictionary<string, string> FlagOfField = new(StringComparer.Ordinal)
    {
        ["appPort"] = "--app-port",
        ["protocol"] = "--protocol",
        ["service"] = "--service",
        ["ingress"] = "--ingress",
        ["idleTimeout"] = "--idle-timeout",
        ["minConnections"] = "--min-connections",
        ["action"] = "--action",
        ["monitor"] = "--no-monitor",
        ["deployment"] = "--deployment",
    };

    public static async Task<int> RunAsync(InjectArguments arguments, TextReader stdin, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        try
        {
            // Warnings only with a result: a failure is its one error line.
            var warnings = new List<string>();
            var documents = await InjectAsync(arguments, stdin, warnings, cancellationToken);
            if (arguments.Split is not { } split)
            {
                foreach (var warning in warnings)
                {
                    await stderr.WriteLineAsync($"warning: {warning}");
                }

                await stdout.WriteAsync(ManifestDocument.Render(documents, serviceChanges: true));
                return 0;
            }

            var services = ManifestDocument.RenderServiceChanges(documents);
            if (services is null)
            {
                warnings.Add($"no Service is pointed at Envoy: {ServicesFile} holds no object");
            }

            var (workloadsPath, servicesPath) = (Path.Combine(split, WorkloadsFile), Path.Combine(split, ServicesFile));
            try
            {
                Directory.CreateDirectory(split);
                await File.WriteAllTextAsync(workloadsPath, ManifestDocument.Render(documents, serviceChanges: false), cancellationToken);
                await File.WriteAllTextAsync(servicesPath, services ?? "# envoy-reaper inject --split: no Service to point at Envoy\n", cancellationToken);
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                throw new InjectFailure(UnprocessableExitCode, $"cannot write to {split}: {exception.Message}");
            }

            foreach (var warning in warnings)
            {
                await stderr.WriteLineAsync($"warning: {warning}");
            }

            await stderr.WriteLineAsync($"wrote {workloadsPath}: apply it first (the Deployments, their ConfigMaps, the Services as they were); "
                + $"then {servicesPath}, only once `kubectl rollout status` reports every injected Deployment rolled out");
            return 0;
        }
        catch (InjectFailure failure)
        {
            await stderr.WriteLineAsync($"error: {OneLine(failure.Message)}");
            return failure.ExitCode;
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            // Any input must end in one line and an exit code; an exception reaching here is a bug, not the input's fault.
            await stderr.WriteLineAsync($"error: unexpected {exception.GetType().Name}: {OneLine(exception.Message)} (please report it)");
            return InternalErrorExitCode;
        }
    }

    /// <summary>Checks the options before the input is read, with the endpoint's validator and messages naming the flags.</summary>
    private static string? UsageError(InjectArguments arguments)
    {
        int? Number(string? value) => int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number) ? number : null;

        var errors = new List<string>();
        var appPort = Number(arguments.AppPort);
        if (arguments.AppPort is not null && appPort is null)
        {
            errors.Add("--app-port: must be a port between 1 and 65535");
        }

        var minConnections = Number(arguments.MinConnections);
        if (arguments.MinConnections is not null && minConnections is null)
        {
            errors.Add("--min-connections: must be between 0 and 1000000");
        }

        if (arguments.Deployment is not null && !Workloads.KubernetesNames.IsDns1123Subdomain(arguments.Deployment))
        {
            errors.Add("--deployment: must be a DNS-1123 subdomain");
        }

        var request = Request(arguments, "default", "placeholder", arguments.AppPort is null ? 8080 : appPort ?? 8080, minConnections);
        foreach (var (field, messages) in InjectionRequestValidator.Validate(request, removal: false, out _))
        {
            errors.Add($"{FlagOfField.GetValueOrDefault(field, field)}: {string.Join("; ", messages)}");
        }

        return errors.Count == 0 ? null : string.Join("; ", errors);
    }

    private static InjectionRequest Request(InjectArguments arguments, string @namespace, string deployment, int appPort, int? minConnections) => new()
    {
        Namespace = @namespace,
        Deployment = deployment,
        AppPort = appPort,
        Protocol = arguments.Protocol,
        Service = arguments.Service,
        Ingress = arguments.Ingress,
        Monitor = arguments.Monitor,
        IdleTimeout = arguments.IdleTimeout,
        MinConnections = minConnections,
        Action = arguments.Action,
    };

    private static async Task<List<ManifestDocument>> InjectAsync(InjectArguments arguments, TextReader stdin, List<string> warnings, CancellationToken cancellationToken)
    {
        if (UsageError(arguments) is { } usage)
        {
            throw new InjectFailure(UsageExitCode, usage);
        }

        var file = arguments.File;
        string text;
        try
        {
            text = file == "-" ? await stdin.ReadToEndAsync(cancellationToken) : await File.ReadAllTextAsync(file, cancellationToken);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new InjectFailure(UnprocessableExitCode, $"cannot read {file}: {exception.Message}");
        }

        var source = file == "-" ? "standard input" : file;
        var documents = ManifestDocument.Split(text);
        var entries = new List<ObjectEntry>();
        foreach (var document in documents)
        {
            document.Parse(source);
            entries.AddRange(document.Entries());
        }

        var deployments = new List<ObjectEntry>();
        foreach (var entry in entries.Where(entry => entry.Kind == "Deployment"))
        {
            if (entry.ApiVersion != "apps/v1")
            {
                warnings.Add($"Deployment {entry.Name ?? "(no name)"} ({entry.ApiVersion}, {entry.Where}) passed through without a sidecar: only apps/v1 Deployments are injected");
                continue;
            }

            if (entry.Name is null)
            {
                throw new InjectFailure(UnprocessableExitCode, $"the Deployment of {entry.Where} of {source} has no metadata.name");
            }

            if (arguments.Deployment is null || arguments.Deployment == entry.Name)
            {
                deployments.Add(entry);
            }
        }

        if (deployments.Count == 0)
        {
            var found = entries.Where(entry => entry is { Kind: "Deployment", ApiVersion: "apps/v1" }).Select(entry => entry.Name).ToList();
            throw new InjectFailure(UnprocessableExitCode, arguments.Deployment is null
                ? $"{source} holds no apps/v1 Deployment to inject"
                : $"{source} holds no apps/v1 Deployment named {arguments.Deployment}" + (found.Count > 0 ? $" (it holds {string.Join(", ", found)})" : string.Empty));
        }

        if (deployments.Count > 1)
        {
            var perApp = new[] { ("--app-port", arguments.AppPort), ("--service", arguments.Service), ("--ingress", arguments.Ingress) }.Where(option => option.Item2 is not null).Select(option => option.Item1).ToList();
            if (perApp.Count > 0)
            {
                throw new InjectFailure(UsageExitCode,
                    $"{string.Join(", ", perApp)} applies to one Deployment: pick it with --deployment ({source} holds {string.Join(", ", deployments.Select(entry => entry.Name))})");
            }
        }

        var injectedTogether = deployments.Select(entry => entry.Name!).ToList();
        foreach (var entry in deployments)
        {
            cancellationToken.ThrowIfCancellationRequested();
            warnings.AddRange(Inject(arguments, entry, entries, injectedTogether, source));
        }

        return documents;
    }

    /// <summary>Plans one Deployment and records the rewritten objects on their entries; the warnings, if any.</summary>
    /// <param name="injectedTogether">The Deployments this run injects: a Service they share may be pointed at Envoy.</param>
    private static IReadOnlyList<string> Inject(InjectArguments arguments, ObjectEntry entry, List<ObjectEntry> entries, IReadOnlyList<string> injectedTogether, string source)
    {
        var several = injectedTogether.Count > 1;
        var deployment = entry.Read<V1Deployment>();
        var name = entry.Name!;
        var podSpec = deployment.Spec?.Template?.Spec;
        if (podSpec is null)
        {
            throw new InjectFailure(UnprocessableExitCode, $"Deployment {name} has no pod template (spec.template.spec)");
        }

        if (podSpec.Containers is not { Count: > 0 })
        {
            throw new InjectFailure(UnprocessableExitCode, $"Deployment {name} has no containers");
        }

        var appPort = arguments.AppPort is null ? InferAppPort(deployment) : int.Parse(arguments.AppPort, CultureInfo.InvariantCulture);
        if (appPort is null)
        {
            throw new InjectFailure(UsageExitCode, $"cannot tell the port of Deployment {name}'s app (its containers declare {DescribePorts(deployment)}): pass --app-port" + (several ? $" with --deployment {name}" : string.Empty));
        }

        var @namespace = deployment.Metadata.NamespaceProperty;
        int? minConnections = arguments.MinConnections is null ? null : int.Parse(arguments.MinConnections, CultureInfo.InvariantCulture);

        // The validator and planner need a namespace; one the input does not give is never written to the output.
        var errors = InjectionRequestValidator.Validate(Request(arguments, @namespace ?? "default", name, appPort.Value, minConnections), removal: false, out var valid);
        if (valid is null)
        {
            var (field, messages) = errors.First();
            var subject = field switch
            {
                "namespace" => $"metadata.namespace {@namespace}",
                "deployment" => "metadata.name",
                _ => FlagOfField.GetValueOrDefault(field, field),
            };
            throw new InjectFailure(UnprocessableExitCode, $"Deployment {name}: {subject} {string.Join("; ", messages)}");
        }

        var options = new InjectionOptions();
        if (@namespace is not null && !options.IsNamespaceAllowed(@namespace))
        {
            throw new InjectFailure(UnprocessableExitCode, $"namespace {@namespace} of Deployment {name} is not allowed for injection");
        }

        var inScope = entries.Where(other => SameNamespace(other.Namespace, @namespace)).ToList();
        var services = inScope.Where(other => other is { ApiVersion: "v1", Kind: "Service" }).ToList();
        if (arguments.Service is { } wanted && !services.Any(service => service.Name == wanted))
        {
            throw new InjectFailure(UnprocessableExitCode, $"Service {wanted} is not in {source}" + (services.Count > 0 ? $" (its Services: {string.Join(", ", services.Select(service => service.Name))})" : string.Empty));
        }

        var configMapEntry = inScope.FirstOrDefault(other => other is { ApiVersion: "v1", Kind: "ConfigMap" } && other.Name == SidecarPlanner.ConfigMapName(name));
        var namespaceDeployments = inScope.Where(other => other is { ApiVersion: "apps/v1", Kind: "Deployment" }).Select(other => other.Current<V1Deployment>()).ToList();
        var currentServices = services.Select(service => service.Current<V1Service>()).ToList();
        var otherPods = inScope.Where(other => other is not { ApiVersion: "apps/v1", Kind: "Deployment" })
            .Select(other => other.PodLabels() is { } labels ? new OtherPods(other.Kind!, other.Name ?? "(no name)", labels) : null)
            .OfType<OtherPods>()
            .ToList();
        var (plan, refusal) = SidecarPlanner.PlanInjection(
            valid, deployment, currentServices, configMapEntry?.Current<V1ConfigMap>(), options, requireService: false, namespaceDeployments, injectedTogether, otherPods);
        if (refusal is not null)
        {
            throw new InjectFailure(UnprocessableExitCode, $"Deployment {name}: {NameFlags(refusal.Message)}");
        }

        if (arguments.AppPort is null && plan!.PortsPastEnvoy.Count > 0)
        {
            // The guess came from the declared ports, but the Services also send users elsewhere: they would bypass Envoy
            // and a workload in use would look idle.
            throw new InjectFailure(UsageExitCode,
                $"cannot tell the port of Deployment {name}'s app: its containers declare {DescribePorts(deployment)}, but {string.Join(", ", plan.PortsPastEnvoy)} also reach{(plan.PortsPastEnvoy.Count == 1 ? "es" : string.Empty)} its pods: pass --app-port"
                + (several ? $" with --deployment {name}" : string.Empty));
        }

        if (plan!.Deployment is { } injected)
        {
            entry.Replace(injected);
        }

        foreach (var retargeted in plan.Services)
        {
            services.First(service => service.Name == retargeted.Metadata.Name).Replace(retargeted);
        }

        if (plan.ConfigMap is { } configMap)
        {
            configMap.Metadata.NamespaceProperty = @namespace;
            configMap.Metadata.ResourceVersion = null;
            if (configMapEntry is not null)
            {
                configMapEntry.Replace(configMap);
            }
            else
            {
                entry.InsertBefore(configMap);
            }
        }

        var podLabels = deployment.Spec!.Template!.Metadata?.Labels ?? new Dictionary<string, string>();
        var selected = currentServices.Any(service => service.Spec?.Selector is { Count: > 0 } selector
            && EnvoyReaper.Cluster.LabelSelector.FromLabels(new Dictionary<string, string>(selector)).Matches(new Dictionary<string, string>(podLabels)));
        return selected
            ? plan.Warnings
            : [.. plan.Warnings, $"no Service in {source} selects the pods of Deployment {name}: point your Service's target port at the sidecar's port {SidecarPlanner.InboundPortName} ({EnvoyBootstrap.InboundPort})"];
    }

    /// <summary>Objects without a namespace land wherever the others are applied (kubectl -n, a GitOps destination).</summary>
    private static bool SameNamespace(string? left, string? right) => left is null || right is null || left == right;

    /// <summary>The planner's refusals name the endpoint's JSON fields in quotes; the CLI user has flags instead.</summary>
    private static string NameFlags(string message) =>
        FlagOfField.Aggregate(message, (text, pair) => text.Replace($"\"{pair.Key}\"", pair.Value, StringComparison.Ordinal));

    /// <summary>The one port of the app's containers, when there is exactly one.</summary>
    private static int? InferAppPort(V1Deployment deployment)
    {
        var ports = AppPorts(deployment);
        return ports.Count == 1 ? ports[0] : null;
    }

    private static List<int> AppPorts(V1Deployment deployment) => (deployment.Spec?.Template?.Spec?.Containers ?? [])
        .Where(container => container.Name != SidecarPlanner.ContainerName)
        .SelectMany(container => container.Ports ?? [])
        .Select(port => port.ContainerPort)
        .Distinct()
        .ToList();

    private static string DescribePorts(V1Deployment deployment) => AppPorts(deployment) is { Count: > 0 } ports
        ? $"ports {string.Join(", ", ports)}"
        : "no ports";

    private static string OneLine(string message) => NewLines().Replace(message, " ").Trim();

    [GeneratedRegex(@"\s*[\r\n]+\s*")]
    private static partial Regex NewLines();

    private sealed class InjectFailure(int exitCode, string message) : Exception(message)
    {
        public int ExitCode { get; } = exitCode;
    }

    /// <summary>
    /// One YAML document of the input, as its raw text (a line starting with "---" begins one, as YAML 1.2 says, so a
    /// block scalar cannot hold one). Written back unchanged unless an object in it was rewritten.
    /// </summary>
    private sealed partial class ManifestDocument(string raw, int index, int firstLine)
    {
        private readonly List<ObjectEntry> entries = [];
        private YamlMappingNode? root;
        private bool isList;

        public string Where => $"document {index + 1} (line {firstLine + 1})";

        public static List<ManifestDocument> Split(string text)
        {
            var documents = new List<ManifestDocument>();
            var current = new StringBuilder();
            var line = 0;
            var firstLine = 0;
            foreach (var match in Lines().EnumerateMatches(text))
            {
                var value = text.AsSpan(match.Index, match.Length);
                if (value.StartsWith("---") && (value.Length == 3 || char.IsWhiteSpace(value[3])) && current.Length > 0)
                {
                    documents.Add(new ManifestDocument(current.ToString(), documents.Count, firstLine));
                    current.Clear();
                    firstLine = line;
                }

                current.Append(value);
                line++;
            }

            if (current.Length > 0)
            {
                documents.Add(new ManifestDocument(current.ToString(), documents.Count, firstLine));
            }

            return documents;
        }

        public void Parse(string source)
        {
            var stream = new YamlStream();
            try
            {
                stream.Load(new StringReader(raw));
            }
            catch (YamlException exception)
            {
                throw new InjectFailure(UnprocessableExitCode,
                    $"{source} is not valid YAML at line {firstLine + exception.Start.Line}, column {exception.Start.Column}: {YamlReason(exception)}");
            }
            catch (InvalidOperationException)
            {
                // YamlDotNet's scanner throws this, without a position, when the input ends inside a flow collection.
                throw new InjectFailure(UnprocessableExitCode, $"{source} is not valid YAML ({Where}): it ends inside an unclosed {{ or [");
            }

            if (stream.Documents.Count > 1)
            {
                throw new InjectFailure(UnprocessableExitCode, $"{Where} of {source} holds several YAML documents ended by '...': begin each with ---");
            }

            root = stream.Documents.Count == 1 ? stream.Documents[0].RootNode as YamlMappingNode : null;
            if (root is null)
            {
                return;
            }

            var self = new ObjectEntry(root, this);
            if (self is { ApiVersion: "v1", Kind: "List" })
            {
                isList = true;
                if (root.Children.TryGetValue(new YamlScalarNode("items"), out var items) && items is YamlSequenceNode sequence)
                {
                    entries.AddRange(sequence.Children.OfType<YamlMappingNode>().Select(item => new ObjectEntry(item, this)));
                }
            }
            else
            {
                entries.Add(self);
            }
        }

        public IEnumerable<ObjectEntry> Entries() => entries;

        /// <param name="serviceChanges">False: the Services pointed at Envoy come out as they were (the first set of --split).</param>
        public static string Render(IEnumerable<ManifestDocument> documents, bool serviceChanges)
        {
            var output = new StringBuilder();
            foreach (var document in documents)
            {
                document.Write(output, serviceChanges);
            }

            return output.ToString();
        }

        /// <summary>The Services pointed at Envoy, one document each in input order (the second set of --split); null when none.</summary>
        public static string? RenderServiceChanges(IEnumerable<ManifestDocument> documents)
        {
            var output = new StringBuilder();
            foreach (var service in documents.SelectMany(document => document.entries).Select(entry => entry.Replacement).OfType<V1Service>())
            {
                Append(output, Serialize(service));
            }

            return output.Length == 0 ? null : output.ToString();
        }

        private void Write(StringBuilder output, bool serviceChanges)
        {
            bool Rewritten(ObjectEntry entry) => entry.Replacement is not null && (serviceChanges || entry.Replacement is not V1Service);

            var inserted = entries.SelectMany(entry => entry.Before).ToList();
            var changed = entries.Any(Rewritten);
            if (!changed && inserted.Count == 0)
            {
                Append(output, raw);
                return;
            }

            if (!isList)
            {
                var entry = entries.Single();
                foreach (var item in entry.Before)
                {
                    Append(output, Serialize(item));
                }

                Append(output, Rewritten(entry) ? Header() + Serialize(entry.Replacement!) : raw);
                return;
            }

            var sequence = (YamlSequenceNode)root!.Children[new YamlScalarNode("items")];
            var items = new List<YamlNode>();
            foreach (var entry in entries)
            {
                items.AddRange(entry.Before.Select(item => Node(Serialize(item))));
                items.Add(Rewritten(entry) ? Node(Serialize(entry.Replacement!)) : entry.Node);
            }

            sequence.Children.Clear();
            foreach (var item in items)
            {
                sequence.Add(item);
            }

            // JSON (kubectl get -o json) is flow style, which the emitter would keep for the whole List on one line.
            Block(root);
            var writer = new StringWriter();
            new YamlStream(new YamlDocument(root)).Save(writer, assignAnchors: false);
            Append(output, Header() + DocumentEnd().Replace(writer.ToString(), string.Empty));
        }

        private static void Block(YamlNode node)
        {
            switch (node)
            {
                case YamlMappingNode mapping:
                    mapping.Style = YamlDotNet.Core.Events.MappingStyle.Block;
                    foreach (var (_, value) in mapping.Children)
                    {
                        Block(value);
                    }

                    break;
                case YamlSequenceNode sequence:
                    sequence.Style = YamlDotNet.Core.Events.SequenceStyle.Block;
                    foreach (var item in sequence.Children)
                    {
                        Block(item);
                    }

                    break;
            }
        }

        /// <summary>The document marker and the comments before the content (Helm's "# Source: ..."), kept on a rewrite.</summary>
        private string Header()
        {
            var header = new StringBuilder();
            var first = true;
            foreach (var match in Lines().EnumerateMatches(raw))
            {
                var line = raw.AsSpan(match.Index, match.Length);
                var trimmed = line.Trim();
                var marker = first && trimmed.SequenceEqual("---");
                if (!marker && trimmed.Length > 0 && trimmed[0] != '#')
                {
                    break;
                }

                header.Append(line);
                first = false;
            }

            return header.ToString();
        }

        /// <summary>Appends a document, with the marker and line break that separate it from the one before.</summary>
        private static void Append(StringBuilder output, string document)
        {
            if (output.Length > 0)
            {
                if (output[^1] != '\n')
                {
                    output.Append('\n');
                }

                if (!document.StartsWith("---", StringComparison.Ordinal))
                {
                    output.Append("---\n");
                }
            }

            output.Append(document);
        }

        private static string Serialize(object item) => KubernetesYaml.Serialize(item).TrimEnd('\n') + "\n";

        private static YamlNode Node(string yaml)
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(yaml));
            return stream.Documents[0].RootNode;
        }

        /// <summary>YamlDotNet prefixes its message with the marks, which the caller words itself.</summary>
        private static string YamlReason(YamlException exception) => MarkPrefix().Replace(exception.Message, string.Empty);

        [GeneratedRegex(@"[^\n]*\n|[^\n]+$")]
        private static partial Regex Lines();

        [GeneratedRegex(@"(\.\.\.\n)+$")]
        private static partial Regex DocumentEnd();

        [GeneratedRegex(@"^\(Line: \d+, Col: \d+, Idx: \d+\) - \(Line: \d+, Col: \d+, Idx: \d+\): ")]
        private static partial Regex MarkPrefix();
    }

    /// <summary>One Kubernetes object of the input: a document, or an item of a List.</summary>
    private sealed class ObjectEntry(YamlMappingNode node, ManifestDocument document)
    {
        private object? typed;

        public YamlMappingNode Node { get; } = node;

        public string? ApiVersion { get; } = Scalar(node, "apiVersion");

        public string? Kind { get; } = Scalar(node, "kind");

        public string? Name { get; } = Metadata(node, "name");

        public string? Namespace { get; } = Metadata(node, "namespace");

        public string Where => document.Where;

        public object? Replacement { get; private set; }

        public List<object> Before { get; } = [];

        /// <summary>
        /// The object as the model reads it, strictly: a field the model does not know would be lost on a rewrite, so
        /// it is refused rather than dropped.
        /// </summary>
        public T Read<T>()
        {
            if (typed is null)
            {
                var writer = new StringWriter();
                new YamlStream(new YamlDocument(Node)).Save(writer, assignAnchors: false);
                try
                {
                    typed = KubernetesYaml.Deserialize<T>(writer.ToString(), strict: true)!;
                }
                catch (Exception exception) when (exception is YamlException or FormatException or InvalidOperationException or ArgumentException or OverflowException)
                {
                    var reason = exception is YamlException yaml ? (yaml.InnerException?.Message ?? yaml.Message) : exception.Message;
                    throw new InjectFailure(UnprocessableExitCode, $"{Kind} {Name ?? "(no name)"} ({Where}) cannot be read: {reason}");
                }
            }

            return (T)typed;
        }

        /// <summary>The object with what earlier Deployments of the same input changed in it.</summary>
        public T Current<T>() => Replacement is T replaced ? replaced : Read<T>();

        public void Replace(object replacement) => Replacement = replacement;

        /// <summary>
        /// The labels of the pods this object creates: a Pod's own, or those of the pod template of any kind that has one
        /// (StatefulSet, DaemonSet, ReplicaSet, Job, a custom resource such as a Rollout; a CronJob's job template); null
        /// if it creates no pods.
        /// </summary>
        public Dictionary<string, string>? PodLabels()
        {
            var metadata = Kind is "Pod"
                ? Child(Node, "metadata")
                : Child(Child(Child(Node, "spec"), "template"), "metadata") ?? Child(Child(Child(Child(Child(Node, "spec"), "jobTemplate"), "spec"), "template"), "metadata");
            return Child(metadata, "labels")?.Children
                .Where(pair => pair.Key is YamlScalarNode { Value: not null } && pair.Value is YamlScalarNode)
                .ToDictionary(pair => ((YamlScalarNode)pair.Key).Value!, pair => ((YamlScalarNode)pair.Value).Value ?? string.Empty, StringComparer.Ordinal);
        }

        private static YamlMappingNode? Child(YamlMappingNode? node, string key) =>
            node is not null && node.Children.TryGetValue(new YamlScalarNode(key), out var value) ? value as YamlMappingNode : null;

        public void InsertBefore(object item) => Before.Add(item);

        private static string? Scalar(YamlMappingNode node, string key) =>
            node.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is YamlScalarNode scalar && !string.IsNullOrEmpty(scalar.Value) ? scalar.Value : null;

        private static string? Metadata(YamlMappingNode node, string key) =>
            node.Children.TryGetValue(new YamlScalarNode("metadata"), out var metadata) && metadata is YamlMappingNode mapping ? Scalar(mapping, key) : null;
    }
}
