namespace Engine.Kernels;

/// <summary>
/// Sizes of one attention call, for the IBackend op, the CPU op and the kernels alike: q/out [batch, seqLen, heads, headDim];
/// k/v [batch, seqLen, kvHeads, headDim]. Scale = 1/√headDim, computed once on the host (as the CPU op computes it) and passed to the kernels.
/// </summary>
public readonly record struct AttentionShape(int Batch, int SeqLen, int Heads, int KvHeads, int HeadDim)
{
    public float Scale { get; } = 1f / MathF.Sqrt(HeadDim);
}
