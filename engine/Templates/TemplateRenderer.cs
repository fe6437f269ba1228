using System.Globalization;

namespace Engine.Templates;

using static TemplateValues;

/// <summary>Walks the syntax tree: statements write to a <see cref="TemplateOutput"/>, expressions evaluate to values.
/// A for loop's body and a macro's body get a scope of their own, as in Jinja (so <c>set</c> inside a loop does not leak
/// out of it, and <c>namespace()</c> is how templates carry state across iterations).</summary>
internal sealed class TemplateRenderer(string templateName, DateTime now)
{
    private enum Flow { Normal, Break, Continue }

    private static readonly IReadOnlyDictionary<string, object?> NoNamed = new Dictionary<string, object?>();

    /// <summary>The variables with the globals under them (a variable of the same name wins).</summary>
    public Dictionary<string, object?> Globals(IReadOnlyDictionary<string, object?> variables)
    {
        var globals = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["raise_exception"] = (TemplateFunction)((p, _) => throw new TemplateError(p.Count > 0 ? ToText(p[0]) : "raise_exception was called")),
            ["strftime_now"] = (TemplateFunction)((p, n) => Strftime.Format(now, TemplateArguments.RequiredText(p, n, 0, "format"))),
            ["range"] = (TemplateFunction)((p, _) => Range(p)),
            ["namespace"] = (TemplateFunction)((p, n) => NewNamespace(p, n)),
            ["dict"] = (TemplateFunction)((p, n) => NewDict(p, n)),
        };
        foreach (var (name, value) in variables) globals[name] = value;
        return globals;
    }

    public void Run(IReadOnlyList<Node> body, Scope scope, TemplateOutput output)
    {
        if (Execute(body, scope, output) != Flow.Normal) throw new TemplateException(templateName, 1, "break or continue outside a for loop");
    }

    private Flow Execute(IReadOnlyList<Node> body, Scope scope, TemplateOutput output)
    {
        foreach (var node in body)
        {
            Flow flow;
            try { flow = Execute(node, scope, output); }
            catch (TemplateError e) { throw new TemplateException(templateName, node.Line, e.Message); }
            if (flow != Flow.Normal) return flow;
        }
        return Flow.Normal;
    }

    private Flow Execute(Node node, Scope scope, TemplateOutput output)
    {
        switch (node)
        {
            case TextNode text:
                output.Text.Append(text.Text);
                return Flow.Normal;
            case OutputNode print:
                output.Text.Append(ToText(Evaluate(print.Value, scope)));
                return Flow.Normal;
            case IfNode branches:
                foreach (var (condition, body) in branches.Branches)
                    if (IsTrue(Evaluate(condition, scope))) return Execute(body, scope, output);
                return Execute(branches.Otherwise, scope, output);
            case ForNode loop:
                return For(loop, scope, output);
            case SetNode set:
                Assign(set, Evaluate(set.Value, scope), scope);
                return Flow.Normal;
            case SetBlockNode block:
                var captured = new TemplateOutput();
                Run(block.Body, scope, captured);
                scope.Set(block.Target, captured.Text.ToString());
                return Flow.Normal;
            case MacroNode macro:
                scope.Set(macro.Name, Macro(macro, scope));
                return Flow.Normal;
            case GenerationNode generation:
                int start = output.Text.Length;
                var flow = Execute(generation.Body, scope, output);
                output.Generation.Add((start, output.Text.Length));
                return flow;
            case LoopControlNode control:
                return control.IsBreak ? Flow.Break : Flow.Continue;
            default:
                throw new TemplateError($"unknown node {node.GetType().Name}");
        }
    }

    private Flow For(ForNode loop, Scope scope, TemplateOutput output)
    {
        var items = Iterate(Evaluate(loop.Iterable, scope)).ToList();
        if (loop.Filter is not null)
            items = items.Where(item =>
            {
                var test = new Scope(scope);
                Bind(loop.Targets, item, test);
                return IsTrue(Evaluate(loop.Filter, test));
            }).ToList();
        if (items.Count == 0) return Execute(loop.Otherwise, scope, output);
        var info = new LoopInfo(items);
        for (int i = 0; i < items.Count; i++)
        {
            info.Index0 = i;
            var iteration = new Scope(scope);
            Bind(loop.Targets, items[i], iteration);
            iteration.Set("loop", info);
            if (Execute(loop.Body, iteration, output) == Flow.Break) break;
        }
        return Flow.Normal;
    }

    private static void Bind(IReadOnlyList<string> targets, object? value, Scope scope)
    {
        if (targets.Count == 1)
        {
            scope.Set(targets[0], value);
            return;
        }
        var parts = Iterate(value).ToList();
        if (parts.Count != targets.Count) throw new TemplateError($"cannot unpack {parts.Count} values into {targets.Count} names");
        for (int i = 0; i < targets.Count; i++) scope.Set(targets[i], parts[i]);
    }

    private static void Assign(SetNode set, object? value, Scope scope)
    {
        if (set.Attribute is null)
        {
            Bind(set.Targets, value, scope);
            return;
        }
        if (scope.Get(set.Targets[0]) is not Namespace ns) throw new TemplateError($"cannot assign attribute on non-namespace object '{set.Targets[0]}'");
        ns.Values[set.Attribute] = value;
    }

    private TemplateFunction Macro(MacroNode macro, Scope defining) => (positional, named) =>
    {
        if (positional.Count > macro.Parameters.Count) throw new TemplateError($"macro '{macro.Name}' takes not more than {macro.Parameters.Count} argument(s)");
        var call = new Scope(defining);
        for (int i = 0; i < macro.Parameters.Count; i++)
        {
            var (name, fallback) = macro.Parameters[i];
            call.Set(name, i < positional.Count ? positional[i]
                : named.TryGetValue(name, out var value) ? value
                : fallback is null ? new Undefined($"parameter '{name}' was not provided") : Evaluate(fallback, call));
        }
        foreach (var name in named.Keys.Where(k => macro.Parameters.All(p => p.Name != k)))
            throw new TemplateError($"macro '{macro.Name}' has no parameter named '{name}'");
        var output = new TemplateOutput();
        Run(macro.Body, call, output);
        return output.Text.ToString();
    };

    private object? Evaluate(Expr expr, Scope scope)
    {
        switch (expr)
        {
            case LiteralExpr literal: return literal.Value;
            case NameExpr name: return scope.Get(name.Name);
            case ListExpr list:
                var items = list.Items.Select(item => Evaluate(item, scope)).ToList();
                return list.IsTuple ? items.ToArray() : items;
            case DictExpr dict:
                var values = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
                foreach (var (key, value) in dict.Items)
                    values[Evaluate(key, scope) as string ?? throw new TemplateError("dict keys must be strings")] = Evaluate(value, scope);
                return values;
            case AttributeExpr attribute: return Attribute(Evaluate(attribute.Target, scope), attribute.Name);
            case ItemExpr item: return Item(Evaluate(item.Target, scope), Evaluate(item.Index, scope));
            case SliceExpr slice:
                return Slice(Evaluate(slice.Target, scope), Optional(slice.Start, scope), Optional(slice.Stop, scope), Optional(slice.Step, scope));
            case CallExpr call:
                var callee = Evaluate(call.Callee, scope);
                var (positional, named) = Arguments(call.Arguments, scope);
                return callee switch
                {
                    TemplateFunction function => function(positional, named),
                    Undefined undefined => throw undefined.Error(),
                    _ => throw new TemplateError($"{TypeName(callee)} object is not callable"),
                };
            case FilterExpr filter:
                var (filterPositional, filterNamed) = Arguments(filter.Arguments, scope);
                return TemplateFilters.Apply(filter.Name, Evaluate(filter.Target, scope), filterPositional, filterNamed);
            case TestExpr test:
                var (testPositional, _) = Arguments(test.Arguments, scope);
                return TemplateTests.Apply(test.Name, Evaluate(test.Target, scope), testPositional) != test.Negated;
            case UnaryExpr unary:
                var operand = Evaluate(unary.Operand, scope);
                return unary.Operator switch
                {
                    "not" => !IsTrue(operand),
                    "-" => operand is double d ? -d : IsNumber(operand) ? (object)checked(-ToLong(operand)) : throw new TemplateError($"bad operand type for unary -: {TypeName(operand)}"),
                    _ => IsNumber(operand) ? operand : throw new TemplateError($"bad operand type for unary +: {TypeName(operand)}"),
                };
            case BinaryExpr binary: return Binary(binary, scope);
            case ConditionalExpr conditional:
                if (IsTrue(Evaluate(conditional.Condition, scope))) return Evaluate(conditional.Then, scope);
                return conditional.Otherwise is null
                    ? new Undefined("the inline if-expression evaluated to false and no else section was defined")
                    : Evaluate(conditional.Otherwise, scope);
            default:
                throw new TemplateError($"unknown expression {expr.GetType().Name}");
        }
    }

    private object? Optional(Expr? expr, Scope scope) => expr is null ? null : Evaluate(expr, scope);

    private (List<object?> Positional, IReadOnlyDictionary<string, object?> Named) Arguments(Arguments arguments, Scope scope)
    {
        var positional = arguments.Positional.Select(a => Evaluate(a, scope)).ToList();
        if (arguments.Named.Count == 0) return (positional, NoNamed);
        var named = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (name, value) in arguments.Named) named[name] = Evaluate(value, scope);
        return (positional, named);
    }

    private object? Binary(BinaryExpr binary, Scope scope)
    {
        var left = Evaluate(binary.Left, scope);
        switch (binary.Operator)
        {
            case "and": return IsTrue(left) ? Evaluate(binary.Right, scope) : left;
            case "or": return IsTrue(left) ? left : Evaluate(binary.Right, scope);
        }
        var right = Evaluate(binary.Right, scope);
        return binary.Operator switch
        {
            "==" => AreEqual(left, right),
            "!=" => !AreEqual(left, right),
            "<" => Compare(left, right, "<") < 0,
            ">" => Compare(left, right, ">") > 0,
            "<=" => Compare(left, right, "<=") <= 0,
            ">=" => Compare(left, right, ">=") >= 0,
            "in" => Contains(right, left),
            "not in" => !Contains(right, left),
            var op => Arithmetic(op, left, right),
        };
    }

    private static List<object?> Range(IReadOnlyList<object?> p)
    {
        long start = 0, stop, step = 1;
        if (p.Count == 1) stop = ToLong(p[0]);
        else if (p.Count is 2 or 3)
        {
            (start, stop) = (ToLong(p[0]), ToLong(p[1]));
            if (p.Count == 3) step = ToLong(p[2]);
        }
        else throw new TemplateError("range expects 1 to 3 integers");
        if (step == 0) throw new TemplateError("range() arg 3 must not be zero");
        var values = new List<object?>();
        for (long i = start; step > 0 ? i < stop : i > stop; i += step) values.Add(i);
        return values;
    }

    private static Namespace NewNamespace(IReadOnlyList<object?> p, IReadOnlyDictionary<string, object?> n)
    {
        var ns = new Namespace();
        foreach (var initial in p)
            foreach (var (key, value) in initial as OrderedDictionary<string, object?> ?? throw new TemplateError("namespace() takes a dict or name=value arguments"))
                ns.Values[key] = value;
        foreach (var (key, value) in n) ns.Values[key] = value;
        return ns;
    }

    private static OrderedDictionary<string, object?> NewDict(IReadOnlyList<object?> p, IReadOnlyDictionary<string, object?> n)
    {
        var dict = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
        if (p.Count > 0 && p[0] is OrderedDictionary<string, object?> initial)
            foreach (var (key, value) in initial) dict[key] = value;
        foreach (var (key, value) in n) dict[key] = value;
        return dict;
    }
}

/// <summary>Python's datetime.strftime for the directives chat templates use (%d %b %B %Y %y %m %H %I %M %S %p %a %A %j %%
/// and glibc's unpadded %-d, %-m, %-H, %-I, %-M, %-S).</summary>
internal static class Strftime
{
    public static string Format(DateTime time, string format)
    {
        var text = new System.Text.StringBuilder();
        var culture = CultureInfo.InvariantCulture;
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length) { text.Append(format[i]); continue; }
            bool unpadded = format[i + 1] == '-' && i + 2 < format.Length;
            char directive = format[i + (unpadded ? 2 : 1)];
            i += unpadded ? 2 : 1;
            string Number(int value) => value.ToString(unpadded ? "0" : "00", culture);
            text.Append(directive switch
            {
                'd' => Number(time.Day),
                'm' => Number(time.Month),
                'Y' => time.Year.ToString(culture),
                'y' => (time.Year % 100).ToString("00", culture),
                'H' => Number(time.Hour),
                'I' => Number(time.Hour % 12 == 0 ? 12 : time.Hour % 12),
                'M' => Number(time.Minute),
                'S' => Number(time.Second),
                'p' => time.Hour < 12 ? "AM" : "PM",
                'b' => time.ToString("MMM", culture),
                'B' => time.ToString("MMMM", culture),
                'a' => time.ToString("ddd", culture),
                'A' => time.ToString("dddd", culture),
                'j' => time.DayOfYear.ToString("000", culture),
                '%' => "%",
                _ => throw new TemplateError($"strftime directive %{directive} is not supported"),
            });
        }
        return text.ToString();
    }
}
