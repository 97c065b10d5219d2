using EnvoyReaper.Injection;
using k8s;
using k8s.Models;

namespace EnvoyReaper.Core.Tests.Injection;

public sealed class SidecarPlannerTests
{
    private static readonly InjectionOptions Options = new();

    private static ValidInjection Request(SidecarProtocol protocol = SidecarProtocol.Http, bool monitor = true) =>
        new("games", "arena", 7777, protocol, null, null, monitor, "10m", null, "scale-to-zero");

    private static V1Deployment Deployment(params V1Container[] extra) => new()
    {
        ApiVersion = "apps/v1",
        Kind = "Deployment",
        Metadata = new V1ObjectMeta { Name = "arena", NamespaceProperty = "games", ResourceVersion = "7" },
        Spec = new V1DeploymentSpec
        {
            Selector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["app"] = "arena" } },
            Template = new V1PodTemplateSpec
            {
                Metadata = new V1ObjectMeta { Labels = new Dictionary<string, string> { ["app"] = "arena" } },
                Spec = new V1PodSpec { Containers = [new V1Container { Name = "server", Image = "games/arena:3" }, .. extra] },
            },
        },
    };

    private static V1Service Service() => new()
    {
        Metadata = new V1ObjectMeta { Name = "arena", NamespaceProperty = "games" },
        Spec = new V1ServiceSpec
        {
            Selector = new Dictionary<string, string> { ["app"] = "arena" },
            Ports = [new V1ServicePort { Name = "game", Port = 7777, TargetPort = 7777, Protocol = "TCP" }],
        },
    };

    [Fact]
    public void Planning_on_its_own_output_changes_nothing()
    {
        var (plan, refusal) = SidecarPlanner.PlanInjection(Request(SidecarProtocol.Tcp), Deployment(), [Service()], null, Options);
        Assert.Null(refusal);

        var (again, _) = SidecarPlanner.PlanInjection(Request(SidecarProtocol.Tcp), plan!.Deployment!, plan.Services, plan.ConfigMap, Options);

        Assert.False(again!.Changed);
        Assert.Equal(plan.Hash, again.Hash);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Planning_on_the_API_servers_defaulted_copy_of_its_output_changes_nothing(bool nativeSidecar)
    {
        // What the API server stores is the object after its defaulting (SetDefaults_Container, _Probe,
        // _HTTPGetAction, _ConfigMapVolumeSource): the finish step and every re-run plan on that, not on what was sent.
        var options = new InjectionOptions { NativeSidecar = nativeSidecar };
        var (plan, _) = SidecarPlanner.PlanInjection(Request(SidecarProtocol.Tcp), Deployment(), [Service()], null, options);
        var stored = plan!.Deployment!;
        var podSpec = stored.Spec.Template.Spec;
        foreach (var container in podSpec.Containers.Concat(podSpec.InitContainers ?? []))
        {
            container.ImagePullPolicy ??= "IfNotPresent";
            container.TerminationMessagePath ??= "/dev/termination-log";
            container.TerminationMessagePolicy ??= "File";
            if (container.ReadinessProbe is { } probe)
            {
                probe.TimeoutSeconds ??= 1;
                probe.SuccessThreshold ??= 1;
                probe.FailureThreshold ??= 3;
                probe.HttpGet.Scheme ??= "HTTP";
            }
        }

        foreach (var volume in podSpec.Volumes.Where(volume => volume.ConfigMap is not null))
        {
            volume.ConfigMap.DefaultMode ??= 420;
        }

        var (again, refusal) = SidecarPlanner.PlanInjection(Request(SidecarProtocol.Tcp), stored, plan.Services, plan.ConfigMap, options);

        Assert.Null(refusal);
        Assert.Null(again!.Deployment);
        Assert.False(again.Changed);
    }

    [Fact]
    public void Re_injecting_on_another_app_port_is_refused_while_a_Service_port_still_sends_the_old_ports_traffic_to_Envoy()
    {
        var web = new V1Container
        {
            Name = "server",
            Image = "shop/web:2",
            Ports = [new V1ContainerPort { Name = "http", ContainerPort = 8080 }, new V1ContainerPort { Name = "admin", ContainerPort = 9090 }],
        };
        var deployment = Deployment();
        deployment.Spec.Template.Spec.Containers = [web];
        var service = Service();
        service.Spec.Ports =
        [
            new V1ServicePort { Name = "http", Port = 80, TargetPort = "http", Protocol = "TCP" },
            new V1ServicePort { Name = "admin", Port = 9090, TargetPort = "admin", Protocol = "TCP" },
        ];
        var onHttp = Request(SidecarProtocol.Http) with { AppPort = 8080 };
        var (injected, _) = SidecarPlanner.PlanInjection(onHttp, deployment, [service], null, Options);
        var retargeted = Assert.Single(injected!.Services);

        // Envoy would now forward to 9090 what users send to port 80, which still points at it.
        var (plan, refusal) = SidecarPlanner.PlanInjection(onHttp with { AppPort = 9090 }, injected.Deployment!, [retargeted], injected.ConfigMap, Options);

        Assert.Null(plan);
        Assert.Equal(RefusalKind.Unprocessable, refusal!.Kind);
        Assert.Contains("Service arena port http", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_workload_is_opted_in_with_the_requested_reaper_settings()
    {
        var (plan, _) = SidecarPlanner.PlanInjection(Request(), Deployment(), [Service()], null, Options);

        var annotations = plan!.Deployment!.Metadata.Annotations;
        Assert.Equal("true", plan.Deployment.Metadata.Labels["envoy-reaper/enabled"]);
        Assert.Equal("10m", annotations["envoy-reaper/idle-timeout"]);
        Assert.Equal("scale-to-zero", annotations["envoy-reaper/action"]);
        Assert.Equal("15090", annotations["envoy-reaper/stats-port"]);
        Assert.Equal("inbound", annotations["envoy-reaper/listeners"]);
    }

    [Fact]
    public void Without_monitor_the_workload_is_not_opted_in()
    {
        var (plan, _) = SidecarPlanner.PlanInjection(Request(monitor: false), Deployment(), [Service()], null, Options);

        Assert.False(plan!.Deployment!.Metadata.Labels?.ContainsKey("envoy-reaper/enabled") ?? false);
    }

    [Fact]
    public void Native_sidecar_mode_uses_an_init_container_that_always_restarts()
    {
        var options = new InjectionOptions { NativeSidecar = true };

        var (plan, _) = SidecarPlanner.PlanInjection(Request(), Deployment(), [Service()], null, options);

        var spec = plan!.Deployment!.Spec.Template.Spec;
        Assert.DoesNotContain(spec.Containers, container => container.Name == "envoy");
        Assert.Equal("Always", Assert.Single(spec.InitContainers, container => container.Name == "envoy").RestartPolicy);
    }

    [Fact]
    public void An_app_port_clash_with_the_sidecar_is_refused()
    {
        var clash = new V1Container { Name = "metrics", Image = "m:1", Ports = [new V1ContainerPort { ContainerPort = 15090 }] };

        var (plan, refusal) = SidecarPlanner.PlanInjection(Request(), Deployment(clash), [Service()], null, Options);

        Assert.Null(plan);
        Assert.Contains("15090", refusal!.Message);
    }

    [Fact]
    public void Two_Services_selecting_the_pods_are_both_pointed_at_Envoy()
    {
        var other = Service();
        other.Metadata.Name = "arena-internal";

        var (plan, refusal) = SidecarPlanner.PlanInjection(Request(), Deployment(), [Service(), other], null, Options);

        Assert.Null(refusal);
        Assert.Equal(["arena", "arena-internal"], plan!.Services.Select(service => service.Metadata.Name).Order());
    }

    [Fact]
    public void Removal_restores_exactly_what_injection_changed()
    {
        var original = Deployment();
        var (plan, _) = SidecarPlanner.PlanInjection(Request(), original, [Service()], null, Options);

        var removal = SidecarPlanner.PlanRemoval(plan!.Deployment!, plan.Services, plan.ConfigMap);

        Assert.Equal(KubernetesJson.Serialize(original.Spec), KubernetesJson.Serialize(removal.Deployment!.Spec));
        Assert.Equal("7777", Assert.Single(Assert.Single(removal.Services).Spec.Ports).TargetPort.Value);
        Assert.True(removal.DeleteConfigMap);
        Assert.True(removal.Removal);
    }

    [Fact]
    public void The_injected_bootstrap_supports_websockets_and_long_requests()
    {
        var bootstrap = EnvoyBootstrap.Render(new BootstrapSpec(8080, SidecarProtocol.Http, TimeSpan.FromMinutes(5)));

        Assert.Contains("upgrade_type: websocket", bootstrap);
        Assert.Contains("timeout: 0s", bootstrap);
    }
}
