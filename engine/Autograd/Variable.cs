using Engine.Tensors;

namespace Engine.Autograd;

/// <summary>A tensor on the tape and, once the backward pass reaches it, its gradient.</summary>
public sealed class Variable(Tensor value, bool requiresGrad, string name = "")
{
    public Tensor Value { get; } = value;

    /// <summary>Set by the owner for parameters (kept across micro-batches), by the tape for activations.</summary>
    public Tensor? Grad { get; set; }

    /// <summary>False for inputs and frozen parameters: no gradient buffer, and ops skip the work that would produce one.
    /// A parameter is frozen by setting it false (LoRA freezes the base model).</summary>
    public bool RequiresGrad { get; set; } = requiresGrad;

    public string Name { get; } = name;

    public int Rows => Value.Shape[0];
    public int Columns => Value.Shape[^1];

    public override string ToString() => $"{Name} {Value}";
}
