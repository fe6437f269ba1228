using System.Buffers;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using System.Runtime.Intrinsics;
using Engine.Backends.Cpu;
using Engine.Kernels;
using Engine.Tensors;
using ILGPU;
using ILGPU.Runtime;

namespace Engine.Backends;

/// <summary>The LM head fused with cross-entropy (as Liger's fused linear cross-entropy): logits exist one chunk of rows at a time.</summary>
public static unsafe class CpuCrossEntropy
{
    /// <summary>Rows of logits held at once: as many as fit 2^24 logits (64 MiB of float32), and never fewer than 256, where the matmul runs
    /// at full speed (a 262k vocabulary's chunk of 64 rows streamed and packed W, V × C, four times as often: Gemma 3's head ran at half
    /// the matmul's GFLOP/s). A test's maxLogits forces smaller chunks.</summary>
    public static int ChunkRows(int vocab, int kept, int? maxLogits = null) =>
        Math.Clamp(maxLogits is { } max ? max / vocab : Math.Max((1 << 24) / vocab, 256), 1, kept);

    // loss = Σ_i logsumexp(z_i) − z_i[targets_i],   z_i = x[rows_i]·Wᵀ (only the kept rows: the rows of x not listed are never read)
    // dx[rows_i] += s·(softmax(z_i) − onehot(targets_i))·W ;  dw += s·Σ_i (softmax(z_i) − onehot(targets_i))ᵀ·x[rows_i]   (s = gradScale)
    public static double ForwardBackward(Span<float> dx, Span<float> dw, ReadOnlySpan<float> x, ReadOnlySpan<float> w,
        ReadOnlySpan<int> rows, ReadOnlySpan<int> targets, int n, int c, int vocab, float gradScale, int? maxLogitsPerChunk = null)
    {
        Arguments.RequireLength(x.Length, (long)n * c, nameof(x), "n*c");
        Arguments.RequireLength(w.Length, (long)vocab * c, nameof(w), "vocab*c");
        Arguments.RequireSameLength(targets.Length, rows.Length, nameof(targets), nameof(rows));
        if (!dx.IsEmpty) Arguments.RequireSameLength(dx.Length, x.Length, nameof(dx), nameof(x));
        if (!dw.IsEmpty) Arguments.RequireSameLength(dw.Length, w.Length, nameof(dw), nameof(w));
        for (int i = 0; i < rows.Length; i++)
        {
            if ((uint)rows[i] >= (uint)n) throw new ArgumentException($"kept row {rows[i]} is outside the {n} rows of x");
            if ((uint)targets[i] >= (uint)vocab) throw new ArgumentException($"target {targets[i]} at row {rows[i]} is outside the vocabulary of {vocab}");
        }
        if (rows.Length == 0) return 0;

        bool wantGrad = !dx.IsEmpty || !dw.IsEmpty;
        int chunk = ChunkRows(vocab, rows.Length, maxLogitsPerChunk);
        float[] xs = ArrayPool<float>.Shared.Rent(chunk * c);
        float[] logits = ArrayPool<float>.Shared.Rent(chunk * vocab);
        float[] dxs = ArrayPool<float>.Shared.Rent(chunk * c);
        double[] rowLoss = ArrayPool<double>.Shared.Rent(chunk);
        int[] rowTarget = ArrayPool<int>.Shared.Rent(chunk);
        double loss = 0;
        var width = CpuLanes.Current;
        try
        {
            for (int start = 0; start < rows.Length; start += chunk)
            {
                int m = Math.Min(chunk, rows.Length - start);
                for (int i = 0; i < m; i++)
                {
                    int r = rows[start + i];
                    x.Slice(r * c, c).CopyTo(xs.AsSpan(i * c, c));
                    rowTarget[i] = targets[start + i];
                }
                CpuMatMul.Forward(logits.AsSpan(0, m * vocab), xs.AsSpan(0, m * c), w, default, m, c, vocab);
                Parallel.For(0, m, i => rowLoss[i] = SoftmaxRow(width, logits.AsSpan(i * vocab, vocab), rowTarget[i], wantGrad, gradScale));
                for (int i = 0; i < m; i++) loss += rowLoss[i];
                if (!wantGrad) continue;

                var dxChunk = dx.IsEmpty ? default : dxs.AsSpan(0, m * c);
                dxChunk.Clear();
                CpuMatMul.Backward(dxChunk, dw, default, logits.AsSpan(0, m * vocab), xs.AsSpan(0, m * c), w, m, c, vocab);
                if (dx.IsEmpty) continue;
                for (int i = 0; i < m; i++)
                {
                    var dst = dx.Slice(rows[start + i] * c, c);
                    TensorPrimitives.Add(dst, dxs.AsSpan(i * c, c), dst);
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(xs);
            ArrayPool<float>.Shared.Return(logits);
            ArrayPool<float>.Shared.Return(dxs);
            ArrayPool<double>.Shared.Return(rowLoss);
            ArrayPool<int>.Shared.Return(rowTarget);
        }
        return loss;
    }

    /// <summary>Returns logsumexp(z) − z[target]; when asked, overwrites z with s·(softmax(z) − onehot(target)).</summary>
    private static double SoftmaxRow(LaneWidth width, Span<float> z, int target, bool wantGrad, float gradScale)
    {
        float max = TensorPrimitives.Max(z);
        float zTarget = z[target];
        float sum = ExpShiftedSum(width, z, max);
        double rowLoss = max + Math.Log(sum) - zTarget;
        if (wantGrad)
        {
            TensorPrimitives.Multiply(z, gradScale / sum, z);
            z[target] -= gradScale;
        }
        return rowLoss;
    }

    /// <summary>Overwrites z with e^(z − shift) and returns its sum, added in an order set by the length alone (TensorPrimitives.Sum's
    /// order follows the address's alignment): vector lanes, then across lanes, then the rest one at a time.</summary>
    private static float ExpShiftedSum(LaneWidth width, Span<float> z, float shift)
    {
        fixed (float* p = z)
        {
            int i = 0;
            float sum = 0;
            if (width == LaneWidth.Bits512) sum = ExpShiftedSum<Lanes512, Vector512<float>>(p, ref i, z.Length, shift, default);
            if (width == LaneWidth.Bits256) sum = ExpShiftedSum<Lanes256, Vector256<float>>(p, ref i, z.Length, shift, default);
            return ExpShiftedSum<LanesScalar, float>(p, ref i, z.Length, shift, sum);
        }
    }

    /// <summary>z = e^(z − shift) over [i, count) in whole vectors of TL, returning acc + their sum across lanes; i ends at the first element not done.</summary>
    private static float ExpShiftedSum<TL, TV>(float* z, ref int i, int count, float shift, TV acc) where TL : struct, ILanes<TV> where TV : struct
    {
        TV splat = TL.Splat(shift);
        for (; i + TL.Count <= count; i += TL.Count)
        {
            TV e = TL.Exp(TL.Subtract(TL.Load(z + i), splat));
            TL.Store(z + i, e);
            acc = TL.Add(acc, e);
        }
        return TL.SumAcross(acc);
    }
}

public sealed partial class CpuBackend
{
    public void CrossEntropyForwardBackward(Tensor loss, Tensor? dx, Tensor? dw, Tensor x, Tensor w, Tensor rows, Tensor targets, int n, int kept, int c, int vocab, float gradScale)
    {
        Arguments.RequireLength(rows.Length, kept, nameof(rows), "kept");
        Arguments.RequireLength(loss.Length, 1, nameof(loss), "one element");
        D(loss)[0] += CpuCrossEntropy.ForwardBackward(F(dx), F(dw), F(x), F(w), I(rows), I(targets), n, c, vocab, gradScale);
    }
}

public sealed partial class IlgpuBackend
{
    CrossEntropy? _crossEntropy;
    CrossEntropy CrossEntropyLauncher => Launcher(ref _crossEntropy, a => new CrossEntropy(a));

    /// <summary>Upper bound on the logits the fused LM head + cross-entropy holds at once; null: <see cref="CpuCrossEntropy.ChunkRows"/>'s rule.</summary>
    public int? MaxLogitsPerChunk { get; init; }

    /// <summary>
    /// The LM head fused with cross-entropy over the kept rows only, a chunk of them at a time (at most MaxLogitsPerChunk logits):
    /// gather the chunk's rows of x (an embedding lookup of x by row), logits = xs·Wᵀ (at the backend's precision), then each row's loss and, in place,
    /// gradScale·(softmax − onehot); then dxs = dlogits·W scattered back into dx (accumulating), dW += dlogitsᵀ·xs. Finally loss[0] += Σ row
    /// losses, summed on the device (no host read).
    /// </summary>
    public void CrossEntropyForwardBackward(Tensor loss, Tensor? dx, Tensor? dw, Tensor x, Tensor w, Tensor rows, Tensor targets, int n, int kept, int c, int vocab, float gradScale)
    {
        Arguments.RequireLength(x.Length, (long)n * c, nameof(x), "n*c");
        Arguments.RequireLength(rows.Length, kept, nameof(rows), "kept");
        Arguments.RequireLength(targets.Length, kept, nameof(targets), "kept");
        Arguments.RequireLength(loss.Length, 1, nameof(loss), "one element");
        if (kept == 0) return;
        bool wantGrad = dx is not null || dw is not null;
        int chunk = CpuCrossEntropy.ChunkRows(vocab, kept, MaxLogitsPerChunk);
        using var xs = AllocateUninitialized(DType.F32, chunk, c);
        using var dxs = AllocateUninitialized(DType.F32, dx is null ? 0 : chunk, c);
        using var logits = AllocateUninitialized(DType.F32, chunk, vocab);
        using var rowLoss = AllocateUninitialized(DType.F32, kept);
        for (int start = 0; start < kept; start += chunk)
        {
            int m = Math.Min(chunk, kept - start);
            var chunkRows = I(rows).SubView(start, m);
            var xChunk = F(xs).SubView(0, (long)m * c);
            var z = F(logits).SubView(0, (long)m * vocab);
            EmbeddingLauncher.Forward(xChunk, chunkRows, ArrayView<int>.Empty, F(x), ArrayView<float>.Empty, m, c);
            LinearForward(z, xChunk, w, ArrayView<float>.Empty, m, c, vocab);
            CrossEntropyLauncher.SoftmaxRows(F(rowLoss).SubView(start, m), z, I(targets).SubView(start, m), m, vocab, wantGrad, gradScale);
            if (!wantGrad) continue;
            var dxChunk = dx is null ? ArrayView<float>.Empty : F(dxs).SubView(0, (long)m * c);
            if (dx is not null) dxChunk.MemSetToZero();
            LinearBackward(dxChunk, F(dw), ArrayView<float>.Empty, z, xChunk, w, m, c, vocab);
            if (dx is not null) CrossEntropyLauncher.ScatterAddRows(F(dx), dxChunk, chunkRows, m, c);
        }
        ReduceLauncher.AddSum(D(loss), F(rowLoss));
    }
}
