using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>
/// The dropout mask as a pure function of (seed, element): a counter-based hash, so the mask is never stored, the backward recomputes
/// it, and the CPU backend and every GPU draw the same one. keep(seed, i) holds with probability 1 − p.
/// </summary>
public static class DropoutMask
{
    /// <summary>scale where element i is kept, else 0: u = 24 high bits of hash(hash(seed) ⊕ i) / 2²⁴, kept when u ≥ p.</summary>
    public static float Factor(uint seed, int i, float p, float scale)
    {
        uint h = Mix(Mix(seed) ^ (uint)i);
        return (h >> 8) * (1f / 16777216f) >= p ? scale : 0f;
    }

    /// <summary>An invertible 32-bit integer mix with low bias (Wellons' lowbias32).</summary>
    private static uint Mix(uint x)
    {
        x ^= x >> 16;
        x *= 0x7feb352dU;
        x ^= x >> 15;
        x *= 0x846ca68bU;
        x ^= x >> 16;
        return x;
    }
}

/// <summary>Dropout (LoRA's dropout on the adapter's input), as CpuDropout.</summary>
public static class DropoutKernels
{
    // y[i] = x[i]·factor(seed, i) with factor ∈ {0, scale} (scale = 1/(1 − p), times any constant the caller folds in).
    // Index i over the elements: one thread per element.
    public static void Forward(Index1D i, ArrayView<float> y, ArrayView<float> x, float p, float scale, uint seed)
        => y[i] = x[i] * DropoutMask.Factor(seed, i, p, scale);

    // dx[i] += dy[i]·factor(seed, i), the forward's mask recomputed.
    // Index i over the elements: one thread per element.
    public static void Backward(Index1D i, ArrayView<float> dx, ArrayView<float> dy, float p, float scale, uint seed)
        => dx[i] += dy[i] * DropoutMask.Factor(seed, i, p, scale);
}

/// <summary>Launches the dropout kernels on the accelerator's default stream (no synchronisation); arguments as CpuDropout.</summary>
public sealed class Dropout(Accelerator accelerator)
{
    readonly Action<Index1D, ArrayView<float>, ArrayView<float>, float, float, uint> _forward =
        accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, float, float, uint>(DropoutKernels.Forward);
    readonly Action<Index1D, ArrayView<float>, ArrayView<float>, float, float, uint> _backward =
        accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, float, float, uint>(DropoutKernels.Backward);

    /// <summary>y = x ⊙ mask; both views have the same length.</summary>
    public void Forward(ArrayView<float> y, ArrayView<float> x, float p, float scale, uint seed)
    {
        Arguments.RequireSameLength(x.Length, y.Length, nameof(x), nameof(y));
        Arguments.RequireIndexable(y.Length, nameof(y));
        if (y.Length > 0) _forward((int)y.Length, y, x, p, scale, seed);
    }

    /// <summary>dx += dy ⊙ mask; both views have the same length.</summary>
    public void Backward(ArrayView<float> dx, ArrayView<float> dy, float p, float scale, uint seed)
    {
        Arguments.RequireSameLength(dy.Length, dx.Length, nameof(dy), nameof(dx));
        Arguments.RequireIndexable(dx.Length, nameof(dx));
        if (dx.Length > 0) _backward((int)dx.Length, dx, dy, p, scale, seed);
    }
}
