using Engine.Tensors;

namespace Engine.Autograd;

/// <summary>A tensor on the tape and, once the backward pass reaches it, its gradient.</summary>
public sealed class Variable(Tensor value, bool requiresGrad, string name = "")
{
    public Tensor Value { get; } = value;

    /// <summary>A parameter's is the trainer's (kept across micro-batches); an activation's, or that of a parameter used without a
    /// trainer, is the tape's until its Reset.</summary>
    public Tensor? Grad { get; set; }

    /// <summary>False for inputs and frozen parameters: no gradient buffer, and ops skip the work that would produce one.
    /// A parameter is frozen by setting it false (LoRA freezes the base model).</summary>
    public bool RequiresGrad { get; set; } = requiresGrad;

    public string Name { get; } = name;

    public int Rows => Value.Shape[0];
    public int Columns => Value.Shape[^1];

    /// <summary>Releases a parameter's value and gradient; the variable is not used after.</summary>
    public void Release()
    {
        Value.Dispose();
        Grad?.Dispose();
        Grad = null;
    }

    public override string ToString() => $"{Name} {Value}";
}
