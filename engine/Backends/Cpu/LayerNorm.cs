using System.Runtime.Intrinsics;
using Engine.Kernels;
using Engine.Tensors;

namespace Engine.Backends.Cpu;

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
            float* yp = py, meanp = pMean, rstdp = pRstd, xp = px, wp = pw, bp = pb;
            CpuParallel.ForEachRow(n, c, r => ForwardRow(yp + (long)r * c, meanp + r, rstdp + r, xp + (long)r * c, wp, bp, c, eps));
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
            float* dxp = pdx, dwp = pdw, dbp = pdb, dyp = pdy, xp = px, wp = pw, meanp = pMean, rstdp = pRstd;
            if (!dx.IsEmpty)
                CpuParallel.ForEachRow(n, c, r => InputGradRow(dxp + (long)r * c, dyp + (long)r * c, xp + (long)r * c, wp, meanp[r], rstdp[r], c));
            if (!dw.IsEmpty || !db.IsEmpty)
                CpuParallel.ForEachColumnBlock(n, c, (j0, j1) => AccumulateWeightGrads(dwp, dbp, dyp, xp, meanp, rstdp, n, c, j0, j1));
        }
    }

    static void ForwardRow(float* y, float* meanOut, float* rstdOut, float* x, float* w, float* b, int c, float eps)
    {
        float m = Sum(x, c) / c;
        float s = 1f / MathF.Sqrt(SumSquaredDeviations(x, m, c) / c + eps);
        *meanOut = m;
        *rstdOut = s;
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> vm = Vector512.Create(m), vs = Vector512.Create(s);
            for (; i <= c - Vector512<float>.Count; i += Vector512<float>.Count)
                Vector512.Store((Vector512.Load(x + i) - vm) * vs * Vector512.Load(w + i) + Vector512.Load(b + i), y + i);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> vm = Vector256.Create(m), vs = Vector256.Create(s);
            for (; i <= c - Vector256<float>.Count; i += Vector256<float>.Count)
                Vector256.Store((Vector256.Load(x + i) - vm) * vs * Vector256.Load(w + i) + Vector256.Load(b + i), y + i);
        }
        for (; i < c; i++) y[i] = (x[i] - m) * s * w[i] + b[i];
    }

    static void InputGradRow(float* dx, float* dy, float* x, float* w, float m, float s, int c)
    {
        // Pass 1: Σ g and Σ g·x̂ with g = dy·w.
        int i = 0;
        float sumG = 0, sumGXhat = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> vm = Vector512.Create(m), vs = Vector512.Create(s), accG = Vector512<float>.Zero, accGXhat = Vector512<float>.Zero;
            for (; i <= c - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var g = Vector512.Load(dy + i) * Vector512.Load(w + i);
                accG += g;
                accGXhat += g * ((Vector512.Load(x + i) - vm) * vs);
            }
            sumG = Vector512.Sum(accG);
            sumGXhat = Vector512.Sum(accGXhat);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> vm = Vector256.Create(m), vs = Vector256.Create(s), accG = Vector256<float>.Zero, accGXhat = Vector256<float>.Zero;
            for (; i <= c - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var g = Vector256.Load(dy + i) * Vector256.Load(w + i);
                accG += g;
                accGXhat += g * ((Vector256.Load(x + i) - vm) * vs);
            }
            sumG = Vector256.Sum(accG);
            sumGXhat = Vector256.Sum(accGXhat);
        }
        for (; i < c; i++)
        {
            float g = dy[i] * w[i];
            sumG += g;
            sumGXhat += g * ((x[i] - m) * s);
        }
        float meanG = sumG / c, meanGXhat = sumGXhat / c;

        // Pass 2: dx += (g − mean(g) − x̂·mean(g·x̂))·rstd.
        i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> vm = Vector512.Create(m), vs = Vector512.Create(s), vMeanG = Vector512.Create(meanG), vMeanGXhat = Vector512.Create(meanGXhat);
            for (; i <= c - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var g = Vector512.Load(dy + i) * Vector512.Load(w + i);
                var xhat = (Vector512.Load(x + i) - vm) * vs;
                Vector512.Store(Vector512.Load(dx + i) + (g - vMeanG - xhat * vMeanGXhat) * vs, dx + i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> vm = Vector256.Create(m), vs = Vector256.Create(s), vMeanG = Vector256.Create(meanG), vMeanGXhat = Vector256.Create(meanGXhat);
            for (; i <= c - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var g = Vector256.Load(dy + i) * Vector256.Load(w + i);
                var xhat = (Vector256.Load(x + i) - vm) * vs;
                Vector256.Store(Vector256.Load(dx + i) + (g - vMeanG - xhat * vMeanGXhat) * vs, dx + i);
            }
        }
        for (; i < c; i++)
        {
            float g = dy[i] * w[i];
            float xhat = (x[i] - m) * s;
            dx[i] += (g - meanG - xhat * meanGXhat) * s;
        }
    }

    /// <summary>dw[j] += Σ_r dy[r,j]·x̂[r,j] and db[j] += Σ_r dy[r,j] for j in [j0, j1), rows in order
    /// (null dw or db = skipped). Each element sees the same float ops whatever the column split.</summary>
    static void AccumulateWeightGrads(float* dw, float* db, float* dy, float* x, float* mean, float* rstd, int n, int c, int j0, int j1)
    {
        for (int r = 0; r < n; r++)
        {
            float* dyRow = dy + (long)r * c, xRow = x + (long)r * c;
            float m = mean[r], s = rstd[r];
            int j = j0;
            if (Vector512.IsHardwareAccelerated)
            {
                Vector512<float> vm = Vector512.Create(m), vs = Vector512.Create(s);
                for (; j <= j1 - Vector512<float>.Count; j += Vector512<float>.Count)
                {
                    var d = Vector512.Load(dyRow + j);
                    if (dw != null) Vector512.Store(Vector512.Load(dw + j) + d * ((Vector512.Load(xRow + j) - vm) * vs), dw + j);
                    if (db != null) Vector512.Store(Vector512.Load(db + j) + d, db + j);
                }
            }
            else if (Vector256.IsHardwareAccelerated)
            {
                Vector256<float> vm = Vector256.Create(m), vs = Vector256.Create(s);
                for (; j <= j1 - Vector256<float>.Count; j += Vector256<float>.Count)
                {
                    var d = Vector256.Load(dyRow + j);
                    if (dw != null) Vector256.Store(Vector256.Load(dw + j) + d * ((Vector256.Load(xRow + j) - vm) * vs), dw + j);
                    if (db != null) Vector256.Store(Vector256.Load(db + j) + d, db + j);
                }
            }
            for (; j < j1; j++)
            {
                if (dw != null) dw[j] += dyRow[j] * ((xRow[j] - m) * s);
                if (db != null) db[j] += dyRow[j];
            }
        }
    }

    static float Sum(float* x, int c)
    {
        int i = 0;
        float sum = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var acc = Vector512<float>.Zero;
            for (; i <= c - Vector512<float>.Count; i += Vector512<float>.Count) acc += Vector512.Load(x + i);
            sum = Vector512.Sum(acc);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var acc = Vector256<float>.Zero;
            for (; i <= c - Vector256<float>.Count; i += Vector256<float>.Count) acc += Vector256.Load(x + i);
            sum = Vector256.Sum(acc);
        }
        for (; i < c; i++) sum += x[i];
        return sum;
    }

    static float SumSquaredDeviations(float* x, float m, int c)
    {
        int i = 0;
        float sum = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> vm = Vector512.Create(m), acc = Vector512<float>.Zero;
            for (; i <= c - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var d = Vector512.Load(x + i) - vm;
                acc += d * d;
            }
            sum = Vector512.Sum(acc);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> vm = Vector256.Create(m), acc = Vector256<float>.Zero;
            for (; i <= c - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var d = Vector256.Load(x + i) - vm;
                acc += d * d;
            }
            sum = Vector256.Sum(acc);
        }
        for (; i < c; i++)
        {
            float d = x[i] - m;
            sum += d * d;
        }
        return sum;
    }
}

public sealed partial class CpuBackend
{
    public void LayerNormForward(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor w, Tensor b, int n, int c, float eps)
        => CpuLayerNorm.Forward(F(y), F(mean), F(rstd), F(x), F(w), F(b), n, c, eps);

    public void LayerNormBackward(Tensor? dx, Tensor? dw, Tensor? db, Tensor dy, Tensor x, Tensor w, Tensor mean, Tensor rstd, int n, int c)
        => CpuLayerNorm.Backward(F(dx), F(dw), F(db), F(dy), F(x), F(w), F(mean), F(rstd), n, c);
}
