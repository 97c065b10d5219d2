using EnvoyReaper.Envoy;
using EnvoyReaper.Idleness;
using EnvoyReaper.Injection;
using EnvoyReaper.TestSupport.Injection;
using EnvoyReaper.Workloads;
using k8s;
using k8s.Models;

namespace EnvoyReaper.Core.Tests.Injection;

/// <summary>The planner on manifests shaped like real projects' (Corpus/*.yaml), loaded and re-loaded strictly.</summary>
public sealed class InjectionCorpusTests
{
    private static readonly InjectionOptions Options = new();

    public static TheoryData<string> CorpusFiles => new(InjectionCorpus.Files);

    private static ValidInjection Request(string @namespace, string deployment, int appPort, string? protocol = null, string? service = null)
    {
        var errors = InjectionRequestValidator.Validate(
            new InjectionRequest { Namespace = @namespace, Deployment = deployment, AppPort = appPort, Protocol = protocol, Service = service },
            removal: false,
            out var valid);
        Assert.True(valid is not null, string.Join("; ", errors.Select(pair => $"{pair.Key}: {string.Join(", ", pair.Value)}")));
        return valid;
    }

    private static (SidecarPlan? Plan, Refusal? Refusal) Plan(
        InjectionCorpus corpus, string deployment, int appPort, string? protocol = null, string? service = null, IReadOnlyCollection<string>? injectedTogether = null)
    {
        var target = corpus.Deployment(deployment);
        return SidecarPlanner.PlanInjection(
            Request(target.Metadata.NamespaceProperty ?? "default", deployment, appPort, protocol, service),
            target, corpus.Services, null, Options, requireService: true, corpus.Deployments, injectedTogether);
    }

    private static SidecarPlan Planned(InjectionCorpus corpus, string deployment, int appPort, string? protocol = null, string? service = null, IReadOnlyCollection<string>? injectedTogether = null)
    {
        var (plan, refusal) = Plan(corpus, deployment, appPort, protocol, service, injectedTogether);
        Assert.True(refusal is null, refusal?.Message);
        return plan!;
    }

    private static V1Service Retargeted(SidecarPlan plan, string name) => PlannedServices(plan).Single(service => service.Metadata.Name == name);

    private static IReadOnlyList<V1Service> PlannedServices(SidecarPlan plan) => plan.Services;

    private static IReadOnlyList<V1Service> RestoredServices(SidecarPlan removal) => removal.Services;

    private static IReadOnlyList<string> Warnings(SidecarPlan plan) => plan.Warnings;

    private static string Bootstrap(SidecarPlan plan) => plan.ConfigMap!.Data["envoy.yaml"];

    private static V1Container Envoy(SidecarPlan plan) =>
        plan.Deployment!.Spec.Template.Spec.Containers.Concat(plan.Deployment.Spec.Template.Spec.InitContainers ?? []).Single(container => container.Name == "envoy");

    [Theory]
    [MemberData(nameof(CorpusFiles))]
    public void Every_corpus_file_and_every_injection_of_it_loads_strictly(string file)
    {
        var corpus = InjectionCorpus.Load(file);
        Assert.NotEmpty(corpus.Deployments);

        foreach (var deployment in corpus.Deployments)
        {
            var appPort = deployment.Spec.Template.Spec.Containers.SelectMany(container => container.Ports ?? []).First().ContainerPort;
            var (plan, _) = Plan(corpus, deployment.Metadata.Name, appPort, injectedTogether: corpus.Deployments.Select(item => item.Metadata.Name).ToList());
            if (plan is null)
            {
                continue;
            }

            var written = new object?[] { plan.Deployment, plan.ConfigMap }.Concat(PlannedServices(plan)).OfType<object>().ToList();
            var yaml = string.Join("---\n", written.Select(item => KubernetesYaml.Serialize(item).TrimEnd('\n') + "\n"));

            Assert.Equal(written.Count, KubernetesYaml.LoadAllFromString(yaml, strict: true).Count);
        }
    }

    // Item 1: named target ports, omitted target ports, and removal that puts back exactly what was there.
    [Fact]
    public void A_target_port_given_by_name_is_resolved_against_the_container_ports()
    {
        var plan = Planned(InjectionCorpus.Load("podinfo.yaml"), "podinfo", 9898);

        var ports = Retargeted(plan, "podinfo").Spec.Ports;
        Assert.Equal("envoy-inbound", ports.Single(port => port.Name == "http").TargetPort.Value);
        Assert.Equal("grpc", ports.Single(port => port.Name == "grpc").TargetPort.Value);
    }

    [Fact]
    public void Removal_puts_back_the_target_port_name_not_the_number_it_resolved_to()
    {
        var corpus = InjectionCorpus.Load("podinfo.yaml");
        var plan = Planned(corpus, "podinfo", 9898);

        var removal = SidecarPlanner.PlanRemoval(plan.Deployment!, [Retargeted(plan, "podinfo")], plan.ConfigMap);

        var restored = Assert.Single(RestoredServices(removal));
        Assert.Equal(KubernetesJson.Serialize(corpus.Service("podinfo").Spec), KubernetesJson.Serialize(restored.Spec));
        Assert.False(restored.Metadata.Annotations?.ContainsKey(SidecarPlanner.OriginalTargetPortAnnotation) ?? false);
    }

    [Theory]
    [InlineData(null)]
    [InlineData(0)]
    public void An_omitted_or_zero_target_port_means_the_port_and_removal_puts_back_what_was_there(int? targetPort)
    {
        var corpus = InjectionCorpus.Load("guestbook-redis.yaml");
        var service = corpus.Service("redis-leader");
        service.Spec.Ports[0].TargetPort = targetPort is { } number ? (IntOrString)number : null;
        var original = KubernetesJson.Serialize(service.Spec);

        var plan = Planned(corpus, "redis-leader", 6379);
        Assert.Equal("envoy-inbound", Retargeted(plan, "redis-leader").Spec.Ports[0].TargetPort.Value);

        var removal = SidecarPlanner.PlanRemoval(plan.Deployment!, PlannedServices(plan), plan.ConfigMap);
        Assert.Equal(original, KubernetesJson.Serialize(Assert.Single(RestoredServices(removal)).Spec));
    }

    // Item 5: protocol inference, HTTP/2 upstreams, tcp_proxy for databases, the override, and the reason.
    [Theory]
    [InlineData("grpc-microservices.yaml", "checkoutservice", 5050, "http2", "port name grpc")]
    [InlineData("grpc-microservices.yaml", "cartservice", 7070, "http2", "appProtocol kubernetes.io/h2c")]
    [InlineData("guestbook-redis.yaml", "redis-leader", 6379, "tcp", "well-known port 6379 (redis)")]
    [InlineData("guestbook-redis.yaml", "postgres", 5432, "tcp", "port name postgres")]
    [InlineData("podinfo.yaml", "podinfo", 9898, "http", "port name http")]
    [InlineData("podinfo.yaml", "podinfo", 9999, "http2", "port name grpc")]
    [InlineData("two-services.yaml", "frontend", 8080, "http", "port name http")]
    public void The_protocol_is_inferred_as_the_ecosystem_marks_it_and_the_change_list_says_why(string file, string deployment, int appPort, string protocol, string reason)
    {
        var plan = Planned(InjectionCorpus.Load(file), deployment, appPort, injectedTogether: [deployment]);

        var change = Assert.Single(plan.Changes, change => change.StartsWith("proxy port ", StringComparison.Ordinal));
        Assert.Contains($"as {protocol}", change, StringComparison.Ordinal);
        Assert.Contains(reason, change, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("grpc-microservices.yaml", "checkoutservice", 5050)]
    [InlineData("grpc-microservices.yaml", "cartservice", 7070)]
    public void Grpc_and_h2c_apps_get_an_http2_upstream(string file, string deployment, int appPort)
    {
        var bootstrap = Bootstrap(Planned(InjectionCorpus.Load(file), deployment, appPort));

        Assert.Contains("envoy.extensions.upstreams.http.v3.HttpProtocolOptions", bootstrap, StringComparison.Ordinal);
        Assert.Contains("http2_protocol_options: {}", bootstrap, StringComparison.Ordinal);
        Assert.Contains("envoy.filters.network.http_connection_manager", bootstrap, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("redis-leader", 6379)]
    [InlineData("postgres", 5432)]
    public void Databases_get_a_tcp_proxy_not_an_http_connection_manager(string deployment, int appPort)
    {
        var bootstrap = Bootstrap(Planned(InjectionCorpus.Load("guestbook-redis.yaml"), deployment, appPort));

        Assert.Contains("envoy.filters.network.tcp_proxy", bootstrap, StringComparison.Ordinal);
        Assert.Equal(1, Occurrences(bootstrap, "envoy.filters.network.http_connection_manager")); // the stats listener's only
    }

    [Fact]
    public void The_requested_protocol_overrides_the_inference()
    {
        var plan = Planned(InjectionCorpus.Load("podinfo.yaml"), "podinfo", 9898, protocol: "tcp");

        Assert.Contains("envoy.filters.network.tcp_proxy", Bootstrap(plan), StringComparison.Ordinal);
        Assert.Contains(plan.Changes, change => change.Contains("as tcp", StringComparison.Ordinal) && change.Contains("requested", StringComparison.Ordinal));
    }

    // Item 6: UDP, and never a Service port pointed at an Envoy port of another protocol.
    [Fact]
    public void Tcp_and_udp_on_one_port_each_go_to_an_Envoy_listener_of_their_own_protocol()
    {
        var plan = Planned(InjectionCorpus.Load("game-server.yaml"), "simple-game-server", 7777);

        var ports = Retargeted(plan, "simple-game-server").Spec.Ports;
        Assert.Equal("envoy-inbound", ports.Single(port => port.Protocol == "TCP").TargetPort.Value);
        Assert.Equal("envoy-udp", ports.Single(port => port.Protocol == "UDP").TargetPort.Value);
        var envoyPorts = Envoy(plan).Ports;
        Assert.Equal("TCP", envoyPorts.Single(port => port.Name == "envoy-inbound").Protocol);
        Assert.Equal("UDP", envoyPorts.Single(port => port.Name == "envoy-udp").Protocol);
        Assert.Equal(envoyPorts.Single(port => port.Name == "envoy-inbound").ContainerPort, envoyPorts.Single(port => port.Name == "envoy-udp").ContainerPort);
        var bootstrap = Bootstrap(plan);
        Assert.Contains("envoy.filters.udp_listener.udp_proxy", bootstrap, StringComparison.Ordinal);
        Assert.Contains("envoy.filters.network.tcp_proxy", bootstrap, StringComparison.Ordinal);
        Assert.Equal("inbound,udp.inbound", plan.Deployment!.Metadata.Annotations[ReaperLabels.Listeners]);
    }

    [Fact]
    public void The_reaper_counts_the_players_of_the_injected_udp_listener()
    {
        var plan = Planned(InjectionCorpus.Load("game-server.yaml"), "simple-game-server", 7777);
        var settings = new WorkloadSettingsParser(new ReaperOptions()).FromAnnotations(plan.Deployment!.Metadata.Annotations.AsReadOnly()).Settings!;
        var stats = EnvoyStatsParser.Parse(
            "listener.inbound.downstream_cx_active: 0\nlistener.inbound.downstream_cx_total: 0\nudp.inbound.downstream_sess_active: 3\nudp.inbound.downstream_sess_total: 9\nserver.uptime: 50\n"u8,
            StatsFormat.Text);

        var reading = ListenerCounting.Read("uid", "pod", stats, settings, istioProxy: false);

        Assert.True(reading.Readable, reading.FailureReason);
        Assert.Equal(3UL, reading.ActiveConnections);
    }

    [Fact]
    public void A_udp_only_port_gets_a_udp_listener_and_no_tcp_listener()
    {
        var corpus = InjectionCorpus.Load("game-server.yaml");
        var service = corpus.Service("simple-game-server");
        service.Spec.Ports = [service.Spec.Ports.Single(port => port.Protocol == "UDP")];
        var deployment = corpus.Deployment("simple-game-server");
        var container = deployment.Spec.Template.Spec.Containers[0];
        container.Ports = [container.Ports.Single(port => port.Protocol == "UDP")];

        var plan = Planned(corpus, "simple-game-server", 7777);

        Assert.Equal("envoy-udp", Assert.Single(Retargeted(plan, "simple-game-server").Spec.Ports).TargetPort.Value);
        Assert.DoesNotContain("tcp_proxy", Bootstrap(plan), StringComparison.Ordinal);
        Assert.Equal("udp.inbound", plan.Deployment!.Metadata.Annotations[ReaperLabels.Listeners]);
    }

    // Item 7: every Service that reaches the app port goes through Envoy, or the injection is refused.
    [Theory]
    [InlineData(null)]
    [InlineData("frontend")]
    public void Every_Service_that_reaches_the_app_port_is_pointed_at_Envoy(string? named)
    {
        var plan = Planned(InjectionCorpus.Load("two-services.yaml"), "frontend", 8080, service: named);

        Assert.Equal(["frontend", "frontend-external"], PlannedServices(plan).Select(service => service.Metadata.Name).Order());
        Assert.All(PlannedServices(plan), service => Assert.Equal("envoy-inbound", Assert.Single(service.Spec.Ports).TargetPort.Value));
    }

    [Fact]
    public void A_Service_that_cannot_be_pointed_at_Envoy_is_refused_naming_the_bypass()
    {
        var corpus = InjectionCorpus.Load("two-services.yaml");
        corpus.Service("frontend-external").Spec.Ports[0].Protocol = "SCTP";

        var (plan, refusal) = Plan(corpus, "frontend", 8080);

        Assert.Null(plan);
        Assert.Contains("frontend-external", refusal!.Message, StringComparison.Ordinal);
        Assert.Contains("SCTP", refusal.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("order-processor", 3000, "dapr.io/app-port")]
    [InlineData("relay", 8080, "hostPort")]
    public void Known_bypasses_of_the_app_port_are_warned_about(string deployment, int appPort, string bypass)
    {
        var plan = Planned(InjectionCorpus.Load("dapr-app.yaml"), deployment, appPort);

        Assert.Contains(Warnings(plan), warning => warning.Contains(bypass, StringComparison.Ordinal));
    }

    // Item 8: a Service shared with other Deployments.
    [Fact]
    public void A_Service_shared_with_Deployments_not_injected_is_refused_naming_them()
    {
        var (plan, refusal) = Plan(InjectionCorpus.Load("shared-service.yaml"), "reviews-v1", 9080);

        Assert.Null(plan);
        Assert.Contains("reviews-v2", refusal!.Message, StringComparison.Ordinal);
        Assert.Contains("reviews-v3", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_Service_shared_by_Deployments_injected_together_is_pointed_at_Envoy()
    {
        var plan = Planned(InjectionCorpus.Load("shared-service.yaml"), "reviews-v1", 9080, injectedTogether: ["reviews-v1", "reviews-v2", "reviews-v3"]);

        Assert.Equal("envoy-inbound", Assert.Single(Retargeted(plan, "reviews").Spec.Ports).TargetPort.Value);
    }

    // Item 9: removal finds this workload's Services; a named Service must select the pods.
    [Fact]
    public void Removal_restores_this_workloads_Service_not_the_first_retargeted_one_in_the_namespace()
    {
        var corpus = InjectionCorpus.Load("guestbook-redis.yaml");
        var postgres = Planned(corpus, "postgres", 5432);
        var redis = Planned(corpus, "redis-leader", 6379);
        var namespaceServices = new[] { Retargeted(postgres, "postgres"), Retargeted(redis, "redis-leader") };

        var removal = SidecarPlanner.PlanRemoval(redis.Deployment!, namespaceServices, redis.ConfigMap);

        var restored = Assert.Single(RestoredServices(removal));
        Assert.Equal("redis-leader", restored.Metadata.Name);
        Assert.Equal(KubernetesJson.Serialize(corpus.Service("redis-leader").Spec), KubernetesJson.Serialize(restored.Spec));
    }

    [Fact]
    public void Removal_from_one_of_several_injected_Deployments_keeps_their_shared_Service_on_Envoy_until_the_last()
    {
        var corpus = InjectionCorpus.Load("shared-service.yaml");
        string[] together = ["reviews-v1", "reviews-v2", "reviews-v3"];
        var injected = together.ToDictionary(name => name, name => Planned(corpus, name, 9080, injectedTogether: together).Deployment!);
        var shared = Retargeted(Planned(corpus, "reviews-v1", 9080, injectedTogether: together), "reviews");

        // v2 and v3 still run the sidecar: restoring the Service would send their users past Envoy, uncounted.
        var first = SidecarPlanner.PlanRemoval(injected["reviews-v1"], [shared], null, injected.Values.ToList());

        Assert.Empty(RestoredServices(first));
        Assert.NotNull(first.Deployment);
        Assert.Contains(Warnings(first), warning => warning.Contains("reviews-v2", StringComparison.Ordinal) && warning.Contains("reviews-v3", StringComparison.Ordinal));

        // The last one to run the sidecar puts the Service back.
        var last = SidecarPlanner.PlanRemoval(injected["reviews-v3"], [shared], null, [corpus.Deployment("reviews-v1"), corpus.Deployment("reviews-v2"), injected["reviews-v3"]]);

        Assert.Equal("reviews", Assert.Single(RestoredServices(last)).Metadata.Name);
        Assert.Empty(Warnings(last));
    }

    [Fact]
    public void A_named_Service_that_does_not_select_the_pods_is_refused()
    {
        var (plan, refusal) = Plan(InjectionCorpus.Load("guestbook-redis.yaml"), "redis-leader", 6379, service: "postgres");

        Assert.Null(plan);
        Assert.Contains("postgres", refusal!.Message, StringComparison.Ordinal);
        Assert.Contains("does not select", refusal.Message, StringComparison.Ordinal);
    }

    // Item 11: Pod Security "restricted".
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_pod_that_met_restricted_before_injection_meets_it_after(bool nativeSidecar)
    {
        var corpus = InjectionCorpus.Load("restricted.yaml");
        Assert.Empty(RestrictedPodSecurity.Violations(corpus.Deployment("api").Spec.Template.Spec));

        var (plan, refusal) = SidecarPlanner.PlanInjection(
            Request("secure", "api", 8080), corpus.Deployment("api"), corpus.Services, null, new InjectionOptions { NativeSidecar = nativeSidecar });

        Assert.Null(refusal);
        Assert.Empty(RestrictedPodSecurity.Violations(plan!.Deployment!.Spec.Template.Spec));
    }

    [Fact]
    public void The_injected_container_is_hardened_on_its_own()
    {
        var envoy = Envoy(Planned(InjectionCorpus.Load("podinfo.yaml"), "podinfo", 9898));

        var context = envoy.SecurityContext;
        Assert.Equal(["ALL"], context.Capabilities.Drop);
        Assert.Equal("RuntimeDefault", context.SeccompProfile.Type);
        Assert.False(context.AllowPrivilegeEscalation);
        Assert.False(context.Privileged);
        Assert.True(context.RunAsNonRoot);
        Assert.Equal(101, context.RunAsUser); // the envoy user of the envoyproxy/envoy image
        Assert.True(context.ReadOnlyRootFilesystem);
        Assert.NotNull(envoy.Resources.Requests);
        Assert.NotNull(envoy.Resources.Limits);
        Assert.Empty(RestrictedPodSecurity.Violations(new V1PodSpec { Containers = [envoy] }));
    }

    [Fact]
    public void The_restricted_checker_finds_what_the_old_sidecar_lacked()
    {
        var old = new V1Container
        {
            Name = "envoy",
            SecurityContext = new V1SecurityContext { AllowPrivilegeEscalation = false, RunAsNonRoot = true, RunAsUser = 101 },
        };

        var violations = RestrictedPodSecurity.Violations(new V1PodSpec { Containers = [old] });

        Assert.Contains(violations, violation => violation.Contains("capabilities", StringComparison.Ordinal));
        Assert.Contains(violations, violation => violation.Contains("seccompProfile", StringComparison.Ordinal));
    }

    private static int Occurrences(string text, string value)
    {
        var count = 0;
        for (var index = text.IndexOf(value, StringComparison.Ordinal); index >= 0 && count < 100; index = text.IndexOf(value, index + 1, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }
}
