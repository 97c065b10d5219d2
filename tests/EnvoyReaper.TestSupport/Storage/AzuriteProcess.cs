using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace EnvoyReaper.TestSupport.Storage;

/// <summary>
/// An Azurite (the pinned npm package, installed into the repository's gitignored .ci/.tools if missing) on free
/// loopback ports, in memory, with the flags the storage SDKs in use need. It runs under a small Node.js guard that
/// stops it when the process that started it goes away, however that happens (its standard input closes, or its
/// parent's pid is gone), so an interrupted run leaves no Azurite behind.
/// </summary>
public sealed partial class AzuriteProcess : IDisposable
{
    public const string Package = "azurite@3.37.0";
    public const string Version = "3.37.0";

    /// <summary>The flags every Azurite command of this repository passes: the SDKs send API versions newer than Azurite knows.</summary>
    public static readonly IReadOnlyList<string> RequiredFlags = ["--skipApiVersionCheck", "--loose", "--inMemoryPersistence"];

    private const string DevelopmentAccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan InstallTimeout = TimeSpan.FromMinutes(5);

    private const string GuardScript = """
        // Runs Azurite as a child and stops it when the test process that started this guard is gone.
        'use strict';
        const { spawn } = require('child_process');
        const [parentPid, azurite, ...args] = process.argv.slice(2);
        const child = spawn(process.execPath, [azurite, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
        let stopping = false;
        function stop() {
          if (stopping) return;
          stopping = true;
          child.kill('SIGTERM');
          setTimeout(() => { child.kill('SIGKILL'); process.exit(0); }, 5000).unref();
        }
        child.on('exit', code => process.exit(code ?? 0));
        process.stdin.on('end', stop);
        process.stdin.on('close', stop);
        process.stdin.resume();
        setInterval(() => { try { process.kill(Number(parentPid), 0); } catch { stop(); } }, 1000);
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
        """;

    private readonly Process guard;
    private readonly string location;
    private bool disposed;

    private AzuriteProcess(Process guard, string location, int blobPort, int queuePort, int tablePort)
    {
        this.guard = guard;
        this.location = location;
        BlobPort = blobPort;
        QueuePort = queuePort;
        TablePort = tablePort;
    }

    public int BlobPort { get; }

    public int QueuePort { get; }

    public int TablePort { get; }

    public int ProcessId => guard.Id;

    public bool HasExited => disposed || guard.HasExited;

    public string ConnectionString => string.Create(CultureInfo.InvariantCulture,
        $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DevelopmentAccountKey};BlobEndpoint=http://127.0.0.1:{BlobPort}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{QueuePort}/devstoreaccount1;TableEndpoint=http://127.0.0.1:{TablePort}/devstoreaccount1;");

    /// <summary>The repository's .ci/.tools (gitignored), found from the test assembly's folder.</summary>
    public static string DefaultToolsDirectory()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Functions.sln")))
            {
                return Path.Combine(directory.FullName, ".ci", ".tools");
            }
        }

        return Path.Combine(Path.GetTempPath(), "envoy-reaper-tools");
    }

    public static Task<AzuriteProcess> StartAsync(string toolsDirectory, CancellationToken cancellationToken) =>
        StartAsync(toolsDirectory, Environment.ProcessId, cancellationToken);

    /// <param name="toolsDirectory">Where the pinned Azurite is (or gets) installed.</param>
    /// <param name="ownerProcessId">The process whose end stops this Azurite (this process, unless a test says otherwise).</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    public static async Task<AzuriteProcess> StartAsync(string toolsDirectory, int ownerProcessId, CancellationToken cancellationToken)
    {
        var (azurite, guardScript) = await InstallAsync(toolsDirectory, cancellationToken).ConfigureAwait(false);
        var location = Directory.CreateTempSubdirectory("envoy-reaper-azurite-").FullName;
        var startInfo = new ProcessStartInfo("node")
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = location,
        };
        foreach (var argument in (string[])[guardScript, ownerProcessId.ToString(CultureInfo.InvariantCulture), azurite, .. RequiredFlags,
            "--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1",
            "--blobPort", "0", "--queuePort", "0", "--tablePort", "0"])
        {
            startInfo.ArgumentList.Add(argument);
        }

        var ports = new Dictionary<string, int>(StringComparer.Ordinal);
        var output = new StringBuilder();
        var listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = startInfo, EnableRaisingEvents = true };
        void OnLine(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (ports)
            {
                output.AppendLine(line);
                if (ListeningLine().Match(line) is { Success: true } match)
                {
                    ports[match.Groups["service"].Value] = int.Parse(match.Groups["port"].Value, CultureInfo.InvariantCulture);
                    if (ports.Count == 3)
                    {
                        listening.TrySetResult();
                    }
                }
            }
        }

        process.OutputDataReceived += (_, line) => OnLine(line.Data);
        process.ErrorDataReceived += (_, line) => OnLine(line.Data);
        process.Exited += (_, _) => listening.TrySetException(new InvalidOperationException($"Azurite exited before it listened:{Environment.NewLine}{Captured()}"));
        string Captured()
        {
            lock (ports)
            {
                return output.ToString();
            }
        }

        try
        {
            process.Start();
        }
        catch (Win32Exception exception)
        {
            throw new InvalidOperationException(NodeMissing, exception);
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await listening.Task.WaitAsync(StartTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException exception)
        {
            Stop(process);
            throw new InvalidOperationException($"Azurite did not listen within {StartTimeout.TotalSeconds} s:{Environment.NewLine}{Captured()}", exception);
        }
        catch
        {
            Stop(process);
            throw;
        }

        return new AzuriteProcess(process, location, ports["Blob"], ports["Queue"], ports["Table"]);
    }

    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        Stop(guard);
        disposed = guard.HasExited;
        guard.Dispose();
        try
        {
            Directory.Delete(location, recursive: true);
        }
        catch (IOException)
        {
            // Azurite may still hold a file for a moment; the temp folder is cleaned by the system.
        }
    }

    private static void Stop(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(TimeSpan.FromSeconds(5));
            }
        }
        catch (InvalidOperationException)
        {
            // Never started, or already gone.
        }
    }

    private const string NodeMissing =
        "The storage tests need Node.js (it runs Azurite, which they start by themselves): install Node.js 20 or later, or set ENVOYREAPER_TEST_STORAGE to the connection string of a running Azurite started with --skipApiVersionCheck --loose.";

    /// <summary>Installs the pinned Azurite if it is missing, one process at a time (test assemblies may run in parallel).</summary>
    private static async Task<(string Azurite, string GuardScript)> InstallAsync(string toolsDirectory, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(toolsDirectory);
        var azurite = Path.Combine(toolsDirectory, "node_modules", "azurite", "dist", "src", "azurite.js");
        var guardScript = Path.Combine(toolsDirectory, "azurite-guard.js");
        await using var installLock = await AcquireLockAsync(Path.Combine(toolsDirectory, "install.lock"), cancellationToken).ConfigureAwait(false);
        if (!File.Exists(guardScript) || await File.ReadAllTextAsync(guardScript, cancellationToken).ConfigureAwait(false) != GuardScript)
        {
            await File.WriteAllTextAsync(guardScript, GuardScript, cancellationToken).ConfigureAwait(false);
        }

        if (File.Exists(azurite) && InstalledVersion(toolsDirectory) == Version)
        {
            return (azurite, guardScript);
        }

        var npm = OperatingSystem.IsWindows() ? new ProcessStartInfo("cmd.exe") { ArgumentList = { "/c", "npm" } } : new ProcessStartInfo("npm");
        foreach (var argument in (string[])["install", "--prefix", toolsDirectory, "--no-audit", "--no-fund", "--loglevel=error", Package])
        {
            npm.ArgumentList.Add(argument);
        }

        npm.UseShellExecute = false;
        npm.RedirectStandardOutput = true;
        npm.RedirectStandardError = true;
        using var install = new Process { StartInfo = npm };
        try
        {
            install.Start();
        }
        catch (Win32Exception exception)
        {
            throw new InvalidOperationException(NodeMissing + " (npm was not found)", exception);
        }

        var stdout = install.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = install.StandardError.ReadToEndAsync(cancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(InstallTimeout);
        try
        {
            await install.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            install.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"npm install {Package} did not finish within {InstallTimeout.TotalMinutes} minutes (is the npm registry reachable?)");
        }

        if (install.ExitCode != 0 || !File.Exists(azurite))
        {
            throw new InvalidOperationException($"npm install --prefix {toolsDirectory} {Package} failed ({install.ExitCode}):{Environment.NewLine}{await stdout.ConfigureAwait(false)}{await stderr.ConfigureAwait(false)}");
        }

        return (azurite, guardScript);
    }

    private static string? InstalledVersion(string toolsDirectory)
    {
        var manifest = Path.Combine(toolsDirectory, "node_modules", "azurite", "package.json");
        return File.Exists(manifest) ? VersionField().Match(File.ReadAllText(manifest)) is { Success: true } match ? match.Groups["version"].Value : null : null;
    }

    private static async Task<FileStream> AcquireLockAsync(string path, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + InstallTimeout + TimeSpan.FromMinutes(1);
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(250), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    [GeneratedRegex(@"Azurite (?<service>Blob|Queue|Table) service is successfully listening at http://127\.0\.0\.1:(?<port>\d+)")]
    private static partial Regex ListeningLine();

    [GeneratedRegex("\"version\"\\s*:\\s*\"(?<version>[^\"]+)\"")]
    private static partial Regex VersionField();
}
