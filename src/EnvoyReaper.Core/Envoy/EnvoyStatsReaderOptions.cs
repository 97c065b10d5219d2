using System.ComponentModel.DataAnnotations;

namespace EnvoyReaper.Envoy;

/// <summary>Limits of one statistics read.</summary>
public sealed class EnvoyStatsReaderOptions
{
    /// <summary>Largest body accepted: 8 MiB unless configured.</summary>
    public const int DefaultMaxResponseBytes = 8 * 1024 * 1024;

    /// <summary>Upper bound of <see cref="MaxResponseBytes"/>: 1 GiB.</summary>
    public const int MaxAllowedResponseBytes = 1 << 30;

    /// <summary>Whole-request budget (connect, headers and body) for one read; 2 s unless configured.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "01:00:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>A body larger than this is a failure ("response larger than 8 MiB"); it is never buffered beyond it.</summary>
    [Range(1, MaxAllowedResponseBytes)]
    public int MaxResponseBytes { get; set; } = DefaultMaxResponseBytes;
}
