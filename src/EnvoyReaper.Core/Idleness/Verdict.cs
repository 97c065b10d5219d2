namespace EnvoyReaper.Idleness;

public enum Verdict
{
    Unknown,
    Active,
    Idle,
}
