using System.Runtime.Intrinsics;
using Engine.Kernels;
using Engine.Tensors;

namespace Engine.Backends.Cpu;

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
            float* yp = py, rstdp = pRstd, xp = px, wp = pw;
            CpuParallel.ForEachRow(n, c, r => ForwardRow(yp + (long)r * c, rstdp + r, xp + (long)r * c, wp, c, eps));
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
            float* dxp = pdx, dwp = pdw, dyp = pdy, xp = px, wp = pw, rstdp = pRstd;
            if (!dx.IsEmpty)
                CpuParallel.ForEachRow(n, c, r => InputGradRow(dxp + (long)r * c, dyp + (long)r * c, xp + (long)r * c, wp, rstdp[r], c));
            if (!dw.IsEmpty)
                CpuParallel.ForEachColumnBlock(n, c, (j0, j1) => AccumulateWeightGrad(dwp, dyp, xp, rstdp, n, c, j0, j1));
        }
    }

    static void ForwardRow(float* y, float* rstdOut, float* x, float* w, int c, float eps)
    {
        float s = 1f / MathF.Sqrt(SumOfSquares(x, c) / c + eps);
        *rstdOut = s;
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vs = Vector512.Create(s);
            for (; i <= c - Vector512<float>.Count; i += Vector512<float>.Count)
                Vector512.Store(Vector512.Load(x + i) * vs * Vector512.Load(w + i), y + i);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var vs = Vector256.Create(s);
            for (; i <= c - Vector256<float>.Count; i += Vector256<float>.Count)
                Vector256.Store(Vector256.Load(x + i) * vs * Vector256.Load(w + i), y + i);
        }
        for (; i < c; i++) y[i] = x[i] * s * w[i];
    }

    static void InputGradRow(float* dx, float* dy, float* x, float* w, float s, int c)
    {
        // Pass 1: Σ g·x̂ with g = dy·w.
        int i = 0;
        float sumGXhat = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> vs = Vector512.Create(s), acc = Vector512<float>.Zero;
            for (; i <= c - Vector512<float>.Count; i += Vector512<float>.Count)
                acc += Vector512.Load(dy + i) * Vector512.Load(w + i) * (Vector512.Load(x + i) * vs);
            sumGXhat = Vector512.Sum(acc);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> vs = Vector256.Create(s), acc = Vector256<float>.Zero;
            for (; i <= c - Vector256<float>.Count; i += Vector256<float>.Count)
                acc += Vector256.Load(dy + i) * Vector256.Load(w + i) * (Vector256.Load(x + i) * vs);
            sumGXhat = Vector256.Sum(acc);
        }
        for (; i < c; i++) sumGXhat += dy[i] * w[i] * (x[i] * s);
        float meanGXhat = sumGXhat / c;

        // Pass 2: dx += (g − x̂·mean(g·x̂))·rstd.
        i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> vs = Vector512.Create(s), vMean = Vector512.Create(meanGXhat);
            for (; i <= c - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var g = Vector512.Load(dy + i) * Vector512.Load(w + i);
                Vector512.Store(Vector512.Load(dx + i) + (g - Vector512.Load(x + i) * vs * vMean) * vs, dx + i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> vs = Vector256.Create(s), vMean = Vector256.Create(meanGXhat);
            for (; i <= c - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var g = Vector256.Load(dy + i) * Vector256.Load(w + i);
                Vector256.Store(Vector256.Load(dx + i) + (g - Vector256.Load(x + i) * vs * vMean) * vs, dx + i);
            }
        }
        for (; i < c; i++) dx[i] += (dy[i] * w[i] - x[i] * s * meanGXhat) * s;
    }

    /// <summary>dw[j] += Σ_r dy[r,j]·x̂[r,j] for j in [j0, j1), rows in order.
    /// Each element sees the same float ops whatever the column split.</summary>
    static void AccumulateWeightGrad(float* dw, float* dy, float* x, float* rstd, int n, int c, int j0, int j1)
    {
        for (int r = 0; r < n; r++)
        {
            float* dyRow = dy + (long)r * c, xRow = x + (long)r * c;
            float s = rstd[r];
            int j = j0;
            if (Vector512.IsHardwareAccelerated)
            {
                var vs = Vector512.Create(s);
                for (; j <= j1 - Vector512<float>.Count; j += Vector512<float>.Count)
                    Vector512.Store(Vector512.Load(dw + j) + Vector512.Load(dyRow + j) * (Vector512.Load(xRow + j) * vs), dw + j);
            }
            else if (Vector256.IsHardwareAccelerated)
            {
                var vs = Vector256.Create(s);
                for (; j <= j1 - Vector256<float>.Count; j += Vector256<float>.Count)
                    Vector256.Store(Vector256.Load(dw + j) + Vector256.Load(dyRow + j) * (Vector256.Load(xRow + j) * vs), dw + j);
            }
            for (; j < j1; j++) dw[j] += dyRow[j] * (xRow[j] * s);
        }
    }

    static float SumOfSquares(float* x, int c)
    {
        int i = 0;
        float sum = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var acc = Vector512<float>.Zero;
            for (; i <= c - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var v = Vector512.Load(x + i);
                acc += v * v;
            }
            sum = Vector512.Sum(acc);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var acc = Vector256<float>.Zero;
            for (; i <= c - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var v = Vector256.Load(x + i);
                acc += v * v;
            }
            sum = Vector256.Sum(acc);
        }
        for (; i < c; i++) sum += x[i] * x[i];
        return sum;
    }
}

public sealed partial class CpuBackend
{
    public void RmsNormForward(Tensor y, Tensor rstd, Tensor x, Tensor w, int n, int c, float eps)
        => CpuRmsNorm.Forward(F(y), F(rstd), F(x), F(w), n, c, eps);

    public void RmsNormBackward(Tensor? dx, Tensor? dw, Tensor dy, Tensor x, Tensor w, Tensor rstd, int n, int c)
        => CpuRmsNorm.Backward(F(dx), F(dw), F(dy), F(x), F(w), F(rstd), n, c);
}
