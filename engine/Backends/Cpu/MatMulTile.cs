using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Backends.Cpu;

public static unsafe partial class CpuMatMul
{
    /// <summary>
    /// A register tile of C: <see cref="Rows"/> rows × two vectors of columns, its multiply loop and the block transpose that packs a
    /// transposed B. One loop body (<see cref="Multiply{T, TV}"/>) serves every width; the row count fits the register file.
    /// </summary>
    internal interface ITile
    {
        /// <summary>Rows of C per call: each step broadcasts one A value per row.</summary>
        static abstract int Rows { get; }

        /// <summary>Columns of C per call: two vectors of B per step, the width of a packed B panel.</summary>
        static abstract int Width { get; }

        /// <summary>Whether this width runs on vector hardware here (else .NET emulates it: right, slow).</summary>
        static abstract bool IsHardwareAccelerated { get; }

        /// <summary>C[Rows, Width] = init[Rows, Width] + A[Rows, kc] · B[kc, Width]: A element (r, kk) at a[r·aRowStride + kk·aDepthStride],
        /// B packed Width wide per step.</summary>
        static abstract void Kernel(float* a, nint aRowStride, nint aDepthStride, float* b, int kc, float* c, nint ldc, float* init, nint initStride);

        /// <summary>Whether <see cref="Transpose"/> has its instructions here (else a transposed B is packed element by element).</summary>
        static abstract bool CanTranspose { get; }

        /// <summary>dst[e·dstStride + i] = src[i·srcStride + e] for a block of one vector's lanes squared (Width / 2 × Width / 2).</summary>
        static abstract void Transpose(float* src, nint srcStride, float* dst, nint dstStride);
    }

    /// <summary>The vector operations of the multiply loop.</summary>
    private interface ILanes<TV> where TV : struct
    {
        static abstract int Count { get; }
        static abstract TV Load(float* p);
        static abstract void Store(float* p, TV x);
        static abstract TV Splat(float x);
        static abstract TV MulAdd(TV a, TV b, TV addend);
    }

    /// <summary>AVX-512 (32 vector registers): 8 × 32, 16 accumulators.</summary>
    internal readonly struct Tile512 : ITile, ILanes<Vector512<float>>
    {
        public static int Rows => 8;
        public static int Width => 32;
        public static bool IsHardwareAccelerated => Vector512.IsHardwareAccelerated;
        public static int Count => Vector512<float>.Count;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(float* p) => Vector512.Load(p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float* p, Vector512<float> x) => x.Store(p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Splat(float x) => Vector512.Create(x);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> MulAdd(Vector512<float> a, Vector512<float> b, Vector512<float> addend) => Vector512.FusedMultiplyAdd(a, b, addend);

        public static void Kernel(float* a, nint aRowStride, nint aDepthStride, float* b, int kc, float* c, nint ldc, float* init, nint initStride)
            => Multiply<Tile512, Vector512<float>>(a, aRowStride, aDepthStride, b, kc, c, ldc, init, initStride);

        public static bool CanTranspose => Avx512F.IsSupported;
        public static void Transpose(float* src, nint srcStride, float* dst, nint dstStride) => Transpose16x16(src, srcStride, dst, dstStride);
    }

    /// <summary>AVX2 + FMA (16 vector registers): 6 × 16, 12 accumulators + 2 of B + 1 broadcast.</summary>
    internal readonly struct Tile256 : ITile, ILanes<Vector256<float>>
    {
        public static int Rows => 6;
        public static int Width => 16;
        public static bool IsHardwareAccelerated => Vector256.IsHardwareAccelerated;
        public static int Count => Vector256<float>.Count;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(float* p) => Vector256.Load(p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(float* p, Vector256<float> x) => x.Store(p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Splat(float x) => Vector256.Create(x);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> MulAdd(Vector256<float> a, Vector256<float> b, Vector256<float> addend) => Vector256.FusedMultiplyAdd(a, b, addend);

        public static void Kernel(float* a, nint aRowStride, nint aDepthStride, float* b, int kc, float* c, nint ldc, float* init, nint initStride)
            => Multiply<Tile256, Vector256<float>>(a, aRowStride, aDepthStride, b, kc, c, ldc, init, initStride);

        public static bool CanTranspose => Avx.IsSupported;
        public static void Transpose(float* src, nint srcStride, float* dst, nint dstStride) => Transpose8x8(src, srcStride, dst, dstStride);
    }

    /// <summary>
    /// The multiply loop of every tile: rows 0–5 always, rows 6–7 when the tile has 8 (a constant per instantiation: the JIT drops the
    /// other branch); every accumulator stays in a register for the whole depth. Each C element is one FMA chain over kk in order.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Multiply<T, TV>(float* a, nint aRowStride, nint aDepthStride, float* b, int kc, float* c, nint ldc, float* init, nint initStride)
        where T : struct, ITile, ILanes<TV> where TV : struct
    {
        int w = T.Count;
        nint r1 = aRowStride, r2 = 2 * aRowStride, r3 = 3 * aRowStride, r4 = 4 * aRowStride, r5 = 5 * aRowStride,
            r6 = 6 * aRowStride, r7 = 7 * aRowStride;
        TV c00 = T.Load(init), c01 = T.Load(init + w), c10 = T.Load(init + initStride), c11 = T.Load(init + initStride + w);
        TV c20 = T.Load(init + 2 * initStride), c21 = T.Load(init + 2 * initStride + w);
        TV c30 = T.Load(init + 3 * initStride), c31 = T.Load(init + 3 * initStride + w);
        TV c40 = T.Load(init + 4 * initStride), c41 = T.Load(init + 4 * initStride + w);
        TV c50 = T.Load(init + 5 * initStride), c51 = T.Load(init + 5 * initStride + w);
        TV c60 = default, c61 = default, c70 = default, c71 = default;
        if (T.Rows == 8)
        {
            c60 = T.Load(init + 6 * initStride); c61 = T.Load(init + 6 * initStride + w);
            c70 = T.Load(init + 7 * initStride); c71 = T.Load(init + 7 * initStride + w);
        }
        for (int kk = 0; kk < kc; kk++)
        {
            TV b0 = T.Load(b), b1 = T.Load(b + w);
            TV av = T.Splat(a[0]);
            c00 = T.MulAdd(av, b0, c00); c01 = T.MulAdd(av, b1, c01);
            av = T.Splat(a[r1]);
            c10 = T.MulAdd(av, b0, c10); c11 = T.MulAdd(av, b1, c11);
            av = T.Splat(a[r2]);
            c20 = T.MulAdd(av, b0, c20); c21 = T.MulAdd(av, b1, c21);
            av = T.Splat(a[r3]);
            c30 = T.MulAdd(av, b0, c30); c31 = T.MulAdd(av, b1, c31);
            av = T.Splat(a[r4]);
            c40 = T.MulAdd(av, b0, c40); c41 = T.MulAdd(av, b1, c41);
            av = T.Splat(a[r5]);
            c50 = T.MulAdd(av, b0, c50); c51 = T.MulAdd(av, b1, c51);
            if (T.Rows == 8)
            {
                av = T.Splat(a[r6]);
                c60 = T.MulAdd(av, b0, c60); c61 = T.MulAdd(av, b1, c61);
                av = T.Splat(a[r7]);
                c70 = T.MulAdd(av, b0, c70); c71 = T.MulAdd(av, b1, c71);
            }
            a += aDepthStride;
            b += 2 * w;
        }
        T.Store(c, c00); T.Store(c + w, c01); c += ldc;
        T.Store(c, c10); T.Store(c + w, c11); c += ldc;
        T.Store(c, c20); T.Store(c + w, c21); c += ldc;
        T.Store(c, c30); T.Store(c + w, c31); c += ldc;
        T.Store(c, c40); T.Store(c + w, c41); c += ldc;
        T.Store(c, c50); T.Store(c + w, c51);
        if (T.Rows == 8)
        {
            c += ldc;
            T.Store(c, c60); T.Store(c + w, c61); c += ldc;
            T.Store(c, c70); T.Store(c + w, c71);
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
