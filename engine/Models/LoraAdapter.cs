using Engine.Autograd;
using Engine.Tensors;

namespace Engine.Models;

/// <summary>
/// One LoRA module in PEFT's layout: A [rank, in] and B [out, rank], trained while the base weight stays frozen; the layer computes
/// x·Wᵀ + b + scale·(x·Aᵀ)·Bᵀ. Module is PEFT's module name ("model.layers.0.self_attn.q_proj"; GPT-2's "transformer.h.0.attn.c_attn",
/// whose B holds the rows of q, k and v in that order, one shared A).
/// </summary>
public sealed class LoraAdapter(string module, Variable a, Variable b, float scale, float dropout, int index) : IDisposable
{
    public string Module { get; } = module;
    public Variable A { get; } = a;
    public Variable B { get; } = b;
    public float Scale { get; } = scale;
    public float Dropout { get; } = dropout;

    /// <summary>The adapter's place in the model: its dropout mask differs from every other adapter's in the same step.</summary>
    public int Index { get; } = index;

    public int Rank => A.Rows;

    /// <summary>A and B.</summary>
    public IEnumerable<Variable> Parameters => [A, B];

    public void Dispose()
    {
        A.Release();
        B.Release();
    }
}
