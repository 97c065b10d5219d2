using Microsoft.Extensions.Logging;

namespace EnvoyReaper.TestSupport.Logging;

/// <summary>A logger that keeps every line it is given, with its level, for tests that assert what was logged.</summary>
public sealed class ListLogger<T> : ILogger<T>
{
    private readonly Lock gate = new();
    private readonly List<(LogLevel Level, string Message)> lines = [];

    /// <summary>A copy of the lines logged so far, in order.</summary>
    public List<(LogLevel Level, string Message)> Lines
    {
        get
        {
            lock (gate)
            {
                return [.. lines];
            }
        }
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        ArgumentNullException.ThrowIfNull(formatter);
        lock (gate)
        {
            lines.Add((logLevel, formatter(state, exception)));
        }
    }
}
