using System.Globalization;
using System.Text;

namespace Engine.Templates;

/// <summary>
/// A function a template can call (a macro, a global such as <c>raise_exception</c>, or a bound method such as
/// <c>content.split</c>): positional and named arguments in, a value out.
/// </summary>
public delegate object? TemplateFunction(IReadOnlyList<object?> positional, IReadOnlyDictionary<string, object?> named);

/// <summary>What a name or attribute that does not exist evaluates to: empty when printed, false, an empty sequence;
/// anything more (an attribute of it, arithmetic) is an error naming what was missing.</summary>
public sealed class Undefined(string reason)
{
    /// <summary>Why there is no value, e.g. "'x' is undefined" or "'dict object' has no attribute 'y'".</summary>
    public string Reason { get; } = reason;

    public TemplateError Error() => new(Reason);
}

/// <summary><c>namespace(…)</c>: the one mutable object of a template, whose attributes <c>set ns.x = …</c> changes from inside loops.</summary>
public sealed class Namespace
{
    public OrderedDictionary<string, object?> Values { get; } = new(StringComparer.Ordinal);
}

/// <summary>
/// Python's semantics for the values a template handles: null (None), bool, long (int), double (float), string, lists
/// (<see cref="List{T}"/>; tuples are <c>object?[]</c>), dicts (<see cref="OrderedDictionary{TKey,TValue}"/> with string
/// keys, insertion-ordered as Python's), <see cref="Namespace"/>, <see cref="TemplateFunction"/> and <see cref="Undefined"/>.
/// </summary>
public static class TemplateValues
{
    public static bool IsTrue(object? value) => value switch
    {
        null or Undefined => false,
        bool b => b,
        long n => n != 0,
        double d => d != 0,
        string s => s.Length > 0,
        IReadOnlyList<object?> list => list.Count > 0,
        OrderedDictionary<string, object?> dict => dict.Count > 0,
        _ => true,
    };

    public static bool IsNumber(object? value) => value is bool or long or double;

    public static string TypeName(object? value) => value switch
    {
        null => "NoneType",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        object?[] => "tuple",
        IReadOnlyList<object?> => "list",
        OrderedDictionary<string, object?> => "dict",
        Namespace => "Namespace",
        TemplateFunction => "function",
        Undefined => "Undefined",
        _ => value.GetType().Name,
    };

    /// <summary>Python's str(): what <c>{{ value }}</c> prints.</summary>
    public static string ToText(object? value) => value switch
    {
        string s => s,
        Undefined => "",
        _ => Repr(value),
    };

    /// <summary>Python's repr(): strings quoted, containers with their items' repr.</summary>
    public static string Repr(object? value) => value switch
    {
        null => "None",
        bool b => b ? "True" : "False",
        long n => n.ToString(CultureInfo.InvariantCulture),
        double d => FloatText(d),
        string s => QuoteString(s),
        object?[] tuple => tuple.Length == 1 ? $"({Repr(tuple[0])},)" : $"({string.Join(", ", tuple.Select(Repr))})",
        IReadOnlyList<object?> list => $"[{string.Join(", ", list.Select(Repr))}]",
        OrderedDictionary<string, object?> dict => $"{{{string.Join(", ", dict.Select(kv => $"{QuoteString(kv.Key)}: {Repr(kv.Value)}"))}}}",
        Namespace ns => $"<Namespace {string.Join(", ", ns.Values.Select(kv => $"{kv.Key}={Repr(kv.Value)}"))}>",
        Undefined => "Undefined",
        _ => $"<{TypeName(value)}>",
    };

    /// <summary>Python's float repr: the shortest digits that round-trip, exponent form below 1e-4 and from 1e16.</summary>
    public static string FloatText(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsInfinity(d)) return d > 0 ? "inf" : "-inf";
        if (d == 0) return double.IsNegative(d) ? "-0.0" : "0.0";
        string r = Math.Abs(d).ToString("R", CultureInfo.InvariantCulture);
        int e = r.IndexOf('E');
        string mantissa = e < 0 ? r : r[..e];
        int exponent = e < 0 ? 0 : int.Parse(r[(e + 1)..], CultureInfo.InvariantCulture);
        int dot = mantissa.IndexOf('.');
        string digits = mantissa.Replace(".", "");
        int point = (dot < 0 ? mantissa.Length : dot) + exponent;
        int leading = digits.Length - digits.TrimStart('0').Length;
        digits = digits.Trim('0');
        point -= leading;
        int exp10 = point - 1;
        string sign = d < 0 ? "-" : "";
        if (exp10 < -4 || exp10 >= 16)
            return $"{sign}{digits[0]}{(digits.Length > 1 ? "." + digits[1..] : "")}e{(exp10 < 0 ? "-" : "+")}{Math.Abs(exp10):00}";
        if (point <= 0) return $"{sign}0.{new string('0', -point)}{digits}";
        if (point >= digits.Length) return $"{sign}{digits}{new string('0', point - digits.Length)}.0";
        return $"{sign}{digits[..point]}.{digits[point..]}";
    }

    private static string QuoteString(string s)
    {
        char quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        var text = new StringBuilder().Append(quote);
        foreach (char c in s)
        {
            if (c == quote || c == '\\') text.Append('\\').Append(c);
            else if (c == '\n') text.Append("\\n");
            else if (c == '\r') text.Append("\\r");
            else if (c == '\t') text.Append("\\t");
            else if (c < 0x20 || c == 0x7f) text.Append($"\\x{(int)c:x2}");
            else text.Append(c);
        }
        return text.Append(quote).ToString();
    }

    public static bool AreEqual(object? a, object? b)
    {
        if (a is Undefined || b is Undefined) return a is Undefined && b is Undefined;
        if (IsNumber(a) && IsNumber(b)) return a is double || b is double ? ToDouble(a) == ToDouble(b) : ToLong(a) == ToLong(b);
        return (a, b) switch
        {
            (null, null) => true,
            (string x, string y) => x == y,
            (object?[] x, object?[] y) => x.Length == y.Length && x.Zip(y).All(p => AreEqual(p.First, p.Second)),
            (object?[], _) or (_, object?[]) => false,
            (IReadOnlyList<object?> x, IReadOnlyList<object?> y) => x.Count == y.Count && x.Zip(y).All(p => AreEqual(p.First, p.Second)),
            (OrderedDictionary<string, object?> x, OrderedDictionary<string, object?> y) =>
                x.Count == y.Count && x.All(kv => y.TryGetValue(kv.Key, out var other) && AreEqual(kv.Value, other)),
            _ => ReferenceEquals(a, b),
        };
    }

    /// <summary>Python's ordering of numbers, strings (by code unit) and sequences; anything else is a TypeError.</summary>
    public static int Compare(object? a, object? b, string op)
    {
        if (IsNumber(a) && IsNumber(b)) return a is double || b is double ? ToDouble(a).CompareTo(ToDouble(b)) : ToLong(a).CompareTo(ToLong(b));
        if (a is string x && b is string y) return string.CompareOrdinal(x, y);
        if (a is IReadOnlyList<object?> p && b is IReadOnlyList<object?> q)
        {
            for (int i = 0; i < Math.Min(p.Count, q.Count); i++)
                if (!AreEqual(p[i], q[i])) return Compare(p[i], q[i], op);
            return p.Count.CompareTo(q.Count);
        }
        throw new TemplateError($"'{op}' is not supported between {TypeName(a)} and {TypeName(b)}");
    }

    public static long ToLong(object? value) => value switch
    {
        bool b => b ? 1 : 0,
        long n => n,
        _ => throw new TemplateError($"expected an integer, found {TypeName(value)}"),
    };

    public static double ToDouble(object? value) => value switch
    {
        bool b => b ? 1 : 0,
        long n => n,
        double d => d,
        _ => throw new TemplateError($"expected a number, found {TypeName(value)}"),
    };

    /// <summary>Python's binary operators + - * / // % ** (and Jinja's ~, which joins the operands' text).</summary>
    public static object? Arithmetic(string op, object? a, object? b)
    {
        if (op == "~") return ToText(a) + ToText(b);
        if (a is Undefined ua) throw ua.Error();
        if (b is Undefined ub) throw ub.Error();
        if (IsNumber(a) && IsNumber(b))
        {
            bool real = a is double || b is double;
            switch (op)
            {
                case "+": return real ? ToDouble(a) + ToDouble(b) : (object)checked(ToLong(a) + ToLong(b));
                case "-": return real ? ToDouble(a) - ToDouble(b) : (object)checked(ToLong(a) - ToLong(b));
                case "*": return real ? ToDouble(a) * ToDouble(b) : (object)checked(ToLong(a) * ToLong(b));
                case "/":
                    if (ToDouble(b) == 0) throw new TemplateError("division by zero");
                    return ToDouble(a) / ToDouble(b);
                case "//":
                    if (ToDouble(b) == 0) throw new TemplateError("integer division by zero");
                    if (real) return Math.Floor(ToDouble(a) / ToDouble(b));
                    long q = ToLong(a) / ToLong(b);
                    return (ToLong(a) % ToLong(b) != 0) && ((ToLong(a) < 0) != (ToLong(b) < 0)) ? q - 1 : q;
                case "%":
                    if (ToDouble(b) == 0) throw new TemplateError("modulo by zero");
                    if (real)
                    {
                        double m = ToDouble(a) % ToDouble(b);
                        return m != 0 && (m < 0) != (ToDouble(b) < 0) ? m + ToDouble(b) : m;
                    }
                    long r = ToLong(a) % ToLong(b);
                    return r != 0 && (r < 0) != (ToLong(b) < 0) ? r + ToLong(b) : r;
                case "**":
                    if (!real && ToLong(b) >= 0)
                    {
                        long result = 1, x = ToLong(a);
                        for (long i = 0; i < ToLong(b); i++) result = checked(result * x);
                        return result;
                    }
                    return Math.Pow(ToDouble(a), ToDouble(b));
            }
        }
        switch (op, a, b)
        {
            case ("+", string x, string y): return x + y;
            case ("+", object?[] x, object?[] y): return x.Concat(y).ToArray();
            case ("+", IReadOnlyList<object?> x, IReadOnlyList<object?> y) when x is List<object?> && y is List<object?>: return x.Concat(y).ToList();
            case ("*", string x, long or bool): return string.Concat(Enumerable.Repeat(x, (int)Math.Max(0, ToLong(b))));
            case ("*", IReadOnlyList<object?> x, long or bool): return Enumerable.Repeat(x, (int)Math.Max(0, ToLong(b))).SelectMany(l => l).ToList();
        }
        throw new TemplateError($"unsupported operand types for {op}: {TypeName(a)} and {TypeName(b)}");
    }

    /// <summary>The items a for loop visits: a sequence's items, a dict's keys, a string's characters; none for undefined.</summary>
    public static IEnumerable<object?> Iterate(object? value) => value switch
    {
        Undefined => [],
        string s => s.EnumerateRunes().Select(r => (object?)r.ToString()),
        IReadOnlyList<object?> list => list,
        OrderedDictionary<string, object?> dict => dict.Keys.Cast<object?>(),
        _ => throw new TemplateError($"{TypeName(value)} is not iterable"),
    };

    public static long Length(object? value) => value switch
    {
        Undefined => 0,
        string s => s.EnumerateRunes().Count(),
        IReadOnlyList<object?> list => list.Count,
        OrderedDictionary<string, object?> dict => dict.Count,
        _ => throw new TemplateError($"object of type {TypeName(value)} has no length"),
    };

    /// <summary><c>target.name</c>: a method of the value (Python's getattr) first, else the dict item of that name.</summary>
    public static object? Attribute(object? target, string name)
    {
        if (target is Undefined undefined) throw undefined.Error();
        if (target is Namespace ns) return ns.Values.TryGetValue(name, out var v) ? v : new Undefined($"'Namespace' has no attribute '{name}'");
        if (target is LoopInfo loop) return loop.Attribute(name);
        if (PythonMethods.Bind(target, name) is { } method) return method;
        if (target is OrderedDictionary<string, object?> dict && dict.TryGetValue(name, out var item)) return item;
        return new Undefined($"'{TypeName(target)} object' has no attribute '{name}'");
    }

    /// <summary><c>target[index]</c>: the item (negative indices from the end), else a method of that name.</summary>
    public static object? Item(object? target, object? index)
    {
        if (target is Undefined undefined) throw undefined.Error();
        switch (target, index)
        {
            case (OrderedDictionary<string, object?> dict, string key) when dict.TryGetValue(key, out var value): return value;
            case (IReadOnlyList<object?> list, long or bool):
                long i = ToLong(index);
                if (i < 0) i += list.Count;
                return i >= 0 && i < list.Count ? list[(int)i] : new Undefined($"{TypeName(target)} index {ToLong(index)} is out of range");
            case (string s, long or bool):
                var runes = s.EnumerateRunes().ToArray();
                long j = ToLong(index);
                if (j < 0) j += runes.Length;
                return j >= 0 && j < runes.Length ? runes[j].ToString() : new Undefined($"string index {ToLong(index)} is out of range");
            case (_, string name) when target is not OrderedDictionary<string, object?>:
                return Attribute(target, name);
        }
        return new Undefined($"'{TypeName(target)} object' has no item {Repr(index)}");
    }

    /// <summary>Python's <c>target[start:stop:step]</c> of a list, tuple or string.</summary>
    public static object? Slice(object? target, object? start, object? stop, object? step)
    {
        if (target is Undefined undefined) throw undefined.Error();
        long by = step is null ? 1 : ToLong(step);
        if (by == 0) throw new TemplateError("slice step cannot be zero");
        IReadOnlyList<object?> items = target switch
        {
            string s => s.EnumerateRunes().Select(r => (object?)r.ToString()).ToList(),
            IReadOnlyList<object?> list => list,
            _ => throw new TemplateError($"{TypeName(target)} cannot be sliced"),
        };
        long n = items.Count;
        long Bound(object? value, long fallback)
        {
            if (value is null) return fallback;
            long v = ToLong(value);
            if (v < 0) v += n;
            return by > 0 ? Math.Clamp(v, 0, n) : Math.Clamp(v, -1, n - 1);
        }
        long from = Bound(start, by > 0 ? 0 : n - 1), to = Bound(stop, by > 0 ? n : -1);
        var picked = new List<object?>();
        for (long i = from; by > 0 ? i < to : i > to; i += by) picked.Add(items[(int)i]);
        return target switch
        {
            string => string.Concat(picked.Cast<string>()),
            object?[] => picked.ToArray(),
            _ => picked,
        };
    }

    /// <summary>Python's <c>in</c>: a substring, a list item, a dict key.</summary>
    public static bool Contains(object? container, object? item) => container switch
    {
        string s => item is string sub ? s.Contains(sub, StringComparison.Ordinal) : throw new TemplateError($"'in <string>' requires a string, not {TypeName(item)}"),
        IReadOnlyList<object?> list => list.Any(x => AreEqual(x, item)),
        OrderedDictionary<string, object?> dict => item is string key && dict.ContainsKey(key),
        Undefined => false,
        _ => throw new TemplateError($"argument of type {TypeName(container)} is not iterable"),
    };
}
