using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>
/// Rotary position embedding in the Hugging Face rotate-half convention (dimension i pairs with i + headDim/2), as CpuRope:
/// angle = float(position) · invFreq[i] as one float32 product, then its cosine and sine rounded to float32. Layouts: x, y [n, heads, headDim];
/// positions [n]; invFreq [headDim/2]. The cosine and sine are evaluated in double from a double range reduction, not with the GPU's
/// approximate float instructions (whose error grows with the angle), so the CPU accelerator and the GPU give the same values as MathF.
/// </summary>
public static class RopeKernels
{
    /// <summary>Threads per group: one per (token, head, i &lt; headDim/2) pair.</summary>
    public const int GroupSize = 256;

    private const double TwoOverPi = 2 / Math.PI, PiOverTwo = Math.PI / 2;

    /// <summary>y[i] = x[i]·cos − x[i+D/2]·sin, y[i+D/2] = x[i+D/2]·cos + x[i]·sin with angle = positions[r]·invFreq[i]; y may be x.</summary>
    /// <remarks>Grid ⌈n·heads·headDim/2 / GroupSize⌉, group GroupSize: one thread per rotated pair.</remarks>
    [GroupSize(GroupSize)]
    public static void Forward(ArrayView<float> y, ArrayView<float> x, ArrayView<int> positions, ArrayView<float> invFreq, int n, int heads, int headDim)
    {
        int half = headDim / 2, pair = Grid.IdxX * Group.DimX + Group.IdxX;
        if (pair >= n * heads * half) return;
        int rowHead = pair / half, i = pair - rowHead * half, first = rowHead * headDim + i;
        CosSin(positions[rowHead / heads] * invFreq[i], out float cos, out float sin);
        float a = x[first], b = x[first + half];
        y[first] = a * cos - b * sin;
        y[first + half] = b * cos + a * sin;
    }

    /// <summary>dx += Rᵀ·dy, the inverse rotation: dx[i] += dy[i]·cos + dy[i+D/2]·sin, dx[i+D/2] += dy[i+D/2]·cos − dy[i]·sin.</summary>
    /// <remarks>Grid ⌈n·heads·headDim/2 / GroupSize⌉, group GroupSize: one thread per rotated pair.</remarks>
    [GroupSize(GroupSize)]
    public static void Backward(ArrayView<float> dx, ArrayView<float> dy, ArrayView<int> positions, ArrayView<float> invFreq, int n, int heads, int headDim)
    {
        int half = headDim / 2, pair = Grid.IdxX * Group.DimX + Group.IdxX;
        if (pair >= n * heads * half) return;
        int rowHead = pair / half, i = pair - rowHead * half, first = rowHead * headDim + i;
        CosSin(positions[rowHead / heads] * invFreq[i], out float cos, out float sin);
        float a = dy[first], b = dy[first + half];
        dx[first] += a * cos + b * sin;
        dx[first + half] += b * cos - a * sin;
    }

    /// <summary>
    /// cos and sin of a float angle, rounded from double: angle = k·π/2 + r with |r| ≤ π/4 (exact enough in double for any float angle a
    /// model meets), then Taylor series to r¹³ and r¹⁴, whose truncation error (&lt; 1e-13) is far below float rounding.
    /// </summary>
    private static void CosSin(float angle, out float cos, out float sin)
    {
        double a = angle, k = Math.Floor(a * TwoOverPi + 0.5), r = a - k * PiOverTwo, r2 = r * r;
        double s = r * (1 + r2 * (-1.0 / 6 + r2 * (1.0 / 120 + r2 * (-1.0 / 5040 + r2 * (1.0 / 362880 + r2 * (-1.0 / 39916800 + r2 * (1.0 / 6227020800)))))));
        double c = 1 + r2 * (-0.5 + r2 * (1.0 / 24 + r2 * (-1.0 / 720 + r2 * (1.0 / 40320 + r2 * (-1.0 / 3628800 + r2 * (1.0 / 479001600 + r2 * (-1.0 / 87178291200)))))));
        double quadrant = k - 4 * Math.Floor(k * 0.25);
        if (quadrant == 0)
        {
            cos = (float)c;
            sin = (float)s;
        }
        else if (quadrant == 1)
        {
            cos = (float)-s;
            sin = (float)c;
        }
        else if (quadrant == 2)
        {
            cos = (float)-c;
            sin = (float)-s;
        }
        else
        {
            cos = (float)s;
            sin = (float)-c;
        }
    }
}

/// <summary>Launches the RoPE kernels on the accelerator's default stream without synchronising; mirrors CpuRope (Forward overwrites, Backward accumulates, an empty dx is skipped).</summary>
public sealed class Rope(Accelerator accelerator)
{
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int> _forward =
        accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int>(RopeKernels.Forward);

    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int> _backward =
        accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int>(RopeKernels.Backward);

    /// <summary>y[i] = x[i]·cos − x[i+D/2]·sin, y[i+D/2] = x[i+D/2]·cos + x[i]·sin with angle = positions[r]·invFreq[i], for each token r and head.</summary>
    /// <remarks>x, y: [n, heads, headDim]; positions: [n] (packed rows restart at 0 per segment); invFreq: [headDim/2]. Overwrites y; y may be x itself.</remarks>
    public void Forward(ArrayView<float> y, ArrayView<float> x, ArrayView<int> positions, ArrayView<float> invFreq, int n, int heads, int headDim)
    {
        RopeArguments.Require(y.Length, nameof(y), x.Length, nameof(x), positions.Length, invFreq.Length, n, heads, headDim);
        Arguments.RequireIndexable(y.Length, nameof(y));
        _forward(Config(n, heads, headDim), y, x, positions, invFreq, n, heads, headDim);
    }

    /// <summary>dx += Rᵀ·dy, the inverse rotation: dx[i] += dy[i]·cos + dy[i+D/2]·sin, dx[i+D/2] += dy[i+D/2]·cos − dy[i]·sin.</summary>
    /// <remarks>Layouts as in Forward. An empty dx is skipped.</remarks>
    public void Backward(ArrayView<float> dx, ArrayView<float> dy, ArrayView<int> positions, ArrayView<float> invFreq, int n, int heads, int headDim)
    {
        if (dx.Length == 0) return;
        RopeArguments.Require(dx.Length, nameof(dx), dy.Length, nameof(dy), positions.Length, invFreq.Length, n, heads, headDim);
        Arguments.RequireIndexable(dx.Length, nameof(dx));
        _backward(Config(n, heads, headDim), dx, dy, positions, invFreq, n, heads, headDim);
    }

    private static KernelConfig Config(int n, int heads, int headDim)
    {
        int pairs = n * heads * (headDim / 2);
        return new KernelConfig(new Index1D((pairs + RopeKernels.GroupSize - 1) / RopeKernels.GroupSize), new Index1D(RopeKernels.GroupSize));
    }
}

/// <summary>RoPE's size checks, one set for both backends (CpuRope and the launcher), so a wrong size gets the same error on either.</summary>
public static class RopeArguments
{
    /// <summary>Throws unless n and heads are positive, headDim is positive and even, dst and src hold n·heads·headDim elements, positions n
    /// and invFreq headDim/2, naming the size or operand.</summary>
    public static void Require(long dst, string dstName, long src, string srcName, long positions, long invFreq, int n, int heads, int headDim)
    {
        if (n <= 0) throw new ArgumentException($"n is {n}, expected > 0", nameof(n));
        if (heads <= 0) throw new ArgumentException($"heads is {heads}, expected > 0", nameof(heads));
        if (headDim <= 0 || headDim % 2 != 0) throw new ArgumentException($"headDim is {headDim}, expected a positive even number", nameof(headDim));
        long size = (long)n * heads * headDim;
        Arguments.RequireLength(dst, size, dstName, "n*heads*headDim");
        Arguments.RequireLength(src, size, srcName, "n*heads*headDim");
        Arguments.RequireLength(positions, n, nameof(positions), "n");
        Arguments.RequireLength(invFreq, headDim / 2, nameof(invFreq), "headDim/2");
    }
}
