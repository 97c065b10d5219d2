using EnvoyReaper.Functions.Tests.Support;
using System.Reflection;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Functions.Tests;

public sealed class DependencyInjectionTests : IDisposable
{
    private readonly UnreachableKubeConfig kubeconfig = new();

    public void Dispose() => kubeconfig.Dispose();

    private static ServiceProvider Build(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection().AddLogging();
        services.AddEnvoyReaperFunctions(configuration); // the very call Program.cs makes
        return services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
    }

    private Dictionary<string, string?> ValidSettings() => new()
    {
        ["AzureWebJobsStorage"] = "UseDevelopmentStorage=true",
        ["Kubernetes:Mode"] = "KubeConfig",
        ["Kubernetes:KubeConfigPath"] = kubeconfig.Path,
    };

    public static TheoryData<Type> FunctionClasses()
    {
        var data = new TheoryData<Type>();
        foreach (var type in typeof(CheckStats).Assembly.GetTypes()
                     .Where(type => type.GetMethods().Any(method => method.GetCustomAttribute<FunctionAttribute>() is not null)))
        {
            data.Add(type);
        }

        return data;
    }

    [Fact]
    public void Finds_every_function_class()
    {
        Assert.Equal(12, FunctionClasses().Count);
    }

    [Theory]
    [MemberData(nameof(FunctionClasses))]
    public void The_container_built_like_Program_creates_every_function_class(Type functionClass)
    {
        using var provider = Build(ValidSettings());
        var instance = ActivatorUtilities.CreateInstance(provider, functionClass);
        Assert.IsType(functionClass, instance);
    }

    [Fact]
    public void A_missing_cluster_mode_fails_at_start_with_a_message_naming_the_setting()
    {
        var settings = ValidSettings();
        settings.Remove("Kubernetes:Mode");
        using var provider = Build(settings);
        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<Kubernetes.ClusterAccessOptions>>().Value);
        Assert.Contains("Kubernetes:Mode", error.Message);
    }

    [Fact]
    public void A_kubeconfig_path_that_does_not_exist_fails_at_start()
    {
        var settings = ValidSettings();
        settings["Kubernetes:KubeConfigPath"] = "/nonexistent/kubeconfig";
        using var provider = Build(settings);
        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<Kubernetes.ClusterAccessOptions>>().Value);
        Assert.Contains("/nonexistent/kubeconfig", error.Message);
    }

    [Fact]
    public void A_missing_storage_connection_fails_at_start()
    {
        var settings = ValidSettings();
        settings.Remove("AzureWebJobsStorage");
        using var provider = Build(settings);
        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<Storage.StorageOptions>>().Value);
        Assert.Contains("AzureWebJobsStorage", error.Message);
    }

    [Fact]
    public void An_out_of_range_reaper_setting_fails_at_start()
    {
        var settings = ValidSettings();
        settings["Reaper:MaxConcurrentStatsReads"] = "0";
        using var provider = Build(settings);
        Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<Workloads.ReaperOptions>>().Value);
    }

    [Theory]
    [InlineData("Injection:Rollout:CheckInterval", "00:00:00")]
    [InlineData("Injection:Rollout:Timeout", "00:00:30")]
    public void An_out_of_range_rollout_setting_fails_at_start_naming_it(string key, string value)
    {
        var settings = ValidSettings();
        settings[key] = value;
        using var provider = Build(settings);
        var exception = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<Injection.RolloutOptions>>().Value);
        Assert.Contains(key, exception.Message);
    }

    [Fact]
    public void An_unknown_kubeconfig_context_fails_at_start_naming_it()
    {
        var settings = ValidSettings();
        settings["Kubernetes:Context"] = "prod-cluster";
        using var provider = Build(settings);
        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<Kubernetes.ClusterAccessOptions>>().Value);
        Assert.Contains("prod-cluster", error.Message);
    }

    [Fact]
    public void In_cluster_mode_outside_a_pod_fails_at_start_saying_so()
    {
        var settings = ValidSettings();
        settings["Kubernetes:Mode"] = "InCluster";
        using var provider = Build(settings);
        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<Kubernetes.ClusterAccessOptions>>().Value);
        Assert.Contains("InCluster", error.Message);
    }

    [Fact]
    public void A_zero_message_max_age_fails_at_start()
    {
        var settings = ValidSettings();
        settings["Reaper:MessageMaxAge"] = "00:00:00";
        using var provider = Build(settings);
        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<Workloads.ReaperOptions>>().Value);
        Assert.Contains("MessageMaxAge", error.Message);
    }

    [Fact]
    public void An_identity_based_storage_connection_is_accepted_and_points_at_the_account()
    {
        var settings = ValidSettings();
        settings.Remove("AzureWebJobsStorage");
        settings["AzureWebJobsStorage:accountName"] = "reaperstore";
        settings["AzureWebJobsStorage:credential"] = "managedidentity";
        settings["AzureWebJobsStorage:clientId"] = "00000000-0000-0000-0000-000000000001";
        using var provider = Build(settings);

        Assert.True(provider.GetRequiredService<IOptions<Storage.StorageOptions>>().Value.UsesIdentity);
        Assert.Equal(new Uri("https://reaperstore.queue.core.windows.net"), provider.GetRequiredService<Azure.Storage.Queues.QueueServiceClient>().Uri);
        Assert.Equal("reaperstore", provider.GetRequiredService<Azure.Data.Tables.TableServiceClient>().AccountName);
    }
}
