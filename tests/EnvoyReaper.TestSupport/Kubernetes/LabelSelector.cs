using System.Globalization;
using System.Text;

namespace EnvoyReaper.TestSupport.Kubernetes;

/// <summary>
/// The apimachinery label selector language: <c>k=v</c>, <c>k==v</c>, <c>k!=v</c>, <c>k in (a,b)</c>,
/// <c>k notin (a,b)</c>, <c>k</c>, <c>!k</c>, <c>k&gt;1</c>, <c>k&lt;1</c>, joined by commas (AND).
/// </summary>
internal sealed class LabelSelector
{
    private enum Operator
    {
        Exists,
        DoesNotExist,
        Equals,
        NotEquals,
        In,
        NotIn,
        GreaterThan,
        LessThan,
    }

    private sealed record Requirement(string Key, Operator Operator, IReadOnlyList<string> Values);

    private readonly IReadOnlyList<Requirement> requirements;

    private LabelSelector(IReadOnlyList<Requirement> requirements) => this.requirements = requirements;

    public static LabelSelector Everything { get; } = new([]);

    public bool IsEmpty => requirements.Count == 0;

    /// <exception cref="FormatException">The selector does not parse or names an invalid key or value.</exception>
    public static LabelSelector Parse(string? selector)
    {
        if (string.IsNullOrWhiteSpace(selector))
        {
            return Everything;
        }

        return new LabelSelector(new Parser(Lexer.Tokenize(selector)).ParseAll());
    }

    public bool Matches(IReadOnlyDictionary<string, string> labels) => requirements.All(requirement => Satisfies(requirement, labels));

    private static bool Satisfies(Requirement requirement, IReadOnlyDictionary<string, string> labels)
    {
        var present = labels.TryGetValue(requirement.Key, out var value);
        return requirement.Operator switch
        {
            Operator.Exists => present,
            Operator.DoesNotExist => !present,
            Operator.Equals or Operator.In => present && requirement.Values.Contains(value!, StringComparer.Ordinal),
            Operator.NotEquals or Operator.NotIn => !present || !requirement.Values.Contains(value!, StringComparer.Ordinal),
            Operator.GreaterThan => present && long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var greater)
                && greater > long.Parse(requirement.Values[0], CultureInfo.InvariantCulture),
            Operator.LessThan => present && long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var less)
                && less < long.Parse(requirement.Values[0], CultureInfo.InvariantCulture),
            _ => false,
        };
    }

    private enum TokenKind
    {
        Identifier,
        Comma,
        OpenParen,
        CloseParen,
        Equals,
        DoubleEquals,
        NotEquals,
        Bang,
        GreaterThan,
        LessThan,
        In,
        NotIn,
        End,
    }

    private readonly record struct Token(TokenKind Kind, string Text);

    private static class Lexer
    {
        private static bool IsSpecial(char c) => c is '=' or '!' or '(' or ')' or ',' or '>' or '<';

        public static List<Token> Tokenize(string input)
        {
            var tokens = new List<Token>();
            var position = 0;
            while (position < input.Length)
            {
                var c = input[position];
                if (char.IsWhiteSpace(c))
                {
                    position++;
                    continue;
                }

                if (IsSpecial(c))
                {
                    var start = position;
                    var pair = position + 1 < input.Length ? input.Substring(position, 2) : "";
                    position += pair is "==" or "!=" ? 2 : 1;
                    var symbol = input[start..position];
                    tokens.Add(symbol switch
                    {
                        "," => new Token(TokenKind.Comma, symbol),
                        "(" => new Token(TokenKind.OpenParen, symbol),
                        ")" => new Token(TokenKind.CloseParen, symbol),
                        "=" => new Token(TokenKind.Equals, symbol),
                        "==" => new Token(TokenKind.DoubleEquals, symbol),
                        "!=" => new Token(TokenKind.NotEquals, symbol),
                        "!" => new Token(TokenKind.Bang, symbol),
                        ">" => new Token(TokenKind.GreaterThan, symbol),
                        "<" => new Token(TokenKind.LessThan, symbol),
                        _ => throw new FormatException($"unable to parse requirement: found '{symbol}', expected: a valid operator"),
                    });
                    continue;
                }

                var word = new StringBuilder();
                while (position < input.Length && !char.IsWhiteSpace(input[position]) && !IsSpecial(input[position]))
                {
                    word.Append(input[position]);
                    position++;
                }

                var text = word.ToString();
                tokens.Add(text switch
                {
                    "in" => new Token(TokenKind.In, text),
                    "notin" => new Token(TokenKind.NotIn, text),
                    _ => new Token(TokenKind.Identifier, text),
                });
            }

            tokens.Add(new Token(TokenKind.End, ""));
            return tokens;
        }
    }

    private sealed class Parser(List<Token> tokens)
    {
        private int position;

        private Token Peek => tokens[position];

        private Token Next() => tokens[Math.Min(position++, tokens.Count - 1)];

        public List<Requirement> ParseAll()
        {
            var result = new List<Requirement>();
            while (true)
            {
                var token = Peek;
                if (token.Kind == TokenKind.End)
                {
                    return result;
                }

                if (token.Kind is not (TokenKind.Identifier or TokenKind.Bang))
                {
                    throw new FormatException($"found '{token.Text}', expected: !, identifier, or 'end of string'");
                }

                result.Add(ParseRequirement());
                var separator = Next();
                if (separator.Kind == TokenKind.End)
                {
                    return result;
                }

                if (separator.Kind != TokenKind.Comma)
                {
                    throw new FormatException($"found '{separator.Text}', expected: ',' or 'end of string'");
                }

                if (Peek.Kind is not (TokenKind.Identifier or TokenKind.Bang))
                {
                    throw new FormatException($"found '{Peek.Text}', expected: identifier after ','");
                }
            }
        }

        private Requirement ParseRequirement()
        {
            if (Peek.Kind == TokenKind.Bang)
            {
                Next();
                var negated = Next();
                if (negated.Kind != TokenKind.Identifier)
                {
                    throw new FormatException($"unable to parse requirement: found '{negated.Text}', expected: identifier after '!'");
                }

                return new Requirement(ValidKey(negated.Text), Operator.DoesNotExist, []);
            }

            var key = ValidKey(Next().Text);
            if (Peek.Kind is TokenKind.End or TokenKind.Comma)
            {
                return new Requirement(key, Operator.Exists, []);
            }

            var operatorToken = Next();
            var op = operatorToken.Kind switch
            {
                TokenKind.Equals or TokenKind.DoubleEquals => Operator.Equals,
                TokenKind.NotEquals => Operator.NotEquals,
                TokenKind.In => Operator.In,
                TokenKind.NotIn => Operator.NotIn,
                TokenKind.GreaterThan => Operator.GreaterThan,
                TokenKind.LessThan => Operator.LessThan,
                _ => throw new FormatException($"unable to parse requirement: found '{operatorToken.Text}', expected: =, !=, ==, in, notin, gt, lt"),
            };

            if (op is Operator.In or Operator.NotIn)
            {
                return new Requirement(key, op, ParseValueSet());
            }

            var value = Peek.Kind == TokenKind.Identifier ? Next().Text : "";
            if (op is Operator.GreaterThan or Operator.LessThan
                && !long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _))
            {
                throw new FormatException($"unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer: \"{value}\"");
            }

            return new Requirement(key, op, [ValidValue(value)]);
        }

        private List<string> ParseValueSet()
        {
            var open = Next();
            if (open.Kind != TokenKind.OpenParen)
            {
                throw new FormatException($"unable to parse requirement: found '{open.Text}', expected: '('");
            }

            var values = new List<string>();
            var expectValue = true;
            while (true)
            {
                var token = Next();
                switch (token.Kind)
                {
                    case TokenKind.CloseParen:
                        if (values.Count == 0)
                        {
                            throw new FormatException("unable to parse requirement: for 'in', 'notin' operators, values set can't be empty");
                        }

                        return values;
                    case TokenKind.Identifier when expectValue:
                        values.Add(ValidValue(token.Text));
                        expectValue = false;
                        break;
                    case TokenKind.Comma:
                        if (expectValue)
                        {
                            values.Add("");
                        }

                        expectValue = true;
                        break;
                    default:
                        throw new FormatException($"unable to parse requirement: found '{token.Text}', expected: ',', ')' or identifier");
                }
            }
        }

        private static string ValidKey(string key) =>
            ObjectValidation.LabelKeyProblem(key) is { } problem
                ? throw new FormatException($"unable to parse requirement: invalid label key \"{key}\": {problem}")
                : key;

        private static string ValidValue(string value) =>
            ObjectValidation.LabelValueProblem(value) is { } problem
                ? throw new FormatException($"unable to parse requirement: invalid label value: \"{value}\": at key: {problem}")
                : value;
    }
}
