# syntax=docker/dockerfile:1
# EnvoyReaper's function app as a container, for running inside the cluster (infra/k8s/app/).
#   docker build -t envoy-reaper:dev .
# Build context: the repository root (Directory.Build.props, Directory.Packages.props and host.json are needed).

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY Directory.Build.props Directory.Packages.props host.json ./
COPY src/ src/
# The Functions SDK also restores and builds its generated WorkerExtensions project (net8.0) here;
# the cache mount keeps the NuGet packages between builds.
RUN --mount=type=cache,target=/root/.nuget/packages \
    dotnet publish src/EnvoyReaper.Functions/EnvoyReaper.Functions.csproj -c Release -o /app/publish /p:UseAppHost=false

# The official Azure Functions host image for .NET 10 isolated workers (host v4). There is no -slim tag for .NET 10.
FROM mcr.microsoft.com/azure-functions/dotnet-isolated:4-dotnet-isolated10.0 AS runtime
# The base image listens on port 80, which a non-root user cannot bind: serve on 8080 instead.
ENV AzureWebJobsScriptRoot=/home/site/wwwroot \
    AzureFunctionsJobHost__Logging__Console__IsEnabled=true \
    ASPNETCORE_URLS=http://+:8080
COPY --from=build /app/publish /home/site/wwwroot
EXPOSE 8080
# The "app" user (UID 1654) of the .NET base images; the Kubernetes manifests run as the same UID.
USER 1654
