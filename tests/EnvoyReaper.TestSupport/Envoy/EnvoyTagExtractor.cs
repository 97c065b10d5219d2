using System.Collections.Concurrent;
using System.Text;
using System.Text.RegularExpressions;

namespace EnvoyReaper.TestSupport.Envoy;

/// <summary>
/// Envoy's tag extraction for Prometheus output: every rule is matched against the full stat name; capture group 1 is
/// removed from the name and group 2 becomes the tag value. Two rule sets: Envoy's current defaults (tags named
/// <c>envoy.*</c>, any single-segment listener name extracted except <c>admin</c>, worker ids extracted) and Istio's
/// bootstrap (<c>use_all_default_tags: false</c>; tags <c>cluster_name</c>, <c>listener_address</c>, ... whose listener
/// regex only takes addresses, and no worker id).
/// </summary>
internal static class EnvoyTagExtractor
{
    private const string Address = @"(?:(?:\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[[a-fA-F_\d]+\])_\d+)";
    private const string IstioAddress = @"(?:[_.\d]*|[_\[\]aAbBcCdDeEfF\d]*)";

    private static readonly Rule[] EnvoyRules =
    [
        new("envoy.response_code", @"_rq(_(\d{3}))$"),
        new("envoy.response_code_class", @"_rq_((\d))xx$"),
        new("envoy.cluster_name", @"^cluster\.(([^.]+)\.)"),
        new("envoy.http_conn_manager_prefix", @"^listener\..*?\.http\.(([^.]+)\.)"),
        new("envoy.http_conn_manager_prefix", @"^http\.(([^.]+)\.)"),
        new("envoy.tcp_prefix", @"^tcp\.(([^.]+)\.)"),
        new("envoy.worker_id", $@"^(?:listener\.(?:{Address}|[^.]+)|server|listener_manager|thread_local_cluster_manager)\.worker_((\d+)\.)"),
        new("envoy.listener_address", $@"^listener\.(({Address}|[^.]+)\.)", Exclude: "admin"),
    ];

    private static readonly Rule[] IstioRules =
    [
        new("cluster_name", @"^cluster\.((.+?(\..+?\.svc\.cluster\.local)?)\.)"),
        new("tcp_prefix", @"^tcp\.((.*?)\.)\w+?$"),
        new("response_code", @"_rq(_(\d{3}))$"),
        new("response_code_class", @"_rq(_(\dxx))$"),
        new("http_conn_manager_listener_prefix", $@"^listener(?=\.).*?\.http\.(({IstioAddress})\.)"),
        new("http_conn_manager_prefix", $@"^http\.(({IstioAddress})\.)"),
        new("listener_address", $@"^listener\.(({IstioAddress})\.)"),
    ];

    private static readonly ConcurrentDictionary<string, Extracted> EnvoyCache = new(StringComparer.Ordinal);
    private static readonly ConcurrentDictionary<string, Extracted> IstioCache = new(StringComparer.Ordinal);

    /// <summary>The Prometheus metric name (<c>envoy_</c> + sanitized tag-extracted name) and its labels, in extraction order.</summary>
    public static Extracted Extract(string statName, bool istio) =>
        (istio ? IstioCache : EnvoyCache).GetOrAdd(statName, static (name, rules) => Compute(name, rules), istio ? IstioRules : EnvoyRules);

    private static Extracted Compute(string name, Rule[] rules)
    {
        var removed = new bool[name.Length];
        var labels = new List<KeyValuePair<string, string>>();
        foreach (Rule rule in rules)
        {
            Match match = rule.Regex.Match(name);
            if (!match.Success || match.Groups.Count < 3 || !match.Groups[1].Success || !match.Groups[2].Success)
            {
                continue;
            }

            string value = match.Groups[2].Value;
            if (value.Length == 0 || value == rule.Exclude)
            {
                continue;
            }

            Group remove = match.Groups[1];
            for (int i = remove.Index; i < remove.Index + remove.Length; i++)
            {
                removed[i] = true;
            }

            labels.Add(new(Sanitize(rule.TagName), value));
        }

        var extracted = new StringBuilder(name.Length);
        for (int i = 0; i < name.Length; i++)
        {
            if (!removed[i])
            {
                extracted.Append(name[i]);
            }
        }

        return new Extracted("envoy_" + Sanitize(extracted.ToString()), labels.ToArray());
    }

    /// <summary>Envoy's PrometheusStatsFormatter::sanitizeName: every character but [a-zA-Z0-9_] becomes '_'.</summary>
    public static string Sanitize(string name)
    {
        var sb = new StringBuilder(name.Length);
        foreach (char c in name)
        {
            sb.Append(char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_');
        }

        return sb.ToString();
    }

    internal sealed record Extracted(string MetricName, KeyValuePair<string, string>[] Labels);

    private sealed record Rule(string TagName, string Pattern, string? Exclude = null)
    {
        public Regex Regex { get; } = new(Pattern, RegexOptions.CultureInvariant);
    }
}
