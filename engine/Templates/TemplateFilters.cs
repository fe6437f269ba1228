using System.Globalization;

namespace Engine.Templates;

using static TemplateArguments;
using static TemplateValues;
using Filter = Func<object?, IReadOnlyList<object?>, IReadOnlyDictionary<string, object?>, object?>;

/// <summary>The filters (<c>value | name(…)</c>) chat templates use, with Jinja's behaviour; <c>tojson</c> is transformers' own
/// (json.dumps with ensure_ascii=False, no HTML escaping, indent/separators/sort_keys passed through).</summary>
public static class TemplateFilters
{
    private static readonly Dictionary<string, Filter> Filters = new()
    {
        ["trim"] = (v, p, n) => PythonText.Strip(ToText(v), Text(p, n, 0, "chars"), start: true, end: true),
        ["tojson"] = ToJson,
        ["length"] = (v, _, _) => Length(v),
        ["count"] = (v, _, _) => Length(v),
        ["string"] = (v, _, _) => ToText(v),
        ["upper"] = (v, _, _) => ToText(v).ToUpperInvariant(),
        ["lower"] = (v, _, _) => ToText(v).ToLowerInvariant(),
        ["capitalize"] = (v, _, _) => PythonText.Capitalize(ToText(v)),
        ["title"] = (v, _, _) => PythonText.Title(ToText(v)),
        ["replace"] = (v, p, n) => PythonText.Replace(ToText(v), RequiredText(p, n, 0, "old"), RequiredText(p, n, 1, "new"), Integer(p, n, 2, "count", -1)),
        ["default"] = Default,
        ["d"] = Default,
        ["items"] = (v, _, _) => Items(v),
        ["join"] = (v, p, n) => string.Join(Text(p, n, 0, "d") ?? "", Iterate(v).Select(x => ToText(Text(p, n, 1, "attribute") is { } a ? AttributeOf(x, a) : x))),
        ["first"] = (v, _, _) => Iterate(v).Select(x => (object?)x).FirstOrDefault(new Undefined("no first item, the sequence is empty")),
        ["last"] = (v, _, _) => Iterate(v).Select(x => (object?)x).LastOrDefault(new Undefined("no last item, the sequence is empty")),
        ["list"] = (v, _, _) => Iterate(v).ToList(),
        ["reverse"] = (v, _, _) => v is string s ? string.Concat(Iterate(s).Reverse().Cast<string>()) : Iterate(v).Reverse().ToList(),
        ["unique"] = (v, _, _) => Iterate(v).Aggregate(new List<object?>(), (seen, x) => { if (!seen.Any(y => AreEqual(x, y))) seen.Add(x); return seen; }),
        ["sort"] = Sort,
        ["dictsort"] = (v, _, _) => Items(v).OrderBy(kv => (string)((object?[])kv!)[0]!, StringComparer.Ordinal).ToList(),
        ["int"] = (v, p, n) => ToInteger(v, Get(p, n, 0, "default", 0L)),
        ["float"] = (v, p, n) => v is string s && double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) ? d : IsNumber(v) ? ToDouble(v) : Get(p, n, 0, "default", 0.0),
        ["abs"] = (v, _, _) => v is double d ? Math.Abs(d) : (object)Math.Abs(ToLong(v)),
        ["round"] = (v, p, n) => Math.Round(ToDouble(v), (int)Integer(p, n, 0, "precision", 0), MidpointRounding.AwayFromZero),
        ["sum"] = (v, p, n) => Iterate(v).Aggregate(Get(p, n, 1, "start", 0L), (total, x) => Arithmetic("+", total, Text(p, n, 0, "attribute") is { } a ? AttributeOf(x, a) : x)),
        ["min"] = (v, _, _) => Iterate(v).Aggregate((a, b) => Compare(b, a, "<") < 0 ? b : a),
        ["max"] = (v, _, _) => Iterate(v).Aggregate((a, b) => Compare(b, a, ">") > 0 ? b : a),
        ["indent"] = Indent,
        ["safe"] = (v, _, _) => v,
        ["map"] = Map,
        ["select"] = (v, p, n) => Select(v, p, n, attribute: false, keep: true),
        ["reject"] = (v, p, n) => Select(v, p, n, attribute: false, keep: false),
        ["selectattr"] = (v, p, n) => Select(v, p, n, attribute: true, keep: true),
        ["rejectattr"] = (v, p, n) => Select(v, p, n, attribute: true, keep: false),
    };

    public static bool Exists(string name) => Filters.ContainsKey(name);

    public static object? Apply(string name, object? value, IReadOnlyList<object?> positional, IReadOnlyDictionary<string, object?> named)
        => Filters.TryGetValue(name, out var filter) ? filter(value, positional, named) : throw new TemplateError($"no filter named '{name}'");

    /// <summary>A dict's (key, value) pairs; none for undefined.</summary>
    private static List<object?> Items(object? value) => value switch
    {
        Undefined => [],
        OrderedDictionary<string, object?> dict => dict.Select(kv => (object?)new object?[] { kv.Key, kv.Value }).ToList(),
        _ => throw new TemplateError($"items expects a dict, not {TypeName(value)}"),
    };

    private static object? ToJson(object? value, IReadOnlyList<object?> p, IReadOnlyDictionary<string, object?> n)
    {
        string? indent = Get(p, n, 1, "indent") switch
        {
            null => null,
            string s => s,
            var count => new string(' ', (int)ToLong(count)),
        };
        (string, string)? separators = Get(p, n, 2, "separators") switch
        {
            null => null,
            IReadOnlyList<object?> { Count: 2 } pair when pair[0] is string item && pair[1] is string key => (item, key),
            var other => throw new TemplateError($"tojson separators must be two strings, not {Repr(other)}"),
        };
        return TemplateJson.Dumps(value, IsTrue(Get(p, n, 0, "ensure_ascii", false)), indent, separators, IsTrue(Get(p, n, 3, "sort_keys", false)));
    }

    private static object? Default(object? value, IReadOnlyList<object?> p, IReadOnlyDictionary<string, object?> n)
        => value is Undefined || (IsTrue(Get(p, n, 1, "boolean", false)) && !IsTrue(value)) ? Get(p, n, 0, "default_value", "") : value;

    private static object? ToInteger(object? value, object? fallback) => value switch
    {
        bool or long => ToLong(value),
        double d => (long)Math.Truncate(d),
        string s when long.TryParse(s.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long n) => n,
        string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double d) => (long)Math.Truncate(d),
        _ => fallback,
    };

    private static object? Sort(object? value, IReadOnlyList<object?> p, IReadOnlyDictionary<string, object?> n)
    {
        string? attribute = Text(p, n, 2, "attribute");
        object? Key(object? x)
        {
            var key = attribute is null ? x : AttributeOf(x, attribute);
            return key is string s && !IsTrue(Get(p, n, 1, "case_sensitive", false)) ? s.ToLowerInvariant() : key;
        }
        var sorted = Iterate(value).OrderBy(Key, Comparer<object?>.Create((a, b) => Compare(a, b, "<"))).ToList();
        if (IsTrue(Get(p, n, 0, "reverse", false))) sorted.Reverse();
        return sorted;
    }

    private static object? Indent(object? value, IReadOnlyList<object?> p, IReadOnlyDictionary<string, object?> n)
    {
        string pad = Get(p, n, 0, "width", 4L) is string s ? s : new string(' ', (int)ToLong(Get(p, n, 0, "width", 4L)));
        bool first = IsTrue(Get(p, n, 1, "first", false)), blank = IsTrue(Get(p, n, 2, "blank", false));
        var lines = ToText(value).Split('\n');
        for (int i = 0; i < lines.Length; i++)
            if ((i > 0 || first) && (blank || lines[i].Length > 0)) lines[i] = pad + lines[i];
        return string.Join('\n', lines);
    }

    /// <summary>map('filter', …) or map(attribute='name', default=…).</summary>
    private static object? Map(object? value, IReadOnlyList<object?> p, IReadOnlyDictionary<string, object?> n)
    {
        if (n.TryGetValue("attribute", out var attribute))
            return Iterate(value).Select(x => AttributeOf(x, ToText(attribute)) is Undefined && n.TryGetValue("default", out var d) ? d : AttributeOf(x, ToText(attribute))).ToList();
        string name = p.Count > 0 && p[0] is string filter ? filter : throw new TemplateError("map needs a filter name or attribute=");
        var rest = p.Skip(1).ToList();
        return Iterate(value).Select(x => Apply(name, x, rest, n)).ToList();
    }

    /// <summary>select/reject(test, args…) and selectattr/rejectattr(attribute, test, args…); no test means truthiness.</summary>
    private static object? Select(object? value, IReadOnlyList<object?> p, IReadOnlyDictionary<string, object?> n, bool attribute, bool keep)
    {
        int at = attribute ? 1 : 0;
        string? attributeName = attribute ? (p.Count > 0 ? ToText(p[0]) : throw new TemplateError("selectattr needs an attribute name")) : null;
        string? test = p.Count > at ? ToText(p[at]) : null;
        var arguments = p.Skip(at + 1).ToList();
        return Iterate(value).Where(x =>
        {
            var subject = attributeName is null ? x : AttributeOf(x, attributeName);
            return (test is null ? IsTrue(subject) : TemplateTests.Apply(test, subject, arguments)) == keep;
        }).ToList();
    }

    /// <summary>Jinja's attribute getter for filters: "a.b" looks up a then b, items before attributes.</summary>
    private static object? AttributeOf(object? value, string path)
    {
        foreach (string part in path.Split('.'))
        {
            if (value is Undefined) return value;
            value = long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out long index) ? Item(value, index) : Item(value, part);
        }
        return value;
    }
}
