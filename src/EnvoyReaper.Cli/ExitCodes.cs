namespace EnvoyReaper.Cli;

/// <summary>The exit codes every command shares.</summary>
internal static class ExitCodes
{
    public const int Success = 0;

    /// <summary>The command line is invalid (System.CommandLine's own code), or a failure nobody foresaw.</summary>
    public const int Usage = 1;

    /// <summary>Missing or unusable configuration: no storage connection, no usable kubeconfig or context, invalid settings.</summary>
    public const int Configuration = 2;

    /// <summary>The cluster or storage cannot be reached, read or written, or what was asked for is not there (no snapshot).</summary>
    public const int Unavailable = 3;

    /// <summary>The answer is a refusal: the teardown breaker is open, or a restore would overwrite what it did not create.</summary>
    public const int Refused = 4;
}
