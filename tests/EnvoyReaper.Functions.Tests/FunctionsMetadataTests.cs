using System.Text.Json.Nodes;
using EnvoyReaper.Messaging;

namespace EnvoyReaper.Functions.Tests;

/// <summary>What the Functions host will read: the functions.metadata that the Worker SDK generates at build time.</summary>
public sealed class FunctionsMetadataTests
{
    private static JsonArray LoadMetadata()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        var configuration = directory.Parent!.Name; // bin/<Configuration>/net10.0
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Functions.sln")))
        {
            directory = directory.Parent;
        }

        Assert.NotNull(directory);
        var path = Path.Combine(directory.FullName, "src", "EnvoyReaper.Functions", "bin", configuration, "net10.0", "functions.metadata");
        Assert.True(File.Exists(path), $"functions.metadata not found at {path}: build the Functions project");
        return JsonNode.Parse(File.ReadAllText(path))!.AsArray();
    }

    private static JsonObject Trigger(JsonArray metadata, string function)
    {
        var entry = metadata.Single(item => item!["name"]!.GetValue<string>() == function)!;
        return entry["bindings"]!.AsArray().Single(binding => binding!["type"]!.GetValue<string>().EndsWith("Trigger", StringComparison.Ordinal))!.AsObject();
    }

    [Fact]
    public void Declares_the_pipeline_and_injection_functions()
    {
        var names = LoadMetadata().Select(item => item!["name"]!.GetValue<string>()).Order().ToArray();
        Assert.Equal(["CheckStats", "DiscoverWorkloads", "FinishInjectionRollout", "GetInjectionStatus", "InjectSidecar", "ListWorkloads", "Park", "RemoveSidecar", "ResetBreaker", "RestoreWorkload", "TearDown", "Wake"], names);
    }

    [Theory]
    [InlineData("InjectSidecar", "post", "inject")]
    [InlineData("RemoveSidecar", "delete", "inject/{namespace}/{deployment}")]
    [InlineData("GetInjectionStatus", "get", "inject/{namespace}/{deployment}")]
    [InlineData("ListWorkloads", "get", "workloads")]
    [InlineData("RestoreWorkload", "post", "restore")]
    [InlineData("ResetBreaker", "post", "breaker/reset")]
    public void Injection_endpoints_need_a_function_key(string function, string method, string route)
    {
        var trigger = Trigger(LoadMetadata(), function);
        Assert.Equal("httpTrigger", trigger["type"]!.GetValue<string>());
        Assert.Equal("Function", trigger["authLevel"]!.GetValue<string>());
        Assert.Equal(route, trigger["route"]!.GetValue<string>());
        Assert.Equal([method], trigger["methods"]!.AsArray().Select(item => item!.GetValue<string>()));
    }

    [Fact]
    public void Discovery_runs_on_the_schedule_from_the_ReaperSchedule_setting()
    {
        var trigger = Trigger(LoadMetadata(), "DiscoverWorkloads");
        Assert.Equal("timerTrigger", trigger["type"]!.GetValue<string>());
        Assert.Equal("%ReaperSchedule%", trigger["schedule"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("CheckStats", QueueNames.StatsCheck)]
    [InlineData("TearDown", QueueNames.Teardown)]
    [InlineData("FinishInjectionRollout", QueueNames.InjectRollout)]
    [InlineData("Wake", QueueNames.Wake)]
    [InlineData("Park", QueueNames.Park)]
    public void Queue_functions_listen_on_their_contract_queue_with_the_host_storage_connection(string function, string queue)
    {
        var trigger = Trigger(LoadMetadata(), function);
        Assert.Equal("queueTrigger", trigger["type"]!.GetValue<string>());
        Assert.Equal(queue, trigger["queueName"]!.GetValue<string>());
        Assert.Equal("AzureWebJobsStorage", trigger["connection"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("CheckStats")]
    [InlineData("TearDown")]
    [InlineData("FinishInjectionRollout")]
    [InlineData("Wake")]
    [InlineData("Park")]
    public void Queue_functions_are_bound_to_the_QueueMessage_so_the_host_sends_its_own_id_and_dequeue_count(string function)
    {
        // Deferred binding: the host sends the message itself (id, pop receipt, dequeue count, text) as model binding
        // data, which a JSON body's fields cannot shadow as they shadow the trigger's binding data.
        var trigger = Trigger(LoadMetadata(), function);
        Assert.Equal("True", trigger["properties"]?["supportsDeferredBinding"]?.GetValue<string>());

        var run = typeof(CheckStats).Assembly.GetTypes().Single(type => type.Name == function).GetMethod("Run")!;
        Assert.Equal(typeof(Azure.Storage.Queues.Models.QueueMessage), run.GetParameters()[0].ParameterType);
        Assert.DoesNotContain(run.GetParameters(), parameter => parameter.ParameterType == typeof(Microsoft.Azure.Functions.Worker.FunctionContext));
    }
}
