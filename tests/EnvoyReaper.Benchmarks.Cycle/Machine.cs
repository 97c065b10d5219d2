using System.Diagnostics;
using System.Globalization;

namespace EnvoyReaper.Benchmarks.Cycle;

/// <summary>CPU time of this process and of the Azurite process (read from /proc, Linux only).</summary>
public sealed class CpuClock
{
    private readonly int? azuritePid;

    public CpuClock(string connectionString)
    {
        azuritePid = FindAzurite(QueuePort(connectionString));
    }

    public int? AzuritePid => azuritePid;

    public (TimeSpan Self, TimeSpan? Azurite) Read()
    {
        using var self = Process.GetCurrentProcess();
        return (self.TotalProcessorTime, azuritePid is { } pid ? ProcessCpu(pid) : null);
    }

    private static string QueuePort(string connectionString)
    {
        foreach (var part in connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part.StartsWith("QueueEndpoint=", StringComparison.OrdinalIgnoreCase) && Uri.TryCreate(part["QueueEndpoint=".Length..], UriKind.Absolute, out var uri))
            {
                return uri.Port.ToString(CultureInfo.InvariantCulture);
            }
        }

        return "10001";
    }

    private static int? FindAzurite(string queuePort)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        int? fallback = null;
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var pid))
            {
                continue;
            }

            string commandLine;
            try
            {
                commandLine = File.ReadAllText(Path.Combine(directory, "cmdline")).Replace('\0', ' ');
            }
            catch (IOException)
            {
                continue;
            }
            catch (UnauthorizedAccessException)
            {
                continue;
            }

            if (!commandLine.Contains("azurite", StringComparison.OrdinalIgnoreCase) || !commandLine.Contains("node", StringComparison.Ordinal))
            {
                continue;
            }

            if (commandLine.Contains(queuePort, StringComparison.Ordinal))
            {
                return pid;
            }

            if (queuePort == "10001" && !commandLine.Contains("--queuePort", StringComparison.Ordinal))
            {
                fallback = pid;
            }
        }

        return fallback;
    }

    private static TimeSpan? ProcessCpu(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the command name.
            var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            return TimeSpan.FromSeconds(ticks / 100.0); // USER_HZ is 100 on Linux
        }
        catch (IOException)
        {
            return null;
        }
    }
}

/// <summary>Samples the managed heap and the working set while a phase runs.</summary>
public sealed class MemorySampler : IAsyncDisposable
{
    private readonly CancellationTokenSource stop = new();
    private readonly Task loop;
    private long peakHeap;
    private long peakWorkingSet;

    public MemorySampler()
    {
        loop = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                Sample();
                try
                {
                    await Task.Delay(50, stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        });
    }

    public long PeakHeap => Interlocked.Read(ref peakHeap);

    public long PeakWorkingSet => Interlocked.Read(ref peakWorkingSet);

    private void Sample()
    {
        var heap = GC.GetTotalMemory(false);
        var workingSet = Environment.WorkingSet;
        if (heap > peakHeap)
        {
            Interlocked.Exchange(ref peakHeap, heap);
        }

        if (workingSet > peakWorkingSet)
        {
            Interlocked.Exchange(ref peakWorkingSet, workingSet);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync().ConfigureAwait(false);
        await loop.ConfigureAwait(false);
        Sample();
        stop.Dispose();
    }
}
