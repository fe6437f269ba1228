using System.Text;

namespace Engine.Templates;

/// <summary>What a render produced: the text, and the [Start, End) character ranges written inside <c>{% generation %}</c> blocks.</summary>
public sealed record RenderedText(string Text, IReadOnlyList<(int Start, int End)> Generation);

/// <summary>
/// A parsed Jinja template, rendered as transformers renders chat templates: ImmutableSandboxedEnvironment with
/// trim_blocks and lstrip_blocks, loop controls, <c>{% generation %}</c>, its own tojson, and the globals
/// <c>raise_exception</c>, <c>strftime_now</c>, <c>namespace</c>, <c>range</c> and <c>dict</c>. Errors name the template and line.
/// </summary>
public sealed class Template
{
    private readonly IReadOnlyList<Node> _body;

    private Template(string name, string source, IReadOnlyList<Node> body)
    {
        Name = name;
        Source = source;
        _body = body;
    }

    /// <summary>Names the template in errors (e.g. a file path).</summary>
    public string Name { get; }

    public string Source { get; }

    /// <exception cref="TemplateException">A syntax error, with its line.</exception>
    public static Template Parse(string source, string name) => new(name, source, TemplateParser.Parse(source, name));

    /// <param name="variables">Template variables as template values (see <see cref="TemplateValues"/>).</param>
    /// <param name="now">What <c>strftime_now</c> formats; the current local time when null.</param>
    /// <exception cref="TemplateException">An error while rendering (including <c>raise_exception</c>), with its line.</exception>
    public RenderedText Render(IReadOnlyDictionary<string, object?> variables, DateTime? now = null)
    {
        var renderer = new TemplateRenderer(Name, now ?? DateTime.Now);
        var output = new TemplateOutput();
        renderer.Run(_body, new Scope(renderer.Globals(variables)), output);
        return new RenderedText(output.Text.ToString(), output.Generation);
    }
}

/// <summary>Where rendering writes: the text and the generation ranges inside it.</summary>
internal sealed class TemplateOutput
{
    public StringBuilder Text { get; } = new();

    public List<(int Start, int End)> Generation { get; } = [];
}

/// <summary>Variables of one level: the template's globals, the template's top level, a loop iteration, a macro call.</summary>
internal sealed class Scope(Scope? parent)
{
    private readonly Dictionary<string, object?> _values = new(StringComparer.Ordinal);

    public Scope(IReadOnlyDictionary<string, object?> values) : this((Scope?)null)
    {
        foreach (var (name, value) in values) _values[name] = value;
    }

    public object? Get(string name)
    {
        for (var scope = this; scope is not null; scope = scope.Parent)
            if (scope._values.TryGetValue(name, out var value)) return value;
        return new Undefined($"'{name}' is undefined");
    }

    public void Set(string name, object? value) => _values[name] = value;

    private Scope? Parent { get; } = parent;
}
