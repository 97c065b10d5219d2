using EnvoyReaper.Functions.Tests.Support;
using EnvoyReaper.Messaging;
using EnvoyReaper.TestSupport.Kubernetes;
using EnvoyReaper.TestSupport.Storage;
using k8s;
using k8s.Models;
using Microsoft.Extensions.DependencyInjection;

namespace EnvoyReaper.Functions.Tests;

/// <summary>
/// Issue 10 item 10: the Service is changed only once the Deployment's rollout is complete, by checks queued on
/// "inject-rollout", so it never lacks ready endpoints; the endpoint answers 202 with a status URL. Through the real
/// functions, Azurite, and the fake API server with the Deployment controller's status written by the test.
/// </summary>
[Collection(AzuriteStorage.CollectionName)]
public sealed class InjectionRolloutTests : IAsyncLifetime
{
    private const string Namespace = "previews";
    private const string Name = "web";
    private const string StatusUrl = "/api/inject/previews/web";
    private ReaperTestHost host = null!;

    public async Task InitializeAsync() => host = await ReaperTestHost.StartAsync();

    public async Task DisposeAsync() => await host.DisposeAsync();

    private void SeedApp(int replicas = 2)
    {
        var labels = new Dictionary<string, string> { ["app"] = Name };
        host.Api.Seed(new V1Deployment
        {
            ApiVersion = "apps/v1",
            Kind = "Deployment",
            Metadata = new V1ObjectMeta { Name = Name, NamespaceProperty = Namespace },
            Spec = new V1DeploymentSpec
            {
                Replicas = replicas,
                Selector = new V1LabelSelector { MatchLabels = labels },
                Template = new V1PodTemplateSpec
                {
                    Metadata = new V1ObjectMeta { Labels = labels },
                    Spec = new V1PodSpec { Containers = [new V1Container { Name = "app", Image = "registry.example.com/web:1", Ports = [new V1ContainerPort { ContainerPort = 8080 }] }] },
                },
            },
        });
        host.Api.Seed(new V1Service
        {
            ApiVersion = "v1",
            Kind = "Service",
            Metadata = new V1ObjectMeta { Name = "web-svc", NamespaceProperty = Namespace },
            Spec = new V1ServiceSpec { Selector = labels, Ports = [new V1ServicePort { Name = "http", Port = 80, TargetPort = 8080 }] },
        });

        // The app as it runs before injection: its own rollout long complete.
        host.Api.ReportRollout(Namespace, Name, DeploymentRollout.Complete);
    }

    private async Task<HttpResult> PostAsync(string json, string query = "")
    {
        var context = HttpResults.Request("POST", json, query);
        return await HttpResults.ExecuteAsync(context, await host.Create<InjectSidecar>().Run(context.Request, CancellationToken.None));
    }

    private Task<HttpResult> InjectAsync(string query = "") =>
        PostAsync($$"""{"namespace":"{{Namespace}}","deployment":"{{Name}}","appPort":8080,"protocol":"http"}""", query);

    private async Task<HttpResult> DeleteAsync()
    {
        var context = HttpResults.Request("DELETE");
        return await HttpResults.ExecuteAsync(context, await host.Create<RemoveSidecar>().Run(context.Request, Namespace, Name, CancellationToken.None));
    }

    private async Task<HttpResult> StatusAsync()
    {
        var context = HttpResults.Request("GET");
        return await HttpResults.ExecuteAsync(context, await host.Create<GetInjectionStatus>().Run(context.Request, Namespace, Name, CancellationToken.None));
    }

    private async Task<string> PhaseAsync() => (await StatusAsync()).Body["phase"]!.GetValue<string>();

    private object? TargetPort() => Assert.Single(host.Api.Get<V1Service>(Namespace, "web-svc")!.Spec.Ports).TargetPort.Value;

    private V1Deployment Deployment() => host.Api.Get<V1Deployment>(Namespace, Name)!;

    private static async Task<int> QueuedChecksAsync() =>
        (await AzuriteStorage.Queues().GetQueueClient(QueueNames.InjectRollout).GetPropertiesAsync()).Value.ApproximateMessagesCount;

    [Fact]
    public async Task Injection_answers_202_with_the_status_URL_and_leaves_the_Service_untouched_until_the_rollout_is_complete()
    {
        SeedApp();

        var response = await InjectAsync();

        Assert.Equal(202, response.Status);
        Assert.Equal(StatusUrl, response.Location);
        Assert.Equal(StatusUrl, response.Body["status"]!.GetValue<string>());
        Assert.Equal("rolling-out", response.Body["rollout"]!["phase"]!.GetValue<string>());
        Assert.Single(Deployment().Spec.Template.Spec.Containers, container => container.Name == "envoy");
        Assert.True(host.Api.Exists<V1ConfigMap>(Namespace, "web-envoy"));
        Assert.Equal("8080", TargetPort());

        // The controller has not observed the new generation yet: the old status still says "complete".
        Assert.NotNull(await host.DeliverNextRolloutCheckAsync());
        Assert.Equal("8080", TargetPort());
        Assert.Equal("rolling-out", await PhaseAsync());
        Assert.Contains("observe generation", (await StatusAsync()).Body["detail"]!.GetValue<string>());

        host.Api.ReportRollout(Namespace, Name, DeploymentRollout.Progressing);
        Assert.NotNull(await host.DeliverNextRolloutCheckAsync());
        Assert.Equal("8080", TargetPort());
        Assert.Equal("rolling-out", await PhaseAsync());

        host.Api.ReportRollout(Namespace, Name, DeploymentRollout.Complete);
        Assert.NotNull(await host.DeliverNextRolloutCheckAsync());
        Assert.Equal("envoy-inbound", TargetPort());
        var status = await StatusAsync();
        Assert.Equal(200, status.Status);
        Assert.Equal("done", status.Body["phase"]!.GetValue<string>());
        Assert.Equal("inject", status.Body["operation"]!.GetValue<string>());
        Assert.Equal(3, status.Body["checks"]!.GetValue<int>());
        Assert.Null(await host.DeliverNextRolloutCheckAsync());
    }

    [Fact]
    public async Task A_rollout_that_exceeds_its_progress_deadline_leaves_the_Service_untouched_and_the_status_says_why()
    {
        SeedApp();
        await InjectAsync();

        host.Api.ReportRollout(Namespace, Name, DeploymentRollout.DeadlineExceeded);
        await host.DeliverNextRolloutCheckAsync();

        Assert.Equal("8080", TargetPort());
        var status = await StatusAsync();
        Assert.Equal("failed", status.Body["phase"]!.GetValue<string>());
        var detail = status.Body["detail"]!.GetValue<string>();
        Assert.Contains("progress deadline", detail);
        Assert.Contains("timed out progressing", detail);
        Assert.Contains("Service was not changed", detail);
        Assert.Null(await host.DeliverNextRolloutCheckAsync());

        // Fixed later and complete: the Service stays as it was until someone asks again.
        host.Api.ReportRollout(Namespace, Name, DeploymentRollout.Complete);
        Assert.Equal("8080", TargetPort());
    }

    [Fact]
    public async Task A_rollout_still_incomplete_at_the_deadline_fails_without_touching_the_Service_and_a_repeated_request_resumes_it()
    {
        SeedApp();
        await InjectAsync();
        host.Api.ReportRollout(Namespace, Name, DeploymentRollout.Progressing);
        await host.DeliverNextRolloutCheckAsync();
        Assert.Equal("rolling-out", await PhaseAsync());

        host.Advance(TimeSpan.FromMinutes(16));
        await host.DeliverNextRolloutCheckAsync();

        Assert.Equal("8080", TargetPort());
        var status = await StatusAsync();
        Assert.Equal("failed", status.Body["phase"]!.GetValue<string>());
        Assert.Contains("did not complete by", status.Body["detail"]!.GetValue<string>());
        Assert.Null(await host.DeliverNextRolloutCheckAsync());

        host.Api.ReportRollout(Namespace, Name, DeploymentRollout.Complete);
        var again = await InjectAsync();
        Assert.Equal(202, again.Status);
        Assert.NotEqual(status.Body["operationId"]!.GetValue<string>(), again.Body["rollout"]!["operationId"]!.GetValue<string>());
        await host.DeliverNextRolloutCheckAsync();
        Assert.Equal("envoy-inbound", TargetPort());
        Assert.Equal("done", await PhaseAsync());
    }

    [Fact]
    public async Task A_rollout_whose_checks_stopped_running_is_reported_stalled_with_the_reason_and_a_repeated_request_resumes_it()
    {
        SeedApp();
        var first = await InjectAsync();

        // CheckInterval is 1 s here: a check is due 1 s after the last one, and stalled 5 minutes (at least) past that.
        host.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal("rolling-out", await PhaseAsync());

        host.Advance(TimeSpan.FromMinutes(1));
        var status = await StatusAsync();
        Assert.Equal(200, status.Status);
        Assert.Equal("stalled", status.Body["phase"]!.GetValue<string>());
        var detail = status.Body["detail"]!.GetValue<string>();
        Assert.Contains("no rollout check has run since", detail);
        Assert.Contains("FinishInjectionRollout", detail);
        Assert.Contains("inject-rollout", detail);
        Assert.Equal("8080", TargetPort());

        // The check is lost (poisoned, expired): the same request starts a new operation with a check of its own.
        await AzuriteStorage.Queues().GetQueueClient(QueueNames.InjectRollout).ClearMessagesAsync();

        var again = await InjectAsync();
        Assert.Equal(202, again.Status);
        Assert.NotEqual(first.Body["rollout"]!["operationId"]!.GetValue<string>(), again.Body["rollout"]!["operationId"]!.GetValue<string>());
        host.Api.ReportRollout(Namespace, Name, DeploymentRollout.Complete);
        Assert.NotNull(await host.DeliverNextRolloutCheckAsync());
        Assert.Equal("envoy-inbound", TargetPort());
        Assert.Equal("done", await PhaseAsync());
    }

    [Fact]
    public async Task A_repeated_request_while_rolling_out_writes_nothing_and_queues_no_second_check()
    {
        SeedApp();
        var first = await InjectAsync();
        host.Api.ResetRecording();

        var second = await InjectAsync();

        Assert.Equal(202, second.Status);
        Assert.Equal(0, host.Api.WriteCount);
        Assert.Equal(first.Body["rollout"]!["operationId"]!.GetValue<string>(), second.Body["rollout"]!["operationId"]!.GetValue<string>());
        Assert.Equal(1, await QueuedChecksAsync());
    }

    [Fact]
    public async Task A_check_delivered_again_after_the_Service_was_retargeted_writes_nothing()
    {
        SeedApp();
        await InjectAsync();
        host.Api.ReportRollout(Namespace, Name, DeploymentRollout.Complete);
        var check = await host.DeliverNextRolloutCheckAsync();
        Assert.Equal("envoy-inbound", TargetPort());
        host.Api.ResetRecording();

        await host.DeliverRolloutCheckAsync(check!);
        await host.DeliverRolloutCheckAsync(ReaperTestHost.Delivery("other-delivery", check!.Body.ToString(), dequeueCount: 2));

        Assert.Equal(0, host.Api.WriteCount);
        Assert.Equal("done", await PhaseAsync());
        Assert.Null(await host.DeliverNextRolloutCheckAsync());
    }

    [Fact]
    public async Task A_duplicate_of_a_check_already_recorded_neither_acts_nor_forks_a_second_chain_of_checks()
    {
        SeedApp();
        await InjectAsync();
        var first = await host.DeliverNextRolloutCheckAsync();
        Assert.Equal(1, await QueuedChecksAsync());

        await host.DeliverRolloutCheckAsync(first!);

        Assert.Equal(1, await QueuedChecksAsync());
        Assert.Equal(1, (await StatusAsync()).Body["checks"]!.GetValue<int>());
    }

    [Fact]
    public async Task Dry_run_answers_200_with_the_plan_and_queues_nothing()
    {
        SeedApp();

        var response = await InjectAsync("?dryRun=true");

        Assert.Equal(200, response.Status);
        Assert.True(response.Body["dryRun"]!.GetValue<bool>());
        Assert.Contains(response.Body["changes"]!.AsArray(), change => change!.GetValue<string>().StartsWith("point Service web-svc", StringComparison.Ordinal));
        Assert.Equal(0, await QueuedChecksAsync());
        Assert.Equal(404, (await StatusAsync()).Status);
        Assert.Equal("8080", TargetPort());
    }

    [Fact]
    public async Task Removal_restores_the_Service_before_the_sidecar_goes_and_deletes_the_ConfigMap_only_after_the_rollout()
    {
        SeedApp();
        await InjectAsync();
        host.Api.ReportRollout(Namespace, Name, DeploymentRollout.Complete);
        await host.DeliverNextRolloutCheckAsync();
        Assert.Equal("envoy-inbound", TargetPort());
        host.Api.ResetRecording();

        var response = await DeleteAsync();

        Assert.Equal(202, response.Status);
        Assert.Equal(StatusUrl, response.Location);
        Assert.Equal("8080", TargetPort());
        Assert.DoesNotContain(Deployment().Spec.Template.Spec.Containers, container => container.Name == "envoy");
        var writes = host.Api.Requests.Where(request => request.Method == "PUT").Select(request => request.Path).ToList();
        Assert.True(writes.FindIndex(path => path.Contains("/services/")) < writes.FindIndex(path => path.Contains("/deployments/")), string.Join(", ", writes));
        Assert.True(host.Api.Exists<V1ConfigMap>(Namespace, "web-envoy"));

        host.Api.ReportRollout(Namespace, Name, DeploymentRollout.Progressing);
        await host.DeliverNextRolloutCheckAsync();
        Assert.True(host.Api.Exists<V1ConfigMap>(Namespace, "web-envoy"));

        host.Api.ReportRollout(Namespace, Name, DeploymentRollout.Complete);
        await host.DeliverNextRolloutCheckAsync();
        Assert.False(host.Api.Exists<V1ConfigMap>(Namespace, "web-envoy"));
        var status = await StatusAsync();
        Assert.Equal("remove", status.Body["operation"]!.GetValue<string>());
        Assert.Equal("done", status.Body["phase"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_removal_whose_Deployment_write_fails_leaves_the_Service_on_Envoy_so_the_monitored_workload_keeps_being_counted()
    {
        SeedApp();
        await InjectAsync();
        host.Api.ReportRollout(Namespace, Name, DeploymentRollout.Complete);
        await host.DeliverNextRolloutCheckAsync();
        Assert.Equal("envoy-inbound", TargetPort());

        // An admission webhook or quota refuses the Deployment: the pods keep the sidecar and the reaper keeps watching them.
        host.Api.FailNext("PUT", $"/deployments/{Name}", 403, "Forbidden");
        var response = await DeleteAsync();

        Assert.NotEqual(202, response.Status);
        Assert.Single(Deployment().Spec.Template.Spec.Containers, container => container.Name == "envoy");
        Assert.Equal("envoy-inbound", TargetPort());
    }

    [Fact]
    public async Task A_removal_during_an_injection_rollout_supersedes_it_and_the_Service_is_never_pointed_at_Envoy()
    {
        SeedApp();
        await InjectAsync();
        Assert.Equal(202, (await DeleteAsync()).Status);

        host.Api.ReportRollout(Namespace, Name, DeploymentRollout.Complete);
        for (var i = 0; i < 4 && await host.DeliverNextRolloutCheckAsync() is not null; i++)
        {
        }

        Assert.Equal("8080", TargetPort());
        Assert.False(host.Api.Exists<V1ConfigMap>(Namespace, "web-envoy"));
        Assert.Equal("done", await PhaseAsync());
        Assert.Equal(0, await QueuedChecksAsync());
    }

    [Fact]
    public async Task A_Deployment_whose_sidecar_was_taken_out_by_someone_else_during_the_rollout_keeps_its_Service_untouched()
    {
        SeedApp();
        await InjectAsync();
        var client = host.Services.GetRequiredService<IKubernetes>();
        var changed = Deployment();
        changed.Spec.Template.Spec.Containers = changed.Spec.Template.Spec.Containers.Where(container => container.Name != "envoy").ToList();
        changed.Metadata.Annotations.Remove("envoy-reaper/injected-hash");
        await client.AppsV1.ReplaceNamespacedDeploymentAsync(changed, Name, Namespace);

        host.Api.ReportRollout(Namespace, Name, DeploymentRollout.Complete);
        await host.DeliverNextRolloutCheckAsync();

        Assert.Equal("8080", TargetPort());
        var status = await StatusAsync();
        Assert.Equal("failed", status.Body["phase"]!.GetValue<string>());
        Assert.Contains("changed during the rollout", status.Body["detail"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_removal_that_lands_just_before_the_finish_writes_the_Service_leaves_the_Service_on_the_app_port()
    {
        SeedApp();
        await InjectAsync();
        host.Api.ReportRollout(Namespace, Name, DeploymentRollout.Complete);

        // The finish has read everything and decided; the removal takes the sidecar out before its Service write lands.
        var removal = default(HttpResult);
        host.Api.BeforeNext("PUT", "/services/web-svc", async () => removal = await DeleteAsync());
        await host.DeliverNextRolloutCheckAsync();

        Assert.Equal(202, removal!.Status);
        Assert.DoesNotContain(Deployment().Spec.Template.Spec.Containers, container => container.Name == "envoy");
        Assert.Equal("8080", TargetPort());
        Assert.Equal("remove", (await StatusAsync()).Body["operation"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_removal_that_read_the_Services_before_the_finish_retargeted_one_still_puts_it_back()
    {
        SeedApp();
        await InjectAsync();
        host.Api.ReportRollout(Namespace, Name, DeploymentRollout.Complete);

        // The removal has read the Service (still on the app port: nothing to restore); the whole finish runs before its
        // Deployment write lands, and sees the sidecar still there.
        host.Api.BeforeNext("PUT", $"/deployments/{Name}", async () => Assert.NotNull(await host.DeliverNextRolloutCheckAsync()));
        var removal = await DeleteAsync();

        Assert.Equal(202, removal.Status);
        Assert.DoesNotContain(Deployment().Spec.Template.Spec.Containers, container => container.Name == "envoy");
        Assert.Equal("8080", TargetPort());
        Assert.False(host.Api.Get<V1Service>(Namespace, "web-svc")!.Metadata.Annotations?.ContainsKey("envoy-reaper/original-target-port") ?? false);
    }

    [Fact]
    public async Task A_finish_whose_operation_was_superseded_while_it_read_the_cluster_does_not_touch_the_Service()
    {
        SeedApp();
        await InjectAsync();
        host.Api.ReportRollout(Namespace, Name, DeploymentRollout.Complete);

        // A removal between the finish's first reads and its Service write.
        host.Api.BeforeNext("GET", "/configmaps/web-envoy", async () => Assert.Equal(202, (await DeleteAsync()).Status));
        host.Api.ResetRecording();
        await host.DeliverNextRolloutCheckAsync();

        Assert.Equal("8080", TargetPort());
        Assert.DoesNotContain(host.Api.Requests, request => request.Method == "PUT" && request.Path.Contains("/services/web-svc", StringComparison.Ordinal) && !request.Query.Contains("dryRun"));
        Assert.Equal("remove", (await StatusAsync()).Body["operation"]!.GetValue<string>());
    }
}
