namespace EnvoyReaper.Workloads;

public enum ReaperAction
{
    Delete,
    ScaleToZero,
    Observe,
}

public static class ReaperActionNames
{
    public static string ToContractName(this ReaperAction action) => action switch
    {
        ReaperAction.Delete => "delete",
        ReaperAction.ScaleToZero => "scale-to-zero",
        ReaperAction.Observe => "observe",
        _ => throw new ArgumentOutOfRangeException(nameof(action), action, null),
    };

    public static bool TryParse(string? value, out ReaperAction action)
    {
        switch (value?.Trim().ToLowerInvariant())
        {
            case "delete": action = ReaperAction.Delete; return true;
            case "scale-to-zero": action = ReaperAction.ScaleToZero; return true;
            case "observe": action = ReaperAction.Observe; return true;
            default: action = default; return false;
        }
    }
}
