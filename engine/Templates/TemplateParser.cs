using System.Globalization;

namespace Engine.Templates;

/// <summary>Recursive descent over the lexer's tokens, with Jinja's precedence: conditional, or, and, not, comparisons,
/// + -, ~, * / // %, **, unary - +, then attribute, item, call, filter and test postfixes.</summary>
internal sealed class TemplateParser
{
    private static readonly HashSet<string> Comparisons = ["==", "!=", "<", ">", "<=", ">="];

    private readonly List<Token> _tokens;
    private readonly string _name;
    private int _at;

    private TemplateParser(List<Token> tokens, string name)
    {
        _tokens = tokens;
        _name = name;
    }

    public static IReadOnlyList<Node> Parse(string source, string name)
    {
        var parser = new TemplateParser(TemplateLexer.Tokenize(source, name), name);
        var (body, end) = parser.Body();
        if (end is not null) throw parser.Error($"unexpected {{% {end} %}}");
        return body;
    }

    private Token Current => _tokens[_at];

    private TemplateException Error(string reason, Token? at = null) => new(_name, (at ?? Current).Line, reason);

    private Token Next() => _tokens[_at++];

    private bool IsOperator(string op) => Current.Kind == TokenKind.Operator && Current.Value == op;

    private bool IsName(string name) => Current.Kind == TokenKind.Name && Current.Value == name;

    private bool Skip(string op)
    {
        if (!IsOperator(op)) return false;
        _at++;
        return true;
    }

    private bool SkipName(string name)
    {
        if (!IsName(name)) return false;
        _at++;
        return true;
    }

    private void Expect(string op)
    {
        if (!Skip(op)) throw Error($"expected '{op}', found {Describe(Current)}");
    }

    private string ExpectName()
    {
        if (Current.Kind != TokenKind.Name) throw Error($"expected a name, found {Describe(Current)}");
        return Next().Value;
    }

    private void ExpectStatementEnd()
    {
        if (Current.Kind != TokenKind.StatementEnd) throw Error($"expected the end of the tag, found {Describe(Current)}");
        _at++;
    }

    private static string Describe(Token token) => token.Kind switch
    {
        TokenKind.End => "the end of the template",
        TokenKind.StatementEnd => "'%}'",
        TokenKind.OutputEnd => "'}}'",
        TokenKind.String => $"string '{token.Value}'",
        _ => $"'{token.Value}'",
    };

    /// <summary>Nodes up to an unmatched statement (endfor, else, …) or the end; returns that statement's keyword (its tag
    /// left open for the caller to read), or null at the end of the template.</summary>
    private (List<Node> Body, string? End) Body(params string[] ends)
    {
        var body = new List<Node>();
        while (true)
        {
            var token = Current;
            switch (token.Kind)
            {
                case TokenKind.End:
                    if (ends.Length > 0) throw Error($"the template ends where {{% {string.Join(" or ", ends)} %}} was expected");
                    return (body, null);
                case TokenKind.Text:
                    body.Add(new TextNode(Next().Value, token.Line));
                    break;
                case TokenKind.OutputBegin:
                    _at++;
                    body.Add(new OutputNode(Expression(), token.Line));
                    if (Current.Kind != TokenKind.OutputEnd) throw Error($"expected '}}}}', found {Describe(Current)}");
                    _at++;
                    break;
                case TokenKind.StatementBegin:
                    _at++;
                    string keyword = Current.Kind == TokenKind.Name ? Current.Value : throw Error($"expected a statement, found {Describe(Current)}");
                    if (ends.Contains(keyword))
                    {
                        _at++;
                        return (body, keyword);
                    }
                    _at++;
                    body.Add(Statement(keyword, token.Line));
                    break;
                default:
                    throw Error($"unexpected {Describe(token)}");
            }
        }
    }

    private Node Statement(string keyword, int line)
    {
        switch (keyword)
        {
            case "if": return If(line);
            case "for": return For(line);
            case "set": return Set(line);
            case "macro": return Macro(line);
            case "generation":
                ExpectStatementEnd();
                var (body, _) = Body("endgeneration");
                ExpectStatementEnd();
                return new GenerationNode(body, line);
            case "break" or "continue":
                ExpectStatementEnd();
                return new LoopControlNode(keyword == "break", line);
            default:
                throw Error($"unknown or unsupported statement {{% {keyword} %}}");
        }
    }

    private IfNode If(int line)
    {
        var branches = new List<(Expr, IReadOnlyList<Node>)>();
        var condition = Expression();
        while (true)
        {
            ExpectStatementEnd();
            var (body, end) = Body("elif", "else", "endif");
            branches.Add((condition, body));
            if (end == "elif")
            {
                condition = Expression();
                continue;
            }
            if (end == "endif")
            {
                ExpectStatementEnd();
                return new IfNode(branches, [], line);
            }
            ExpectStatementEnd();
            var (otherwise, _) = Body("endif");
            ExpectStatementEnd();
            return new IfNode(branches, otherwise, line);
        }
    }

    private ForNode For(int line)
    {
        var targets = Targets();
        if (!SkipName("in")) throw Error($"expected 'in' in the for loop, found {Describe(Current)}");
        var iterable = Conditional(withCondition: false);
        Expr? filter = SkipName("if") ? Conditional(withCondition: false) : null;
        if (SkipName("recursive")) throw Error("recursive for loops are not supported");
        ExpectStatementEnd();
        var (body, end) = Body("else", "endfor");
        IReadOnlyList<Node> otherwise = [];
        ExpectStatementEnd();
        if (end == "else")
        {
            (otherwise, _) = Body("endfor");
            ExpectStatementEnd();
        }
        return new ForNode(targets, iterable, filter, body, otherwise, line);
    }

    /// <summary>"a" or "a, b" or "(a, b)".</summary>
    private List<string> Targets()
    {
        bool parenthesised = Skip("(");
        var names = new List<string> { ExpectName() };
        while (Skip(",")) names.Add(ExpectName());
        if (parenthesised) Expect(")");
        return names;
    }

    private Node Set(int line)
    {
        var targets = Targets();
        string? attribute = null;
        if (targets.Count == 1 && Skip(".")) attribute = ExpectName();
        if (Current.Kind == TokenKind.StatementEnd && attribute is null && targets.Count == 1)
        {
            _at++;
            var (body, _) = Body("endset");
            ExpectStatementEnd();
            return new SetBlockNode(targets[0], body, line);
        }
        Expect("=");
        var value = Expression();
        ExpectStatementEnd();
        return new SetNode(targets, attribute, value, line);
    }

    private MacroNode Macro(int line)
    {
        string name = ExpectName();
        var parameters = new List<(string, Expr?)>();
        Expect("(");
        while (!Skip(")"))
        {
            if (parameters.Count > 0) Expect(",");
            if (Skip(")")) break;
            string parameter = ExpectName();
            parameters.Add((parameter, Skip("=") ? Conditional() : null));
        }
        ExpectStatementEnd();
        var (body, _) = Body("endmacro");
        if (Current.Kind == TokenKind.Name) _at++;
        ExpectStatementEnd();
        return new MacroNode(name, parameters, body, line);
    }

    /// <summary>An expression; a bare "a, b" is a tuple.</summary>
    private Expr Expression()
    {
        int line = Current.Line;
        var first = Conditional();
        if (!IsOperator(",")) return first;
        var items = new List<Expr> { first };
        while (Skip(","))
        {
            if (Current.Kind is TokenKind.StatementEnd or TokenKind.OutputEnd) break;
            items.Add(Conditional());
        }
        return new ListExpr(items, IsTuple: true, line);
    }

    private Expr Conditional(bool withCondition = true)
    {
        var expr = Or();
        while (withCondition && IsName("if"))
        {
            int line = Next().Line;
            var condition = Or();
            Expr? otherwise = SkipName("else") ? Conditional() : null;
            expr = new ConditionalExpr(condition, expr, otherwise, line);
        }
        return expr;
    }

    private Expr Or()
    {
        var left = And();
        while (IsName("or")) left = new BinaryExpr("or", left, Right(And), left.Line);
        return left;
    }

    private Expr And()
    {
        var left = Not();
        while (IsName("and")) left = new BinaryExpr("and", left, Right(Not), left.Line);
        return left;
    }

    private Expr Right(Func<Expr> operand)
    {
        _at++;
        return operand();
    }

    private Expr Not()
    {
        int line = Current.Line;
        return IsName("not") ? new UnaryExpr("not", Right(Not), line) : Compare();
    }

    private Expr Compare()
    {
        var left = Additive();
        while (true)
        {
            int line = Current.Line;
            if (Current.Kind == TokenKind.Operator && Comparisons.Contains(Current.Value))
                left = new BinaryExpr(Next().Value, left, Additive(), line);
            else if (IsName("in"))
                left = new BinaryExpr("in", left, Right(Additive), line);
            else if (IsName("not") && _tokens[_at + 1] is { Kind: TokenKind.Name, Value: "in" })
            {
                _at += 2;
                left = new BinaryExpr("not in", left, Additive(), line);
            }
            else return left;
        }
    }

    private Expr Additive()
    {
        var left = Concat();
        while (IsOperator("+") || IsOperator("-")) left = new BinaryExpr(Next().Value, left, Concat(), left.Line);
        return left;
    }

    private Expr Concat()
    {
        var left = Multiplicative();
        while (IsOperator("~")) left = new BinaryExpr(Next().Value, left, Multiplicative(), left.Line);
        return left;
    }

    private Expr Multiplicative()
    {
        var left = Power();
        while (IsOperator("*") || IsOperator("/") || IsOperator("//") || IsOperator("%")) left = new BinaryExpr(Next().Value, left, Power(), left.Line);
        return left;
    }

    private Expr Power()
    {
        var left = Unary();
        while (IsOperator("**")) left = new BinaryExpr(Next().Value, left, Unary(), left.Line);
        return left;
    }

    private Expr Unary(bool withFilters = true)
    {
        int line = Current.Line;
        Expr expr;
        if (IsOperator("-") || IsOperator("+"))
        {
            string op = Next().Value;
            expr = new UnaryExpr(op, Unary(withFilters: false), line);
        }
        else expr = Primary();
        expr = Postfix(expr);
        return withFilters ? FiltersAndTests(expr) : expr;
    }

    private Expr Primary()
    {
        var token = Next();
        switch (token.Kind)
        {
            case TokenKind.Name:
                return token.Value switch
                {
                    "true" or "True" => new LiteralExpr(true, token.Line),
                    "false" or "False" => new LiteralExpr(false, token.Line),
                    "none" or "None" => new LiteralExpr(null, token.Line),
                    _ => new NameExpr(token.Value, token.Line),
                };
            case TokenKind.String:
                string text = token.Value;
                while (Current.Kind == TokenKind.String) text += Next().Value;
                return new LiteralExpr(text, token.Line);
            case TokenKind.Integer:
                return new LiteralExpr(long.TryParse(token.Value, NumberStyles.None, CultureInfo.InvariantCulture, out long n) ? n
                    : throw Error($"integer {token.Value} is too large", token), token.Line);
            case TokenKind.Float:
                return new LiteralExpr(double.Parse(token.Value, CultureInfo.InvariantCulture), token.Line);
            case TokenKind.Operator when token.Value == "(":
                if (Skip(")")) return new ListExpr([], IsTuple: true, token.Line);
                var first = Conditional();
                if (Skip(")")) return first;
                var items = new List<Expr> { first };
                while (Skip(","))
                {
                    if (IsOperator(")")) break;
                    items.Add(Conditional());
                }
                Expect(")");
                return new ListExpr(items, IsTuple: true, token.Line);
            case TokenKind.Operator when token.Value == "[":
                var list = new List<Expr>();
                while (!Skip("]"))
                {
                    if (list.Count > 0) Expect(",");
                    if (Skip("]")) break;
                    list.Add(Conditional());
                }
                return new ListExpr(list, IsTuple: false, token.Line);
            case TokenKind.Operator when token.Value == "{":
                var pairs = new List<(Expr, Expr)>();
                while (!Skip("}"))
                {
                    if (pairs.Count > 0) Expect(",");
                    if (Skip("}")) break;
                    var key = Conditional();
                    Expect(":");
                    pairs.Add((key, Conditional()));
                }
                return new DictExpr(pairs, token.Line);
            default:
                throw Error($"unexpected {Describe(token)} in an expression", token);
        }
    }

    private Expr Postfix(Expr expr)
    {
        while (true)
        {
            int line = Current.Line;
            if (Skip("."))
            {
                var token = Next();
                if (token.Kind is not (TokenKind.Name or TokenKind.Integer)) throw Error($"expected an attribute name after '.', found {Describe(token)}", token);
                expr = token.Kind == TokenKind.Integer
                    ? new ItemExpr(expr, new LiteralExpr(long.Parse(token.Value, CultureInfo.InvariantCulture), line), line)
                    : new AttributeExpr(expr, token.Value, line);
            }
            else if (Skip("[")) expr = Subscript(expr, line);
            else if (Skip("(")) expr = new CallExpr(expr, CallArguments(), line);
            else return expr;
        }
    }

    private Expr Subscript(Expr target, int line)
    {
        Expr? start = IsOperator(":") ? null : Conditional();
        if (Skip("]")) return new ItemExpr(target, start!, line);
        Expect(":");
        Expr? stop = IsOperator(":") || IsOperator("]") ? null : Conditional();
        Expr? step = null;
        if (Skip(":") && !IsOperator("]")) step = Conditional();
        Expect("]");
        return new SliceExpr(target, start, stop, step, line);
    }

    /// <summary>After "(": positional and name=value arguments up to ")".</summary>
    private Arguments CallArguments()
    {
        var positional = new List<Expr>();
        var named = new List<(string, Expr)>();
        while (!Skip(")"))
        {
            if (positional.Count + named.Count > 0) Expect(",");
            if (Skip(")")) break;
            if (Current.Kind == TokenKind.Name && _tokens[_at + 1] is { Kind: TokenKind.Operator, Value: "=" })
            {
                string name = Next().Value;
                _at++;
                named.Add((name, Conditional()));
            }
            else if (named.Count > 0) throw Error("a positional argument follows a named one");
            else positional.Add(Conditional());
        }
        return new Arguments(positional, named);
    }

    private Expr FiltersAndTests(Expr expr)
    {
        while (true)
        {
            int line = Current.Line;
            if (Skip("|"))
            {
                string name = DottedName();
                expr = new FilterExpr(expr, name, Skip("(") ? CallArguments() : Arguments.None, line);
            }
            else if (SkipName("is"))
            {
                bool negated = SkipName("not");
                string name = DottedName();
                Arguments arguments = Arguments.None;
                if (Skip("(")) arguments = CallArguments();
                else if (StartsOperand()) arguments = new Arguments([Postfix(Primary())], []);
                expr = new TestExpr(expr, name, negated, arguments, line);
            }
            else if (Skip("(")) expr = new CallExpr(expr, CallArguments(), line);
            else return expr;
        }
    }

    /// <summary>Whether a test's single argument follows without parentheses (e.g. <c>is divisibleby 3</c>).</summary>
    private bool StartsOperand() => Current.Kind switch
    {
        TokenKind.String or TokenKind.Integer or TokenKind.Float => true,
        TokenKind.Name => Current.Value is not ("and" or "or" or "else" or "if" or "not" or "in" or "is"),
        TokenKind.Operator => Current.Value is "[" or "{",
        _ => false,
    };

    private string DottedName()
    {
        string name = ExpectName();
        while (IsOperator(".") && _tokens[_at + 1].Kind == TokenKind.Name)
        {
            _at++;
            name += "." + Next().Value;
        }
        return name;
    }
}
