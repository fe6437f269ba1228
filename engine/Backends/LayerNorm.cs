using System.Runtime.Intrinsics;
using Engine.Backends.Cpu;
using Engine.Kernels;
using Engine.Tensors;

namespace Engine.Backends;

/// <summary>LayerNorm over the last dimension of a row-major [n, c] tensor (GPT-2), as llm.c's layernorm_forward/backward.</summary>
public static unsafe class CpuLayerNorm
{
    /// <summary>y[r,:] = (x[r,:] − mean[r])·rstd[r]·w + b, rstd = 1/√(var + eps) with the biased variance (as PyTorch); x, y: [n, c]; w, b: [c].
    /// Statistics in float32, fixed order, two passes (mean, then Σ(x − mean)²); mean[n] and rstd[n] are saved for Backward.</summary>
    public static void Forward(Span<float> y, Span<float> mean, Span<float> rstd, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, int n, int c, float eps)
    {
        Arguments.RequireRowNorm(n, c, x.Length, y.Length, nameof(y), rstd.Length, w.Length);
        Arguments.RequireLength(mean.Length, n, nameof(mean), "n");
        Arguments.RequireLength(b.Length, c, nameof(b), "c");
        fixed (float* py = y, pMean = mean, pRstd = rstd, px = x, pw = w, pb = b)
        {
            switch (CpuLanes.Current)
            {
                case LaneWidth.Bits512: ForwardRows<Lanes512, Vector512<float>>(py, pMean, pRstd, px, pw, pb, n, c, eps); break;
                case LaneWidth.Bits256: ForwardRows<Lanes256, Vector256<float>>(py, pMean, pRstd, px, pw, pb, n, c, eps); break;
                default: ForwardRows<LanesScalar, float>(py, pMean, pRstd, px, pw, pb, n, c, eps); break;
            }
        }
    }

    /// <summary>With g = dy·w and x̂ = (x − mean)·rstd: dx += rstd·(g − mean_c(g) − x̂·mean_c(g·x̂)); dw += Σ_rows dy·x̂; db += Σ_rows dy.
    /// Accumulates; an empty dx, dw or db is skipped. dw and db are reduced over rows in row order per column (column blocks in parallel).</summary>
    public static void Backward(Span<float> dx, Span<float> dw, Span<float> db, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd, int n, int c)
    {
        Arguments.RequireRowNorm(n, c, x.Length, dy.Length, nameof(dy), rstd.Length, w.Length);
        Arguments.RequireLength(mean.Length, n, nameof(mean), "n");
        Arguments.RequireRowNormGradients(n, c, dx.Length, dw.Length);
        if (!db.IsEmpty) Arguments.RequireLength(db.Length, c, nameof(db), "c");
        fixed (float* pdx = dx, pdw = dw, pdb = db, pdy = dy, px = x, pw = w, pMean = mean, pRstd = rstd)
        {
            switch (CpuLanes.Current)
            {
                case LaneWidth.Bits512: BackwardRows<Lanes512, Vector512<float>>(pdx, pdw, pdb, pdy, px, pw, pMean, pRstd, n, c); break;
                case LaneWidth.Bits256: BackwardRows<Lanes256, Vector256<float>>(pdx, pdw, pdb, pdy, px, pw, pMean, pRstd, n, c); break;
                default: BackwardRows<LanesScalar, float>(pdx, pdw, pdb, pdy, px, pw, pMean, pRstd, n, c); break;
            }
        }
    }

    static void ForwardRows<TL, TV>(float* y, float* mean, float* rstd, float* x, float* w, float* b, int n, int c, float eps)
        where TL : struct, ILanes<TV> where TV : struct
        => CpuParallel.ForEachRow(n, c, r => ForwardRow<TL, TV>(y + (long)r * c, mean + r, rstd + r, x + (long)r * c, w, b, c, eps));

    /// <summary>A null dx, or null dw and db, is skipped.</summary>
    static void BackwardRows<TL, TV>(float* dx, float* dw, float* db, float* dy, float* x, float* w, float* mean, float* rstd, int n, int c)
        where TL : struct, ILanes<TV> where TV : struct
    {
        if (dx != null)
            CpuParallel.ForEachRow(n, c, r => InputGradRow<TL, TV>(dx + (long)r * c, dy + (long)r * c, x + (long)r * c, w, mean[r], rstd[r], c));
        if (dw != null || db != null)
            CpuParallel.ForEachColumnBlock(n, c, (j0, j1) => AccumulateWeightGrads<TL, TV>(dw, db, dy, x, mean, rstd, n, c, j0, j1));
    }

    // Each helper below covers elements [i, end) in whole vectors of TL and leaves i at the first element not done;
    // called with TL, then with LanesScalar for the rest (a reduction continuing the same sum), it covers the row.

    static void ForwardRow<TL, TV>(float* y, float* meanOut, float* rstdOut, float* x, float* w, float* b, int c, float eps)
        where TL : struct, ILanes<TV> where TV : struct
    {
        int i = 0;
        float sum = Sum<TL, TV>(x, ref i, c, default);
        float m = Sum<LanesScalar, float>(x, ref i, c, sum) / c;
        i = 0;
        sum = SquaredDeviations<TL, TV>(x, m, ref i, c, default);
        float s = 1f / MathF.Sqrt(SquaredDeviations<LanesScalar, float>(x, m, ref i, c, sum) / c + eps);
        *meanOut = m;
        *rstdOut = s;
        i = 0;
        Normalize<TL, TV>(y, x, w, b, m, s, ref i, c);
        Normalize<LanesScalar, float>(y, x, w, b, m, s, ref i, c);
    }

    /// <summary>acc + Σ x over whole vectors, summed across lanes.</summary>
    static float Sum<TL, TV>(float* x, ref int i, int c, TV acc) where TL : struct, ILanes<TV> where TV : struct
    {
        for (; i + TL.Count <= c; i += TL.Count) acc = TL.Add(acc, TL.Load(x + i));
        return TL.SumAcross(acc);
    }

    /// <summary>acc + Σ (x − m)² over whole vectors, summed across lanes.</summary>
    static float SquaredDeviations<TL, TV>(float* x, float m, ref int i, int c, TV acc) where TL : struct, ILanes<TV> where TV : struct
    {
        TV vm = TL.Splat(m);
        for (; i + TL.Count <= c; i += TL.Count)
        {
            TV d = TL.Subtract(TL.Load(x + i), vm);
            acc = TL.Add(acc, TL.Mul(d, d));
        }
        return TL.SumAcross(acc);
    }

    /// <summary>y = (x − m)·s·w + b.</summary>
    static void Normalize<TL, TV>(float* y, float* x, float* w, float* b, float m, float s, ref int i, int c) where TL : struct, ILanes<TV> where TV : struct
    {
        TV vm = TL.Splat(m), vs = TL.Splat(s);
        for (; i + TL.Count <= c; i += TL.Count)
            TL.Store(y + i, TL.Add(TL.Mul(TL.Mul(TL.Subtract(TL.Load(x + i), vm), vs), TL.Load(w + i)), TL.Load(b + i)));
    }

    static void InputGradRow<TL, TV>(float* dx, float* dy, float* x, float* w, float m, float s, int c) where TL : struct, ILanes<TV> where TV : struct
    {
        // Pass 1: Σ g and Σ g·x̂ with g = dy·w.
        int i = 0;
        var (sumG, sumGXhat) = GradientSums<TL, TV>(dy, x, w, m, s, ref i, c, default, default);
        (sumG, sumGXhat) = GradientSums<LanesScalar, float>(dy, x, w, m, s, ref i, c, sumG, sumGXhat);
        float meanG = sumG / c, meanGXhat = sumGXhat / c;

        // Pass 2: dx += (g − mean(g) − x̂·mean(g·x̂))·rstd.
        i = 0;
        AddInputGrad<TL, TV>(dx, dy, x, w, m, s, meanG, meanGXhat, ref i, c);
        AddInputGrad<LanesScalar, float>(dx, dy, x, w, m, s, meanG, meanGXhat, ref i, c);
    }

    /// <summary>(accG + Σ g, accGXhat + Σ g·x̂) over whole vectors, each summed across lanes.</summary>
    static (float, float) GradientSums<TL, TV>(float* dy, float* x, float* w, float m, float s, ref int i, int c, TV accG, TV accGXhat)
        where TL : struct, ILanes<TV> where TV : struct
    {
        TV vm = TL.Splat(m), vs = TL.Splat(s);
        for (; i + TL.Count <= c; i += TL.Count)
        {
            TV g = TL.Mul(TL.Load(dy + i), TL.Load(w + i));
            accG = TL.Add(accG, g);
            accGXhat = TL.Add(accGXhat, TL.Mul(g, TL.Mul(TL.Subtract(TL.Load(x + i), vm), vs)));
        }
        return (TL.SumAcross(accG), TL.SumAcross(accGXhat));
    }

    static void AddInputGrad<TL, TV>(float* dx, float* dy, float* x, float* w, float m, float s, float meanG, float meanGXhat, ref int i, int c)
        where TL : struct, ILanes<TV> where TV : struct
    {
        TV vm = TL.Splat(m), vs = TL.Splat(s), vMeanG = TL.Splat(meanG), vMeanGXhat = TL.Splat(meanGXhat);
        for (; i + TL.Count <= c; i += TL.Count)
        {
            TV g = TL.Mul(TL.Load(dy + i), TL.Load(w + i));
            TV xhat = TL.Mul(TL.Subtract(TL.Load(x + i), vm), vs);
            TL.Store(dx + i, TL.Add(TL.Load(dx + i), TL.Mul(TL.Subtract(TL.Subtract(g, vMeanG), TL.Mul(xhat, vMeanGXhat)), vs)));
        }
    }

    /// <summary>dw[j] += Σ_r dy[r,j]·x̂[r,j] and db[j] += Σ_r dy[r,j] for j in [j0, j1), rows in order
    /// (null dw or db = skipped). Each element sees the same float ops whatever the column split.</summary>
    static void AccumulateWeightGrads<TL, TV>(float* dw, float* db, float* dy, float* x, float* mean, float* rstd, int n, int c, int j0, int j1)
        where TL : struct, ILanes<TV> where TV : struct
    {
        for (int r = 0; r < n; r++)
        {
            float* dyRow = dy + (long)r * c, xRow = x + (long)r * c;
            int j = j0;
            AddWeightGrads<TL, TV>(dw, db, dyRow, xRow, mean[r], rstd[r], ref j, j1);
            AddWeightGrads<LanesScalar, float>(dw, db, dyRow, xRow, mean[r], rstd[r], ref j, j1);
        }
    }

    static void AddWeightGrads<TL, TV>(float* dw, float* db, float* dyRow, float* xRow, float m, float s, ref int j, int j1)
        where TL : struct, ILanes<TV> where TV : struct
    {
        TV vm = TL.Splat(m), vs = TL.Splat(s);
        for (; j + TL.Count <= j1; j += TL.Count)
        {
            TV d = TL.Load(dyRow + j);
            if (dw != null) TL.Store(dw + j, TL.Add(TL.Load(dw + j), TL.Mul(d, TL.Mul(TL.Subtract(TL.Load(xRow + j), vm), vs))));
            if (db != null) TL.Store(db + j, TL.Add(TL.Load(db + j), d));
        }
    }
}

public sealed partial class CpuBackend
{
    public void LayerNormForward(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor w, Tensor b, int n, int c, float eps)
        => CpuLayerNorm.Forward(F(y), F(mean), F(rstd), F(x), F(w), F(b), n, c, eps);

    public void LayerNormBackward(Tensor? dx, Tensor? dw, Tensor? db, Tensor dy, Tensor x, Tensor w, Tensor mean, Tensor rstd, int n, int c)
        => CpuLayerNorm.Backward(F(dx), F(dw), F(db), F(dy), F(x), F(w), F(mean), F(rstd), n, c);
}

public sealed partial class IlgpuBackend
{
    /// <summary>LayerNorm's and RMSNorm's kernels (kernels/Norms.cs).</summary>
    Norms? _norms;
    Norms NormsLauncher => Launcher(ref _norms, a => new Norms(a));

    public void LayerNormForward(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor w, Tensor b, int n, int c, float eps)
        => NormsLauncher.LayerNormForward(F(y), F(mean), F(rstd), F(x), F(w), F(b), n, c, eps);

    public void LayerNormBackward(Tensor? dx, Tensor? dw, Tensor? db, Tensor dy, Tensor x, Tensor w, Tensor mean, Tensor rstd, int n, int c)
        => NormsLauncher.LayerNormBackward(F(dx), F(dw), F(db), F(dy), F(x), F(w), F(mean), F(rstd), n, c);
}
