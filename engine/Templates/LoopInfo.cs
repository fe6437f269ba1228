namespace Engine.Templates;

/// <summary>The <c>loop</c> variable inside a for loop: index, index0, revindex, revindex0, first, last, length,
/// previtem, nextitem, depth and cycle(…).</summary>
public sealed class LoopInfo(IReadOnlyList<object?> items)
{
    /// <summary>The position of the current item, from 0.</summary>
    public int Index0 { get; set; }

    public object? Attribute(string name) => name switch
    {
        "index" => (long)Index0 + 1,
        "index0" => (long)Index0,
        "revindex" => (long)(items.Count - Index0),
        "revindex0" => (long)(items.Count - Index0 - 1),
        "first" => Index0 == 0,
        "last" => Index0 == items.Count - 1,
        "length" => (long)items.Count,
        "previtem" => Index0 > 0 ? items[Index0 - 1] : new Undefined("there is no previous item"),
        "nextitem" => Index0 + 1 < items.Count ? items[Index0 + 1] : new Undefined("there is no next item"),
        "depth" => 1L,
        "depth0" => 0L,
        "cycle" => (TemplateFunction)((positional, _) => positional.Count > 0 ? positional[Index0 % positional.Count] : throw new TemplateError("loop.cycle needs at least one value")),
        _ => new Undefined($"'loop' has no attribute '{name}'"),
    };
}
