using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>
/// Launches LoRA (PEFT's layout: W [outDim, inDim], A [rank, inDim], B [outDim, rank]) on one accelerator's default stream (no
/// synchronisation), mirroring CpuLora. LoRA is GEMMs, so it has no kernel of its own: every product is a launch of
/// <see cref="MatMulKernels.Gemm"/>, whose second term fuses the low-rank update into the pass that computes x·Wᵀ (the forward writes y
/// once) and dh·A into the one that computes dy·W (the backward writes dx once). Deterministic: no product splits its k-sum.
/// </summary>
/// <remarks>
/// dA [rank, inDim] and dB [outDim, rank] sum over all n tokens, one 128 × 128 tile per group: only ⌈inDim/128⌉ (⌈outDim/128⌉) groups,
/// each with an n-long k loop. A split-k into fixed partials summed in order would fill a GPU better; not measured yet.
/// </remarks>
public sealed class Lora(Accelerator accelerator) : IDisposable
{
    private readonly MatMul _matMul = new(accelerator);
    private readonly Scratch<float> _dh = new(accelerator);

    /// <summary>y[n, outDim] = x·Wᵀ + bias + scale·h·loraBᵀ and h[n, rank] = x·loraAᵀ (kept for the backward); bias.Length == 0: none.
    /// Overwrites y and h.</summary>
    public void Forward(ArrayView<float> y, ArrayView<float> h, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias,
        ArrayView<float> loraA, ArrayView<float> loraB, float scale, int n, int inDim, int outDim, int rank)
    {
        LoraArguments.Require(x.Length, w.Length, loraA.Length, loraB.Length, h.Length, n, inDim, outDim, rank);
        Arguments.RequireLength(y.Length, (long)n * outDim, nameof(y), "n*outDim");
        if (bias.Length != 0) Arguments.RequireLength(bias.Length, outDim, nameof(bias), "outDim");

        _matMul.Forward(h, x, loraA, ArrayView<float>.Empty, n, inDim, rank);
        _matMul.LaunchGemm(y, new GemmTerm(x, w, inDim), new GemmTerm(h, loraB, rank, scale), bias, n, outDim,
            aStoredKM: false, bStoredNK: true, accumulate: false);
    }

    /// <summary>
    /// dLoraB += scale·dyᵀ·h; dh = scale·dy·loraB (scratch); dLoraA += dhᵀ·x; dx += dy·W + dh·loraA; dW += dyᵀ·x; dbias += Σ_rows dy.
    /// Each gradient optional (Length == 0: skipped; a frozen W or bias launches nothing for it).
    /// </summary>
    public void Backward(ArrayView<float> dx, ArrayView<float> dw, ArrayView<float> dbias, ArrayView<float> dLoraA, ArrayView<float> dLoraB,
        ArrayView<float> dy, ArrayView<float> x, ArrayView<float> w, ArrayView<float> loraA, ArrayView<float> loraB, ArrayView<float> h,
        float scale, int n, int inDim, int outDim, int rank)
    {
        LoraArguments.Require(x.Length, w.Length, loraA.Length, loraB.Length, h.Length, n, inDim, outDim, rank);
        Arguments.RequireLength(dy.Length, (long)n * outDim, nameof(dy), "n*outDim");
        if (dx.Length != 0) Arguments.RequireLength(dx.Length, (long)n * inDim, nameof(dx), "n*inDim");
        if (dw.Length != 0) Arguments.RequireLength(dw.Length, (long)outDim * inDim, nameof(dw), "outDim*inDim");
        if (dbias.Length != 0) Arguments.RequireLength(dbias.Length, outDim, nameof(dbias), "outDim");
        if (dLoraA.Length != 0) Arguments.RequireLength(dLoraA.Length, (long)rank * inDim, nameof(dLoraA), "rank*inDim");
        if (dLoraB.Length != 0) Arguments.RequireLength(dLoraB.Length, (long)outDim * rank, nameof(dLoraB), "outDim*rank");

        if (dLoraB.Length != 0)
            _matMul.LaunchGemm(dLoraB, new GemmTerm(dy, h, n, scale), default, default, outDim, rank, aStoredKM: true, bStoredNK: false, accumulate: true);
        if (dx.Length != 0 || dLoraA.Length != 0)
        {
            long dhLength = (long)n * rank;
            var dh = _dh.Get(Math.Max(1, dhLength)).SubView(0, dhLength);
            _matMul.LaunchGemm(dh, new GemmTerm(dy, loraB, outDim, scale), default, default, n, rank, aStoredKM: false, bStoredNK: false, accumulate: false);
            if (dLoraA.Length != 0)
                _matMul.LaunchGemm(dLoraA, new GemmTerm(dh, x, n), default, default, rank, inDim, aStoredKM: true, bStoredNK: false, accumulate: true);
            if (dx.Length != 0)
                _matMul.LaunchGemm(dx, new GemmTerm(dy, w, outDim), new GemmTerm(dh, loraA, rank), default, n, inDim,
                    aStoredKM: false, bStoredNK: false, accumulate: true);
        }
        _matMul.Backward(ArrayView<float>.Empty, dw, dbias, dy, x, w, n, inDim, outDim);
    }

    public void Dispose() => _dh.Dispose();
}

/// <summary>LoRA's size checks, one set for both backends (CpuLora and the launcher), so a wrong size gets the same error on either.</summary>
public static class LoraArguments
{
    /// <summary>Throws unless n, inDim, outDim and rank are non-negative and x [n, inDim], w [outDim, inDim], A [rank, inDim], B [outDim, rank]
    /// and h [n, rank] have the lengths given, naming the operand.</summary>
    public static void Require(long x, long w, long loraA, long loraB, long h, int n, int inDim, int outDim, int rank)
    {
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), n, "must be non-negative");
        if (inDim < 0) throw new ArgumentOutOfRangeException(nameof(inDim), inDim, "must be non-negative");
        if (outDim < 0) throw new ArgumentOutOfRangeException(nameof(outDim), outDim, "must be non-negative");
        if (rank < 0) throw new ArgumentOutOfRangeException(nameof(rank), rank, "must be non-negative");
        Arguments.RequireLength(x, (long)n * inDim, nameof(x), "n*inDim");
        Arguments.RequireLength(w, (long)outDim * inDim, nameof(w), "outDim*inDim");
        Arguments.RequireLength(loraA, (long)rank * inDim, nameof(loraA), "rank*inDim");
        Arguments.RequireLength(loraB, (long)outDim * rank, nameof(loraB), "outDim*rank");
        Arguments.RequireLength(h, (long)n * rank, nameof(h), "n*rank");
    }
}
