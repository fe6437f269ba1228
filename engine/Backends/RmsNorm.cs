using System.Runtime.Intrinsics;
using Engine.Backends.Cpu;
using Engine.Kernels;
using Engine.Tensors;

namespace Engine.Backends;

/// <summary>RMSNorm over the last dimension of a row-major [n, c] tensor (Llama, Qwen2): no mean subtraction, no bias.</summary>
public static unsafe class CpuRmsNorm
{
    /// <summary>y[r,:] = (x[r,:]·rstd[r])·w, rstd = 1/√(mean(x²) + eps) (as Hugging Face's LlamaRMSNorm); x, y: [n, c]; w: [c].
    /// Σx² in float32, fixed order; rstd[n] is saved for Backward.</summary>
    public static void Forward(Span<float> y, Span<float> rstd, ReadOnlySpan<float> x, ReadOnlySpan<float> w, int n, int c, float eps)
    {
        Arguments.RequireRowNorm(n, c, x.Length, y.Length, nameof(y), rstd.Length, w.Length);
        fixed (float* py = y, pRstd = rstd, px = x, pw = w)
        {
            switch (CpuLanes.Current)
            {
                case LaneWidth.Bits512: ForwardRows<Lanes512, Vector512<float>>(py, pRstd, px, pw, n, c, eps); break;
                case LaneWidth.Bits256: ForwardRows<Lanes256, Vector256<float>>(py, pRstd, px, pw, n, c, eps); break;
                default: ForwardRows<LanesScalar, float>(py, pRstd, px, pw, n, c, eps); break;
            }
        }
    }

    /// <summary>With g = dy·w and x̂ = x·rstd: dx += rstd·(g − x̂·mean_c(g·x̂)); dw += Σ_rows dy·x̂.
    /// Accumulates; an empty dx or dw is skipped. dw is reduced over rows in row order per column (column blocks in parallel).</summary>
    public static void Backward(Span<float> dx, Span<float> dw, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> rstd, int n, int c)
    {
        Arguments.RequireRowNorm(n, c, x.Length, dy.Length, nameof(dy), rstd.Length, w.Length);
        Arguments.RequireRowNormGradients(n, c, dx.Length, dw.Length);
        fixed (float* pdx = dx, pdw = dw, pdy = dy, px = x, pw = w, pRstd = rstd)
        {
            switch (CpuLanes.Current)
            {
                case LaneWidth.Bits512: BackwardRows<Lanes512, Vector512<float>>(pdx, pdw, pdy, px, pw, pRstd, n, c); break;
                case LaneWidth.Bits256: BackwardRows<Lanes256, Vector256<float>>(pdx, pdw, pdy, px, pw, pRstd, n, c); break;
                default: BackwardRows<LanesScalar, float>(pdx, pdw, pdy, px, pw, pRstd, n, c); break;
            }
        }
    }

    static void ForwardRows<TL, TV>(float* y, float* rstd, float* x, float* w, int n, int c, float eps) where TL : struct, ILanes<TV> where TV : struct
        => CpuParallel.ForEachRow(n, c, r => ForwardRow<TL, TV>(y + (long)r * c, rstd + r, x + (long)r * c, w, c, eps));

    /// <summary>A null dx or dw is skipped.</summary>
    static void BackwardRows<TL, TV>(float* dx, float* dw, float* dy, float* x, float* w, float* rstd, int n, int c) where TL : struct, ILanes<TV> where TV : struct
    {
        if (dx != null)
            CpuParallel.ForEachRow(n, c, r => InputGradRow<TL, TV>(dx + (long)r * c, dy + (long)r * c, x + (long)r * c, w, rstd[r], c));
        if (dw != null)
            CpuParallel.ForEachColumnBlock(n, c, (j0, j1) => AccumulateWeightGrad<TL, TV>(dw, dy, x, rstd, n, c, j0, j1));
    }

    // Each helper below covers elements [i, end) in whole vectors of TL and leaves i at the first element not done;
    // called with TL, then with LanesScalar for the rest (a reduction continuing the same sum), it covers the row.

    static void ForwardRow<TL, TV>(float* y, float* rstdOut, float* x, float* w, int c, float eps) where TL : struct, ILanes<TV> where TV : struct
    {
        int i = 0;
        float sum = SumOfSquares<TL, TV>(x, ref i, c, default);
        float s = 1f / MathF.Sqrt(SumOfSquares<LanesScalar, float>(x, ref i, c, sum) / c + eps);
        *rstdOut = s;
        i = 0;
        Normalize<TL, TV>(y, x, w, s, ref i, c);
        Normalize<LanesScalar, float>(y, x, w, s, ref i, c);
    }

    /// <summary>acc + Σ x² over whole vectors, summed across lanes.</summary>
    static float SumOfSquares<TL, TV>(float* x, ref int i, int c, TV acc) where TL : struct, ILanes<TV> where TV : struct
    {
        for (; i + TL.Count <= c; i += TL.Count)
        {
            TV v = TL.Load(x + i);
            acc = TL.Add(acc, TL.Mul(v, v));
        }
        return TL.SumAcross(acc);
    }

    /// <summary>y = x·s·w.</summary>
    static void Normalize<TL, TV>(float* y, float* x, float* w, float s, ref int i, int c) where TL : struct, ILanes<TV> where TV : struct
    {
        TV vs = TL.Splat(s);
        for (; i + TL.Count <= c; i += TL.Count) TL.Store(y + i, TL.Mul(TL.Mul(TL.Load(x + i), vs), TL.Load(w + i)));
    }

    static void InputGradRow<TL, TV>(float* dx, float* dy, float* x, float* w, float s, int c) where TL : struct, ILanes<TV> where TV : struct
    {
        // Pass 1: Σ g·x̂ with g = dy·w.
        int i = 0;
        float sum = GradientSum<TL, TV>(dy, x, w, s, ref i, c, default);
        float meanGXhat = GradientSum<LanesScalar, float>(dy, x, w, s, ref i, c, sum) / c;

        // Pass 2: dx += (g − x̂·mean(g·x̂))·rstd.
        i = 0;
        AddInputGrad<TL, TV>(dx, dy, x, w, s, meanGXhat, ref i, c);
        AddInputGrad<LanesScalar, float>(dx, dy, x, w, s, meanGXhat, ref i, c);
    }

    /// <summary>acc + Σ g·x̂ over whole vectors, summed across lanes.</summary>
    static float GradientSum<TL, TV>(float* dy, float* x, float* w, float s, ref int i, int c, TV acc) where TL : struct, ILanes<TV> where TV : struct
    {
        TV vs = TL.Splat(s);
        for (; i + TL.Count <= c; i += TL.Count)
            acc = TL.Add(acc, TL.Mul(TL.Mul(TL.Load(dy + i), TL.Load(w + i)), TL.Mul(TL.Load(x + i), vs)));
        return TL.SumAcross(acc);
    }

    static void AddInputGrad<TL, TV>(float* dx, float* dy, float* x, float* w, float s, float meanGXhat, ref int i, int c) where TL : struct, ILanes<TV> where TV : struct
    {
        TV vs = TL.Splat(s), vMean = TL.Splat(meanGXhat);
        for (; i + TL.Count <= c; i += TL.Count)
        {
            TV g = TL.Mul(TL.Load(dy + i), TL.Load(w + i));
            TL.Store(dx + i, TL.Add(TL.Load(dx + i), TL.Mul(TL.Subtract(g, TL.Mul(TL.Mul(TL.Load(x + i), vs), vMean)), vs)));
        }
    }

    /// <summary>dw[j] += Σ_r dy[r,j]·x̂[r,j] for j in [j0, j1), rows in order.
    /// Each element sees the same float ops whatever the column split.</summary>
    static void AccumulateWeightGrad<TL, TV>(float* dw, float* dy, float* x, float* rstd, int n, int c, int j0, int j1) where TL : struct, ILanes<TV> where TV : struct
    {
        for (int r = 0; r < n; r++)
        {
            float* dyRow = dy + (long)r * c, xRow = x + (long)r * c;
            int j = j0;
            AddWeightGrad<TL, TV>(dw, dyRow, xRow, rstd[r], ref j, j1);
            AddWeightGrad<LanesScalar, float>(dw, dyRow, xRow, rstd[r], ref j, j1);
        }
    }

    static void AddWeightGrad<TL, TV>(float* dw, float* dyRow, float* xRow, float s, ref int j, int j1) where TL : struct, ILanes<TV> where TV : struct
    {
        TV vs = TL.Splat(s);
        for (; j + TL.Count <= j1; j += TL.Count)
            TL.Store(dw + j, TL.Add(TL.Load(dw + j), TL.Mul(TL.Load(dyRow + j), TL.Mul(TL.Load(xRow + j), vs))));
    }
}

public sealed partial class CpuBackend
{
    public void RmsNormForward(Tensor y, Tensor rstd, Tensor x, Tensor w, int n, int c, float eps)
        => CpuRmsNorm.Forward(F(y), F(rstd), F(x), F(w), n, c, eps);

    public void RmsNormBackward(Tensor? dx, Tensor? dw, Tensor dy, Tensor x, Tensor w, Tensor rstd, int n, int c)
        => CpuRmsNorm.Backward(F(dx), F(dw), F(dy), F(x), F(w), F(rstd), n, c);
}

public sealed partial class IlgpuBackend
{
    public void RmsNormForward(Tensor y, Tensor rstd, Tensor x, Tensor w, int n, int c, float eps)
        => NormsLauncher.RmsNormForward(F(y), F(rstd), F(x), F(w), n, c, eps);

    public void RmsNormBackward(Tensor? dx, Tensor? dw, Tensor dy, Tensor x, Tensor w, Tensor rstd, int n, int c)
        => NormsLauncher.RmsNormBackward(F(dx), F(dw), F(dy), F(x), F(w), F(rstd), n, c);
}
