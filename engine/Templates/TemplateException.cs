namespace Engine.Templates;

/// <summary>A template that cannot be parsed or rendered; the message starts with "template:line: ".</summary>
public sealed class TemplateException(string template, int line, string reason)
    : Exception($"{template}:{line}: {reason}")
{
    public string Template { get; } = template;

    /// <summary>1-based line in the template source.</summary>
    public int Line { get; } = line;

    public string Reason { get; } = reason;
}

/// <summary>A reason without a place yet: thrown inside value operations, given the template and line by the renderer.</summary>
public sealed class TemplateError(string reason) : Exception(reason);
