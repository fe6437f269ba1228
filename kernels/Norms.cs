using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>LayerNorm (GPT-2) and RMSNorm (Llama, Qwen2) over the last dimension of a row-major [n, c] tensor, as CpuLayerNorm and CpuRmsNorm.</summary>
public static class NormsKernels
{
    /// <summary>Most threads of the group that normalises one row (the launcher gives a row one warp per 32·<see cref="ColumnsPerThread"/> columns, up to this).</summary>
    public const int MaxRowThreads = 256;

    /// <summary>Columns per thread the row group is sized for.</summary>
    public const int ColumnsPerThread = 4;

    /// <summary>Rows summed by one thread into one partial of a weight gradient (the partials are then summed over blocks, in block order).</summary>
    public const int RowsPerPartial = 32;

    // y[r,:] = (x[r,:] − mean[r])·rstd[r]·w + b, rstd = 1/√(Σ(x − mean)²/c + eps); mean[r] and rstd[r] saved for the backward.
    // Grid n groups of whole warps sized to c (≤ MaxRowThreads): one group per row, group sums (fixed order) for the mean, then for the squared deviations.
    [GroupSize(MaxRowThreads)]
    public static void LayerNormForward(ArrayView<float> y, ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> x,
        ArrayView<float> w, ArrayView<float> b, int c, float eps)
    {
        var partials = SharedMemory.Allocate<float>(MaxRowThreads);
        int row = Grid.IdxX, t = Group.IdxX;
        long rowStart = (long)row * c;
        float sum = 0;
        for (int j = t; j < c; j += Group.DimX) sum += x[rowStart + j];
        float m = GroupReduce.Sum(sum, partials) / c;
        float squares = 0;
        for (int j = t; j < c; j += Group.DimX)
        {
            float d = x[rowStart + j] - m;
            squares += d * d;
        }
        float s = 1f / MathF.Sqrt(GroupReduce.Sum(squares, partials) / c + eps);
        if (t == 0)
        {
            mean[row] = m;
            rstd[row] = s;
        }
        for (int j = t; j < c; j += Group.DimX) y[rowStart + j] = (x[rowStart + j] - m) * s * w[j] + b[j];
    }

    // With g = dy·w, x̂ = (x − mean)·rstd: dx[r,:] += rstd·(g − mean_c(g) − x̂·mean_c(g·x̂)).
    // Grid n groups of whole warps sized to c (≤ MaxRowThreads): one group per row, two group sums, then each thread updates its columns.
    [GroupSize(MaxRowThreads)]
    public static void LayerNormInputGrad(ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x, ArrayView<float> w,
        ArrayView<float> mean, ArrayView<float> rstd, int c)
    {
        var partials = SharedMemory.Allocate<float>(MaxRowThreads);
        int row = Grid.IdxX, t = Group.IdxX;
        long rowStart = (long)row * c;
        float m = mean[row], s = rstd[row];
        float sumG = 0, sumGXhat = 0;
        for (int j = t; j < c; j += Group.DimX)
        {
            float g = dy[rowStart + j] * w[j];
            sumG += g;
            sumGXhat += g * ((x[rowStart + j] - m) * s);
        }
        float meanG = GroupReduce.Sum(sumG, partials) / c;
        float meanGXhat = GroupReduce.Sum(sumGXhat, partials) / c;
        for (int j = t; j < c; j += Group.DimX)
        {
            float g = dy[rowStart + j] * w[j];
            float xhat = (x[rowStart + j] - m) * s;
            dx[rowStart + j] += (g - meanG - xhat * meanGXhat) * s;
        }
    }

    // partialDw[k,j] = Σ_{r in block k} dy[r,j]·x̂[r,j]; partialDb[k,j] = Σ_{r in block k} dy[r,j]; blocks of RowsPerPartial rows, rows in order.
    // Index i over blocks·c (i = k·c + j): one thread per (row block, column); an empty partialDw or partialDb is not written.
    public static void LayerNormWeightGradPartials(Index1D i, ArrayView<float> partialDw, ArrayView<float> partialDb, ArrayView<float> dy,
        ArrayView<float> x, ArrayView<float> mean, ArrayView<float> rstd, int n, int c)
    {
        int block = i / c, column = i - block * c;
        int end = Math.Min(n, (block + 1) * RowsPerPartial);
        float dwSum = 0, dbSum = 0;
        for (int r = block * RowsPerPartial; r < end; r++)
        {
            long k = (long)r * c + column;
            float d = dy[k];
            dwSum += d * ((x[k] - mean[r]) * rstd[r]);
            dbSum += d;
        }
        if (partialDw.Length > 0) partialDw[i] = dwSum;
        if (partialDb.Length > 0) partialDb[i] = dbSum;
    }

    // y[r,:] = (x[r,:]·rstd[r])·w, rstd = 1/√(Σx²/c + eps); rstd[r] saved for the backward.
    // Grid n groups of whole warps sized to c (≤ MaxRowThreads): one group per row, one group sum of x².
    [GroupSize(MaxRowThreads)]
    public static void RmsNormForward(ArrayView<float> y, ArrayView<float> rstd, ArrayView<float> x, ArrayView<float> w, int c, float eps)
    {
        var partials = SharedMemory.Allocate<float>(MaxRowThreads);
        int row = Grid.IdxX, t = Group.IdxX;
        long rowStart = (long)row * c;
        float squares = 0;
        for (int j = t; j < c; j += Group.DimX)
        {
            float v = x[rowStart + j];
            squares += v * v;
        }
        float s = 1f / MathF.Sqrt(GroupReduce.Sum(squares, partials) / c + eps);
        if (t == 0) rstd[row] = s;
        for (int j = t; j < c; j += Group.DimX) y[rowStart + j] = x[rowStart + j] * s * w[j];
    }

    // With g = dy·w, x̂ = x·rstd: dx[r,:] += rstd·(g − x̂·mean_c(g·x̂)).
    // Grid n groups of whole warps sized to c (≤ MaxRowThreads): one group per row, one group sum, then each thread updates its columns.
    [GroupSize(MaxRowThreads)]
    public static void RmsNormInputGrad(ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x, ArrayView<float> w, ArrayView<float> rstd, int c)
    {
        var partials = SharedMemory.Allocate<float>(MaxRowThreads);
        int row = Grid.IdxX, t = Group.IdxX;
        long rowStart = (long)row * c;
        float s = rstd[row];
        float sumGXhat = 0;
        for (int j = t; j < c; j += Group.DimX) sumGXhat += dy[rowStart + j] * w[j] * (x[rowStart + j] * s);
        float meanGXhat = GroupReduce.Sum(sumGXhat, partials) / c;
        for (int j = t; j < c; j += Group.DimX)
            dx[rowStart + j] += (dy[rowStart + j] * w[j] - x[rowStart + j] * s * meanGXhat) * s;
    }

    // partialDw[k,j] = Σ_{r in block k} dy[r,j]·x[r,j]·rstd[r]; blocks of RowsPerPartial rows, rows in order.
    // Index i over blocks·c (i = k·c + j): one thread per (row block, column).
    public static void RmsNormWeightGradPartials(Index1D i, ArrayView<float> partialDw, ArrayView<float> dy, ArrayView<float> x,
        ArrayView<float> rstd, int n, int c)
    {
        int block = i / c, column = i - block * c;
        int end = Math.Min(n, (block + 1) * RowsPerPartial);
        float sum = 0;
        for (int r = block * RowsPerPartial; r < end; r++)
        {
            long k = (long)r * c + column;
            sum += dy[k] * (x[k] * rstd[r]);
        }
        partialDw[i] = sum;
    }

    // dst[j] += Σ_k partials[k,j], k = 0 … blocks − 1 in order (the second stage of a weight gradient).
    // Index j over c: one thread per column.
    public static void AccumulateColumnSums(Index1D j, ArrayView<float> dst, ArrayView<float> partials, int blocks, int c)
    {
        float sum = partials[j];
        for (int k = 1; k < blocks; k++) sum += partials[(long)k * c + j];
        dst[j] += sum;
    }
}

/// <summary>Launches the norm kernels on the accelerator's default stream (no synchronisation); arguments as CpuLayerNorm and CpuRmsNorm.
/// Owns the scratch of the weight-gradient partials (grown on demand, then reused).</summary>
public sealed class Norms(Accelerator accelerator) : IDisposable
{
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float> _layerNormForward =
        accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>(NormsKernels.LayerNormForward);
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> _layerNormInputGrad =
        accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(NormsKernels.LayerNormInputGrad);
    readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> _layerNormWeightGradPartials =
        accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(NormsKernels.LayerNormWeightGradPartials);
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float> _rmsNormForward =
        accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>(NormsKernels.RmsNormForward);
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> _rmsNormInputGrad =
        accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(NormsKernels.RmsNormInputGrad);
    readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> _rmsNormWeightGradPartials =
        accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(NormsKernels.RmsNormWeightGradPartials);
    readonly Action<Index1D, ArrayView<float>, ArrayView<float>, int, int> _accumulateColumnSums =
        accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(NormsKernels.AccumulateColumnSums);
    readonly Accelerator _accelerator = accelerator;
    readonly Scratch<float> _partials = new(accelerator);

    /// <summary>y = (x − mean)·rstd·w + b per row; mean[n], rstd[n] saved. x, y: [n, c]; w, b: [c].</summary>
    public void LayerNormForward(ArrayView<float> y, ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, int n, int c, float eps)
    {
        Arguments.RequireRowNorm(n, c, x.Length, y.Length, nameof(y), rstd.Length, w.Length);
        Arguments.RequireLength(mean.Length, n, nameof(mean), "n");
        Arguments.RequireLength(b.Length, c, nameof(b), "c");
        if (n == 0) return;
        _layerNormForward(new KernelConfig(n, RowThreads(c)), y, mean, rstd, x, w, b, c, eps);
    }

    /// <summary>dx += rstd·(g − mean(g) − x̂·mean(g·x̂)); dw += Σ_rows dy·x̂; db += Σ_rows dy. Accumulates; an empty dx, dw or db is skipped.</summary>
    public void LayerNormBackward(ArrayView<float> dx, ArrayView<float> dw, ArrayView<float> db, ArrayView<float> dy, ArrayView<float> x, ArrayView<float> w,
        ArrayView<float> mean, ArrayView<float> rstd, int n, int c)
    {
        Arguments.RequireRowNorm(n, c, x.Length, dy.Length, nameof(dy), rstd.Length, w.Length);
        Arguments.RequireLength(mean.Length, n, nameof(mean), "n");
        Arguments.RequireRowNormGradients(n, c, dx.Length, dw.Length);
        if (db.Length > 0) Arguments.RequireLength(db.Length, c, nameof(db), "c");
        if (n == 0) return;
        if (dx.Length > 0) _layerNormInputGrad(new KernelConfig(n, RowThreads(c)), dx, dy, x, w, mean, rstd, c);
        if (dw.Length == 0 && db.Length == 0) return;
        int blocks = PartialBlocks(n, c);
        long size = (long)blocks * c;
        var scratch = _partials.Get(2 * size);
        var partialDw = dw.Length > 0 ? scratch.SubView(0, size) : ArrayView<float>.Empty;
        var partialDb = db.Length > 0 ? scratch.SubView(size, size) : ArrayView<float>.Empty;
        _layerNormWeightGradPartials((int)size, partialDw, partialDb, dy, x, mean, rstd, n, c);
        if (dw.Length > 0) _accumulateColumnSums(c, dw, partialDw, blocks, c);
        if (db.Length > 0) _accumulateColumnSums(c, db, partialDb, blocks, c);
    }

    /// <summary>y = x·rstd·w per row; rstd[n] saved. x, y: [n, c]; w: [c].</summary>
    public void RmsNormForward(ArrayView<float> y, ArrayView<float> rstd, ArrayView<float> x, ArrayView<float> w, int n, int c, float eps)
    {
        Arguments.RequireRowNorm(n, c, x.Length, y.Length, nameof(y), rstd.Length, w.Length);
        if (n == 0) return;
        _rmsNormForward(new KernelConfig(n, RowThreads(c)), y, rstd, x, w, c, eps);
    }

    /// <summary>dx += rstd·(g − x̂·mean(g·x̂)); dw += Σ_rows dy·x̂. Accumulates; an empty dx or dw is skipped.</summary>
    public void RmsNormBackward(ArrayView<float> dx, ArrayView<float> dw, ArrayView<float> dy, ArrayView<float> x, ArrayView<float> w, ArrayView<float> rstd, int n, int c)
    {
        Arguments.RequireRowNorm(n, c, x.Length, dy.Length, nameof(dy), rstd.Length, w.Length);
        Arguments.RequireRowNormGradients(n, c, dx.Length, dw.Length);
        if (n == 0) return;
        if (dx.Length > 0) _rmsNormInputGrad(new KernelConfig(n, RowThreads(c)), dx, dy, x, w, rstd, c);
        if (dw.Length == 0) return;
        int blocks = PartialBlocks(n, c);
        long size = (long)blocks * c;
        var partialDw = _partials.Get(size);
        _rmsNormWeightGradPartials((int)size, partialDw, dy, x, rstd, n, c);
        _accumulateColumnSums(c, dw, partialDw, blocks, c);
    }

    public void Dispose() => _partials.Dispose();

    int RowThreads(int c) => GroupReduce.GroupSize(_accelerator, c, NormsKernels.ColumnsPerThread, NormsKernels.MaxRowThreads);

    static int PartialBlocks(int n, int c)
    {
        int blocks = (n + NormsKernels.RowsPerPartial - 1) / NormsKernels.RowsPerPartial;
        Arguments.RequireIndexable((long)blocks * c, "the weight-gradient partials");
        return blocks;
    }
}
