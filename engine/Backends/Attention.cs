using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Engine.Backends.Cpu;
using Engine.Kernels;
using Engine.Tensors;

namespace Engine.Backends;

/// <summary>
/// Causal, segment-masked, grouped-query scaled dot-product attention, optionally within a sliding window, flash style: scores are recomputed
/// per block of query rows and never kept as a T×T matrix; a block scores only the keys its rows' segments and windows reach. Keys are transposed once per task so a block of query rows
/// scores a whole vector of keys per instruction; values and gradients are padded to whole vectors along headDim.
/// </summary>
public static unsafe class CpuAttention
{
    /// <summary>Query rows handled together: every key or value vector loaded serves this many rows.</summary>
    private const int RowBlock = 4;

    /// <summary>out[b,t,h,:] = Σ_{t−W<j≤t, seg[b,j]=seg[b,t]} softmax_j(q[b,t,h,:]·k[b,j,g,:]/√D)·v[b,j,g,:], g = h/(heads/kvHeads); lse[b,h,t] = log Σ_j exp(score_j).</summary>
    /// <remarks>q, output: [batch, seqLen, heads, headDim]; k, v: [batch, seqLen, kvHeads, headDim]; segments: [batch, seqLen]; lse: [batch, heads, seqLen].
    /// window: the sliding window W (<see cref="AttentionShape.Sees"/>), 0 = unlimited.</remarks>
    public static void Forward(Span<float> output, Span<float> lse, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        ReadOnlySpan<int> segments, int batch, int seqLen, int heads, int kvHeads, int headDim, int window = 0)
    {
        var shape = new AttentionShape(batch, seqLen, heads, kvHeads, headDim, window);
        shape.RequireValid();
        shape.RequireOperands(output.Length, lse.Length, q.Length, k.Length, v.Length, segments.Length);

        int[] keyRanges = KeyRanges(segments, batch, seqLen, window);
        try
        {
            fixed (float* pOut = output, pLse = lse)
            fixed (float* pQ = q, pK = k, pV = v)
            fixed (int* pSeg = segments, pRanges = keyRanges)
            {
                var p = new Problem(batch, seqLen, heads, kvHeads, headDim, pQ, pK, pV, pSeg, pRanges)
                {
                    Output = pOut,
                    Lse = pLse,
                };
                if (Vector512.IsHardwareAccelerated) Parallel.For(0, batch * heads, i => ForwardHead<Lanes512, Vector512<float>>(p, i));
                else if (Vector256.IsHardwareAccelerated) Parallel.For(0, batch * heads, i => ForwardHead<Lanes256, Vector256<float>>(p, i));
                else Parallel.For(0, batch * heads, i => ForwardHead<Lanes128, Vector128<float>>(p, i));
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(keyRanges);
        }
    }

    /// <summary>dq, dk, dv += ∂(Σ dOutput·output)/∂(q, k, v): with p = exp(s − lse), Dt = Σ dOut·out: dv += pᵀ·dOut, ds = p·(dOut·vᵀ − Dt)/√D, dq += ds·k, dk += dsᵀ·q.</summary>
    /// <remarks>Layouts and window as in Forward; output and lse are Forward's. An empty gradient span is skipped. Parallel over (batch, kvHead), each task owning its dk/dv rows, so accumulation order is fixed.</remarks>
    public static void Backward(Span<float> dq, Span<float> dk, Span<float> dv, ReadOnlySpan<float> dOutput, ReadOnlySpan<float> output,
        ReadOnlySpan<float> lse, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<int> segments,
        int batch, int seqLen, int heads, int kvHeads, int headDim, int window = 0)
    {
        var shape = new AttentionShape(batch, seqLen, heads, kvHeads, headDim, window);
        shape.RequireValid();
        shape.RequireGradients(dOutput.Length, dq.Length, dk.Length, dv.Length);
        shape.RequireOperands(output.Length, lse.Length, q.Length, k.Length, v.Length, segments.Length);
        if (dq.IsEmpty && dk.IsEmpty && dv.IsEmpty) return;

        int[] keyRanges = KeyRanges(segments, batch, seqLen, window);
        try
        {
            fixed (float* pDq = dq, pDk = dk, pDv = dv)
            fixed (float* pDOut = dOutput, pOut = output, pLse = lse)
            fixed (float* pQ = q, pK = k, pV = v)
            fixed (int* pSeg = segments, pRanges = keyRanges)
            {
                var p = new Problem(batch, seqLen, heads, kvHeads, headDim, pQ, pK, pV, pSeg, pRanges)
                {
                    Output = pOut,
                    Lse = pLse,
                    DOutput = pDOut,
                    Dq = dq.IsEmpty ? null : pDq,
                    Dk = dk.IsEmpty ? null : pDk,
                    Dv = dv.IsEmpty ? null : pDv,
                };
                if (Vector512.IsHardwareAccelerated) Parallel.For(0, batch * kvHeads, i => BackwardGroup<Lanes512, Vector512<float>>(p, i));
                else if (Vector256.IsHardwareAccelerated) Parallel.For(0, batch * kvHeads, i => BackwardGroup<Lanes256, Vector256<float>>(p, i));
                else Parallel.For(0, batch * kvHeads, i => BackwardGroup<Lanes128, Vector128<float>>(p, i));
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(keyRanges);
        }
    }

    /// <summary>One (batch, head): blocks of RowBlock query rows, each scoring its key range, softmax per row, then P·V.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ForwardHead<TL, TV>(Problem p, int task) where TL : struct, ILanes<TV> where TV : struct
    {
        int b = task / p.Heads, h = task % p.Heads, g = h / (p.Heads / p.KvHeads);
        int T = p.SeqLen, D = p.HeadDim, tp = PaddedKeys<TL, TV>(T), dp = PaddedDim<TL, TV>(D);
        float[] rented = ArrayPool<float>.Shared.Rent(D * tp + T * dp + RowBlock * tp + RowBlock * dp);
        try
        {
            fixed (float* scratch = rented)
            {
                float* kt = scratch, vp = kt + D * tp, scores = vp + T * dp, acc = scores + RowBlock * tp;
                Transpose(kt, tp, p.K + ((long)b * T * p.KvHeads + g) * D, p.KvHeads * D, T, D);
                PadRows<TL, TV>(vp, dp, p.V + ((long)b * T * p.KvHeads + g) * D, p.KvHeads * D, T, D);
                float scale = 1f / MathF.Sqrt(D);
                int qStride = p.Heads * D;
                float* qHead = p.Q + ((long)b * T * p.Heads + h) * D, outHead = p.Output + ((long)b * T * p.Heads + h) * D;
                float* lseRow = p.Lse + ((long)b * p.Heads + h) * T;
                Span<float> max = stackalloc float[RowBlock], sum = stackalloc float[RowBlock];
                for (int t0 = 0; t0 < T; t0 += RowBlock)
                {
                    var block = new RowBlockRange(p, b, t0);
                    int count = block.Count, padded = RoundUp(count, TL.Count);
                    Scores<TL, TV>(scores, padded, qHead + (long)block.Row(0) * qStride, qHead + (long)block.Row(1) * qStride,
                        qHead + (long)block.Row(2) * qStride, qHead + (long)block.Row(3) * qStride, kt + block.First, tp, D, padded, scale);
                    for (int r = 0; r < RowBlock; r++)
                    {
                        float* row = scores + r * padded;
                        block.Mask(new Span<float>(row, padded), r);
                        max[r] = RowMax<TL, TV>(row, padded);
                        sum[r] = ExpShiftedSum<TL, TV>(row, padded, max[r]);
                    }
                    WeightedRows<TL, TV>(acc, dp, scores, padded, vp + (long)block.First * dp, dp, count);
                    for (int r = 0; r < block.Valid; r++)
                    {
                        int t = t0 + r;
                        ScaleTo<TL, TV>(outHead + (long)t * qStride, acc + r * dp, D, 1f / sum[r]);
                        lseRow[t] = max[r] + MathF.Log(sum[r]);
                    }
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(rented);
        }
    }

    /// <summary>One (batch, kvHead): every query head of the group in order, blocks of query rows in order, accumulating dk/dv in scratch.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BackwardGroup<TL, TV>(Problem p, int task) where TL : struct, ILanes<TV> where TV : struct
    {
        int b = task / p.KvHeads, g = task % p.KvHeads, groupSize = p.Heads / p.KvHeads;
        int T = p.SeqLen, D = p.HeadDim, tp = PaddedKeys<TL, TV>(T), dp = PaddedDim<TL, TV>(D), rows = RoundUp(T, RowBlock);
        bool wantDs = p.Dq != null || p.Dk != null;
        float[] rented = ArrayPool<float>.Shared.Rent(2 * D * tp + 3 * T * dp + 2 * rows * dp + rows + 2 * RowBlock * tp + RowBlock * dp);
        try
        {
            fixed (float* scratch = rented)
            {
                float* kt = scratch, vt = kt + D * tp, kp = vt + D * tp, dkAcc = kp + T * dp, dvAcc = dkAcc + T * dp;
                float* qp = dvAcc + T * dp, dOutP = qp + rows * dp, delta = dOutP + rows * dp;
                float* probs = delta + rows, ds = probs + RowBlock * tp, dqBlock = ds + RowBlock * tp;
                int kvStride = p.KvHeads * D, qStride = p.Heads * D;
                float* kHead = p.K + ((long)b * T * p.KvHeads + g) * D, vHead = p.V + ((long)b * T * p.KvHeads + g) * D;
                Transpose(kt, tp, kHead, kvStride, T, D);
                if (wantDs) Transpose(vt, tp, vHead, kvStride, T, D);
                if (p.Dq != null) PadRows<TL, TV>(kp, dp, kHead, kvStride, T, D);
                if (p.Dk != null) new Span<float>(dkAcc, T * dp).Clear();
                if (p.Dv != null) new Span<float>(dvAcc, T * dp).Clear();
                // Rows T..rows stay zero: the last block's extra rows then score 0, carry dOut = 0 and delta = 0, and add nothing to dk or dv.
                new Span<float>(qp + T * dp, (rows - T) * dp).Clear();
                new Span<float>(dOutP + T * dp, (rows - T) * dp).Clear();
                new Span<float>(delta + T, rows - T).Clear();
                float scale = 1f / MathF.Sqrt(D);
                for (int h = g * groupSize; h < (g + 1) * groupSize; h++)
                {
                    long headOffset = ((long)b * T * p.Heads + h) * D;
                    float* lseRow = p.Lse + ((long)b * p.Heads + h) * T;
                    PadRows<TL, TV>(qp, dp, p.Q + headOffset, qStride, T, D);
                    PadRows<TL, TV>(dOutP, dp, p.DOutput + headOffset, qStride, T, D);
                    for (int t = 0; t < T; t++) delta[t] = Dot<TL, TV>(dOutP + t * dp, p.Output + headOffset + (long)t * qStride, D);
                    for (int t0 = 0; t0 < T; t0 += RowBlock)
                    {
                        var block = new RowBlockRange(p, b, t0);
                        int count = block.Count, padded = RoundUp(count, TL.Count);
                        float* qBlock = qp + t0 * dp, dOutBlock = dOutP + t0 * dp;
                        Scores<TL, TV>(probs, padded, qBlock, qBlock + dp, qBlock + 2 * dp, qBlock + 3 * dp, kt + block.First, tp, D, padded, scale);
                        for (int r = 0; r < RowBlock; r++)
                        {
                            float* row = probs + r * padded;
                            block.Mask(new Span<float>(row, padded), r);
                            ExpShifted<TL, TV>(row, padded, lseRow[block.Row(r)]);
                        }
                        if (p.Dv != null) RankUpdate<TL, TV>(dvAcc + (long)block.First * dp, dp, probs, padded, dOutBlock, dp, count);
                        if (!wantDs) continue;
                        Scores<TL, TV>(ds, padded, dOutBlock, dOutBlock + dp, dOutBlock + 2 * dp, dOutBlock + 3 * dp, vt + block.First, tp, D, padded, 1f);
                        for (int r = 0; r < RowBlock; r++) ScoreGradients<TL, TV>(ds + r * padded, probs + r * padded, padded, delta[t0 + r], scale);
                        if (p.Dq != null)
                        {
                            WeightedRows<TL, TV>(dqBlock, dp, ds, padded, kp + (long)block.First * dp, dp, count);
                            for (int r = 0; r < block.Valid; r++) AddTo<TL, TV>(p.Dq + headOffset + (long)(t0 + r) * qStride, dqBlock + r * dp, D);
                        }
                        if (p.Dk != null) RankUpdate<TL, TV>(dkAcc + (long)block.First * dp, dp, ds, padded, qBlock, dp, count);
                    }
                }
                long kvOffset = ((long)b * T * p.KvHeads + g) * D;
                if (p.Dk != null)
                    for (int j = 0; j < T; j++) AddTo<TL, TV>(p.Dk + kvOffset + (long)j * kvStride, dkAcc + j * dp, D);
                if (p.Dv != null)
                    for (int j = 0; j < T; j++) AddTo<TL, TV>(p.Dv + kvOffset + (long)j * kvStride, dvAcc + j * dp, D);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(rented);
        }
    }

    /// <summary>s[r, c] = scale · Σ_d a_r[d]·bt[d, c] for 4 rows and c &lt; count (a multiple of the vector width): a block of scores against transposed keys.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scores<TL, TV>(float* s, int sStride, float* a0, float* a1, float* a2, float* a3, float* bt, int btStride, int depth, int count, float scale)
        where TL : struct, ILanes<TV> where TV : struct
    {
        int w = TL.Count;
        TV factor = TL.Splat(scale);
        int c = 0;
        for (; c + 2 * w <= count; c += 2 * w)
        {
            TV s00 = default, s01 = default, s10 = default, s11 = default, s20 = default, s21 = default, s30 = default, s31 = default;
            float* col = bt + c;
            for (int d = 0; d < depth; d++, col += btStride)
            {
                TV b0 = TL.Load(col), b1 = TL.Load(col + w);
                TV x = TL.Splat(a0[d]);
                s00 = TL.MulAdd(x, b0, s00); s01 = TL.MulAdd(x, b1, s01);
                x = TL.Splat(a1[d]);
                s10 = TL.MulAdd(x, b0, s10); s11 = TL.MulAdd(x, b1, s11);
                x = TL.Splat(a2[d]);
                s20 = TL.MulAdd(x, b0, s20); s21 = TL.MulAdd(x, b1, s21);
                x = TL.Splat(a3[d]);
                s30 = TL.MulAdd(x, b0, s30); s31 = TL.MulAdd(x, b1, s31);
            }
            TL.Store(s + c, TL.Mul(s00, factor)); TL.Store(s + c + w, TL.Mul(s01, factor));
            TL.Store(s + sStride + c, TL.Mul(s10, factor)); TL.Store(s + sStride + c + w, TL.Mul(s11, factor));
            TL.Store(s + 2 * sStride + c, TL.Mul(s20, factor)); TL.Store(s + 2 * sStride + c + w, TL.Mul(s21, factor));
            TL.Store(s + 3 * sStride + c, TL.Mul(s30, factor)); TL.Store(s + 3 * sStride + c + w, TL.Mul(s31, factor));
        }
        for (; c < count; c += w)
        {
            TV s0 = default, s1 = default, s2 = default, s3 = default;
            float* col = bt + c;
            for (int d = 0; d < depth; d++, col += btStride)
            {
                TV b0 = TL.Load(col);
                s0 = TL.MulAdd(TL.Splat(a0[d]), b0, s0);
                s1 = TL.MulAdd(TL.Splat(a1[d]), b0, s1);
                s2 = TL.MulAdd(TL.Splat(a2[d]), b0, s2);
                s3 = TL.MulAdd(TL.Splat(a3[d]), b0, s3);
            }
            TL.Store(s + c, TL.Mul(s0, factor));
            TL.Store(s + sStride + c, TL.Mul(s1, factor));
            TL.Store(s + 2 * sStride + c, TL.Mul(s2, factor));
            TL.Store(s + 3 * sStride + c, TL.Mul(s3, factor));
        }
    }

    /// <summary>o[r, :width] = Σ_{j&lt;count} wts[r, j]·rows[j, :width] for 4 rows (width a multiple of the vector width): P·V and dS·K.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightedRows<TL, TV>(float* o, int width, float* wts, int wStride, float* rows, int rowStride, int count)
        where TL : struct, ILanes<TV> where TV : struct
    {
        int w = TL.Count;
        float* w0 = wts, w1 = wts + wStride, w2 = wts + 2 * wStride, w3 = wts + 3 * wStride;
        int c = 0;
        for (; c + 2 * w <= width; c += 2 * w)
        {
            TV o00 = default, o01 = default, o10 = default, o11 = default, o20 = default, o21 = default, o30 = default, o31 = default;
            float* row = rows + c;
            for (int j = 0; j < count; j++, row += rowStride)
            {
                TV b0 = TL.Load(row), b1 = TL.Load(row + w);
                TV x = TL.Splat(w0[j]);
                o00 = TL.MulAdd(x, b0, o00); o01 = TL.MulAdd(x, b1, o01);
                x = TL.Splat(w1[j]);
                o10 = TL.MulAdd(x, b0, o10); o11 = TL.MulAdd(x, b1, o11);
                x = TL.Splat(w2[j]);
                o20 = TL.MulAdd(x, b0, o20); o21 = TL.MulAdd(x, b1, o21);
                x = TL.Splat(w3[j]);
                o30 = TL.MulAdd(x, b0, o30); o31 = TL.MulAdd(x, b1, o31);
            }
            TL.Store(o + c, o00); TL.Store(o + c + w, o01);
            TL.Store(o + width + c, o10); TL.Store(o + width + c + w, o11);
            TL.Store(o + 2 * width + c, o20); TL.Store(o + 2 * width + c + w, o21);
            TL.Store(o + 3 * width + c, o30); TL.Store(o + 3 * width + c + w, o31);
        }
        for (; c < width; c += w)
        {
            TV o0 = default, o1 = default, o2 = default, o3 = default;
            float* row = rows + c;
            for (int j = 0; j < count; j++, row += rowStride)
            {
                TV b0 = TL.Load(row);
                o0 = TL.MulAdd(TL.Splat(w0[j]), b0, o0);
                o1 = TL.MulAdd(TL.Splat(w1[j]), b0, o1);
                o2 = TL.MulAdd(TL.Splat(w2[j]), b0, o2);
                o3 = TL.MulAdd(TL.Splat(w3[j]), b0, o3);
            }
            TL.Store(o + c, o0);
            TL.Store(o + width + c, o1);
            TL.Store(o + 2 * width + c, o2);
            TL.Store(o + 3 * width + c, o3);
        }
    }

    /// <summary>rows[j, :width] += Σ_{r&lt;4} wts[r, j]·a[r, :width] for j &lt; count (width a multiple of the vector width): dk += dSᵀ·Q and dv += Pᵀ·dOut.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RankUpdate<TL, TV>(float* rows, int width, float* wts, int wStride, float* a, int aStride, int count)
        where TL : struct, ILanes<TV> where TV : struct
    {
        int w = TL.Count;
        float* w0 = wts, w1 = wts + wStride, w2 = wts + 2 * wStride, w3 = wts + 3 * wStride;
        int c = 0;
        for (; c + 2 * w <= width; c += 2 * w)
        {
            TV a00 = TL.Load(a + c), a01 = TL.Load(a + c + w);
            TV a10 = TL.Load(a + aStride + c), a11 = TL.Load(a + aStride + c + w);
            TV a20 = TL.Load(a + 2 * aStride + c), a21 = TL.Load(a + 2 * aStride + c + w);
            TV a30 = TL.Load(a + 3 * aStride + c), a31 = TL.Load(a + 3 * aStride + c + w);
            float* row = rows + c;
            for (int j = 0; j < count; j++, row += width)
            {
                TV x0 = TL.Splat(w0[j]), x1 = TL.Splat(w1[j]), x2 = TL.Splat(w2[j]), x3 = TL.Splat(w3[j]);
                TV r0 = TL.MulAdd(x0, a00, TL.Load(row)), r1 = TL.MulAdd(x0, a01, TL.Load(row + w));
                r0 = TL.MulAdd(x1, a10, r0); r1 = TL.MulAdd(x1, a11, r1);
                r0 = TL.MulAdd(x2, a20, r0); r1 = TL.MulAdd(x2, a21, r1);
                r0 = TL.MulAdd(x3, a30, r0); r1 = TL.MulAdd(x3, a31, r1);
                TL.Store(row, r0); TL.Store(row + w, r1);
            }
        }
        for (; c < width; c += w)
        {
            TV a0 = TL.Load(a + c), a1 = TL.Load(a + aStride + c), a2 = TL.Load(a + 2 * aStride + c), a3 = TL.Load(a + 3 * aStride + c);
            float* row = rows + c;
            for (int j = 0; j < count; j++, row += width)
            {
                TV r0 = TL.MulAdd(TL.Splat(w0[j]), a0, TL.Load(row));
                r0 = TL.MulAdd(TL.Splat(w1[j]), a1, r0);
                r0 = TL.MulAdd(TL.Splat(w2[j]), a2, r0);
                r0 = TL.MulAdd(TL.Splat(w3[j]), a3, r0);
                TL.Store(row, r0);
            }
        }
    }

    /// <summary>max_j row[j] over count elements (a multiple of the vector width).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float RowMax<TL, TV>(float* row, int count) where TL : struct, ILanes<TV> where TV : struct
    {
        TV max = TL.Load(row);
        for (int c = TL.Count; c < count; c += TL.Count) max = TL.Max(max, TL.Load(row + c));
        return TL.MaxAcross(max);
    }

    /// <summary>row[j] = e^(row[j] − shift) over count elements (a multiple of the vector width); returns their sum, vector lanes first.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float ExpShiftedSum<TL, TV>(float* row, int count, float shift) where TL : struct, ILanes<TV> where TV : struct
    {
        TV splat = TL.Splat(shift), sum = default;
        for (int c = 0; c < count; c += TL.Count)
        {
            TV e = TL.Exp(TL.Subtract(TL.Load(row + c), splat));
            TL.Store(row + c, e);
            sum = TL.Add(sum, e);
        }
        return TL.SumAcross(sum);
    }

    /// <summary>row[j] = e^(row[j] − shift) over count elements (a multiple of the vector width).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ExpShifted<TL, TV>(float* row, int count, float shift) where TL : struct, ILanes<TV> where TV : struct
    {
        TV splat = TL.Splat(shift);
        for (int c = 0; c < count; c += TL.Count) TL.Store(row + c, TL.Exp(TL.Subtract(TL.Load(row + c), splat)));
    }

    /// <summary>ds[j] = p[j]·(dp[j] − delta)·scale in place over count elements (a multiple of the vector width), dp given in ds.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ScoreGradients<TL, TV>(float* ds, float* p, int count, float delta, float scale) where TL : struct, ILanes<TV> where TV : struct
    {
        TV splatDelta = TL.Splat(delta), splatScale = TL.Splat(scale);
        for (int c = 0; c < count; c += TL.Count)
            TL.Store(ds + c, TL.Mul(TL.Mul(TL.Load(p + c), TL.Subtract(TL.Load(ds + c), splatDelta)), splatScale));
    }

    /// <summary>dst[d, j] = src[j, d] for j &lt; n, d &lt; depth; columns n..dstStride are zeroed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Transpose(float* dst, int dstStride, float* src, int srcStride, int n, int depth)
    {
        int j = 0;
        // Whole 16×16 blocks by AVX-512 shuffles (8×8 by AVX), then the last rows four or one at a time.
        int block = Avx512F.IsSupported && depth % 16 == 0 ? 16 : Avx.IsSupported && depth % 8 == 0 ? 8 : 0;
        for (; block > 0 && j + block <= n; j += block)
            for (int d = 0; d < depth; d += block)
            {
                float* from = src + (long)j * srcStride + d, to = dst + (long)d * dstStride + j;
                if (block == 16) CpuMatMul.Transpose16x16(from, srcStride, to, dstStride);
                else CpuMatMul.Transpose8x8(from, srcStride, to, dstStride);
            }
        for (; j + 4 <= n; j += 4)
        {
            // Four source rows at a time: each destination row gets 4 adjacent floats per store.
            float* s0 = src + (long)j * srcStride, s1 = s0 + srcStride, s2 = s1 + srcStride, s3 = s2 + srcStride;
            float* column = dst + j;
            for (int d = 0; d < depth; d++, column += dstStride) Vector128.Create(s0[d], s1[d], s2[d], s3[d]).Store(column);
        }
        for (; j < n; j++)
        {
            float* sRow = src + (long)j * srcStride;
            for (int d = 0; d < depth; d++) dst[(long)d * dstStride + j] = sRow[d];
        }
        for (int d = 0; d < depth; d++) new Span<float>(dst + (long)d * dstStride + n, dstStride - n).Clear();
    }

    /// <summary>dst[j, :depth] = src[j, :depth] for j &lt; n, with dst's columns depth..dstStride zeroed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PadRows<TL, TV>(float* dst, int dstStride, float* src, int srcStride, int n, int depth) where TL : struct, ILanes<TV> where TV : struct
    {
        for (int j = 0; j < n; j++)
        {
            float* dRow = dst + (long)j * dstStride, sRow = src + (long)j * srcStride;
            int d = 0;
            for (; d + TL.Count <= depth; d += TL.Count) TL.Store(dRow + d, TL.Load(sRow + d));
            for (; d < depth; d++) dRow[d] = sRow[d];
            for (; d < dstStride; d++) dRow[d] = 0;
        }
    }

    /// <summary>dst[:n] += src[:n].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddTo<TL, TV>(float* dst, float* src, int n) where TL : struct, ILanes<TV> where TV : struct
    {
        int i = 0;
        for (; i + TL.Count <= n; i += TL.Count) TL.Store(dst + i, TL.Add(TL.Load(dst + i), TL.Load(src + i)));
        for (; i < n; i++) dst[i] += src[i];
    }

    /// <summary>dst[:n] = src[:n]·factor.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ScaleTo<TL, TV>(float* dst, float* src, int n, float factor) where TL : struct, ILanes<TV> where TV : struct
    {
        TV splat = TL.Splat(factor);
        int i = 0;
        for (; i + TL.Count <= n; i += TL.Count) TL.Store(dst + i, TL.Mul(TL.Load(src + i), splat));
        for (; i < n; i++) dst[i] = src[i] * factor;
    }

    /// <summary>Σ_i a[i]·b[i] over n elements.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Dot<TL, TV>(float* a, float* b, int n) where TL : struct, ILanes<TV> where TV : struct
    {
        TV acc = default;
        int i = 0;
        for (; i + TL.Count <= n; i += TL.Count) acc = TL.MulAdd(TL.Load(a + i), TL.Load(b + i), acc);
        float sum = TL.SumAcross(acc);
        for (; i < n; i++) sum += a[i] * b[i];
        return sum;
    }

    /// <summary>
    /// Per token: [0, batch·seqLen) holds the first key it may see: the first position of its segment id at or before it, moved up to the
    /// window's first key (no valid key lies earlier); [batch·seqLen, 2·batch·seqLen) holds 1 where a different segment id occurs between
    /// its segment's first position and the token, so keys need a per-key check.
    /// </summary>
    private static int[] KeyRanges(ReadOnlySpan<int> segments, int batch, int seqLen, int window)
    {
        int n = batch * seqLen;
        int[] ranges = ArrayPool<int>.Shared.Rent(2 * n);
        for (int b = 0; b < batch; b++)
        {
            var seg = segments.Slice(b * seqLen, seqLen);
            for (int t = 0; t < seqLen; t++)
            {
                int i = b * seqLen + t;
                if (t > 0 && seg[t] == seg[t - 1])
                {
                    ranges[i] = ranges[i - 1];
                    ranges[n + i] = ranges[n + i - 1];
                    continue;
                }
                int first = seg[..t].IndexOf(seg[t]);
                ranges[i] = first < 0 ? t : first;
                ranges[n + i] = first < 0 ? 0 : 1;
            }
        }
        for (int i = 0; i < n; i++) ranges[i] = Math.Max(ranges[i], AttentionShape.FirstKey(i % seqLen, window));
        return ranges;
    }

    /// <summary>
    /// RowBlock consecutive query rows starting at t0 and the union of their key ranges [First, First + Count).
    /// Rows past the sequence end take the last row's mask and lse (computed, never written).
    /// </summary>
    private readonly ref struct RowBlockRange
    {
        private readonly int* _segment, _keyStart, _gapped;
        private readonly int _t0;
        public readonly int First, Count, Valid;

        public RowBlockRange(in Problem p, int b, int t0)
        {
            int T = p.SeqLen, n = p.Batch * T;
            _segment = p.Segments + (long)b * T;
            _keyStart = p.KeyRanges + (long)b * T;
            _gapped = p.KeyRanges + n + (long)b * T;
            _t0 = t0;
            Valid = Math.Min(RowBlock, T - t0);
            int first = int.MaxValue;
            for (int r = 0; r < Valid; r++) first = Math.Min(first, _keyStart[t0 + r]);
            First = first;
            Count = t0 + Valid - first;
        }

        public int Row(int r) => _t0 + Math.Min(r, Valid - 1);

        /// <summary>Sets to −∞ the scores of row r's keys that are later than the row, before its window or in another segment.</summary>
        public void Mask(Span<float> scores, int r)
        {
            int t = Row(r), start = _keyStart[t] - First, end = t - First + 1;
            scores[..start].Fill(float.NegativeInfinity);
            scores[end..].Fill(float.NegativeInfinity);
            if (_gapped[t] == 0) return;
            int id = _segment[t];
            for (int j = start; j < end; j++)
                if (_segment[First + j] != id) scores[j] = float.NegativeInfinity;
        }
    }

    private readonly struct Problem(int batch, int seqLen, int heads, int kvHeads, int headDim, float* q, float* k, float* v, int* segments, int* keyRanges)
    {
        public readonly int Batch = batch, SeqLen = seqLen, Heads = heads, KvHeads = kvHeads, HeadDim = headDim;
        public readonly float* Q = q, K = k, V = v;
        public readonly int* Segments = segments, KeyRanges = keyRanges;
        public float* Output { get; init; }
        public float* Lse { get; init; }
        public float* DOutput { get; init; }
        public float* Dq { get; init; }
        public float* Dk { get; init; }
        public float* Dv { get; init; }
    }

    private static int RoundUp(int x, int multiple) => (x + multiple - 1) / multiple * multiple;

    /// <summary>Key-axis stride of transposed scratch: a vector read starting at any key below seqLen stays inside.</summary>
    private static int PaddedKeys<TL, TV>(int seqLen) where TL : struct, ILanes<TV> where TV : struct => RoundUp(seqLen, TL.Count) + TL.Count;

    private static int PaddedDim<TL, TV>(int headDim) where TL : struct, ILanes<TV> where TV : struct => RoundUp(headDim, TL.Count);
}

public sealed partial class CpuBackend
{
    public void AttentionForward(Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor segments, AttentionShape s)
        => CpuAttention.Forward(F(output), F(lse), F(q), F(k), F(v), I(segments), s.Batch, s.SeqLen, s.Heads, s.KvHeads, s.HeadDim, s.Window);

    public void AttentionBackward(Tensor? dq, Tensor? dk, Tensor? dv, Tensor dOutput, Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor segments, AttentionShape s)
        => CpuAttention.Backward(F(dq), F(dk), F(dv), F(dOutput), F(output), F(lse), F(q), F(k), F(v), I(segments), s.Batch, s.SeqLen, s.Heads, s.KvHeads, s.HeadDim, s.Window);
}

public sealed partial class IlgpuBackend
{
    Attention? _attention;
    Attention AttentionLauncher => Launcher(ref _attention, a => new Attention(a));

    public void AttentionForward(Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor segments, AttentionShape s)
        => AttentionLauncher.Forward(F(output), F(lse), F(q), F(k), F(v), I(segments), s.Batch, s.SeqLen, s.Heads, s.KvHeads, s.HeadDim, s.Window);

    public void AttentionBackward(Tensor? dq, Tensor? dk, Tensor? dv, Tensor dOutput, Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor segments, AttentionShape s)
        => AttentionLauncher.Backward(F(dq), F(dk), F(dv), F(dOutput), F(output), F(lse), F(q), F(k), F(v), I(segments), s.Batch, s.SeqLen, s.Heads, s.KvHeads, s.HeadDim, s.Window);
}
