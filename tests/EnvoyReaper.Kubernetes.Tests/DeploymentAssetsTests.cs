using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using EnvoyReaper.Messaging;
using EnvoyReaper.TestSupport.Kubernetes.Authorization;
using k8s;
using k8s.Models;
using Xunit.Abstractions;
using YamlDotNet.RepresentationModel;

namespace EnvoyReaper.Kubernetes.Tests;

/// <summary>
/// What runs the function app: the manifests of infra/k8s/app (Deployments, Service, settings, KEDA), the Dockerfile and
/// the Bicep of infra/azure. The image cannot be built here (no container engine) and nothing is deployed: these tests
/// check what can be checked without a cluster or a subscription, and compile the Bicep with the pinned Bicep CLI.
/// </summary>
public sealed partial class DeploymentAssetsTests(ITestOutputHelper output)
{
    private const string Namespace = "envoy-reaper";
    private const string FunctionsBaseImage = "mcr.microsoft.com/azure-functions/dotnet-isolated:4-dotnet-isolated10.0";
    private const string SdkImage = "mcr.microsoft.com/dotnet/sdk:10.0";
    private const string BicepPackage = "Azure.Bicep.CommandLine.linux-x64";
    private const string StorageBlobDataOwner = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b";
    private const string StorageQueueDataContributor = "974c5e8b-45b9-4653-ba55-5f855dd0fb88";
    private const string StorageTableDataContributor = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3";
    private static readonly TimeSpan BicepTimeout = TimeSpan.FromSeconds(120);

    private static readonly Dictionary<string, Type> BuiltInKinds = new()
    {
        ["v1/Namespace"] = typeof(V1Namespace),
        ["v1/ServiceAccount"] = typeof(V1ServiceAccount),
        ["v1/ConfigMap"] = typeof(V1ConfigMap),
        ["v1/Secret"] = typeof(V1Secret),
        ["v1/Service"] = typeof(V1Service),
        ["apps/v1/Deployment"] = typeof(V1Deployment),
        ["rbac.authorization.k8s.io/v1/ClusterRole"] = typeof(V1ClusterRole),
        ["rbac.authorization.k8s.io/v1/ClusterRoleBinding"] = typeof(V1ClusterRoleBinding),
        ["rbac.authorization.k8s.io/v1/RoleBinding"] = typeof(V1RoleBinding),
    };

    // One compile per test run, shared by the facts that read the ARM JSON.
    private static readonly Lazy<Task<BicepRun>> MainTemplate = new(() => RunBicepAsync("build", Path.Combine("infra", "azure", "main.bicep"), "--stdout"));

    private static string Root { get; } = FindRoot();

    private static string AppFolder => Path.Combine(Root, "infra", "k8s", "app");

    public static TheoryData<string> AppManifestFiles()
    {
        var data = new TheoryData<string>();
        foreach (var file in ManifestPaths())
        {
            data.Add(Path.GetFileName(file));
        }

        return data;
    }

    // (a) Every file loads: built-in kinds strictly with the Kubernetes client, KEDA's with YamlDotNet.
    [Theory]
    [MemberData(nameof(AppManifestFiles))]
    public void Every_app_manifest_loads_strictly(string file)
    {
        var manifest = LoadFile(Path.Combine(AppFolder, file));

        Assert.True(manifest.Objects.Count + manifest.Keda.Count > 0, $"{file} has no documents");
        Assert.All(manifest.Objects, item => Assert.Equal(Namespace, item.Metadata.NamespaceProperty));
        Assert.All(manifest.Keda, document =>
        {
            Assert.Equal("keda.sh/v1alpha1", Scalar(document, "apiVersion"));
            Assert.Contains(Scalar(document, "kind"), new[] { "ScaledObject", "TriggerAuthentication" });
            Assert.Equal(Namespace, Scalar(document, "metadata", "namespace"));
        });
    }

    [Fact]
    public void The_folder_holds_a_timer_Deployment_a_KEDA_scaled_consumer_Deployment_and_their_settings()
    {
        var app = LoadApp();

        Assert.Equal(2, app.Objects.OfType<V1Deployment>().Count());
        Assert.Single(app.Keda, document => Scalar(document, "kind") == "ScaledObject");
        Assert.Single(app.Objects.OfType<V1Service>());
        Assert.NotEmpty(app.Objects.OfType<V1ConfigMap>());
        Assert.NotEmpty(app.Objects.OfType<V1Secret>());
        var names = app.Objects.Select(item => $"{item.Kind}/{item.Metadata.Name}").ToList();
        Assert.Equal(names.Count, names.Distinct().Count());
    }

    [Fact]
    public void The_ScaledObject_scales_the_consumer_Deployment_on_both_queues_with_its_storage_connection()
    {
        var app = LoadApp();
        var scaledObject = app.Keda.Single(document => Scalar(document, "kind") == "ScaledObject");
        var consumer = app.Consumer;

        Assert.Equal(consumer.Metadata.Name, Scalar(scaledObject, "spec", "scaleTargetRef", "name"));
        Assert.Equal("Deployment", Scalar(scaledObject, "spec", "scaleTargetRef", "kind") ?? "Deployment");
        Assert.Null(consumer.Spec.Replicas);
        var max = int.Parse(Scalar(scaledObject, "spec", "maxReplicaCount") ?? "100", System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(max, 1, 20);

        var triggers = ((YamlSequenceNode)Node(scaledObject, "spec", "triggers")!).Children.Cast<YamlMappingNode>().ToList();
        Assert.All(triggers, trigger => Assert.Equal("azure-queue", Scalar(trigger, "type")));
        Assert.Equal(
            new[] { QueueNames.StatsCheck, QueueNames.Teardown }.Order(),
            triggers.Select(trigger => Scalar(trigger, "metadata", "queueName")).Order());
        var settings = EffectiveSettings(app, consumer);
        foreach (var trigger in triggers)
        {
            Assert.True(int.TryParse(Scalar(trigger, "metadata", "queueLength"), out var length) && length > 0, "queueLength must be a positive number");
            var connectionFromEnv = Scalar(trigger, "metadata", "connectionFromEnv");
            var authenticationRef = Scalar(trigger, "authenticationRef", "name");
            Assert.True(connectionFromEnv is not null || authenticationRef is not null, "each trigger needs connectionFromEnv or an authenticationRef");
            if (connectionFromEnv is not null)
            {
                Assert.True(settings.TryGetValue(connectionFromEnv, out var source), $"connectionFromEnv {connectionFromEnv} is not set on the target's container");
                Assert.StartsWith("secret:", source, StringComparison.Ordinal);
            }

            if (authenticationRef is not null)
            {
                Assert.Contains(app.Keda, document => Scalar(document, "kind") == "TriggerAuthentication" && Scalar(document, "metadata", "name") == authenticationRef);
            }
        }
    }

    // (b) Every Deployment (the opt-in injector's too): its own service account from rbac.yaml or its own file, non-root,
    // settings that exist, InCluster, a safe dry run.
    [Fact]
    public void Every_Deployment_runs_as_its_own_service_account_non_root_with_settings_from_the_folder()
    {
        var app = LoadApp(includeInjector: true);
        var accounts = KubernetesYaml.LoadAllFromString(File.ReadAllText(Path.Combine(Root, "infra", "k8s", "rbac.yaml")), BuiltInKinds, strict: true)
            .OfType<V1ServiceAccount>().Concat(app.Objects.OfType<V1ServiceAccount>()).ToList();
        var deployments = app.Objects.OfType<V1Deployment>().ToList();
        Assert.Equal(3, deployments.Count);
        Assert.Equal(deployments.Count, deployments.Select(deployment => deployment.Spec.Template.Spec.ServiceAccountName).Distinct().Count());

        foreach (var deployment in deployments)
        {
            var name = deployment.Metadata.Name;
            var pod = deployment.Spec.Template.Spec;
            Assert.Contains(accounts, account => account.Metadata.Name == pod.ServiceAccountName && account.Metadata.NamespaceProperty == Namespace);
            Assert.NotEqual(false, pod.AutomountServiceAccountToken);
            var container = Assert.Single(pod.Containers);

            Assert.True((container.SecurityContext?.RunAsNonRoot ?? pod.SecurityContext?.RunAsNonRoot) == true, $"{name} must set runAsNonRoot");
            var user = container.SecurityContext?.RunAsUser ?? pod.SecurityContext?.RunAsUser;
            Assert.True(user is > 0, $"{name} must run as a numeric non-root user");
            Assert.False(container.SecurityContext?.AllowPrivilegeEscalation ?? true, $"{name} must not allow privilege escalation");
            Assert.True(container.SecurityContext?.ReadOnlyRootFilesystem, $"{name} must have a read-only root filesystem");
            Assert.Contains("ALL", container.SecurityContext?.Capabilities?.Drop ?? []);
            foreach (var resource in new[] { "cpu", "memory" })
            {
                Assert.True(container.Resources?.Requests?.ContainsKey(resource) == true, $"{name} requests no {resource}");
            }

            Assert.True(container.Resources?.Limits?.ContainsKey("memory") == true, $"{name} has no memory limit");
            Assert.NotNull(container.LivenessProbe);
            Assert.NotNull(container.StartupProbe);

            foreach (var reference in container.EnvFrom ?? [])
            {
                if (reference.ConfigMapRef is { } configMap)
                {
                    Assert.Contains(app.Objects.OfType<V1ConfigMap>(), item => item.Metadata.Name == configMap.Name);
                }

                if (reference.SecretRef is { } secret)
                {
                    Assert.Contains(app.Objects.OfType<V1Secret>(), item => item.Metadata.Name == secret.Name);
                }
            }

            foreach (var variable in container.Env ?? [])
            {
                if (variable.ValueFrom?.SecretKeyRef is { } secretKey)
                {
                    Assert.Contains(app.Objects.OfType<V1Secret>(), item => item.Metadata.Name == secretKey.Name);
                }

                if (variable.ValueFrom?.ConfigMapKeyRef is { } configMapKey)
                {
                    Assert.Contains(app.Objects.OfType<V1ConfigMap>(), item => item.Metadata.Name == configMapKey.Name && item.Data.ContainsKey(configMapKey.Key));
                }
            }

            var settings = EffectiveSettings(app, deployment);
            Assert.Equal("InCluster", settings.GetValueOrDefault("Kubernetes__Mode"));
            Assert.Equal("true", settings.GetValueOrDefault("Reaper__DryRun"));
            Assert.False(string.IsNullOrWhiteSpace(settings.GetValueOrDefault("ReaperSchedule")), $"{name} has no ReaperSchedule");
            Assert.StartsWith("secret:", settings.GetValueOrDefault("AzureWebJobsStorage"), StringComparison.Ordinal);
            Assert.DoesNotContain(settings.Keys, key => key.StartsWith("Kubernetes__KubeConfig", StringComparison.Ordinal));
        }

        // One host id for every pod, or each pod keeps its own timer schedule state and its own function keys.
        var hostIds = deployments.Select(deployment => EffectiveSettings(app, deployment).GetValueOrDefault("AzureFunctionsWebHost__hostid")).Distinct().ToList();
        var hostId = Assert.Single(hostIds);
        Assert.Matches("^[a-z0-9][a-z0-9-]{0,31}$", hostId ?? "");
        Assert.Single(deployments.Select(deployment => deployment.Spec.Template.Spec.Containers[0].Image).Distinct());
    }

    [Fact]
    public void The_timer_runs_only_in_the_single_replica_Deployment_and_the_queue_consumers_only_in_the_scaled_one()
    {
        var app = LoadApp();
        var functions = FunctionsInSource();
        var timers = functions.Where(function => function.Trigger == "TimerTrigger").Select(function => function.Name).ToList();
        // FinishInjectionRollout, Wake and Park write Services (and restore workloads): they run in the opt-in injector
        // (see below), not here.
        string[] writingQueues = ["FinishInjectionRollout", "Wake", "Park"];
        var queues = functions.Where(function => function.Trigger == "QueueTrigger" && !writingQueues.Contains(function.Name)).Select(function => function.Name).ToList();
        Assert.Contains("DiscoverWorkloads", timers);
        Assert.Contains("CheckStats", queues);
        Assert.Contains("TearDown", queues);

        var consumer = EffectiveSettings(app, app.Consumer);
        var scheduler = EffectiveSettings(app, app.Scheduler);
        Assert.Equal(1, app.Scheduler.Spec.Replicas);
        Assert.All(timers, timer => Assert.False(Runs(consumer, timer), $"{timer} must not run in {app.Consumer.Metadata.Name}"));
        Assert.All(timers, timer => Assert.True(Runs(scheduler, timer), $"{timer} must run in {app.Scheduler.Metadata.Name}"));
        Assert.All(queues, queue => Assert.False(Runs(scheduler, queue), $"{queue} must not run in {app.Scheduler.Metadata.Name}"));
        Assert.All(queues, queue => Assert.True(Runs(consumer, queue), $"{queue} must run in {app.Consumer.Metadata.Name}"));

        // A setting for a function that does not exist (a typo) would silently disable nothing.
        var known = functions.Select(function => function.Name).ToHashSet();
        foreach (var settings in new[] { consumer, scheduler })
        {
            foreach (var key in settings.Keys)
            {
                if (DisabledSetting().Match(key) is { Success: true } match)
                {
                    Assert.Contains(match.Groups["name"].Value, known);
                }
            }

            Assert.All(FunctionAppManifests.AllowList(settings) ?? [], name => Assert.Contains(name, known));
        }
    }

    // Every function runs in exactly one Deployment; the functions that write (inject, remove, restore, and the queue
    // function that finishes an injection's rollout) only in the opt-in injector, never under the identity of the queue
    // workers that talk to untrusted Envoys, nor the timer's.
    [Fact]
    public void Every_function_runs_in_one_Deployment_and_the_writing_endpoints_only_under_the_opt_in_injector_identity()
    {
        var manifests = FunctionAppManifests.Load(ManifestPaths().Append(Path.Combine(Root, "infra", "k8s", "injector", "injector.yaml")));
        var app = LoadApp();
        string[] writers = ["InjectSidecar", "RemoveSidecar", "RestoreWorkload", "FinishInjectionRollout", "GetInjectionStatus", "Wake", "Park"];

        foreach (var (function, _) in FunctionsInSource())
        {
            var runners = manifests.Deployments.Where(deployment => manifests.Runs(deployment, function)).Select(deployment => deployment.Metadata.Name).ToList();
            Assert.True(runners.Count == 1, $"{function} runs in {runners.Count} Deployments ({string.Join(", ", runners)})");
            Assert.All(manifests.Deployments, deployment => Assert.NotNull(FunctionAppManifests.AllowList(manifests.Environment(deployment))));
        }

        Assert.All(writers, function => Assert.Equal(["envoy-reaper-injector"], manifests.Deployments.Where(deployment => manifests.Runs(deployment, function)).Select(deployment => deployment.Metadata.Name)));
        var injectorAccount = FunctionAppManifests.IdentityOf(manifests.Deployments.Single(deployment => deployment.Metadata.Name == "envoy-reaper-injector"));
        Assert.DoesNotContain(injectorAccount, app.Objects.OfType<V1Deployment>().Select(FunctionAppManifests.IdentityOf));
    }

    // What the default files grant: the scheduler reads, the worker reads and tears down; neither creates, rewrites or
    // reads Secrets anywhere, and the injector's role is bound by nothing that the README applies by default.
    [Theory]
    [InlineData("POST", "/apis/apps/v1/namespaces/kube-system/deployments")]
    [InlineData("PUT", "/apis/apps/v1/namespaces/kube-system/deployments/coredns")]
    [InlineData("PUT", "/api/v1/namespaces/default/services/web")]
    [InlineData("PATCH", "/api/v1/namespaces/default/services/web")]
    [InlineData("POST", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices")]
    [InlineData("PUT", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/web-envoy-waker")]
    [InlineData("POST", "/api/v1/namespaces/kube-system/configmaps")]
    [InlineData("PUT", "/api/v1/namespaces/kube-system/configmaps/coredns")]
    [InlineData("POST", "/apis/networking.k8s.io/v1/namespaces/default/ingresses")]
    [InlineData("GET", "/api/v1/namespaces/envoy-reaper/secrets/envoy-reaper-storage")]
    [InlineData("GET", "/api/v1/secrets")]
    [InlineData("DELETE", "/api/v1/namespaces/default/pods")]
    public void The_default_identities_cannot_create_or_rewrite_workloads_or_read_secrets(string method, string path)
    {
        var manifests = FunctionAppManifests.Load(ManifestPaths().Prepend(Path.Combine(Root, "infra", "k8s", "rbac.yaml")));
        var policy = manifests.Policy();
        var request = RequestAttributes.Parse(method, path, "");

        Assert.All(app(manifests), identity => Assert.False(policy.Authorize(identity, request).Allowed, $"{identity} may {request}"));

        static IEnumerable<ServiceAccountIdentity> app(FunctionAppManifests manifests) => manifests.Deployments.Select(FunctionAppManifests.IdentityOf);
    }

    [Theory]
    [InlineData("DELETE", "/apis/apps/v1/namespaces/default/deployments/web")]
    [InlineData("PATCH", "/apis/apps/v1/namespaces/default/deployments/web")]
    [InlineData("DELETE", "/api/v1/namespaces/default/services/web")]
    [InlineData("PATCH", "/apis/monitoring.example.com/v1alpha1/namespaces/default/envoymonitors/web/status")]
    [InlineData("POST", "/api/v1/namespaces/default/events")]
    public void The_discovery_timer_holds_no_verb_of_the_workers(string method, string path)
    {
        var manifests = FunctionAppManifests.Load(ManifestPaths().Prepend(Path.Combine(Root, "infra", "k8s", "rbac.yaml")));
        var policy = manifests.Policy();
        var app = LoadApp();
        var request = RequestAttributes.Parse(method, path, "");

        Assert.False(policy.Authorize(FunctionAppManifests.IdentityOf(app.Scheduler), request).Allowed);
        Assert.True(policy.Authorize(FunctionAppManifests.IdentityOf(app.Consumer), request).Allowed);
    }

    [Fact]
    public void The_Service_exposes_the_HTTP_endpoints_of_the_scheduler_pods_only()
    {
        var app = LoadApp();
        var service = app.Objects.OfType<V1Service>().Single();

        Assert.Equal("ClusterIP", service.Spec.Type ?? "ClusterIP");
        Assert.True(Selects(service.Spec.Selector, app.Scheduler), "the Service must select the scheduler's pods");
        Assert.False(Selects(service.Spec.Selector, app.Consumer), "the Service must not select the consumers' pods");
        var container = app.Scheduler.Spec.Template.Spec.Containers.Single();
        Assert.NotNull(container.ReadinessProbe);
        foreach (var port in service.Spec.Ports)
        {
            var target = port.TargetPort?.Value ?? port.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            Assert.Contains(container.Ports, containerPort => containerPort.Name == target || containerPort.ContainerPort.ToString(System.Globalization.CultureInfo.InvariantCulture) == target);
        }
    }

    // (c) The image: the official Functions base image, the app published from src/EnvoyReaper.Functions, the same user
    // and port as the manifests. It is not built here (no container engine).
    [Fact]
    public void The_Dockerfile_publishes_the_function_app_onto_the_Functions_isolated_base_image()
    {
        var dockerfile = DockerfilePath();
        var instructions = DockerInstructions(File.ReadAllText(dockerfile));
        var froms = instructions.Where(instruction => instruction.Keyword == "FROM").Select(instruction => instruction.Arguments).ToList();

        Assert.Equal(2, froms.Count);
        Assert.StartsWith(SdkImage + " ", froms[0] + " ", StringComparison.Ordinal);
        Assert.StartsWith(FunctionsBaseImage + " ", froms[^1] + " ", StringComparison.Ordinal);
        var buildStage = froms[0].Split(' ', StringSplitOptions.RemoveEmptyEntries).Last();
        var lastFrom = instructions.FindLastIndex(instruction => instruction.Keyword == "FROM");
        var build = instructions[..lastFrom];
        var final = instructions[lastFrom..];

        Assert.Contains(build, instruction => instruction.Keyword == "RUN" && instruction.Arguments.Contains("dotnet publish", StringComparison.Ordinal)
            && instruction.Arguments.Contains("src/EnvoyReaper.Functions/EnvoyReaper.Functions.csproj", StringComparison.Ordinal));
        Assert.True(File.Exists(Path.Combine(Root, "src", "EnvoyReaper.Functions", "EnvoyReaper.Functions.csproj")));
        Assert.Contains(final, instruction => instruction.Keyword == "COPY" && instruction.Arguments.Contains($"--from={buildStage}", StringComparison.Ordinal)
            && instruction.Arguments.TrimEnd().EndsWith("/home/site/wwwroot", StringComparison.Ordinal));
        var environment = string.Join(' ', final.Where(instruction => instruction.Keyword == "ENV").Select(instruction => instruction.Arguments));
        Assert.Contains("AzureWebJobsScriptRoot=/home/site/wwwroot", environment, StringComparison.Ordinal);
        Assert.Contains("AzureFunctionsJobHost__Logging__Console__IsEnabled=true", environment, StringComparison.Ordinal);

        // The manifests run as the image's user and reach the port the host listens on.
        var app = LoadApp();
        var user = final.Last(instruction => instruction.Keyword == "USER").Arguments.Split(':')[0];
        Assert.True(long.TryParse(user, out var uid) && uid > 0, "the image must end as a numeric non-root USER");
        var port = PortInUrls().Match(environment);
        Assert.True(port.Success, "ASPNETCORE_URLS must move the host off port 80 for a non-root user");
        foreach (var deployment in app.Objects.OfType<V1Deployment>())
        {
            Assert.Equal(uid, deployment.Spec.Template.Spec.SecurityContext?.RunAsUser);
            Assert.Contains(deployment.Spec.Template.Spec.Containers.Single().Ports, containerPort => containerPort.ContainerPort.ToString(System.Globalization.CultureInfo.InvariantCulture) == port.Groups["port"].Value);
        }

        // What the build copies must exist and not be ignored; what must never reach the image is ignored.
        var ignored = File.ReadAllLines(Path.Combine(Path.GetDirectoryName(dockerfile)!, ".dockerignore")).Select(line => line.Trim()).Where(line => line.Length > 0 && !line.StartsWith('#')).ToList();
        foreach (var source in build.Where(instruction => instruction.Keyword == "COPY").SelectMany(instruction => instruction.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries)[..^1]))
        {
            Assert.True(File.Exists(Path.Combine(Root, source)) || Directory.Exists(Path.Combine(Root, source)), $"COPY {source}: not in the repository");
            Assert.DoesNotContain(ignored, pattern => pattern.TrimEnd('/') == source.TrimEnd('/'));
        }

        Assert.Contains("**/bin/", ignored);
        Assert.Contains("**/obj/", ignored);
        Assert.Contains("**/local.settings.json", ignored);
    }

    // (d) The Bicep compiles offline with the pinned CLI (its type data is built in; only local modules are used).
    [Fact]
    public async Task The_Bicep_compiles_to_a_Flex_Consumption_app_on_keyless_storage_with_a_user_assigned_identity()
    {
        var run = await MainTemplate.Value;
        Assert.True(run.ExitCode == 0, $"bicep build failed ({run.ExitCode}):\n{run.Stderr}");
        var template = JsonNode.Parse(run.Stdout)!;
        var resources = Resources(WithoutOptionalModules(template)).ToList();

        var site = Assert.Single(resources, resource => Type(resource) == "Microsoft.Web/sites");
        Assert.Equal("functionapp,linux", (string?)site["kind"]);
        Assert.Equal("UserAssigned", (string?)site["identity"]?["type"]);
        Assert.NotEmpty(site["identity"]!["userAssignedIdentities"]!.AsObject());
        var config = site["properties"]!["functionAppConfig"]!;
        Assert.Equal("dotnet-isolated", (string?)config["runtime"]?["name"]);
        Assert.Equal("10.0", (string?)config["runtime"]?["version"]);
        Assert.Equal("blobContainer", (string?)config["deployment"]?["storage"]?["type"]);
        Assert.Equal("UserAssignedIdentity", (string?)config["deployment"]?["storage"]?["authentication"]?["type"]);
        Assert.NotNull(config["scaleAndConcurrency"]?["maximumInstanceCount"]);
        Assert.NotNull(config["scaleAndConcurrency"]?["instanceMemoryMB"]);
        Assert.True((bool?)site["properties"]!["httpsOnly"]);

        var plan = Assert.Single(resources, resource => Type(resource) == "Microsoft.Web/serverfarms");
        Assert.Equal("FC1", (string?)plan["sku"]?["name"]);
        Assert.Equal("FlexConsumption", (string?)plan["sku"]?["tier"]);

        var storage = Assert.Single(resources, resource => Type(resource) == "Microsoft.Storage/storageAccounts" && resource["properties"] is not null);
        Assert.False((bool?)storage["properties"]!["allowSharedKeyAccess"]);
        Assert.Equal("TLS1_2", (string?)storage["properties"]!["minimumTlsVersion"]);
        Assert.False((bool?)storage["properties"]!["allowBlobPublicAccess"]);
        foreach (var service in new[] { "blobServices", "queueServices", "tableServices" })
        {
            Assert.Contains(resources, resource => Type(resource) == $"Microsoft.Storage/storageAccounts/{service}");
        }

        Assert.Contains(resources, resource => Type(resource) == "Microsoft.ManagedIdentity/userAssignedIdentities");
        Assert.Contains(resources, resource => Type(resource) == "Microsoft.Insights/components");
        Assert.Contains(resources, resource => Type(resource) == "Microsoft.OperationalInsights/workspaces");

        var roles = resources.Where(resource => Type(resource) == "Microsoft.Authorization/roleAssignments").ToList();
        Assert.Equal(3, roles.Count);
        var roleDefinitions = RoleDefinitionIds(WithoutOptionalModules(template)).ToList();
        Assert.Equal(3, roleDefinitions.Count);
        foreach (var role in new[] { StorageBlobDataOwner, StorageQueueDataContributor, StorageTableDataContributor })
        {
            Assert.Single(roleDefinitions, definition => definition.Contains(role, StringComparison.Ordinal));
        }

        Assert.All(roles, role => Assert.Equal("ServicePrincipal", (string?)role["properties"]?["principalType"]));

        // No keys anywhere: no listKeys(), no connection string for the host's storage.
        Assert.DoesNotContain("listKeys", run.Stdout, StringComparison.OrdinalIgnoreCase);
        if (run.Stderr.Length > 0)
        {
            output.WriteLine("bicep build diagnostics:\n" + run.Stderr);
        }
    }

    [Fact]
    public async Task The_function_app_gets_identity_based_storage_and_the_reaper_settings_with_a_dry_run_default()
    {
        var run = await MainTemplate.Value;
        Assert.True(run.ExitCode == 0, $"bicep build failed ({run.ExitCode}):\n{run.Stderr}");
        var template = JsonNode.Parse(run.Stdout)!;
        var site = Resources(WithoutOptionalModules(template)).Single(resource => Type(resource) == "Microsoft.Web/sites");
        var settings = AppSettings(site["properties"]!["siteConfig"]!["appSettings"]!);

        Assert.Equal("managedidentity", settings["AzureWebJobsStorage__credential"]);
        foreach (var name in new[]
        {
            "AzureWebJobsStorage__accountName", "AzureWebJobsStorage__clientId", "APPLICATIONINSIGHTS_CONNECTION_STRING", "ReaperSchedule", "Reaper__DryRun",
            "Kubernetes__Mode", "Kubernetes__Server", "Kubernetes__ClientId",
        })
        {
            Assert.True(settings.ContainsKey(name), $"app setting {name} is missing");
        }

        // Flex Consumption rejects these two (the runtime comes from functionAppConfig); a connection string would need keys.
        Assert.DoesNotContain("AzureWebJobsStorage", settings.Keys);
        Assert.DoesNotContain("FUNCTIONS_WORKER_RUNTIME", settings.Keys);
        Assert.DoesNotContain("FUNCTIONS_EXTENSION_VERSION", settings.Keys);

        var parameters = template["parameters"]!.AsObject();
        Assert.True((bool?)parameters["reaperDryRun"]?["defaultValue"]);
        Assert.Equal("AksEntra", (string?)parameters["kubernetesMode"]?["defaultValue"]);
        Assert.NotNull(parameters["kubernetesServer"]);
        Assert.NotNull(parameters["kubernetesClientId"]);
        Assert.All(parameters, parameter => Assert.False(string.IsNullOrWhiteSpace((string?)parameter.Value?["metadata"]?["description"]), $"parameter {parameter.Key} has no @description"));

        var outputs = template["outputs"]!.AsObject();
        foreach (var name in new[] { "functionAppName", "identityPrincipalId", "identityClientId" })
        {
            Assert.True(outputs.ContainsKey(name), $"output {name} is missing");
        }
    }

    [Fact]
    public async Task With_deployInjector_the_functions_that_write_into_workloads_run_only_in_a_second_app_with_its_own_identity()
    {
        var run = await MainTemplate.Value;
        Assert.True(run.ExitCode == 0, $"bicep build failed ({run.ExitCode}):\n{run.Stderr}");
        var template = JsonNode.Parse(run.Stdout)!.AsObject();
        var manifests = FunctionAppManifests.Load(ManifestPaths().Append(Path.Combine(Root, "infra", "k8s", "injector", "injector.yaml")));
        var inCluster = manifests.Deployments.ToDictionary(deployment => deployment.Metadata.Name, deployment => FunctionAppManifests.AllowList(manifests.Environment(deployment)) ?? []);
        var reaperFunctions = StringArray(template["variables"]!["reaperFunctions"]);
        var injectorFunctions = StringArray(template["variables"]!["injectorFunctions"]);

        // The same split as in the cluster, and every function of the app in exactly one of the two.
        Assert.Equal(inCluster["envoy-reaper-scheduler"].Concat(inCluster["envoy-reaper-worker"]).Order(), reaperFunctions.Order());
        Assert.Equal(inCluster["envoy-reaper-injector"].Order(), injectorFunctions.Order());
        Assert.Equal(FunctionsInSource().Select(function => function.Name).Order(), reaperFunctions.Concat(injectorFunctions).Order());

        var main = Module(template, "envoy-reaper-functionapp");
        var injector = Module(template, "envoy-reaper-injector-functionapp");
        Assert.Null(main["condition"]);
        Assert.Equal("[parameters('deployInjector')]", (string?)injector["condition"]);
        Assert.Equal("[if(parameters('deployInjector'), createObject('value', variables('reaperFunctions')), createObject('value', createArray()))]",
            (string?)main["properties"]!["parameters"]!["functions"]);
        Assert.Equal("[variables('injectorFunctions')]", (string?)injector["properties"]!["parameters"]!["functions"]!["value"]);

        // Its own identity: the worker's identity, which reads untrusted Envoys, never gets the injector's rights.
        var injectorIdentity = Module(template, "envoy-reaper-injector-identity");
        Assert.Equal("[parameters('deployInjector')]", (string?)injectorIdentity["condition"]);
        foreach (var parameter in new[] { "identityId", "identityClientId", "kubernetesClientId" })
        {
            Assert.Contains("envoy-reaper-injector-identity", (string?)injector["properties"]!["parameters"]![parameter]!["value"], StringComparison.Ordinal);
        }

        Assert.Contains("envoy-reaper-injector-identity", (string?)Module(template, "envoy-reaper-injector-storage-access")["properties"]!["parameters"]!["principalId"]!["value"], StringComparison.Ordinal);

        // The module writes the list as the host's allow list, one AzureFunctionsJobHost__functions__N setting per name.
        var appSettings = Resources(main["properties"]!["template"]).Single(resource => Type(resource) == "Microsoft.Web/sites")["properties"]!["siteConfig"]!["appSettings"]!.GetValue<string>();
        Assert.EndsWith("variables('allowList'))]", appSettings, StringComparison.Ordinal);
        var allowList = main["properties"]!["template"]!["variables"]!["copy"]!.AsArray().Single(copy => (string?)copy!["name"] == "allowList")!;
        Assert.Equal("[format('AzureFunctionsJobHost__functions__{0}', copyIndex('allowList'))]", (string?)allowList["input"]!["name"]);
    }

    [Fact]
    public async Task The_Bicep_creates_every_queue_of_the_app_and_its_poison_queue()
    {
        var run = await MainTemplate.Value;
        Assert.True(run.ExitCode == 0, $"bicep build failed ({run.ExitCode}):\n{run.Stderr}");
        var storage = Module(JsonNode.Parse(run.Stdout)!.AsObject(), "envoy-reaper-storage");
        var queues = StringArray(storage["properties"]!["template"]!["variables"]!["queueNames"]);
        var used = typeof(EnvoyReaper.Messaging.QueueNames).GetFields()
            .Where(field => field.IsLiteral)
            .Select(field => (string)field.GetRawConstantValue()!)
            .ToList();

        Assert.NotEmpty(used);
        Assert.Equal(used.Concat(used.Select(queue => queue + "-poison")).Order(), queues.Order());
    }

    [Fact]
    public async Task The_example_parameters_file_compiles_against_main_bicep()
    {
        var run = await RunBicepAsync("build-params", Path.Combine("infra", "azure", "main.bicepparam"), "--stdout");

        Assert.True(run.ExitCode == 0, $"bicep build-params failed ({run.ExitCode}):\n{run.Stderr}");
        var parameters = JsonNode.Parse(JsonNode.Parse(run.Stdout)!["parametersJson"]!.GetValue<string>())!["parameters"]!;
        Assert.True((bool?)parameters["reaperDryRun"]?["value"]);
    }

    [Fact]
    public void The_Bicep_uses_only_local_modules()
    {
        var files = Directory.GetFiles(Path.Combine(Root, "infra", "azure"), "*.bicep*", SearchOption.AllDirectories);

        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            foreach (Match module in ModuleReference().Matches(File.ReadAllText(file)))
            {
                var target = module.Groups["path"].Value;
                Assert.False(target.StartsWith("br:", StringComparison.Ordinal) || target.StartsWith("br/", StringComparison.Ordinal) || target.StartsWith("ts:", StringComparison.Ordinal) || target.StartsWith("ts/", StringComparison.Ordinal),
                    $"{Path.GetFileName(file)} references the registry module {target}: the build would need the network");
                Assert.True(File.Exists(Path.Combine(Path.GetDirectoryName(file)!, target)), $"{Path.GetFileName(file)}: module {target} does not exist");
            }
        }
    }

    /// <summary>The Functions host runs a function that its allow list (when set) names and that is not disabled.</summary>
    private static bool Runs(Dictionary<string, string> settings, string function) =>
        (FunctionAppManifests.AllowList(settings) is not { } allowList || allowList.Contains(function, StringComparer.OrdinalIgnoreCase))
        && !string.Equals(settings.GetValueOrDefault($"AzureWebJobs.{function}.Disabled"), "true", StringComparison.OrdinalIgnoreCase);

    private static bool Selects(IDictionary<string, string>? selector, V1Deployment deployment) =>
        selector is { Count: > 0 } && selector.All(pair => deployment.Spec.Template.Metadata.Labels.TryGetValue(pair.Key, out var value) && value == pair.Value);

    /// <summary>The container's environment as the Functions host sees it: envFrom ConfigMaps first, then env.
    /// Values from a Secret are "secret:name/key", because the folder's Secrets deliberately carry no data.</summary>
    private static Dictionary<string, string> EffectiveSettings(AppManifests app, V1Deployment deployment)
    {
        var container = deployment.Spec.Template.Spec.Containers.Single();
        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var reference in container.EnvFrom ?? [])
        {
            if (reference.ConfigMapRef is { } configMapRef)
            {
                foreach (var (key, value) in app.Objects.OfType<V1ConfigMap>().Single(item => item.Metadata.Name == configMapRef.Name).Data ?? new Dictionary<string, string>())
                {
                    settings[(reference.Prefix ?? "") + key] = value;
                }
            }
        }

        foreach (var variable in container.Env ?? [])
        {
            settings[variable.Name] = variable.ValueFrom switch
            {
                { SecretKeyRef: { } secret } => $"secret:{secret.Name}/{secret.Key}",
                { ConfigMapKeyRef: { } configMap } => app.Objects.OfType<V1ConfigMap>().Single(item => item.Metadata.Name == configMap.Name).Data[configMap.Key],
                null => variable.Value ?? "",
                _ => "(from the pod)",
            };
        }

        return settings;
    }

    /// <summary>Every [Function] of the app and the trigger that starts it, read from the source so that a new
    /// timer or queue function cannot be forgotten in the manifests.</summary>
    private static List<(string Name, string Trigger)> FunctionsInSource()
    {
        var functions = new List<(string, string)>();
        foreach (var file in Directory.GetFiles(Path.Combine(Root, "src", "EnvoyReaper.Functions"), "*.cs"))
        {
            var text = File.ReadAllText(file);
            var matches = FunctionAttribute().Matches(text);
            for (var i = 0; i < matches.Count; i++)
            {
                var end = i + 1 < matches.Count ? matches[i + 1].Index : text.Length;
                var body = text[matches[i].Index..end];
                var name = matches[i].Groups["literal"].Success ? matches[i].Groups["literal"].Value : matches[i].Groups["nameof"].Value.Split('.')[^1];
                var trigger = new[] { "TimerTrigger", "QueueTrigger", "HttpTrigger" }.FirstOrDefault(candidate => body.Contains($"[{candidate}(", StringComparison.Ordinal)) ?? "other";
                functions.Add((name, trigger));
            }
        }

        Assert.NotEmpty(functions);
        return functions;
    }

    private static string DockerfilePath()
    {
        var candidates = new[] { Path.Combine(Root, "Dockerfile"), Path.Combine(Root, "infra", "docker", "Dockerfile") };
        return Assert.Single(candidates, File.Exists);
    }

    /// <summary>Dockerfile instructions with continuation lines joined and comments dropped.</summary>
    private static List<(string Keyword, string Arguments)> DockerInstructions(string text)
    {
        var instructions = new List<(string, string)>();
        var current = "";
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.TrimStart().StartsWith('#'))
            {
                continue;
            }

            if (line.EndsWith('\\'))
            {
                current += line[..^1] + " ";
                continue;
            }

            current += line;
            if (current.Trim().Length > 0)
            {
                var trimmed = WhiteSpace().Replace(current.Trim(), " ");
                var space = trimmed.IndexOf(' ', StringComparison.Ordinal);
                instructions.Add(space < 0 ? (trimmed.ToUpperInvariant(), "") : (trimmed[..space].ToUpperInvariant(), trimmed[(space + 1)..]));
            }

            current = "";
        }

        return instructions;
    }

    private sealed record BicepRun(int ExitCode, string Stdout, string Stderr);

    private static async Task<BicepRun> RunBicepAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo(BicepExecutable())
        {
            WorkingDirectory = Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(BicepTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"bicep {string.Join(' ', arguments)} did not finish within {BicepTimeout.TotalSeconds} s");
        }

        return new BicepRun(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>The bicep executable of the pinned NuGet package (tools/bicep), in the global packages folder that
    /// restored this test project.</summary>
    private static string BicepExecutable()
    {
        Assert.True(OperatingSystem.IsLinux() && RuntimeInformation.OSArchitecture == Architecture.X64,
            $"the Bicep compile test uses {BicepPackage}, which runs on Linux x64 only");
        var version = XDocument.Load(Path.Combine(Root, "Directory.Packages.props")).Descendants("PackageVersion")
            .Single(element => (string?)element.Attribute("Include") == BicepPackage).Attribute("Version")!.Value;

        var folders = new List<string>();
        var assets = Path.Combine(Root, "tests", "EnvoyReaper.Kubernetes.Tests", "obj", "project.assets.json");
        if (File.Exists(assets) && JsonNode.Parse(File.ReadAllText(assets))?["packageFolders"] is JsonObject packageFolders)
        {
            folders.AddRange(packageFolders.Select(folder => folder.Key));
        }

        if (Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured)
        {
            folders.Add(configured);
        }

        folders.Add(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages"));
        var executable = folders.Select(folder => Path.Combine(folder, BicepPackage.ToLowerInvariant(), version, "tools", "bicep")).FirstOrDefault(File.Exists);
        Assert.True(executable is not null, $"{BicepPackage} {version} is not restored (looked in {string.Join(", ", folders)}); run dotnet restore");

        // NuGet does not always keep the execute bit of a package's files.
        if (OperatingSystem.IsLinux())
        {
            var mode = File.GetUnixFileMode(executable);
            if (!mode.HasFlag(UnixFileMode.UserExecute))
            {
                File.SetUnixFileMode(executable, mode | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
            }
        }

        return executable;
    }

    /// <summary>Every ARM resource in the template and in its nested (module) deployments, whether a template lists
    /// its resources as an array or, with symbolic names, as an object.</summary>
    /// <summary>The template without the modules a parameter switches on (the injector's), as deployed by default.</summary>
    private static JsonNode WithoutOptionalModules(JsonNode template)
    {
        var copy = template.DeepClone();
        var resources = copy["resources"]!.AsArray();
        foreach (var optional in resources.Where(resource => resource?["condition"] is not null).ToList())
        {
            resources.Remove(optional);
        }

        return copy;
    }

    /// <summary>
    /// The app settings by name: the module writes them as concat(createArray(createObject('name', N, 'value', V), ...),
    /// allowList), so the fixed ones are read from that expression; a value that is itself an expression is kept as text.
    /// </summary>
    private static Dictionary<string, string?> AppSettings(JsonNode appSettings) =>
        appSettings is JsonArray array
            ? array.ToDictionary(setting => (string)setting!["name"]!, setting => setting!["value"]?.ToString())
            : AppSetting().Matches((string)appSettings!).ToDictionary(match => match.Groups["name"].Value, match => match.Groups["value"].Success ? match.Groups["value"].Value.Trim('\'') : null);

    [GeneratedRegex(@"createObject\('name', '(?<name>[^']+)', 'value', (?<value>'[^']*')?")]
    private static partial Regex AppSetting();

    private static JsonObject Module(JsonObject template, string name) =>
        template["resources"]!.AsArray().OfType<JsonObject>()
            .Single(resource => Type(resource) == "Microsoft.Resources/deployments" && (string?)resource["name"] == name);

    private static List<string> StringArray(JsonNode? node) => node!.AsArray().Select(item => (string)item!).ToList();

    private static IEnumerable<JsonObject> Resources(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject item:
                if (item["type"] is JsonValue type && type.TryGetValue<string>(out var name) && name.Contains('/', StringComparison.Ordinal) && item["apiVersion"] is not null)
                {
                    yield return item;
                }

                foreach (var (_, child) in item)
                {
                    foreach (var resource in Resources(child))
                    {
                        yield return resource;
                    }
                }

                break;
            case JsonArray array:
                foreach (var child in array)
                {
                    foreach (var resource in Resources(child))
                    {
                        yield return resource;
                    }
                }

                break;
        }
    }

    private static string? Type(JsonObject resource) => (string?)resource["type"];

    /// <summary>The roleDefinitionId expression of every role assignment, with the variables of its own (module)
    /// template substituted, so that a role ID kept in a variable can be read.</summary>
    private static IEnumerable<string> RoleDefinitionIds(JsonNode? node, JsonObject? variables = null)
    {
        switch (node)
        {
            case JsonObject item:
                if (item.ContainsKey("$schema") && item.ContainsKey("resources"))
                {
                    variables = item["variables"] as JsonObject;
                }

                if (Type(item) == "Microsoft.Authorization/roleAssignments" && item["apiVersion"] is not null)
                {
                    var expression = (string?)item["properties"]?["roleDefinitionId"] ?? "";
                    yield return VariableReference().Replace(expression, match => variables?[match.Groups["name"].Value]?.ToString() ?? match.Value);
                }

                foreach (var (_, child) in item)
                {
                    foreach (var id in RoleDefinitionIds(child, variables))
                    {
                        yield return id;
                    }
                }

                break;
            case JsonArray array:
                foreach (var child in array)
                {
                    foreach (var id in RoleDefinitionIds(child, variables))
                    {
                        yield return id;
                    }
                }

                break;
        }
    }

    private sealed record AppManifests(List<IKubernetesObject<V1ObjectMeta>> Objects, List<YamlMappingNode> Keda)
    {
        public V1Deployment Consumer => Objects.OfType<V1Deployment>().Single(deployment =>
            Keda.Any(document => Scalar(document, "kind") == "ScaledObject" && Scalar(document, "spec", "scaleTargetRef", "name") == deployment.Metadata.Name));

        public V1Deployment Scheduler => Objects.OfType<V1Deployment>().Single(deployment => deployment != Consumer && deployment.Metadata.Name != "envoy-reaper-injector");
    }

    private static IEnumerable<string> ManifestPaths() =>
        Directory.GetFiles(AppFolder, "*.yaml").Concat(Directory.GetFiles(AppFolder, "*.yml")).Order(StringComparer.Ordinal);

    /// <summary>infra/k8s/app, and with <paramref name="includeInjector"/> the opt-in infra/k8s/injector/injector.yaml.</summary>
    private static AppManifests LoadApp(bool includeInjector = false)
    {
        var objects = new List<IKubernetesObject<V1ObjectMeta>>();
        var keda = new List<YamlMappingNode>();
        foreach (var file in includeInjector ? ManifestPaths().Append(Path.Combine(Root, "infra", "k8s", "injector", "injector.yaml")) : ManifestPaths())
        {
            var manifest = LoadFile(file);
            objects.AddRange(manifest.Objects);
            keda.AddRange(manifest.Keda);
        }

        return new AppManifests(objects, keda);
    }

    /// <summary>A file holds either built-in kinds only (loaded strictly: an unknown field fails) or KEDA's only.</summary>
    private static AppManifests LoadFile(string path)
    {
        var text = File.ReadAllText(path);
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        var documents = stream.Documents.Select(document => Assert.IsType<YamlMappingNode>(document.RootNode)).ToList();
        var isKeda = documents.Select(document => (Scalar(document, "apiVersion") ?? "").StartsWith("keda.sh/", StringComparison.Ordinal)).Distinct().ToList();
        Assert.True(isKeda.Count == 1, $"{Path.GetFileName(path)} mixes KEDA and built-in kinds: keep them in separate files");

        return isKeda[0]
            ? new AppManifests([], documents)
            : new AppManifests(KubernetesYaml.LoadAllFromString(text, BuiltInKinds, strict: true).Cast<IKubernetesObject<V1ObjectMeta>>().ToList(), []);
    }

    private static YamlNode? Node(YamlMappingNode node, params string[] path)
    {
        YamlNode? current = node;
        foreach (var key in path)
        {
            if (current is not YamlMappingNode mapping || !mapping.Children.TryGetValue(new YamlScalarNode(key), out current))
            {
                return null;
            }
        }

        return current;
    }

    private static string? Scalar(YamlMappingNode node, params string[] path) => (Node(node, path) as YamlScalarNode)?.Value;

    private static string FindRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Functions.sln")))
        {
            directory = directory.Parent;
        }

        Assert.NotNull(directory);
        return directory.FullName;
    }

    [GeneratedRegex("""\[Function\(\s*(?:nameof\((?<nameof>[\w.]+)\)|"(?<literal>[^"]+)")""")]
    private static partial Regex FunctionAttribute();

    [GeneratedRegex(@"^AzureWebJobs\.(?<name>[^.]+)\.Disabled$")]
    private static partial Regex DisabledSetting();

    [GeneratedRegex(@"ASPNETCORE_URLS=http://[^\s:]+:(?<port>\d+)")]
    private static partial Regex PortInUrls();

    [GeneratedRegex(@"variables\('(?<name>[^']+)'\)")]
    private static partial Regex VariableReference();

    [GeneratedRegex(@"\s+")]
    private static partial Regex WhiteSpace();

    [GeneratedRegex(@"module\s+\w+\s+'(?<path>[^']+)'")]
    private static partial Regex ModuleReference();
}
