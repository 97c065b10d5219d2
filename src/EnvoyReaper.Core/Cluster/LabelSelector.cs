namespace EnvoyReaper.Cluster;

public sealed record LabelRequirement(string Key, string Operator, IReadOnlyList<string> Values);

/// <summary>A Kubernetes label selector (matchLabels + matchExpressions) evaluated locally.</summary>
public sealed record LabelSelector(IReadOnlyDictionary<string, string> MatchLabels, IReadOnlyList<LabelRequirement> MatchExpressions)
{
    public static LabelSelector FromLabels(IReadOnlyDictionary<string, string> labels) => new(labels, []);

    public bool IsEmpty => MatchLabels.Count == 0 && MatchExpressions.Count == 0;

    public bool Matches(IReadOnlyDictionary<string, string> labels)
    {
        foreach (var (key, value) in MatchLabels)
        {
            if (!labels.TryGetValue(key, out var actual) || actual != value)
            {
                return false;
            }
        }

        foreach (var requirement in MatchExpressions)
        {
            var has = labels.TryGetValue(requirement.Key, out var actual);
            var matches = requirement.Operator switch
            {
                "In" => has && requirement.Values.Contains(actual!),
                "NotIn" => !has || !requirement.Values.Contains(actual!),
                "Exists" => has,
                "DoesNotExist" => !has,
                _ => false,
            };
            if (!matches)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The selector in the query-string syntax of the API server's labelSelector parameter.</summary>
    public string ToQueryString()
    {
        var parts = MatchLabels.Select(pair => $"{pair.Key}={pair.Value}").ToList();
        foreach (var requirement in MatchExpressions)
        {
            parts.Add(requirement.Operator switch
            {
                "In" => $"{requirement.Key} in ({string.Join(',', requirement.Values)})",
                "NotIn" => $"{requirement.Key} notin ({string.Join(',', requirement.Values)})",
                "Exists" => requirement.Key,
                "DoesNotExist" => $"!{requirement.Key}",
                _ => throw new InvalidOperationException($"Unknown label selector operator '{requirement.Operator}'."),
            });
        }

        return string.Join(',', parts);
    }
}
