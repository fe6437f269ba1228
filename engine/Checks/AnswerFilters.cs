using System.Text.Json;
using System.Text.RegularExpressions;

namespace Engine.Checks;

/// <summary>
/// One step of lm-evaluation-harness's filter pipeline: it maps the responses to one prompt (one, or K samples) to filtered responses.
/// </summary>
public sealed record AnswerFilter(string Name, Func<IReadOnlyList<string>, IReadOnlyList<string>> Apply);

/// <summary>
/// lm-evaluation-harness's answer filters (lm_eval/filters), applied in order to a prompt's responses before they are compared with the
/// reference: <c>regex</c> extracts, <c>take_first</c> keeps the first of K responses, <c>majority_vote</c> keeps the most common,
/// <c>strip</c>, <c>lowercase</c> and <c>remove_whitespace</c> normalise. In a suite a filter is written as lm-eval's YAML writes it:
/// <c>{"function": "regex", "regex_pattern": "answer is (\\d+)", "group_select": -1, "fallback": "[invalid]"}</c>.
/// </summary>
public static class AnswerFilters
{
    /// <summary>lm-eval's regex filter: all matches of pattern; group_select picks one (0 the first, −1 the last); a match with capture
    /// groups gives its first non-empty group (group, when given, picks that capture group instead); the result is trimmed; no match (or
    /// group_select out of range) gives fallback.</summary>
    public static AnswerFilter Regex(string pattern, int groupSelect = 0, string fallback = "[invalid]", int? group = null)
    {
        System.Text.RegularExpressions.Regex regex;
        try { regex = new(pattern); }
        catch (ArgumentException e) { throw new ArgumentException($"regex filter: pattern '{pattern}' does not parse: {e.Message}", e); }
        if (group is { } g && (g < 0 || g >= regex.GetGroupNumbers().Length)) throw new ArgumentException($"regex filter: pattern '{pattern}' has no group {g}");
        string Extract(string response)
        {
            var matches = regex.Matches(response);
            int index = groupSelect < 0 ? matches.Count + groupSelect : groupSelect;
            if (index < 0 || index >= matches.Count) return fallback;
            var match = matches[index];
            string value = group is { } chosen ? match.Groups[chosen].Value
                : match.Groups.Count == 1 ? match.Value
                : match.Groups.Cast<Group>().Skip(1).Select(x => x.Value).FirstOrDefault(v => v.Length > 0) ?? fallback;
            return value.Trim();
        }
        return new AnswerFilter("regex", responses => responses.Select(Extract).ToArray());
    }

    /// <summary>The first response only (lm-eval scores the first of K samples this way).</summary>
    public static AnswerFilter TakeFirst { get; } = new("take_first", responses => responses.Take(1).ToArray());

    /// <summary>The most common response (ties: the one seen first), as the only response: maj@k's vote.</summary>
    public static AnswerFilter MajorityVote { get; } = new("majority_vote", responses => responses.Count == 0 ? responses
        : [responses.GroupBy(r => r, StringComparer.Ordinal).OrderByDescending(g => g.Count()).First().Key]);

    /// <summary>Leading and trailing whitespace removed.</summary>
    public static AnswerFilter Strip { get; } = new("strip", responses => responses.Select(r => r.Trim()).ToArray());

    public static AnswerFilter Lowercase { get; } = new("lowercase", responses => responses.Select(r => r.ToLowerInvariant()).ToArray());

    /// <summary>lm-eval's remove_whitespace: one leading space removed (the space a tokenizer puts before a continuation).</summary>
    public static AnswerFilter RemoveWhitespace { get; } = new("remove_whitespace", responses => responses.Select(r => r.StartsWith(' ') ? r[1..] : r).ToArray());

    /// <summary>Every filter in order.</summary>
    public static IReadOnlyList<string> Apply(IReadOnlyList<AnswerFilter> filters, IReadOnlyList<string> responses)
    {
        foreach (var filter in filters) responses = filter.Apply(responses);
        return responses;
    }

    /// <summary>
    /// A filter written as a JSON object with "function" (regex, take_first, majority_vote, strip, lowercase, remove_whitespace) and, for
    /// regex, "regex_pattern", optional "group_select", "group" and "fallback"; or as a bare string naming a function without arguments.
    /// Throws an <see cref="ArgumentException"/> naming what is wrong.
    /// </summary>
    public static AnswerFilter Parse(JsonElement spec)
    {
        if (spec.ValueKind == JsonValueKind.String) return Named(spec.GetString()!);
        if (spec.ValueKind != JsonValueKind.Object || !spec.TryGetProperty("function", out var function) || function.ValueKind != JsonValueKind.String)
            throw new ArgumentException($"filter {spec.GetRawText()} is not an object with a \"function\"");
        string name = function.GetString()!;
        if (name != "regex")
        {
            var extra = spec.EnumerateObject().Select(p => p.Name).FirstOrDefault(n => n != "function");
            return extra is null ? Named(name) : throw new ArgumentException($"filter '{name}' takes no '{extra}'");
        }
        string? pattern = null, fallback = "[invalid]";
        int groupSelect = 0;
        int? group = null;
        foreach (var p in spec.EnumerateObject())
        {
            switch (p.Name)
            {
                case "function": break;
                case "regex_pattern": pattern = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : throw WrongType(p, "a string"); break;
                case "fallback": fallback = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : throw WrongType(p, "a string"); break;
                case "group_select": groupSelect = p.Value.ValueKind == JsonValueKind.Number && p.Value.TryGetInt32(out int s) ? s : throw WrongType(p, "an integer"); break;
                case "group": group = p.Value.ValueKind == JsonValueKind.Number && p.Value.TryGetInt32(out int g) ? g : throw WrongType(p, "an integer"); break;
                default: throw new ArgumentException($"regex filter: unknown key '{p.Name}' (regex_pattern, group_select, group, fallback)");
            }
        }
        return Regex(pattern ?? throw new ArgumentException("regex filter: no \"regex_pattern\""), groupSelect, fallback!, group);
    }

    private static AnswerFilter Named(string name) => name switch
    {
        "take_first" => TakeFirst,
        "majority_vote" => MajorityVote,
        "strip" => Strip,
        "lowercase" => Lowercase,
        "remove_whitespace" => RemoveWhitespace,
        "regex" => throw new ArgumentException("regex filter: no \"regex_pattern\""),
        _ => throw new ArgumentException($"unknown filter '{name}' (regex, take_first, majority_vote, strip, lowercase, remove_whitespace)"),
    };

    private static ArgumentException WrongType(JsonProperty p, string expected) => new($"regex filter: '{p.Name}' is {p.Value.GetRawText()}, expected {expected}");
}
