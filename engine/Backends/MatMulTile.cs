using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Engine.Backends.Cpu;

namespace Engine.Backends;

public static unsafe partial class CpuMatMul
{
    /// <summary>
    /// A register tile of C: <see cref="Rows"/> rows × two vectors of columns, its multiply loop and the block transpose that packs a
    /// transposed B. One loop body (<see cref="Multiply{T, TL, TV}"/>, over the shared <see cref="ILanes{TV}"/>) serves every width; the
    /// row count fits the register file.
    /// </summary>
    internal interface ITile
    {
        /// <summary>Rows of C per call: each step broadcasts one A value per row.</summary>
        static abstract int Rows { get; }

        /// <summary>Columns of C per call: two vectors of B per step, the width of a packed B panel.</summary>
        static abstract int Width { get; }

        /// <summary>C[Rows, Width] = init[Rows, Width] + A[Rows, kc] · B[kc, Width]: A element (r, kk) at a[r·aRowStride + kk·aDepthStride],
        /// B packed Width wide per step.</summary>
        static abstract void Kernel(float* a, nint aRowStride, nint aDepthStride, float* b, int kc, float* c, nint ldc, float* init, nint initStride);

        /// <summary>Whether <see cref="Transpose"/> has its instructions here (else a transposed B is packed element by element).</summary>
        static abstract bool CanTranspose { get; }

        /// <summary>dst[e·dstStride + i] = src[i·srcStride + e] for a block of one vector's lanes squared (Width / 2 × Width / 2).</summary>
        static abstract void Transpose(float* src, nint srcStride, float* dst, nint dstStride);
    }

    /// <summary>AVX-512 (32 vector registers): 8 × 32, 16 accumulators.</summary>
    internal readonly struct Tile512 : ITile
    {
        public static int Rows => 8;
        public static int Width => 2 * Lanes512.Count;
        public static bool CanTranspose => Avx512F.IsSupported;
        public static void Transpose(float* src, nint srcStride, float* dst, nint dstStride) => Transpose16x16(src, srcStride, dst, dstStride);

        public static void Kernel(float* a, nint aRowStride, nint aDepthStride, float* b, int kc, float* c, nint ldc, float* init, nint initStride)
            => Multiply<Tile512, Lanes512, Vector512<float>>(a, aRowStride, aDepthStride, b, kc, c, ldc, init, initStride);
    }

    /// <summary>AVX2 + FMA (16 vector registers): 6 × 16, 12 accumulators + 2 of B + 1 broadcast.</summary>
    internal readonly struct Tile256 : ITile
    {
        public static int Rows => 6;
        public static int Width => 2 * Lanes256.Count;
        public static bool CanTranspose => Avx.IsSupported;
        public static void Transpose(float* src, nint srcStride, float* dst, nint dstStride) => Transpose8x8(src, srcStride, dst, dstStride);

        public static void Kernel(float* a, nint aRowStride, nint aDepthStride, float* b, int kc, float* c, nint ldc, float* init, nint initStride)
            => Multiply<Tile256, Lanes256, Vector256<float>>(a, aRowStride, aDepthStride, b, kc, c, ldc, init, initStride);
    }

    /// <summary>
    /// The multiply loop of every tile: rows 0–5 always, rows 6–7 when the tile has 8 (a constant per instantiation: the JIT drops the
    /// other branch); every accumulator stays in a register for the whole depth. Each C element is one FMA chain over kk in order.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Multiply<T, TL, TV>(float* a, nint aRowStride, nint aDepthStride, float* b, int kc, float* c, nint ldc, float* init, nint initStride)
        where T : struct, ITile where TL : struct, ILanes<TV> where TV : struct
    {
        int w = TL.Count;
        nint r1 = aRowStride, r2 = 2 * aRowStride, r3 = 3 * aRowStride, r4 = 4 * aRowStride, r5 = 5 * aRowStride,
            r6 = 6 * aRowStride, r7 = 7 * aRowStride;
        TV c00 = TL.Load(init), c01 = TL.Load(init + w), c10 = TL.Load(init + initStride), c11 = TL.Load(init + initStride + w);
        TV c20 = TL.Load(init + 2 * initStride), c21 = TL.Load(init + 2 * initStride + w);
        TV c30 = TL.Load(init + 3 * initStride), c31 = TL.Load(init + 3 * initStride + w);
        TV c40 = TL.Load(init + 4 * initStride), c41 = TL.Load(init + 4 * initStride + w);
        TV c50 = TL.Load(init + 5 * initStride), c51 = TL.Load(init + 5 * initStride + w);
        TV c60 = default, c61 = default, c70 = default, c71 = default;
        if (T.Rows == 8)
        {
            c60 = TL.Load(init + 6 * initStride); c61 = TL.Load(init + 6 * initStride + w);
            c70 = TL.Load(init + 7 * initStride); c71 = TL.Load(init + 7 * initStride + w);
        }
        for (int kk = 0; kk < kc; kk++)
        {
            TV b0 = TL.Load(b), b1 = TL.Load(b + w);
            TV av = TL.Splat(a[0]);
            c00 = TL.MulAdd(av, b0, c00); c01 = TL.MulAdd(av, b1, c01);
            av = TL.Splat(a[r1]);
            c10 = TL.MulAdd(av, b0, c10); c11 = TL.MulAdd(av, b1, c11);
            av = TL.Splat(a[r2]);
            c20 = TL.MulAdd(av, b0, c20); c21 = TL.MulAdd(av, b1, c21);
            av = TL.Splat(a[r3]);
            c30 = TL.MulAdd(av, b0, c30); c31 = TL.MulAdd(av, b1, c31);
            av = TL.Splat(a[r4]);
            c40 = TL.MulAdd(av, b0, c40); c41 = TL.MulAdd(av, b1, c41);
            av = TL.Splat(a[r5]);
            c50 = TL.MulAdd(av, b0, c50); c51 = TL.MulAdd(av, b1, c51);
            if (T.Rows == 8)
            {
                av = TL.Splat(a[r6]);
                c60 = TL.MulAdd(av, b0, c60); c61 = TL.MulAdd(av, b1, c61);
                av = TL.Splat(a[r7]);
                c70 = TL.MulAdd(av, b0, c70); c71 = TL.MulAdd(av, b1, c71);
            }
            a += aDepthStride;
            b += 2 * w;
        }
        TL.Store(c, c00); TL.Store(c + w, c01); c += ldc;
        TL.Store(c, c10); TL.Store(c + w, c11); c += ldc;
        TL.Store(c, c20); TL.Store(c + w, c21); c += ldc;
        TL.Store(c, c30); TL.Store(c + w, c31); c += ldc;
        TL.Store(c, c40); TL.Store(c + w, c41); c += ldc;
        TL.Store(c, c50); TL.Store(c + w, c51);
        if (T.Rows == 8)
        {
            c += ldc;
            TL.Store(c, c60); TL.Store(c + w, c61); c += ldc;
            TL.Store(c, c70); TL.Store(c + w, c71);
        }
    }

    /// <summary>A tile with rows or columns past the matrix edge: run the kernel on a full-size copy, write back the valid part.</summary>
    private static void EdgeTile<T>(float* a, nint aRowStride, nint aDepthStride, float* b, int kc, float* c, nint ldc,
        float* init, nint initStride, int rows, int cols, float* edge) where T : struct, ITile
    {
        for (int r = 0; r < T.Rows; r++)
            for (int j = 0; j < T.Width; j++)
                edge[r * T.Width + j] = r < rows && j < cols ? init[r * initStride + j] : 0;
        T.Kernel(a, aRowStride, aDepthStride, b, kc, edge, T.Width, edge, T.Width);
        for (int r = 0; r < rows; r++)
            new ReadOnlySpan<float>(edge + r * T.Width, cols).CopyTo(new Span<float>(c + r * ldc, cols));
    }
}
