namespace EnvoyReaper.Envoy;

/// <summary>The body is not a readable Envoy statistics dump in the expected format; the message says why, briefly.</summary>
public sealed class EnvoyStatsFormatException : FormatException
{
    public EnvoyStatsFormatException()
    {
    }

    public EnvoyStatsFormatException(string message)
        : base(message)
    {
    }

    public EnvoyStatsFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
