using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>float32 → bf16 bits on the device (<see cref="Bf16.FromFloat(float)"/>), as they are laid out or transposed: the operands of the
/// tensor-core matmul (<see cref="MatMulKernels.GemmBf16"/>), which reads both k-contiguous.</summary>
public static class Bf16Kernels
{
    public const int TransposeTile = 32;
    public const int TransposeRowsPerPass = 8;
    public const int TransposeGroupSize = TransposeTile * TransposeRowsPerPass;
    // A shared row of the tile is TransposeTile floats plus one: the column reads of the second pass hit distinct banks.
    private const int TileRowFloats = TransposeTile + 1;

    // dst[i] = bf16(src[i]), to nearest, ties to even.
    // Index i over the elements: one thread per element.
    public static void Round(Index1D i, ArrayView<ushort> dst, ArrayView<float> src) => dst[i] = Bf16.FromFloat(src[i]);

    /// <summary>
    /// dst[c, r] = bf16(src[r, c]) for src [rows, cols], dst [cols, rows]. Grid (⌈cols/32⌉, ⌈rows/32⌉), group 32 × 8: each group moves one
    /// 32 × 32 tile through shared memory, reading rows of src and writing rows of dst (both coalesced), 4 elements per thread.
    /// </summary>
    [GroupSize(TransposeGroupSize)]
    public static void RoundTransposed(ArrayView<ushort> dst, ArrayView<float> src, int rows, int cols)
    {
        var tile = SharedMemory.Allocate<float>(TransposeTile * TileRowFloats);
        int lane = Group.IdxX % TransposeTile, pass = Group.IdxX / TransposeTile;
        int c0 = Grid.IdxX * TransposeTile, r0 = Grid.IdxY * TransposeTile;
        for (int j = pass; j < TransposeTile; j += TransposeRowsPerPass)
        {
            int r = r0 + j, c = c0 + lane;
            if (r < rows && c < cols) tile[j * TileRowFloats + lane] = src[(long)r * cols + c];
        }
        Group.Barrier();
        for (int j = pass; j < TransposeTile; j += TransposeRowsPerPass)
        {
            int c = c0 + j, r = r0 + lane;
            if (c < cols && r < rows) dst[(long)c * rows + r] = Bf16.FromFloat(tile[lane * TileRowFloats + j]);
        }
    }
}

/// <summary>Launches the bf16 rounding kernels on the accelerator's default stream (no synchronisation).</summary>
public sealed class Bf16Rounding(Accelerator accelerator)
{
    readonly Action<Index1D, ArrayView<ushort>, ArrayView<float>> _round =
        accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<ushort>, ArrayView<float>>(Bf16Kernels.Round);
    readonly Action<KernelConfig, ArrayView<ushort>, ArrayView<float>, int, int> _roundTransposed =
        accelerator.LoadStreamKernel<ArrayView<ushort>, ArrayView<float>, int, int>(Bf16Kernels.RoundTransposed);

    /// <summary>dst = bf16(src), element for element; both views have the same length.</summary>
    public void Round(ArrayView<ushort> dst, ArrayView<float> src)
    {
        Arguments.RequireSameLength(src.Length, dst.Length, nameof(src), nameof(dst));
        Arguments.RequireIndexable(dst.Length, nameof(dst));
        if (dst.Length > 0) _round((int)dst.Length, dst, src);
    }

    /// <summary>dst [cols, rows] = bf16(src [rows, cols])ᵀ.</summary>
    public void RoundTransposed(ArrayView<ushort> dst, ArrayView<float> src, int rows, int cols)
    {
        if (rows < 0 || cols < 0) throw new ArgumentException($"rows = {rows} and cols = {cols} must not be negative", nameof(rows));
        Arguments.RequireLength(src.Length, (long)rows * cols, nameof(src), "rows*cols");
        Arguments.RequireLength(dst.Length, (long)rows * cols, nameof(dst), "rows*cols");
        if (rows == 0 || cols == 0) return;
        var grid = new Index3D(MatMul.Ceiling(cols, Bf16Kernels.TransposeTile), MatMul.Ceiling(rows, Bf16Kernels.TransposeTile), 1);
        _roundTransposed(new KernelConfig(grid, new Index3D(Bf16Kernels.TransposeGroupSize, 1, 1)), dst, src, rows, cols);
    }
}
