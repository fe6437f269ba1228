namespace Engine.Templates;

using static TemplateArguments;

/// <summary>The methods of str, dict and list that chat templates call, bound to their value (immutable ones only, as in
/// Jinja's ImmutableSandboxedEnvironment).</summary>
public static class PythonMethods
{
    /// <summary>The method <paramref name="name"/> of the value, or null when it has none.</summary>
    public static TemplateFunction? Bind(object? target, string name) => target switch
    {
        string s => StringMethod(s, name),
        System.Collections.Generic.OrderedDictionary<string, object?> dict => DictMethod(dict, name),
        IReadOnlyList<object?> list => ListMethod(list, name),
        _ => null,
    };

    private static TemplateFunction? StringMethod(string s, string name) => name switch
    {
        "strip" => (p, n) => PythonText.Strip(s, Text(p, n, 0, "chars"), start: true, end: true),
        "lstrip" => (p, n) => PythonText.Strip(s, Text(p, n, 0, "chars"), start: true, end: false),
        "rstrip" => (p, n) => PythonText.Strip(s, Text(p, n, 0, "chars"), start: false, end: true),
        "split" => (p, n) => PythonText.Split(s, Text(p, n, 0, "sep"), Integer(p, n, 1, "maxsplit", -1)),
        "startswith" => (p, n) => Affix(s, Get(p, n, 0, "prefix"), (text, affix) => text.StartsWith(affix, StringComparison.Ordinal)),
        "endswith" => (p, n) => Affix(s, Get(p, n, 0, "suffix"), (text, affix) => text.EndsWith(affix, StringComparison.Ordinal)),
        "upper" => (_, _) => s.ToUpperInvariant(),
        "lower" => (_, _) => s.ToLowerInvariant(),
        "title" => (_, _) => PythonText.Title(s),
        "capitalize" => (_, _) => PythonText.Capitalize(s),
        "replace" => (p, n) => PythonText.Replace(s, RequiredText(p, n, 0, "old"), RequiredText(p, n, 1, "new"), Integer(p, n, 2, "count", -1)),
        "find" => (p, n) => (long)s.IndexOf(RequiredText(p, n, 0, "sub"), StringComparison.Ordinal),
        "count" => (p, n) => (long)PythonText.Split(s, RequiredText(p, n, 0, "sub"), -1).Count - 1,
        "join" => (p, n) => string.Join(s, TemplateValues.Iterate(Get(p, n, 0, "iterable")).Select(TemplateValues.ToText)),
        "splitlines" => (_, _) => PythonText.SplitLines(s),
        "isdigit" => (_, _) => s.Length > 0 && s.All(char.IsDigit),
        "isalpha" => (_, _) => s.Length > 0 && s.All(char.IsLetter),
        "isspace" => (_, _) => s.Length > 0 && s.All(PythonText.IsSpace),
        "isupper" => (_, _) => s.Any(char.IsLetter) && !s.Any(char.IsLower),
        "islower" => (_, _) => s.Any(char.IsLetter) && !s.Any(char.IsUpper),
        _ => null,
    };

    /// <summary>startswith/endswith with one affix or a tuple of them.</summary>
    private static object? Affix(string s, object? affix, Func<string, string, bool> test) => affix switch
    {
        string one => test(s, one),
        IReadOnlyList<object?> many => many.Any(a => a is string t ? test(s, t) : throw new TemplateError($"expected strings, found {TemplateValues.TypeName(a)}")),
        _ => throw new TemplateError($"expected a string or a tuple of strings, found {TemplateValues.TypeName(affix)}"),
    };

    private static TemplateFunction? DictMethod(System.Collections.Generic.OrderedDictionary<string, object?> dict, string name) => name switch
    {
        "items" => (_, _) => dict.Select(kv => (object?)new object?[] { kv.Key, kv.Value }).ToList(),
        "keys" => (_, _) => dict.Keys.Cast<object?>().ToList(),
        "values" => (_, _) => dict.Values.ToList(),
        "get" => (p, n) => Get(p, n, 0, "key") is string key && dict.TryGetValue(key, out var value) ? value : Get(p, n, 1, "default"),
        _ => null,
    };

    private static TemplateFunction? ListMethod(IReadOnlyList<object?> list, string name) => name switch
    {
        "count" => (p, n) => (long)list.Count(x => TemplateValues.AreEqual(x, Get(p, n, 0, "value"))),
        "index" => (p, n) =>
        {
            var value = Get(p, n, 0, "value");
            for (int i = 0; i < list.Count; i++) if (TemplateValues.AreEqual(list[i], value)) return (long)i;
            throw new TemplateError($"{TemplateValues.Repr(value)} is not in list");
        },
        _ => null,
    };
}
