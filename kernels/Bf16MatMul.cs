using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>
/// A linear layer's three matmuls on bf16 operands with fp32 accumulation (<see cref="MatMulKernels.GemmBf16"/>), on the default stream
/// (no synchronisation). The weight comes as bf16 bits the caller keeps (rounded once per weight update, not per call); the fp32
/// activations and gradients are rounded here into scratch, laid out k-contiguous as the kernel reads them: x [n, inDim] for y = x·Wᵀ,
/// dy [n, outDim] against Wᵀ [inDim, outDim] for dx = dy·W, dyᵀ [outDim, n] against xᵀ [inDim, n] for dW = dyᵀ·x. Outputs and the bias
/// gradient are fp32.
/// </summary>
public sealed class Bf16MatMul(Accelerator accelerator) : IDisposable
{
    private readonly MatMul _matMul = new(accelerator);
    private readonly Scratch<ushort> _first = new(accelerator), _second = new(accelerator);

    /// <summary>The rounding kernels, also for the callers' weight copies.</summary>
    public Bf16Rounding Rounding { get; } = new(accelerator);

    // y[r, o] = Σ_i bf16(x[r, i])·w[o, i] + bias[o], products exact and summed in fp32;
    // w is already bf16 (the caller's copy), x is rounded here.
    /// <summary>y[n, outDim] = bf16(x[n, inDim])·w[outDim, inDim]ᵀ + bias[outDim] (bias.Length == 0: none). Overwrites y.</summary>
    public void Forward(ArrayView<float> y, ArrayView<float> x, ArrayView<ushort> w, ArrayView<float> bias, int n, int inDim, int outDim)
    {
        RequireSizes(n, inDim, outDim);
        Arguments.RequireLength(x.Length, (long)n * inDim, nameof(x), "n*inDim");
        Arguments.RequireLength(w.Length, (long)outDim * inDim, nameof(w), "outDim*inDim");
        var xBits = Get(_first, (long)n * inDim);
        Rounding.Round(xBits, x);
        _matMul.LaunchGemmBf16(y, xBits, w, bias, n, outDim, inDim, accumulate: false);
    }

    // dx[r, i] += Σ_o bf16(dy[r, o])·W[o, i]; dW[o, i] += Σ_r bf16(dy[r, o])·bf16(x[r, i]) (fp32 sums);
    // dbias[o] += Σ_r dy[r, o] in fp32, from the unrounded dy.
    /// <summary>dx[n, inDim] += dy·W with W given as wTransposed [inDim, outDim] in bf16 bits; dw[outDim, inDim] += dyᵀ·x; dbias[outDim] += Σ_rows dy.
    /// Each output optional (Length == 0: skipped, and then the input only it needs, wTransposed for dx or x for dw, may be empty too).</summary>
    public void Backward(ArrayView<float> dx, ArrayView<float> dw, ArrayView<float> dbias, ArrayView<float> dy, ArrayView<float> x,
        ArrayView<ushort> wTransposed, int n, int inDim, int outDim)
    {
        RequireSizes(n, inDim, outDim);
        Arguments.RequireLength(dy.Length, (long)n * outDim, nameof(dy), "n*outDim");
        if (dx.Length != 0)
        {
            Arguments.RequireLength(wTransposed.Length, (long)inDim * outDim, nameof(wTransposed), "inDim*outDim");
            var dyBits = Get(_first, (long)n * outDim);
            Rounding.Round(dyBits, dy);
            _matMul.LaunchGemmBf16(dx, dyBits, wTransposed, ArrayView<float>.Empty, n, inDim, outDim, accumulate: true);
        }
        if (dw.Length != 0)
        {
            Arguments.RequireLength(x.Length, (long)n * inDim, nameof(x), "n*inDim");
            var dyTransposed = Get(_first, (long)n * outDim);
            var xTransposed = Get(_second, (long)n * inDim);
            Rounding.RoundTransposed(dyTransposed, dy, n, outDim);
            Rounding.RoundTransposed(xTransposed, x, n, inDim);
            _matMul.LaunchGemmBf16(dw, dyTransposed, xTransposed, ArrayView<float>.Empty, outDim, inDim, n, accumulate: true);
        }
        _matMul.Backward(ArrayView<float>.Empty, ArrayView<float>.Empty, dbias, dy, ArrayView<float>.Empty, ArrayView<float>.Empty, n, inDim, outDim);
    }

    public void Dispose()
    {
        _first.Dispose();
        _second.Dispose();
    }

    /// <summary>The first length elements of a scratch buffer (ILGPU has no empty buffers: at least one is allocated).</summary>
    private static ArrayView<ushort> Get(Scratch<ushort> scratch, long length) => scratch.Get(Math.Max(1, length)).SubView(0, length);

    private static void RequireSizes(int n, int inDim, int outDim)
    {
        if (n < 0 || inDim < 0 || outDim < 0) throw new ArgumentException($"n = {n}, inDim = {inDim}, outDim = {outDim} must not be negative", nameof(n));
    }
}
