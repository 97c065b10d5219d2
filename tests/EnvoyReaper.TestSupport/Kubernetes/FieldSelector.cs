using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace EnvoyReaper.TestSupport.Kubernetes;

/// <summary>
/// Field selectors: <c>field=value</c>, <c>field==value</c>, <c>field!=value</c> joined by commas, with backslash
/// escapes. Only the field labels a resource type declares are accepted, as on the real server.
/// </summary>
internal sealed class FieldSelector
{
    private sealed record Term(string JsonPath, bool Negated, string Value);

    private readonly IReadOnlyList<Term> terms;

    private FieldSelector(IReadOnlyList<Term> terms) => this.terms = terms;

    public bool IsEmpty => terms.Count == 0;

    /// <exception cref="FormatException">The selector does not parse or names an unsupported field label.</exception>
    public static FieldSelector Parse(string? selector, ResourceType type)
    {
        if (string.IsNullOrWhiteSpace(selector))
        {
            return new FieldSelector([]);
        }

        var terms = new List<Term>();
        foreach (var rawTerm in SplitUnescaped(selector, ','))
        {
            if (rawTerm.Trim().Length == 0)
            {
                continue;
            }

            var (field, negated, value) = SplitTerm(rawTerm);
            var jsonPath = JsonPathFor(type, field)
                ?? throw new FormatException($"field label not supported: {field}");
            terms.Add(new Term(jsonPath, negated, value));
        }

        return new FieldSelector(terms);
    }

    public bool Matches(JsonObject obj) => terms.All(term =>
        string.Equals(Render(Lookup(obj, term.JsonPath)), term.Value, StringComparison.Ordinal) != term.Negated);

    private static string? JsonPathFor(ResourceType type, string field) =>
        field is "metadata.name" or "metadata.namespace"
            ? field
            : type.ExtraFieldSelectors.GetValueOrDefault(field);

    private static (string Field, bool Negated, string Value) SplitTerm(string term)
    {
        for (var i = 0; i < term.Length; i++)
        {
            switch (term[i])
            {
                case '\\':
                    i++;
                    break;
                case '!' when i + 1 < term.Length && term[i + 1] == '=':
                    return (Unescape(term[..i]).Trim(), true, Unescape(term[(i + 2)..]));
                case '=':
                    var valueStart = i + 1 < term.Length && term[i + 1] == '=' ? i + 2 : i + 1;
                    return (Unescape(term[..i]).Trim(), false, Unescape(term[valueStart..]));
            }
        }

        throw new FormatException($"invalid selector: '{term}'; can't understand '{term}'");
    }

    private static IEnumerable<string> SplitUnescaped(string text, char separator)
    {
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '\\')
            {
                i++;
            }
            else if (text[i] == separator)
            {
                yield return text[start..i];
                start = i + 1;
            }
        }

        yield return text[start..];
    }

    private static string Unescape(string text)
    {
        var builder = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '\\' && i + 1 < text.Length)
            {
                i++;
            }

            builder.Append(text[i]);
        }

        return builder.ToString();
    }

    private static JsonNode? Lookup(JsonObject obj, string dottedPath)
    {
        JsonNode? current = obj;
        foreach (var segment in dottedPath.Split('.'))
        {
            current = (current as JsonObject)?[segment];
        }

        return current;
    }

    private static string Render(JsonNode? node) => node switch
    {
        null => "",
        JsonValue value when value.GetValueKind() == JsonValueKind.String => value.GetValue<string>(),
        JsonValue value => value.ToJsonString(),
        _ => node.ToJsonString(),
    };
}
