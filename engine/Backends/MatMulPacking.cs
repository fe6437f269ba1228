using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Backends;

public static unsafe partial class CpuMatMul
{
    /// <summary>
    /// Packs B[p0..p0+kc, j0..j0+width] as consecutive panels of the tile's width: panel p holds, for each depth step,
    /// Width consecutive columns (zero past the matrix's last column).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackB<T>(Operand b, int p0, int kc, int j0, int width, float* dst) where T : struct, ITile
    {
        for (int start = 0; start < width; start += T.Width)
        {
            int cols = Math.Min(T.Width, width - start);
            float* src = b.Data + (nint)p0 * b.RowStride + (nint)(j0 + start) * b.ColStride;
            if (b.ColStride == 1)
            {
                for (int kk = 0; kk < kc; kk++, dst += T.Width)
                {
                    float* row = src + kk * b.RowStride;
                    if (cols == T.Width)
                        for (int j = 0; j < T.Width; j += Vector256<float>.Count) Vector256.Store(Vector256.Load(row + j), dst + j);
                    else
                    {
                        new ReadOnlySpan<float>(row, cols).CopyTo(new Span<float>(dst, cols));
                        new Span<float>(dst + cols, T.Width - cols).Clear();
                    }
                }
            }
            else if (cols == T.Width && b.RowStride == 1 && T.CanTranspose)
            {
                int block = T.Width / 2;
                for (int half = 0; half < T.Width; half += block)
                {
                    float* rows = src + half * b.ColStride;
                    int kk = 0;
                    for (; kk + block <= kc; kk += block)
                        T.Transpose(rows + kk, b.ColStride, dst + kk * T.Width + half, T.Width);
                    for (; kk < kc; kk++)
                        for (int jj = 0; jj < block; jj++) dst[kk * T.Width + half + jj] = rows[jj * b.ColStride + kk];
                }
                dst += kc * T.Width;
            }
            else
            {
                for (int jj = 0; jj < cols; jj++)
                {
                    float* column = src + jj * b.ColStride;
                    for (int kk = 0; kk < kc; kk++) dst[kk * T.Width + jj] = column[kk * b.RowStride];
                }
                for (int kk = 0; kk < kc; kk++)
                    for (int jj = cols; jj < T.Width; jj++) dst[kk * T.Width + jj] = 0;
                dst += kc * T.Width;
            }
        }
    }

    /// <summary>dst[e·dstStride + i] = src[i·srcStride + e] for a 16×16 block: unpack pairs, then quads, then 128-bit lanes twice.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Transpose16x16(float* src, nint srcStride, float* dst, nint dstStride)
    {
        var r0 = Vector512.Load(src); var r1 = Vector512.Load(src + srcStride);
        var r2 = Vector512.Load(src + 2 * srcStride); var r3 = Vector512.Load(src + 3 * srcStride);
        var r4 = Vector512.Load(src + 4 * srcStride); var r5 = Vector512.Load(src + 5 * srcStride);
        var r6 = Vector512.Load(src + 6 * srcStride); var r7 = Vector512.Load(src + 7 * srcStride);
        var r8 = Vector512.Load(src + 8 * srcStride); var r9 = Vector512.Load(src + 9 * srcStride);
        var r10 = Vector512.Load(src + 10 * srcStride); var r11 = Vector512.Load(src + 11 * srcStride);
        var r12 = Vector512.Load(src + 12 * srcStride); var r13 = Vector512.Load(src + 13 * srcStride);
        var r14 = Vector512.Load(src + 14 * srcStride); var r15 = Vector512.Load(src + 15 * srcStride);

        // Per 128-bit lane L, after the first two steps q[4g + e] holds element 4L + e of rows 4g..4g+3.
        Quads(r0, r1, r2, r3, out var q0, out var q1, out var q2, out var q3);
        Quads(r4, r5, r6, r7, out var q4, out var q5, out var q6, out var q7);
        Quads(r8, r9, r10, r11, out var q8, out var q9, out var q10, out var q11);
        Quads(r12, r13, r14, r15, out var q12, out var q13, out var q14, out var q15);

        // Gather the four row-quads of element e (and of e + 4, e + 8, e + 12) into whole columns.
        Lanes(q0, q4, q8, q12, dst, dstStride);
        Lanes(q1, q5, q9, q13, dst + dstStride, dstStride);
        Lanes(q2, q6, q10, q14, dst + 2 * dstStride, dstStride);
        Lanes(q3, q7, q11, q15, dst + 3 * dstStride, dstStride);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Quads(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d,
        out Vector512<float> e0, out Vector512<float> e1, out Vector512<float> e2, out Vector512<float> e3)
    {
        var abLow = Avx512F.UnpackLow(a, b).AsDouble();
        var abHigh = Avx512F.UnpackHigh(a, b).AsDouble();
        var cdLow = Avx512F.UnpackLow(c, d).AsDouble();
        var cdHigh = Avx512F.UnpackHigh(c, d).AsDouble();
        e0 = Avx512F.UnpackLow(abLow, cdLow).AsSingle();
        e1 = Avx512F.UnpackHigh(abLow, cdLow).AsSingle();
        e2 = Avx512F.UnpackLow(abHigh, cdHigh).AsSingle();
        e3 = Avx512F.UnpackHigh(abHigh, cdHigh).AsSingle();
    }

    /// <summary>From the quads of element e of rows 0-3, 4-7, 8-11, 12-15, stores columns e, e + 4, e + 8, e + 12.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Lanes(Vector512<float> rows0, Vector512<float> rows4, Vector512<float> rows8, Vector512<float> rows12, float* dst, nint dstStride)
    {
        var even0 = Avx512F.Shuffle4x128(rows0, rows4, 0x88);
        var odd0 = Avx512F.Shuffle4x128(rows0, rows4, 0xDD);
        var even8 = Avx512F.Shuffle4x128(rows8, rows12, 0x88);
        var odd8 = Avx512F.Shuffle4x128(rows8, rows12, 0xDD);
        Avx512F.Shuffle4x128(even0, even8, 0x88).Store(dst);
        Avx512F.Shuffle4x128(odd0, odd8, 0x88).Store(dst + 4 * dstStride);
        Avx512F.Shuffle4x128(even0, even8, 0xDD).Store(dst + 8 * dstStride);
        Avx512F.Shuffle4x128(odd0, odd8, 0xDD).Store(dst + 12 * dstStride);
    }

    /// <summary>dst[e·dstStride + i] = src[i·srcStride + e] for an 8×8 block: unpack pairs, then quads (within each 128-bit half), then swap halves.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Transpose8x8(float* src, nint srcStride, float* dst, nint dstStride)
    {
        var r0 = Vector256.Load(src); var r1 = Vector256.Load(src + srcStride);
        var r2 = Vector256.Load(src + 2 * srcStride); var r3 = Vector256.Load(src + 3 * srcStride);
        var r4 = Vector256.Load(src + 4 * srcStride); var r5 = Vector256.Load(src + 5 * srcStride);
        var r6 = Vector256.Load(src + 6 * srcStride); var r7 = Vector256.Load(src + 7 * srcStride);

        // q[e] holds element e of rows 0-3 in its low half, element e + 4 in its high half (q[4 + e]: rows 4-7).
        Quads(r0, r1, r2, r3, out var q0, out var q1, out var q2, out var q3);
        Quads(r4, r5, r6, r7, out var q4, out var q5, out var q6, out var q7);

        Avx.Permute2x128(q0, q4, 0x20).Store(dst);
        Avx.Permute2x128(q1, q5, 0x20).Store(dst + dstStride);
        Avx.Permute2x128(q2, q6, 0x20).Store(dst + 2 * dstStride);
        Avx.Permute2x128(q3, q7, 0x20).Store(dst + 3 * dstStride);
        Avx.Permute2x128(q0, q4, 0x31).Store(dst + 4 * dstStride);
        Avx.Permute2x128(q1, q5, 0x31).Store(dst + 5 * dstStride);
        Avx.Permute2x128(q2, q6, 0x31).Store(dst + 6 * dstStride);
        Avx.Permute2x128(q3, q7, 0x31).Store(dst + 7 * dstStride);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Quads(Vector256<float> a, Vector256<float> b, Vector256<float> c, Vector256<float> d,
        out Vector256<float> e0, out Vector256<float> e1, out Vector256<float> e2, out Vector256<float> e3)
    {
        var abLow = Avx.UnpackLow(a, b).AsDouble();
        var abHigh = Avx.UnpackHigh(a, b).AsDouble();
        var cdLow = Avx.UnpackLow(c, d).AsDouble();
        var cdHigh = Avx.UnpackHigh(c, d).AsDouble();
        e0 = Avx.UnpackLow(abLow, cdLow).AsSingle();
        e1 = Avx.UnpackHigh(abLow, cdLow).AsSingle();
        e2 = Avx.UnpackLow(abHigh, cdHigh).AsSingle();
        e3 = Avx.UnpackHigh(abHigh, cdHigh).AsSingle();
    }

    /// <summary>
    /// Packs scale·A[i0..i0+rows, p0..p0+kc] into a tile-row micro-panel (zero rows past <paramref name="rows"/>) in whichever
    /// layout copies contiguously from the source; element (r, kk) lands at dst[r·rowStride + kk·depthStride].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackA<T>(Operand a, int i0, int rows, int p0, int kc, float scale, float* dst, out nint rowStride, out nint depthStride)
        where T : struct, ITile
    {
        var panel = new Span<float>(dst, T.Rows * kc);
        float* src = a.Data + (nint)i0 * a.RowStride + (nint)p0 * a.ColStride;
        if (a.ColStride == 1)
        {
            rowStride = kc; depthStride = 1;
            for (int r = 0; r < rows; r++)
                new ReadOnlySpan<float>(src + r * a.RowStride, kc).CopyTo(new Span<float>(dst + r * kc, kc));
            new Span<float>(dst + rows * kc, (T.Rows - rows) * kc).Clear();
        }
        else
        {
            rowStride = 1; depthStride = T.Rows;
            for (int kk = 0; kk < kc; kk++, dst += T.Rows)
            {
                float* column = src + kk * a.ColStride;
                for (int r = 0; r < T.Rows; r++) dst[r] = r < rows ? column[r * a.RowStride] : 0;
            }
        }
        if (scale != 1f) TensorPrimitives.Multiply(panel, scale, panel);
    }

    /// <summary>
    /// Packs scale·A[i0..i0+rows, p0..p0+kc] of an A stored transposed (RowStride 1; rows a multiple of the tile's) as micro-panels one
    /// after another, element (r, kk) of micro-panel q at dst[q·Rows·kc + kk·Rows + r]: the layout PackA gives a transposed A, read a
    /// whole source row segment per step. Asks for the next block's first prefetchRows elements of each row meanwhile.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackATransposed<T>(Operand a, int i0, int rows, int p0, int kc, float scale, float* dst, int prefetchRows)
        where T : struct, ITile
    {
        float* src = a.Data + i0 + (nint)p0 * a.ColStride;
        nint panelStride = (nint)T.Rows * kc;
        for (int kk = 0; kk < kc; kk++, src += a.ColStride)
        {
            float* d = dst + kk * T.Rows;
            for (int r = 0; r < rows; r += T.Rows, d += panelStride)
                Unsafe.CopyBlockUnaligned(d, src + r, (uint)(T.Rows * sizeof(float)));
            if (Sse.IsSupported)
                for (int r = 0; r < prefetchRows; r += 16) Sse.Prefetch0(src + rows + r);
        }
        if (scale != 1f)
        {
            var block = new Span<float>(dst, rows * kc);
            TensorPrimitives.Multiply(block, scale, block);
        }
    }

    /// <summary>Asks for the next A micro-panel's source lines while the current one is being multiplied.</summary>
    private static void PrefetchA(Operand a, int i0, int rows, int p0, int kc)
    {
        if (!Sse.IsSupported) return;
        float* src = a.Data + (nint)i0 * a.RowStride + (nint)p0 * a.ColStride;
        if (a.ColStride == 1)
        {
            for (int r = 0; r < rows; r++)
                for (int kk = 0; kk < kc; kk += 16) Sse.Prefetch0(src + r * a.RowStride + kk);
        }
        else
        {
            for (int kk = 0; kk < kc; kk++) Sse.Prefetch0(src + kk * a.ColStride);
        }
    }
}
