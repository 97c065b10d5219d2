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

    private const string InvalidCommandLine = "invalid command line, or an unexpected failure";

    /// <summary>What each command's exit codes mean: its --help and the README's table say exactly this.</summary>
    public static readonly IReadOnlyDictionary<string, IReadOnlyList<(int Code, string Meaning)>> ByCommand = new Dictionary<string, IReadOnlyList<(int, string)>>(StringComparer.Ordinal)
    {
        ["scan"] = [(Success, "scanned (whatever the verdicts)"), (Usage, InvalidCommandLine), (Configuration, "no usable kubeconfig or context, or invalid settings"), (Unavailable, "the API server cannot be reached or answered an error")],
        ["inject"] = [(Success, "injected manifests printed"), (Usage, "invalid command line (an unknown or invalid option such as --app-port abc, an app port that cannot be inferred), or an unexpected failure"), (Configuration, "the input cannot be read or injected (an unreadable file, invalid YAML, no apps/v1 Deployment, a refusal); nothing is printed")],
        ["snapshots"] = [(Success, "listed (none is not an error)"), (Usage, InvalidCommandLine), (Configuration, "no or an invalid storage connection"), (Unavailable, "storage cannot be read")],
        ["restore"] = [(Success, "restored or scaled back"), (Usage, InvalidCommandLine), (Configuration, "no or an invalid storage connection, no usable kubeconfig or context"), (Unavailable, "no snapshot, or storage or the API server cannot be reached"), (Refused, "refused: a Deployment of that name exists that this snapshot did not create, or the parked Deployment changed")],
        ["breaker status"] = [(Success, "closed"), (Usage, InvalidCommandLine), (Configuration, "no or an invalid storage connection, or invalid settings"), (Unavailable, "storage cannot be read"), (Refused, "open")],
        ["breaker reset"] = [(Success, "closed"), (Usage, InvalidCommandLine), (Configuration, "no or an invalid storage connection, or invalid settings"), (Unavailable, "storage cannot be read or written")],
    };

    /// <summary>"Exit codes: 0 closed; 1 ...; ..." for <paramref name="command"/> ("breaker status").</summary>
    public static string Describe(string command) => "Exit codes: " + string.Join("; ", ByCommand[command].Select(code => $"{code.Code} {code.Meaning}")) + ".";
}
