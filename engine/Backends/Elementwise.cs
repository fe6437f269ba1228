using System.Buffers;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using System.Runtime.Intrinsics;
using Engine.Backends.Cpu;
using Engine.Kernels;
using Engine.Tensors;

namespace Engine.Backends;

/// <summary>Flat elementwise ops (residual add, gradient accumulation, scaling) and the float64 sum of squares behind the global gradient norm.</summary>
public static unsafe class CpuElementwise
{
    /// <summary>y = a + b elementwise (the residual connection).
    /// All three spans have the same length; y may be a or b.</summary>
    public static void Add(Span<float> y, ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Arguments.RequireSameLength(a.Length, y.Length, nameof(a), nameof(y));
        Arguments.RequireSameLength(b.Length, y.Length, nameof(b), nameof(y));
        fixed (float* py = y, pa = a, pb = b)
        {
            float* yp = py, ap = pa, bp = pb;
            CpuParallel.ForEachChunk(y.Length, (start, count) =>
                TensorPrimitives.Add(new ReadOnlySpan<float>(ap + start, count), new ReadOnlySpan<float>(bp + start, count), new Span<float>(yp + start, count)));
        }
    }

    /// <summary>dst += src elementwise (gradient accumulation).
    /// Both spans have the same length.</summary>
    public static void Accumulate(Span<float> dst, ReadOnlySpan<float> src)
    {
        Arguments.RequireSameLength(src.Length, dst.Length, nameof(src), nameof(dst));
        fixed (float* pd = dst, ps = src)
        {
            float* dp = pd, sp = ps;
            CpuParallel.ForEachChunk(dst.Length, (start, count) =>
            {
                var d = new Span<float>(dp + start, count);
                TensorPrimitives.Add(d, new ReadOnlySpan<float>(sp + start, count), d);
            });
        }
    }

    /// <summary>x = 0 elementwise: a long span in parallel pieces (a cold buffer clears at about twice the speed on two cores).</summary>
    public static void Zero(Span<float> x)
    {
        fixed (float* px = x)
        {
            float* xp = px;
            CpuParallel.ForEachChunk(x.Length, (start, count) => new Span<float>(xp + start, count).Clear());
        }
    }

    /// <summary>x *= s elementwise, in place
    /// (gradient clipping, loss scaling).</summary>
    public static void Scale(Span<float> x, float s)
    {
        fixed (float* px = x)
        {
            float* xp = px;
            CpuParallel.ForEachChunk(x.Length, (start, count) =>
            {
                var piece = new Span<float>(xp + start, count);
                TensorPrimitives.Multiply(piece, s, piece);
            });
        }
    }

    /// <summary>Σ x², accumulated in float64: vector lanes within each fixed chunk, chunk partials added in chunk order,
    /// so the result is bit-identical however the chunks are scheduled (for the global gradient norm).</summary>
    public static double SumOfSquares(ReadOnlySpan<float> x)
    {
        int chunks = CpuParallel.ChunkCount(x.Length);
        double[] partials = ArrayPool<double>.Shared.Rent(chunks);
        try
        {
            fixed (float* px = x)
            {
                float* xp = px;
                var width = CpuLanes.Current;
                CpuParallel.ForEachChunk(x.Length, (start, count) => partials[start / CpuParallel.ChunkElements] = SumOfSquares(width, xp + start, count));
            }
            double total = 0;
            for (int k = 0; k < chunks; k++) total += partials[k];
            return total;
        }
        finally
        {
            ArrayPool<double>.Shared.Return(partials);
        }
    }

    /// <summary>Whole vectors of the width, then the rest one at a time continuing the same sum.</summary>
    static double SumOfSquares(LaneWidth width, float* x, int length)
    {
        int i = 0;
        double sum = 0;
        if (width == LaneWidth.Bits512) sum = SumOfSquares<Lanes512, Vector512<float>, (Vector512<double>, Vector512<double>)>(x, ref i, length, default);
        if (width == LaneWidth.Bits256) sum = SumOfSquares<Lanes256, Vector256<float>, (Vector256<double>, Vector256<double>)>(x, ref i, length, default);
        return SumOfSquares<LanesScalar, float, double>(x, ref i, length, sum);
    }

    /// <summary>acc + Σ x² in float64 over [i, length) in whole vectors of TL, summed across lanes; i ends at the first element not summed.</summary>
    static double SumOfSquares<TL, TV, TW>(float* x, ref int i, int length, TW acc)
        where TL : struct, ILanes<TV>, ISquaresInFloat64<TV, TW> where TV : struct where TW : struct
    {
        for (; i + TL.Count <= length; i += TL.Count) acc = TL.AddSquares(acc, TL.Load(x + i));
        return TL.Total(acc);
    }
}

public sealed partial class CpuBackend
{
    public void Add(Tensor y, Tensor a, Tensor b) => CpuElementwise.Add(F(y), F(a), F(b));
    public void Accumulate(Tensor dst, Tensor src) => CpuElementwise.Accumulate(F(dst), F(src));

    public void SumOfSquares(Tensor sum, IReadOnlyList<Tensor> xs)
    {
        Arguments.RequireLength(sum.Length, 1, nameof(sum), "one element");
        double total = 0;
        foreach (var x in xs) total += CpuElementwise.SumOfSquares(F(x));
        D(sum)[0] = total;
    }

    public void Scale(Tensor x, float s) => CpuElementwise.Scale(F(x), s);
}

public sealed partial class IlgpuBackend
{
    Elementwise? _elementwise;
    Elementwise ElementwiseLauncher => Launcher(ref _elementwise, a => new Elementwise(a));
    Reduce? _reduce;
    Reduce ReduceLauncher => Launcher(ref _reduce, a => new Reduce(a));

    public void Add(Tensor y, Tensor a, Tensor b)
    {
        Written(y);
        ElementwiseLauncher.Add(F(y), F(a), F(b));
    }

    public void Accumulate(Tensor dst, Tensor src)
    {
        Written(dst);
        ElementwiseLauncher.Accumulate(F(dst), F(src));
    }

    /// <summary>Two launches per tensor into one device scalar, in list order; nothing waits.</summary>
    public void SumOfSquares(Tensor sum, IReadOnlyList<Tensor> xs) => ReduceLauncher.SumOfSquares(D(sum), xs.Select(x => F(x)).ToArray());

    public void Scale(Tensor x, float s)
    {
        Written(x);
        ElementwiseLauncher.Scale(F(x), s);
    }
}
