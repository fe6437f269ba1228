using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Engine.Templates;

/// <summary>JSON to template values (as Python's json.loads makes them) and back (as json.dumps writes them, which is
/// what transformers' own <c>tojson</c> filter calls).</summary>
public static class TemplateJson
{
    /// <summary>Objects become insertion-ordered dicts, arrays lists, integers long, other numbers double.</summary>
    public static object? FromNode(JsonNode? node) => node switch
    {
        null => null,
        JsonObject obj => ToDict(obj),
        JsonArray array => array.Select(FromNode).ToList(),
        JsonValue value => value.GetValueKind() switch
        {
            JsonValueKind.String => value.GetValue<string>(),
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Number => Number(value.ToJsonString()),
            _ => null,
        },
        _ => throw new ArgumentException($"unexpected JSON node {node.GetType().Name}"),
    };

    private static OrderedDictionary<string, object?> ToDict(JsonObject obj)
    {
        var dict = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (key, value) in obj) dict[key] = FromNode(value);
        return dict;
    }

    private static object Number(string text) =>
        text.All(c => char.IsAsciiDigit(c) || c == '-') && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long n)
            ? (object)n
            : double.Parse(text, CultureInfo.InvariantCulture);

    /// <summary>json.dumps(value, ensure_ascii, indent, separators, sort_keys).</summary>
    /// <param name="indent">null: one line; a number of spaces or a string: one item a line, nested levels indented by it.</param>
    /// <param name="separators">(item, key) separators; by default ", " and ": ", or "," and ": " with an indent.</param>
    public static string Dumps(object? value, bool ensureAscii = false, string? indent = null, (string Item, string Key)? separators = null, bool sortKeys = false)
    {
        var (item, key) = separators ?? (indent is null ? (", ", ": ") : (",", ": "));
        var text = new StringBuilder();
        Write(text, value, ensureAscii, indent, item, key, sortKeys, 0);
        return text.ToString();
    }

    private static void Write(StringBuilder text, object? value, bool ascii, string? indent, string item, string key, bool sort, int level)
    {
        switch (value)
        {
            case null: text.Append("null"); break;
            case bool b: text.Append(b ? "true" : "false"); break;
            case long n: text.Append(n.ToString(CultureInfo.InvariantCulture)); break;
            case double d:
                text.Append(double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : TemplateValues.FloatText(d));
                break;
            case string s: WriteString(text, s, ascii); break;
            case IReadOnlyList<object?> list:
                WriteContainer(text, '[', ']', list.Count, indent, item, level, i => Write(text, list[i], ascii, indent, item, key, sort, level + 1));
                break;
            case OrderedDictionary<string, object?> dict:
                var entries = sort ? dict.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList() : dict.ToList();
                WriteContainer(text, '{', '}', entries.Count, indent, item, level, i =>
                {
                    WriteString(text, entries[i].Key, ascii);
                    text.Append(key);
                    Write(text, entries[i].Value, ascii, indent, item, key, sort, level + 1);
                });
                break;
            default:
                throw new TemplateError($"Object of type {TemplateValues.TypeName(value)} is not JSON serializable");
        }
    }

    private static void WriteContainer(StringBuilder text, char open, char close, int count, string? indent, string item, int level, Action<int> writeItem)
    {
        text.Append(open);
        if (count == 0) { text.Append(close); return; }
        for (int i = 0; i < count; i++)
        {
            if (i > 0) text.Append(item);
            if (indent is not null) text.Append('\n').Append(string.Concat(Enumerable.Repeat(indent, level + 1)));
            writeItem(i);
        }
        if (indent is not null) text.Append('\n').Append(string.Concat(Enumerable.Repeat(indent, level)));
        text.Append(close);
    }

    private static void WriteString(StringBuilder text, string s, bool ascii)
    {
        text.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': text.Append("\\\""); break;
                case '\\': text.Append("\\\\"); break;
                case '\n': text.Append("\\n"); break;
                case '\r': text.Append("\\r"); break;
                case '\t': text.Append("\\t"); break;
                case '\b': text.Append("\\b"); break;
                case '\f': text.Append("\\f"); break;
                default:
                    if (c < 0x20 || (ascii && c > 0x7e)) text.Append($"\\u{(int)c:x4}");
                    else text.Append(c);
                    break;
            }
        }
        text.Append('"');
    }
}
