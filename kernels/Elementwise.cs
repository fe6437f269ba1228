using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>Flat elementwise ops: residual add, gradient accumulation, scaling, as CpuElementwise.</summary>
public static class ElementwiseKernels
{
    // y = a + b (the residual connection); y may be a or b.
    // Index i over the elements: one thread per element.
    public static void Add(Index1D i, ArrayView<float> y, ArrayView<float> a, ArrayView<float> b) => y[i] = a[i] + b[i];

    // dst += src (gradient accumulation).
    // Index i over the elements: one thread per element.
    public static void Accumulate(Index1D i, ArrayView<float> dst, ArrayView<float> src) => dst[i] += src[i];

    // x *= s in place (gradient clipping, loss scaling).
    // Index i over the elements: one thread per element.
    public static void Scale(Index1D i, ArrayView<float> x, float s) => x[i] *= s;
}

/// <summary>Launches the elementwise kernels on the accelerator's default stream (no synchronisation); arguments as CpuElementwise.</summary>
public sealed class Elementwise(Accelerator accelerator)
{
    readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>> _add =
        accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(ElementwiseKernels.Add);
    readonly Action<Index1D, ArrayView<float>, ArrayView<float>> _accumulate =
        accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(ElementwiseKernels.Accumulate);
    readonly Action<Index1D, ArrayView<float>, float> _scale =
        accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, float>(ElementwiseKernels.Scale);

    /// <summary>y = a + b; all three views have the same length.</summary>
    public void Add(ArrayView<float> y, ArrayView<float> a, ArrayView<float> b)
    {
        Arguments.RequireSameLength(a.Length, y.Length, nameof(a), nameof(y));
        Arguments.RequireSameLength(b.Length, y.Length, nameof(b), nameof(y));
        Arguments.RequireIndexable(y.Length, nameof(y));
        if (y.Length > 0) _add((int)y.Length, y, a, b);
    }

    /// <summary>dst += src; both views have the same length.</summary>
    public void Accumulate(ArrayView<float> dst, ArrayView<float> src)
    {
        Arguments.RequireSameLength(src.Length, dst.Length, nameof(src), nameof(dst));
        Arguments.RequireIndexable(dst.Length, nameof(dst));
        if (dst.Length > 0) _accumulate((int)dst.Length, dst, src);
    }

    /// <summary>x *= s in place.</summary>
    public void Scale(ArrayView<float> x, float s)
    {
        Arguments.RequireIndexable(x.Length, nameof(x));
        if (x.Length > 0) _scale((int)x.Length, x, s);
    }
}
