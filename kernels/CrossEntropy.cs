using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>The per-row softmax step of the fused LM-head cross-entropy (as CpuCrossEntropy's SoftmaxRow), over a chunk of logits [m, vocab],
/// and the scatter of the chunk's dx back to the rows it was gathered from.</summary>
public static class CrossEntropyKernels
{
    /// <summary>Most threads of the group that handles one row of logits (the launcher gives a row one warp per 32·<see cref="ColumnsPerThread"/> logits, up to this).</summary>
    public const int MaxRowThreads = 256;

    /// <summary>Logits per thread the row group is sized for.</summary>
    public const int ColumnsPerThread = 8;

    // rowLoss[r] = logsumexp(z_r) − z_r[target_r]; if writeGradient ≠ 0, z_r = s·(softmax(z_r) − onehot(target_r)) in place (s = gradScale).
    // A row with target < 0 is ignored: loss 0 and, if writeGradient ≠ 0, a zero gradient row. Offsets are 64-bit (m·vocab may pass 2³¹).
    // Grid m groups of whole warps sized to vocab (≤ MaxRowThreads): one group per row; each thread keeps an online (max, Σe^(z − max)) over its columns, combined by a group reduction (fixed order).
    [GroupSize(MaxRowThreads)]
    public static void SoftmaxRows(ArrayView<float> rowLoss, ArrayView<float> logits, ArrayView<int> targets, int vocab, int writeGradient, float gradScale)
    {
        var maxes = SharedMemory.Allocate<float>(MaxRowThreads);
        var sums = SharedMemory.Allocate<float>(MaxRowThreads);
        int row = Grid.IdxX, t = Group.IdxX;
        long rowStart = (long)row * vocab;
        int target = targets[row];
        if (target < 0)
        {
            if (t == 0) rowLoss[row] = 0f;
            if (writeGradient != 0)
                for (int j = t; j < vocab; j += Group.DimX) logits[rowStart + j] = 0f;
            return;
        }
        float zTarget = logits[rowStart + target];
        float max = float.NegativeInfinity, sum = 0f;
        for (int j = t; j < vocab; j += Group.DimX)
        {
            float z = logits[rowStart + j];
            if (z > max)
            {
                sum = sum * MathF.Exp(max - z) + 1f;
                max = z;
            }
            else sum += MathF.Exp(z - max);
        }
        GroupReduce.MaxAndSum(ref max, ref sum, maxes, sums);
        if (t == 0) rowLoss[row] = max + MathF.Log(sum) - zTarget;
        if (writeGradient == 0) return;
        float scaleOverSum = gradScale / sum;
        for (int j = t; j < vocab; j += Group.DimX)
        {
            float p = MathF.Exp(logits[rowStart + j] - max) * scaleOverSum;
            if (j == target) p -= gradScale;
            logits[rowStart + j] = p;
        }
    }

    // dx[rows[i], j] += dxChunk[i, j] for the m rows of a chunk [m, c]; rows are distinct, so no two threads share an element (no atomics).
    // Index k over m·c (k = i·c + j): one thread per chunk element.
    public static void ScatterAddRows(Index1D k, ArrayView<float> dx, ArrayView<float> dxChunk, ArrayView<int> rows, int c)
    {
        int i = k / c, j = k - i * c;
        dx[(long)rows[i] * c + j] += dxChunk[k];
    }
}

/// <summary>Launches the cross-entropy row kernel on the accelerator's default stream (no synchronisation).</summary>
public sealed class CrossEntropy(Accelerator accelerator)
{
    readonly Accelerator _accelerator = accelerator;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, float> _softmaxRows =
        accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, float>(CrossEntropyKernels.SoftmaxRows);
    readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, int> _scatterAddRows =
        accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, int>(CrossEntropyKernels.ScatterAddRows);

    /// <summary>rowLoss[r] = logsumexp(logits[r,:]) − logits[r, targets[r]] for the m rows of a chunk of logits [m, vocab]; when wantGrad,
    /// each row is overwritten with gradScale·(softmax − onehot(target)). Rows with target &lt; 0 get loss 0 and a zero gradient;
    /// targets ≥ vocab are not checked (they live on the device) and are undefined behaviour.</summary>
    public void SoftmaxRows(ArrayView<float> rowLoss, ArrayView<float> logits, ArrayView<int> targets, int m, int vocab, bool wantGrad, float gradScale)
    {
        if (m < 0) throw new ArgumentException($"m = {m} must not be negative", nameof(m));
        if (vocab <= 0) throw new ArgumentException($"vocab = {vocab} must be positive", nameof(vocab));
        Arguments.RequireLength(logits.Length, (long)m * vocab, nameof(logits), "m*vocab");
        Arguments.RequireLength(targets.Length, m, nameof(targets), "m");
        Arguments.RequireLength(rowLoss.Length, m, nameof(rowLoss), "m");
        if (m == 0) return;
        int rowThreads = GroupReduce.GroupSize(_accelerator, vocab, CrossEntropyKernels.ColumnsPerThread, CrossEntropyKernels.MaxRowThreads);
        _softmaxRows(new KernelConfig(m, rowThreads), rowLoss, logits, targets, vocab, wantGrad ? 1 : 0, gradScale);
    }

    /// <summary>dx[rows[i],:] += dxChunk[i,:] for the m distinct rows of a chunk [m, c] (dx [n, c]). The rows live on the device and are not
    /// range-checked here: a row outside dx, or a repeated row, is undefined behaviour.</summary>
    public void ScatterAddRows(ArrayView<float> dx, ArrayView<float> dxChunk, ArrayView<int> rows, int m, int c)
    {
        Arguments.RequireRows(m, c);
        Arguments.RequireLength(dxChunk.Length, (long)m * c, nameof(dxChunk), "m*c");
        Arguments.RequireLength(rows.Length, m, nameof(rows), "m");
        if (dx.Length % c != 0) throw new ArgumentException($"dx has {dx.Length} elements, not a multiple of c = {c}", nameof(dx));
        Arguments.RequireIndexable(dxChunk.Length, nameof(dxChunk));
        if (m > 0) _scatterAddRows((int)dxChunk.Length, dx, dxChunk, rows, c);
    }
}
