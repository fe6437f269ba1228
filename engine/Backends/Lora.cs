using System.Buffers;
using Engine.Kernels;
using Engine.Tensors;

namespace Engine.Backends;

/// <summary>
/// The LoRA linear layer in PEFT's layout: an nn.Linear weight W [outDim, inDim] (usually frozen) plus the low-rank update
/// scale·B·A with A [rank, inDim], B [outDim, rank] (scale = alpha/rank, or alpha/√rank for rsLoRA). Every product is one call
/// of <see cref="CpuMatMul"/>'s GEMM core, so the results are as deterministic as its.
/// </summary>
public static class CpuLora
{
    // y[n, outDim] = x·wᵀ + bias + scale·h·loraBᵀ, and h[n, rank] = x·loraAᵀ (kept for the backward). Overwrites y and h.
    // x [n, inDim], w [outDim, inDim], bias [outDim] (empty = none), loraA [rank, inDim], loraB [outDim, rank]; all row-major.
    public static void Forward(Span<float> y, Span<float> h, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias,
        ReadOnlySpan<float> loraA, ReadOnlySpan<float> loraB, float scale, int n, int inDim, int outDim, int rank)
    {
        LoraArguments.Require(x.Length, w.Length, loraA.Length, loraB.Length, h.Length, n, inDim, outDim, rank);
        Arguments.RequireLength(y.Length, (long)n * outDim, nameof(y), "n*outDim");
        if (!bias.IsEmpty) Arguments.RequireLength(bias.Length, outDim, nameof(bias), "outDim");

        CpuMatMul.Forward(y, x, w, bias, n, inDim, outDim);
        CpuMatMul.Forward(h, x, loraA, default, n, inDim, rank);
        CpuMatMul.ForwardAccumulate(y, h, loraB, scale, n, rank, outDim);
    }

    // dLoraB += scale·dyᵀ·h ;  dh = scale·dy·loraB ;  dLoraA += dhᵀ·x ;  dx += dy·w + dh·loraA ;  dw += dyᵀ·x ;  dbias += Σ_rows dy.
    // dy [n, outDim], h the forward's [n, rank]; each gradient optional (empty = skipped: a frozen w or bias costs nothing).
    public static void Backward(Span<float> dx, Span<float> dw, Span<float> dbias, Span<float> dLoraA, Span<float> dLoraB,
        ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> loraA, ReadOnlySpan<float> loraB,
        ReadOnlySpan<float> h, float scale, int n, int inDim, int outDim, int rank)
    {
        LoraArguments.Require(x.Length, w.Length, loraA.Length, loraB.Length, h.Length, n, inDim, outDim, rank);
        Arguments.RequireLength(dy.Length, (long)n * outDim, nameof(dy), "n*outDim");
        if (!dx.IsEmpty) Arguments.RequireLength(dx.Length, (long)n * inDim, nameof(dx), "n*inDim");
        if (!dw.IsEmpty) Arguments.RequireLength(dw.Length, (long)outDim * inDim, nameof(dw), "outDim*inDim");
        if (!dbias.IsEmpty) Arguments.RequireLength(dbias.Length, outDim, nameof(dbias), "outDim");
        if (!dLoraA.IsEmpty) Arguments.RequireLength(dLoraA.Length, (long)rank * inDim, nameof(dLoraA), "rank*inDim");
        if (!dLoraB.IsEmpty) Arguments.RequireLength(dLoraB.Length, (long)outDim * rank, nameof(dLoraB), "outDim*rank");

        bool needDh = !dx.IsEmpty || !dLoraA.IsEmpty;
        float[]? rented = needDh ? ArrayPool<float>.Shared.Rent(n * rank) : null;
        var dh = needDh ? rented.AsSpan(0, n * rank) : default;
        dh.Clear();

        CpuMatMul.WeightAndInputGradients(dh, dLoraB, dy, h, loraB, scale, n, rank, outDim);
        CpuMatMul.Backward(dx, dw, dbias, dy, x, w, n, inDim, outDim);
        if (needDh) CpuMatMul.Backward(dx, dLoraA, default, dh, x, loraA, n, inDim, rank);

        if (rented is not null) ArrayPool<float>.Shared.Return(rented);
    }
}

public sealed partial class CpuBackend
{
    public void LoraForward(Tensor y, Tensor h, Tensor x, Tensor w, Tensor? bias, Tensor loraA, Tensor loraB, float scale, int n, int inDim, int outDim, int rank)
        => CpuLora.Forward(F(y), F(h), F(x), F(w), F(bias), F(loraA), F(loraB), scale, n, inDim, outDim, rank);

    public void LoraBackward(Tensor? dx, Tensor? dw, Tensor? dbias, Tensor? dLoraA, Tensor? dLoraB, Tensor dy, Tensor x, Tensor w, Tensor loraA, Tensor loraB, Tensor h,
        float scale, int n, int inDim, int outDim, int rank)
        => CpuLora.Backward(F(dx), F(dw), F(dbias), F(dLoraA), F(dLoraB), F(dy), F(x), F(w), F(loraA), F(loraB), F(h), scale, n, inDim, outDim, rank);
}

public sealed partial class IlgpuBackend
{
    Lora? _lora;
    Lora LoraLauncher => Launcher(ref _lora, a => new Lora(a));

    public void LoraForward(Tensor y, Tensor h, Tensor x, Tensor w, Tensor? bias, Tensor loraA, Tensor loraB, float scale, int n, int inDim, int outDim, int rank)
        => LoraLauncher.Forward(F(y), F(h), F(x), F(w), F(bias), F(loraA), F(loraB), scale, n, inDim, outDim, rank);

    public void LoraBackward(Tensor? dx, Tensor? dw, Tensor? dbias, Tensor? dLoraA, Tensor? dLoraB, Tensor dy, Tensor x, Tensor w, Tensor loraA, Tensor loraB, Tensor h,
        float scale, int n, int inDim, int outDim, int rank)
        => LoraLauncher.Backward(F(dx), F(dw), F(dbias), F(dLoraA), F(dLoraB), F(dy), F(x), F(w), F(loraA), F(loraB), F(h), scale, n, inDim, outDim, rank);
}
