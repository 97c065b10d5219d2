namespace EnvoyReaper.Envoy;

/// <summary>The body format of an Envoy statistics dump.</summary>
public enum StatsFormat
{
    /// <summary><c>/stats?format=json</c>: <c>{"stats":[{"name":..,"value":..}, ..., {"histograms":{..}}]}</c>.</summary>
    Json,

    /// <summary><c>/stats/prometheus</c> or <c>/stats?format=prometheus</c>: Prometheus text exposition.</summary>
    Prometheus,

    /// <summary><c>/stats</c> without a format: <c>name: value</c> lines.</summary>
    Text,
}
