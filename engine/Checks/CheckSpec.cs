using System.Globalization;
using System.Text.Json;
using Engine.Data;

namespace Engine.Checks;

/// <summary>
/// The checks a JSONL row names for its response, for best-of-K verifiers and eval tasks. A row's <c>"checks"</c> is a list; each item is an
/// object with a "type", or a bare IFEval instruction id:
/// <code>
/// {"type": "exact", "value": "Paris", "strip": true, "ignore_case": false}
/// {"type": "numeric", "value": 42, "tolerance": 1e-6, "relative_tolerance": 0}
/// {"type": "regex", "pattern": "^\\d+$"}                                  must match
/// {"type": "regex", "pattern": "answer: (\\w+)", "group": 1, "value": "yes"}  extract, then compare
/// {"type": "json", "required_keys": ["name", "age"]}
/// {"type": "ifeval", "id": "startend:end_checker", "kwargs": {"end_phrase": "Bye."}}
/// "punctuation:no_comma"
/// </code>
/// A row with only <c>"answer"</c> (a string or a number) means <c>{"type": "exact", "value": answer}</c>. Every error is a
/// <see cref="DataFormatException"/> naming the file and row.
/// </summary>
public static class CheckSpec
{
    /// <summary>The checks of one row (a JSON object): its "checks", else exact match against its "answer".</summary>
    public static IReadOnlyList<Check> FromRow(JsonElement row, string file, int line)
    {
        try
        {
            if (row.ValueKind != JsonValueKind.Object) throw new ArgumentException($"expected a JSON object, found {row.ValueKind}");
            if (row.TryGetProperty("checks", out var checks) && checks.ValueKind != JsonValueKind.Null)
            {
                if (checks.ValueKind != JsonValueKind.Array || checks.GetArrayLength() == 0) throw new ArgumentException("\"checks\" is not a non-empty list");
                return checks.EnumerateArray().Select((item, i) => Parse(item, $"checks[{i}]")).ToArray();
            }
            if (row.TryGetProperty("answer", out var answer) && answer.ValueKind is JsonValueKind.String or JsonValueKind.Number)
                return [Verifiers.Exact(answer.ValueKind == JsonValueKind.String ? answer.GetString()! : answer.GetRawText())];
            throw new ArgumentException("no \"checks\" list or \"answer\" string to verify a response against");
        }
        catch (ArgumentException e)
        {
            throw new DataFormatException(file, line, e.Message, e);
        }
    }

    /// <summary>One check item (see the class); where names it in errors (e.g. "checks[2]").</summary>
    public static Check Parse(JsonElement item, string where = "check")
    {
        try
        {
            return ParseItem(item, where);
        }
        catch (ArgumentException e) when (!e.Message.StartsWith(where, StringComparison.Ordinal))
        {
            throw new ArgumentException($"{where}: {e.Message}", e);
        }
    }

    private static Check ParseItem(JsonElement item, string where)
    {
        if (item.ValueKind == JsonValueKind.String) return Instructions.Create(item.GetString()!, default(JsonElement));
        if (item.ValueKind != JsonValueKind.Object) throw new ArgumentException($"{where} is {item.GetRawText()}, expected an object with a \"type\" or an instruction id");
        var fields = item.EnumerateObject().Where(p => p.Value.ValueKind != JsonValueKind.Null).ToDictionary(p => p.Name, p => p.Value);
        string type = fields.TryGetValue("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : throw new ArgumentException($"{where} has no \"type\" string");
        string[] allowed = type switch
        {
            "exact" => ["value", "strip", "ignore_case"],
            "numeric" => ["value", "tolerance", "relative_tolerance"],
            "regex" => ["pattern", "value", "group", "ignore_case"],
            "json" => ["required_keys"],
            "ifeval" => ["id", "kwargs"],
            _ => throw new ArgumentException($"{where}: unknown type '{type}' (exact, numeric, regex, json, ifeval)"),
        };
        if (fields.Keys.FirstOrDefault(k => k != "type" && !allowed.Contains(k)) is { } unknown)
            throw new ArgumentException($"{where}: {type} takes no '{unknown}' ({string.Join(", ", allowed)})");

        string Text(string key) => fields.TryGetValue(key, out var v) ? v.ValueKind switch
        {
            JsonValueKind.String => v.GetString()!,
            JsonValueKind.Number => v.GetRawText(),
            _ => throw new ArgumentException($"{where}: '{key}' is {v.GetRawText()}, expected a string"),
        } : throw new ArgumentException($"{where}: {type} needs '{key}'");
        bool Flag(string key, bool otherwise) => !fields.TryGetValue(key, out var v) ? otherwise
            : v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : throw new ArgumentException($"{where}: '{key}' is {v.GetRawText()}, expected true or false");
        double Number(string key, double otherwise) => !fields.TryGetValue(key, out var v) ? otherwise
            : v.ValueKind == JsonValueKind.Number ? v.GetDouble()
            : v.ValueKind == JsonValueKind.String && double.TryParse(v.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out double d) ? d
            : throw new ArgumentException($"{where}: '{key}' is {v.GetRawText()}, expected a number");

        return type switch
        {
            "exact" => Verifiers.Exact(Text("value"), Flag("strip", true), Flag("ignore_case", false)),
            "numeric" => Verifiers.Numeric(fields.ContainsKey("value") ? Number("value", 0) : throw new ArgumentException($"{where}: numeric needs 'value'"),
                Number("tolerance", 1e-6), Number("relative_tolerance", 0)),
            "regex" => Verifiers.Regex(Text("pattern"), fields.ContainsKey("value") ? Text("value") : null, (int)Number("group", 0), Flag("ignore_case", false)),
            "json" => Verifiers.Json(fields.TryGetValue("required_keys", out var keys)
                ? keys.ValueKind == JsonValueKind.Array && keys.EnumerateArray().All(k => k.ValueKind == JsonValueKind.String)
                    ? keys.EnumerateArray().Select(k => k.GetString()!).ToArray() : throw new ArgumentException($"{where}: 'required_keys' is not a list of strings")
                : null),
            _ => Instructions.Create(Text("id"), fields.TryGetValue("kwargs", out var kwargs) ? kwargs : default),
        };
    }
}
