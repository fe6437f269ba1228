namespace Engine.Templates;

using static TemplateValues;
using Test = Func<object?, IReadOnlyList<object?>, bool>;

/// <summary>The tests (<c>value is name(…)</c>) chat templates use, with Jinja's meaning (a string is iterable and a
/// sequence; a bool is a number but not an integer).</summary>
public static class TemplateTests
{
    private static readonly Dictionary<string, Test> Tests = new()
    {
        ["defined"] = (v, _) => v is not Undefined,
        ["undefined"] = (v, _) => v is Undefined,
        ["none"] = (v, _) => v is null,
        ["string"] = (v, _) => v is string,
        ["number"] = (v, _) => IsNumber(v),
        ["integer"] = (v, _) => v is long,
        ["float"] = (v, _) => v is double,
        ["boolean"] = (v, _) => v is bool,
        ["true"] = (v, _) => v is true,
        ["false"] = (v, _) => v is false,
        ["mapping"] = (v, _) => v is OrderedDictionary<string, object?>,
        ["iterable"] = (v, _) => v is string or IReadOnlyList<object?> or OrderedDictionary<string, object?> or Undefined,
        ["sequence"] = (v, _) => v is string or IReadOnlyList<object?> or OrderedDictionary<string, object?>,
        ["callable"] = (v, _) => v is TemplateFunction,
        ["sameas"] = (v, a) => SameAs(v, Argument(a)),
        ["equalto"] = (v, a) => AreEqual(v, Argument(a)),
        ["eq"] = (v, a) => AreEqual(v, Argument(a)),
        ["=="] = (v, a) => AreEqual(v, Argument(a)),
        ["ne"] = (v, a) => !AreEqual(v, Argument(a)),
        ["!="] = (v, a) => !AreEqual(v, Argument(a)),
        ["lt"] = (v, a) => Compare(v, Argument(a), "<") < 0,
        ["le"] = (v, a) => Compare(v, Argument(a), "<=") <= 0,
        ["gt"] = (v, a) => Compare(v, Argument(a), ">") > 0,
        ["ge"] = (v, a) => Compare(v, Argument(a), ">=") >= 0,
        ["in"] = (v, a) => Contains(Argument(a), v),
        ["divisibleby"] = (v, a) => ToLong(v) % ToLong(Argument(a)) == 0,
        ["even"] = (v, _) => ToLong(v) % 2 == 0,
        ["odd"] = (v, _) => ToLong(v) % 2 != 0,
        ["lower"] = (v, _) => v is string s && s == s.ToLowerInvariant(),
        ["upper"] = (v, _) => v is string s && s == s.ToUpperInvariant(),
    };

    public static bool Apply(string name, object? value, IReadOnlyList<object?> arguments)
        => Tests.TryGetValue(name, out var test) ? test(value, arguments) : throw new TemplateError($"no test named '{name}'");

    /// <summary>Python's "is": None and the bools are singletons, anything else the same object.</summary>
    private static bool SameAs(object? a, object? b) => a switch
    {
        null => b is null,
        bool x => b is bool y && x == y,
        _ => ReferenceEquals(a, b),
    };

    private static object? Argument(IReadOnlyList<object?> arguments) => arguments.Count > 0 ? arguments[0] : throw new TemplateError("the test needs an argument");
}
