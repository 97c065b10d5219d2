using EnvoyReaper.Kubernetes;
using EnvoyReaper.Kubernetes.Waking;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Options;

namespace EnvoyReaper.Waker;

public static class WakerServiceCollectionExtensions
{
    /// <summary>The waker's services: read-only cluster access, the parkings, the wake queue, the forwarder.</summary>
    public static IServiceCollection AddWaker(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<WakerOptions>().Bind(configuration.GetSection(WakerOptions.SectionName)).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<ClusterAccessOptions>().Bind(configuration.GetSection(ClusterAccessOptions.SectionName)).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<k8s.IKubernetes>(provider => ClusterAccess.CreateClient(provider.GetRequiredService<IOptions<ClusterAccessOptions>>().Value));
        services.AddSingleton(provider => new ServiceMetadataReader(provider.GetRequiredService<k8s.IKubernetes>()));
        services.AddSingleton<IWakeQueue>(provider => AzureWakeQueue.Create(provider.GetRequiredService<IOptions<WakerOptions>>().Value));
        services.AddSingleton<ParkingDirectory>();
        services.AddSingleton<WakeRateLimiter>();
        services.AddSingleton<WakeRequester>();
        services.AddSingleton<WorkloadReadiness>();
        services.AddSingleton<RequestForwarder>();
        services.AddSingleton<WakeRequestHandler>();
        services.AddSingleton<WakerPortsTransport>();
        services.AddSingleton<IConnectionListenerFactory>(provider => provider.GetRequiredService<WakerPortsTransport>());
        services.AddSingleton<ParkingRefresher>();
        services.AddHostedService(provider => provider.GetRequiredService<ParkingRefresher>());
        services.AddHttpClient(RequestForwarder.ClientName, (provider, client) => client.Timeout = provider.GetRequiredService<IOptions<WakerOptions>>().Value.ForwardTimeout)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false, UseProxy = false, AutomaticDecompression = System.Net.DecompressionMethods.None });
        return services;
    }

    /// <summary>Kestrel: the health port on its own, and the one endpoint behind which every waker port is kept.</summary>
    public static WebApplicationBuilder UseWakerListeners(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.WebHost.ConfigureKestrel((context, kestrel) =>
        {
            var settings = context.Configuration.GetSection(WakerOptions.SectionName).Get<WakerOptions>() ?? new WakerOptions();
            kestrel.Listen(System.Net.IPAddress.TryParse(settings.ListenAddress, out var address) ? address : System.Net.IPAddress.Any, settings.HealthPort);
            kestrel.Listen(new WakerPortsEndPoint());
            kestrel.AddServerHeader = false;
        });
        return builder;
    }

    /// <summary>Waker ports get the wake handling; the health port only /healthz/live and /healthz/ready.</summary>
    public static WebApplication MapWaker(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.Run(context =>
        {
            if (WakeRequestHandler.IsWakerConnection(context))
            {
                return context.RequestServices.GetRequiredService<WakeRequestHandler>().HandleAsync(context);
            }

            var directory = context.RequestServices.GetRequiredService<ParkingDirectory>();
            context.Response.StatusCode = context.Request.Path.Value switch
            {
                "/healthz/live" => StatusCodes.Status200OK,
                "/healthz/ready" => directory.Loaded ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable,
                _ => StatusCodes.Status404NotFound,
            };
            return Task.CompletedTask;
        });
        return app;
    }
}

/// <summary>The waker as Program.cs runs it; the tests build it the same way with their own settings.</summary>
public static class WakerApplication
{
    /// <param name="configureServices">The tests' replacements, applied after the waker's own services.</param>
    public static WebApplication Build(string[] args, IEnumerable<KeyValuePair<string, string?>>? settings = null, Action<IServiceCollection>? configureServices = null)
    {
        var builder = WebApplication.CreateSlimBuilder(args);
        if (settings is not null)
        {
            builder.Configuration.AddInMemoryCollection(settings);
        }

        builder.UseWakerListeners();
        builder.Services.AddWaker(builder.Configuration);
        configureServices?.Invoke(builder.Services);
        var app = builder.Build();
        app.MapWaker();
        return app;
    }
}
