using Engine.Tensors;

namespace Engine.Autograd;

/// <summary>A tensor on the tape and, once the backward pass reaches it, its gradient.</summary>
public sealed class Variable(Tensor value, bool requiresGrad, string name = "")
{
    /// <summary>Set for a row slice: its first element within the whole variable it is a slice of.</summary>
    private long? _sliceStart;
    private readonly List<Variable> _slices = new();
    private Tensor? _grad;

    public Tensor Value { get; } = value;

    /// <summary>
    /// A parameter's is its trainer's, allocated before the first step and kept across micro-batches; an activation's (an op's output) is
    /// the tape's until its Reset. A row slice's is a view of its whole's, set whenever the whole's is.
    /// </summary>
    public Tensor? Grad
    {
        get => _grad;
        set
        {
            if (_sliceStart is not null) throw new InvalidOperationException($"{Name} is a row slice: its gradient is a view of its whole's");
            _grad = value;
            foreach (var slice in _slices) slice._grad = value?.View(slice._sliceStart!.Value, slice.Value.Shape);
        }
    }

    /// <summary>False for inputs and frozen parameters: no gradient buffer, and ops skip the work that would produce one.
    /// A parameter is frozen by setting it false (LoRA freezes the base model).</summary>
    public bool RequiresGrad { get; set; } = requiresGrad;

    public string Name { get; } = name;

    public int Rows => Value.Shape[0];
    public int Columns => Value.Shape[^1];

    /// <summary>True for an op's output, whose gradient buffer the tape allocates; false for a parameter or input, whose buffer is its owner's.</summary>
    internal bool IsActivation { get; init; }

    /// <summary>
    /// Rows [first, first + count) of this 2-D variable as a variable of their own (all rows: this variable itself), made once and kept:
    /// its value is a view of this one's, and its gradient a view of this one's gradient whenever that is set, so what a backward adds
    /// to the slice lands here (a fused module's LoRA B, shared by its projections).
    /// </summary>
    public Variable RowSlice(int first, int count)
    {
        if (first == 0 && count == Rows) return this;
        long start = (long)first * Columns;
        var slice = new Variable(Value.View(start, count, Columns), RequiresGrad, $"{Name}[{first}:{first + count}]")
        {
            _sliceStart = start, _grad = _grad?.View(start, count, Columns),
        };
        _slices.Add(slice);
        return slice;
    }

    /// <summary>Releases a parameter's value and gradient; the variable is not used after.</summary>
    public void Release()
    {
        Value.Dispose();
        Grad?.Dispose();
        Grad = null;
    }

    public override string ToString() => $"{Name} {Value}";
}
