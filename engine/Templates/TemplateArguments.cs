namespace Engine.Templates;

/// <summary>Reads a call's arguments by position or name, as Python binds them.</summary>
public static class TemplateArguments
{
    public static object? Get(IReadOnlyList<object?> positional, IReadOnlyDictionary<string, object?> named, int index, string name, object? fallback = null)
        => index < positional.Count ? positional[index] : named.TryGetValue(name, out var value) ? value : fallback;

    public static string? Text(IReadOnlyList<object?> positional, IReadOnlyDictionary<string, object?> named, int index, string name) =>
        Get(positional, named, index, name) switch
        {
            null => null,
            string s => s,
            var other => throw new TemplateError($"argument {name} must be a string, not {TemplateValues.TypeName(other)}"),
        };

    public static long Integer(IReadOnlyList<object?> positional, IReadOnlyDictionary<string, object?> named, int index, string name, long fallback)
        => Get(positional, named, index, name) is { } value ? TemplateValues.ToLong(value) : fallback;

    public static string RequiredText(IReadOnlyList<object?> positional, IReadOnlyDictionary<string, object?> named, int index, string name)
        => Text(positional, named, index, name) ?? throw new TemplateError($"missing argument {name}");
}
