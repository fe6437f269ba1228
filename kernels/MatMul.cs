using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace Engine.Kernels;

/// <summary>Four 32-bit words (eight packed bf16, lower index in the lower half) that move as one 16-byte access; also one m16n8k16 A fragment a0..a3.</summary>
internal struct UInt4
{
    public uint X, Y, Z, W;
}

/// <summary>The two 32-bit words of one m16n8k16 B fragment b0, b1 (four packed bf16).</summary>
internal struct UInt2
{
    public uint X, Y;
}

/// <summary>One row of a thread's 8×8 fp32 register block: columns Lo = 4 of the left half of the tile, Hi = 4 of the right half.</summary>
internal struct Row8
{
    public Float4 Lo, Hi;
}

/// <summary>One warp's accumulators along a row of mma tiles: four m16n8 tiles side by side (16 rows × 32 columns).</summary>
internal struct MmaRow
{
    public Float4 N0, N1, N2, N3;
}

/// <summary>A warp's 64 × 32 block of accumulators: four rows of mma tiles.</summary>
internal struct WarpAccumulators
{
    public MmaRow R0, R1, R2, R3;
}

/// <summary>Everything one lane feeds into the 16 mma of one k16 step: A fragments of the warp's four m16 tiles, B fragments of its four n8 tiles.</summary>
internal struct StepFragments
{
    public UInt4 A0, A1, A2, A3;
    public UInt2 B0, B1, B2, B3;
}

/// <summary>How <see cref="MatMulKernels.Gemm"/> reads its operands and writes C, as one blittable kernel argument (bool is not one).</summary>
public readonly struct GemmOptions(bool aStoredKM, bool bStoredNK, bool accumulate, bool vectorized, bool secondVectorized = false)
{
    private readonly int flags = (aStoredKM ? 1 : 0) | (bStoredNK ? 2 : 0) | (accumulate ? 4 : 0) | (vectorized ? 8 : 0) | (secondVectorized ? 16 : 0);

    /// <summary>A is stored [k, m] (else [m, k]).</summary>
    public bool AStoredKM => (flags & 1) != 0;

    /// <summary>B is stored [n, k] (else [k, n]).</summary>
    public bool BStoredNK => (flags & 2) != 0;

    /// <summary>C += the product (else C = it).</summary>
    public bool Accumulate => (flags & 4) != 0;

    /// <summary>Every leading dimension and view offset of C and the first term's operands is a multiple of the vector width: 16-byte loads and
    /// stores where a vector lies inside the matrix.</summary>
    public bool Vectorized => (flags & 8) != 0;

    /// <summary>The same for the second term's operands (A2, B2).</summary>
    public bool SecondVectorized => (flags & 16) != 0;
}

public static class MatMulKernels
{
    // ---- fp32: a group of GroupSize threads computes a TileM × TileN block of C; thread (ty, tx) of a 16 × 16 grid holds an 8 × 8 block
    // in registers: rows ty*4 + {0..3} and HalfTile + ty*4 + {0..3}, columns likewise with tx. Strided halves make each shared read a
    // conflict-free Float4 (consecutive tx read consecutive 16 bytes). K advances TileK at a time through double-buffered shared memory.
    public const int TileM = 128;
    public const int TileN = 128;
    public const int TileK = 8;
    public const int GroupSize = 256;
    private const int ThreadsAcross = 16;
    private const int HalfTile = 64;
    private const int HalfTileVectors = HalfTile / 4;
    // A k-row of a shared tile holds TileM (= TileN) floats plus 4 of padding: the transposed scalar stores of a [rows, k] operand then
    // hit distinct banks, and every k-row stays 16-byte aligned.
    private const int SharedRowFloats = TileM + 4;
    private const int SharedRowVectors = SharedRowFloats / 4;
    private const int SharedTileVectors = TileK * SharedRowVectors;
    // A TileM × TileK slice is GroupSize Float4s: one per thread, either 4 consecutive k of one row or 4 consecutive rows of one k.
    private const int VectorsPerTileRow = TileK / 4;
    private const int VectorsPerTileK = TileM / 4;

    /// <summary>
    /// C[m, n] = (accumulate ? C : 0) + A[m, k]·B[k, n] + scale2·A2[m, k2]·B2[k2, n] + bias[n]: a first term and an optional second
    /// (k2 = 0: none; e.g. LoRA's low-rank term beside x·Wᵀ, so C is written once), A and A2 stored [m, k] or [k, m], B and B2 [k, n] or [n, k],
    /// as <paramref name="options"/> says; scale2 multiplies A2's elements as they are loaded; bias.Length == 0: none.
    /// Grid (⌈n/TileN⌉, ⌈m/TileM⌉), group GroupSize: each group one TileM × TileN block of C, each thread an 8 × 8 block of it, every
    /// element's sum in ascending k order over the first term, then over the second.
    /// </summary>
    [GroupSize(GroupSize)]
    public static void Gemm(ArrayView<float> c, ArrayView<float> a, ArrayView<float> b, ArrayView<float> a2, ArrayView<float> b2, ArrayView<float> bias,
        int m, int n, int k, int k2, float scale2, GemmOptions options)
    {
        bool aStoredKM = options.AStoredKM, bStoredNK = options.BStoredNK, accumulate = options.Accumulate;
        bool vectorized = options.Vectorized, secondVectorized = options.SecondVectorized;
        var aShared = SharedMemory.Allocate<Float4>(2 * SharedTileVectors);
        var bShared = SharedMemory.Allocate<Float4>(2 * SharedTileVectors);
        int tid = Group.IdxX;
        int tx = tid % ThreadsAcross, ty = tid / ThreadsAcross;
        int m0 = Grid.IdxY * TileM, n0 = Grid.IdxX * TileN;
        int firstSlices = (k + TileK - 1) / TileK;

        var aNext = LoadTermSlice(a, a2, !aStoredKM, vectorized, secondVectorized, m, k, k2, scale2, m0, 0, firstSlices, tid);
        var bNext = LoadTermSlice(b, b2, bStoredNK, vectorized, secondVectorized, n, k, k2, 1f, n0, 0, firstSlices, tid);
        StoreOperandSlice(aShared, 0, aNext, !aStoredKM, tid);
        StoreOperandSlice(bShared, 0, bNext, bStoredNK, tid);
        Group.Barrier();

        Row8 c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        int slices = firstSlices + (k2 + TileK - 1) / TileK;
        for (int slice = 0; slice < slices; slice++)
        {
            int current = (slice & 1) * SharedTileVectors;
            bool more = slice + 1 < slices;
            if (more)
            {
                aNext = LoadTermSlice(a, a2, !aStoredKM, vectorized, secondVectorized, m, k, k2, scale2, m0, slice + 1, firstSlices, tid);
                bNext = LoadTermSlice(b, b2, bStoredNK, vectorized, secondVectorized, n, k, k2, 1f, n0, slice + 1, firstSlices, tid);
            }
            for (int kk = 0; kk < TileK; kk++)
            {
                int row = current + kk * SharedRowVectors;
                Float4 aLo = aShared[row + ty], aHi = aShared[row + HalfTileVectors + ty];
                Float4 bLo = bShared[row + tx], bHi = bShared[row + HalfTileVectors + tx];
                c0 = Fma(aLo.X, bLo, bHi, c0);
                c1 = Fma(aLo.Y, bLo, bHi, c1);
                c2 = Fma(aLo.Z, bLo, bHi, c2);
                c3 = Fma(aLo.W, bLo, bHi, c3);
                c4 = Fma(aHi.X, bLo, bHi, c4);
                c5 = Fma(aHi.Y, bLo, bHi, c5);
                c6 = Fma(aHi.Z, bLo, bHi, c6);
                c7 = Fma(aHi.W, bLo, bHi, c7);
            }
            if (more)
            {
                StoreOperandSlice(aShared, SharedTileVectors - current, aNext, !aStoredKM, tid);
                StoreOperandSlice(bShared, SharedTileVectors - current, bNext, bStoredNK, tid);
            }
            Group.Barrier();
        }

        int rowLo = m0 + ty * 4, rowHi = rowLo + HalfTile;
        int colLo = n0 + tx * 4, colHi = colLo + HalfTile;
        StoreRow(c, bias, c0, rowLo, colLo, colHi, m, n, accumulate, vectorized);
        StoreRow(c, bias, c1, rowLo + 1, colLo, colHi, m, n, accumulate, vectorized);
        StoreRow(c, bias, c2, rowLo + 2, colLo, colHi, m, n, accumulate, vectorized);
        StoreRow(c, bias, c3, rowLo + 3, colLo, colHi, m, n, accumulate, vectorized);
        StoreRow(c, bias, c4, rowHi, colLo, colHi, m, n, accumulate, vectorized);
        StoreRow(c, bias, c5, rowHi + 1, colLo, colHi, m, n, accumulate, vectorized);
        StoreRow(c, bias, c6, rowHi + 2, colLo, colHi, m, n, accumulate, vectorized);
        StoreRow(c, bias, c7, rowHi + 3, colLo, colHi, m, n, accumulate, vectorized);
    }

    public const int ColumnSumWidth = 32;
    public const int ColumnSumSlices = 8;
    public const int ColumnSumGroupSize = ColumnSumWidth * ColumnSumSlices;

    /// <summary>
    /// dbias[col] += Σ_row dy[row, col] over rows × cols; each column's rows are summed as ColumnSumSlices interleaved partials
    /// (row ≡ s mod ColumnSumSlices, ascending) that are then added in slice order. Grid ⌈cols/32⌉, group 32 × ColumnSumSlices.
    /// </summary>
    [GroupSize(ColumnSumGroupSize)]
    public static void ColumnSum(ArrayView<float> dbias, ArrayView<float> dy, int rows, int cols)
    {
        var partials = SharedMemory.Allocate<float>(ColumnSumGroupSize);
        int tid = Group.IdxX;
        int lane = tid % ColumnSumWidth, slice = tid / ColumnSumWidth;
        int col = Grid.IdxX * ColumnSumWidth + lane;
        float sum = 0f;
        if (col < cols)
            for (int row = slice; row < rows; row += ColumnSumSlices) sum += dy[(long)row * cols + col];
        partials[tid] = sum;
        Group.Barrier();
        if (slice == 0 && col < cols)
        {
            float total = partials[lane];
            for (int s = 1; s < ColumnSumSlices; s++) total += partials[s * ColumnSumWidth + lane];
            dbias[col] += total;
        }
    }

    // ---- bf16 tensor cores: a group of 8 warps computes a Bf16TileM × Bf16TileN block of C; the warps form a 2 × 4 grid, each warp a
    // 64 × 32 block = 4 × 4 tiles of mma.m16n8k16 (fp32 accumulators in registers). K advances Bf16TileK at a time through double-buffered
    // shared memory holding both operands k-contiguous ([rows, k], as x and w are stored), so every fragment register is one 32-bit load.
    public const int Bf16TileM = 128;
    public const int Bf16TileN = 128;
    public const int Bf16TileK = 32;
    public const int Bf16GroupSize = 256;
    private const int WarpTileM = 64;
    private const int WarpTileN = 32;
    private const int WarpsAcrossN = Bf16TileN / WarpTileN;
    // A shared tile row is Bf16TileK bf16 = 16 words plus 4 of padding: the 32 lanes of a fragment load (8 rows × 4 words) hit 32 distinct
    // banks, and rows stay 16-byte aligned for the UInt4 stores.
    private const int Bf16RowWords = Bf16TileK / 2 + 4;
    private const int Bf16RowVectors = Bf16RowWords / 4;
    private const int Bf16TileVectors = Bf16TileM * Bf16RowVectors;
    // A Bf16TileM × Bf16TileK slice is 2 × Bf16GroupSize UInt4s (8 bf16 each): each thread loads one in the top and one in the bottom half.
    private const int Bf16VectorsPerRow = Bf16TileK / 8;
    private const int Bf16HalfRows = Bf16GroupSize / Bf16VectorsPerRow;

    /// <summary>
    /// y[m, n] = (accumulate ? y : 0) + x[m, k]·w[n, k]ᵀ + bias[n] with x, w bf16 bits, fp32 accumulate and output; bias.Length == 0: none;
    /// options.Accumulate as in Gemm, options.Vectorized: k and both view offsets are multiples of 8 (the layout options do not apply: both
    /// operands are k-contiguous, so x·wᵀ, dy·W and dyᵀ·x take operands laid out for it, <see cref="Bf16Kernels"/>).
    /// Grid (⌈n/Bf16TileN⌉, ⌈m/Bf16TileM⌉), group Bf16GroupSize = 8 warps, each warp 4 × 4 mma.m16n8k16 tiles; on a device without
    /// CudaAsm (the CPU accelerator) the same fragment registers are multiplied by a warp-shuffle emulation of the instruction.
    /// </summary>
    [GroupSize(Bf16GroupSize), LocalSlotsInRegisters]
    public static void GemmBf16(ArrayView<float> y, ArrayView<ushort> x, ArrayView<ushort> w, ArrayView<float> bias, int m, int n, int k, GemmOptions options)
    {
        bool vectorized = options.Vectorized, accumulate = options.Accumulate;
        var xShared = SharedMemory.Allocate<UInt4>(2 * Bf16TileVectors);
        var wShared = SharedMemory.Allocate<UInt4>(2 * Bf16TileVectors);
        var xWords = xShared.Cast<uint>();
        var wWords = wShared.Cast<uint>();
        int tid = Group.IdxX;
        int lane = tid % 32, warp = tid / 32;
        int groupRow = lane / 4, pairInRow = lane % 4;
        int warpRow = warp / WarpsAcrossN * WarpTileM, warpCol = warp % WarpsAcrossN * WarpTileN;
        int m0 = Grid.IdxY * Bf16TileM, n0 = Grid.IdxX * Bf16TileN;
        int loadRow = tid / Bf16VectorsPerRow, loadK = tid % Bf16VectorsPerRow * 8;
        int storeAt = loadRow * Bf16RowVectors + tid % Bf16VectorsPerRow;
        const int storeHalf = Bf16HalfRows * Bf16RowVectors;

        var xTop = LoadBf16x8(x, vectorized, m, k, m0 + loadRow, loadK);
        var xBottom = LoadBf16x8(x, vectorized, m, k, m0 + Bf16HalfRows + loadRow, loadK);
        var wTop = LoadBf16x8(w, vectorized, n, k, n0 + loadRow, loadK);
        var wBottom = LoadBf16x8(w, vectorized, n, k, n0 + Bf16HalfRows + loadRow, loadK);
        xShared[storeAt] = xTop;
        xShared[storeAt + storeHalf] = xBottom;
        wShared[storeAt] = wTop;
        wShared[storeAt + storeHalf] = wBottom;
        Group.Barrier();

        WarpAccumulators acc = default;
        int aFragment = (warpRow + groupRow) * Bf16RowWords + pairInRow;
        int bFragment = (warpCol + groupRow) * Bf16RowWords + pairInRow;
        int slices = (k + Bf16TileK - 1) / Bf16TileK;
        for (int slice = 0; slice < slices; slice++)
        {
            int current = (slice & 1) * Bf16TileVectors;
            bool more = slice + 1 < slices;
            if (more)
            {
                int nextK = (slice + 1) * Bf16TileK + loadK;
                xTop = LoadBf16x8(x, vectorized, m, k, m0 + loadRow, nextK);
                xBottom = LoadBf16x8(x, vectorized, m, k, m0 + Bf16HalfRows + loadRow, nextK);
                wTop = LoadBf16x8(w, vectorized, n, k, n0 + loadRow, nextK);
                wBottom = LoadBf16x8(w, vectorized, n, k, n0 + Bf16HalfRows + loadRow, nextK);
            }
            for (int step = 0; step < Bf16TileK / 16; step++)
            {
                int word = current * 4 + step * 8;
                StepFragments f;
                f.A0 = LoadAFragment(xWords, word + aFragment);
                f.A1 = LoadAFragment(xWords, word + aFragment + 16 * Bf16RowWords);
                f.A2 = LoadAFragment(xWords, word + aFragment + 32 * Bf16RowWords);
                f.A3 = LoadAFragment(xWords, word + aFragment + 48 * Bf16RowWords);
                f.B0 = LoadBFragment(wWords, word + bFragment);
                f.B1 = LoadBFragment(wWords, word + bFragment + 8 * Bf16RowWords);
                f.B2 = LoadBFragment(wWords, word + bFragment + 16 * Bf16RowWords);
                f.B3 = LoadBFragment(wWords, word + bFragment + 24 * Bf16RowWords);
                acc = MmaStepBf16(acc, f);
            }
            if (more)
            {
                int next = Bf16TileVectors - current;
                xShared[next + storeAt] = xTop;
                xShared[next + storeAt + storeHalf] = xBottom;
                wShared[next + storeAt] = wTop;
                wShared[next + storeAt + storeHalf] = wBottom;
            }
            Group.Barrier();
        }

        int row = m0 + warpRow + groupRow, col = n0 + warpCol + 2 * pairInRow;
        StoreMmaRow(y, bias, acc.R0, row, col, m, n, accumulate);
        StoreMmaRow(y, bias, acc.R1, row + 16, col, m, n, accumulate);
        StoreMmaRow(y, bias, acc.R2, row + 32, col, m, n, accumulate);
        StoreMmaRow(y, bias, acc.R3, row + 48, col, m, n, accumulate);
    }

    // ---- fp32 helpers

    /// <summary>This thread's Float4 of k-slice <paramref name="slice"/> of an operand of a two-term product: the first term's (depth k)
    /// below <paramref name="firstSlices"/>, from there on the second term's (depth k2) times scale2.</summary>
    private static Float4 LoadTermSlice(ArrayView<float> first, ArrayView<float> second, bool kContiguous, bool vectorized, bool secondVectorized,
        int rows, int k, int k2, float scale2, int r0, int slice, int firstSlices, int tid)
    {
        if (slice < firstSlices) return LoadOperandSlice(first, kContiguous, vectorized, rows, k, r0, slice * TileK, tid);
        return Scaled(LoadOperandSlice(second, kContiguous, secondVectorized, rows, k2, r0, (slice - firstSlices) * TileK, tid), scale2);
    }

    private static Float4 Scaled(Float4 v, float s)
    {
        v.X *= s;
        v.Y *= s;
        v.Z *= s;
        v.W *= s;
        return v;
    }

    /// <summary>This thread's Float4 of the TileM × TileK slice at (r0, k0) of an operand stored [rows, depth] (kContiguous) or [depth, rows]; zero outside.</summary>
    private static Float4 LoadOperandSlice(ArrayView<float> source, bool kContiguous, bool vectorized, int rows, int depth, int r0, int k0, int tid)
    {
        int row, kk, lead, leadLimit;
        long offset;
        if (kContiguous)
        {
            row = r0 + tid / VectorsPerTileRow;
            kk = k0 + tid % VectorsPerTileRow * 4;
            if (row >= rows) return default;
            offset = (long)row * depth + kk;
            lead = kk;
            leadLimit = depth;
        }
        else
        {
            kk = k0 + tid / VectorsPerTileK;
            row = r0 + tid % VectorsPerTileK * 4;
            if (kk >= depth) return default;
            offset = (long)kk * rows + row;
            lead = row;
            leadLimit = rows;
        }
        if (vectorized && lead + 3 < leadLimit) return source.Cast<Float4>()[offset / 4];
        Float4 v;
        v.X = lead < leadLimit ? source[offset] : 0f;
        v.Y = lead + 1 < leadLimit ? source[offset + 1] : 0f;
        v.Z = lead + 2 < leadLimit ? source[offset + 2] : 0f;
        v.W = lead + 3 < leadLimit ? source[offset + 3] : 0f;
        return v;
    }

    /// <summary>Writes this thread's Float4 (from <see cref="LoadOperandSlice"/>) into a k-major shared tile [TileK][SharedRowFloats] at buffer (in Float4s).</summary>
    private static void StoreOperandSlice(ArrayView<Float4> shared, int buffer, Float4 v, bool kContiguous, int tid)
    {
        if (kContiguous)
        {
            var floats = shared.Cast<float>();
            int at = buffer * 4 + tid % VectorsPerTileRow * 4 * SharedRowFloats + tid / VectorsPerTileRow;
            floats[at] = v.X;
            floats[at + SharedRowFloats] = v.Y;
            floats[at + 2 * SharedRowFloats] = v.Z;
            floats[at + 3 * SharedRowFloats] = v.W;
        }
        else
        {
            shared[buffer + tid / VectorsPerTileK * SharedRowVectors + tid % VectorsPerTileK] = v;
        }
    }

    private static Float4 Fma(float a, Float4 b, Float4 acc)
    {
        acc.X += a * b.X;
        acc.Y += a * b.Y;
        acc.Z += a * b.Z;
        acc.W += a * b.W;
        return acc;
    }

    private static Row8 Fma(float a, Float4 bLo, Float4 bHi, Row8 acc)
    {
        acc.Lo = Fma(a, bLo, acc.Lo);
        acc.Hi = Fma(a, bHi, acc.Hi);
        return acc;
    }

    private static void StoreRow(ArrayView<float> c, ArrayView<float> bias, Row8 acc, int row, int colLo, int colHi, int m, int n, bool accumulate, bool vectorized)
    {
        if (row >= m) return;
        long rowOffset = (long)row * n;
        StoreFour(c, bias, acc.Lo, rowOffset, colLo, n, accumulate, vectorized);
        StoreFour(c, bias, acc.Hi, rowOffset, colHi, n, accumulate, vectorized);
    }

    private static void StoreFour(ArrayView<float> c, ArrayView<float> bias, Float4 v, long rowOffset, int col, int n, bool accumulate, bool vectorized)
    {
        if (vectorized && col + 3 < n)
        {
            if (bias.Length > 0)
            {
                v.X += bias[col];
                v.Y += bias[col + 1];
                v.Z += bias[col + 2];
                v.W += bias[col + 3];
            }
            var c4 = c.Cast<Float4>();
            long at = (rowOffset + col) / 4;
            if (accumulate)
            {
                var old = c4[at];
                v.X = old.X + v.X;
                v.Y = old.Y + v.Y;
                v.Z = old.Z + v.Z;
                v.W = old.W + v.W;
            }
            c4[at] = v;
            return;
        }
        StoreOne(c, bias, v.X, rowOffset, col, n, accumulate);
        StoreOne(c, bias, v.Y, rowOffset, col + 1, n, accumulate);
        StoreOne(c, bias, v.Z, rowOffset, col + 2, n, accumulate);
        StoreOne(c, bias, v.W, rowOffset, col + 3, n, accumulate);
    }

    private static void StoreOne(ArrayView<float> c, ArrayView<float> bias, float v, long rowOffset, int col, int n, bool accumulate)
    {
        if (col >= n) return;
        if (bias.Length > 0) v += bias[col];
        long at = rowOffset + col;
        c[at] = accumulate ? c[at] + v : v;
    }

    // ---- bf16 helpers

    /// <summary>The 8 bf16 at (row, kk..kk+7) of a [rows, depth] operand packed in 4 words; zero outside.</summary>
    private static UInt4 LoadBf16x8(ArrayView<ushort> source, bool vectorized, int rows, int depth, int row, int kk)
    {
        if (row >= rows || kk >= depth) return default;
        long offset = (long)row * depth + kk;
        if (vectorized && kk + 7 < depth) return source.Cast<UInt4>()[offset / 8];
        UInt4 v;
        v.X = LoadBf16Pair(source, offset, depth - kk);
        v.Y = LoadBf16Pair(source, offset + 2, depth - kk - 2);
        v.Z = LoadBf16Pair(source, offset + 4, depth - kk - 4);
        v.W = LoadBf16Pair(source, offset + 6, depth - kk - 6);
        return v;
    }

    private static uint LoadBf16Pair(ArrayView<ushort> source, long offset, int remaining)
    {
        uint lo = remaining > 0 ? source[offset] : 0u;
        uint hi = remaining > 1 ? source[offset + 1] : 0u;
        return lo | hi << 16;
    }

    /// <summary>A fragment a0..a3 of a 16 × 16 row-major tile whose (groupRow, 2·pairInRow) word is at: rows +0/+8, k-words +0/+4.</summary>
    private static UInt4 LoadAFragment(ArrayView<uint> words, int at)
    {
        UInt4 a;
        a.X = words[at];
        a.Y = words[at + 8 * Bf16RowWords];
        a.Z = words[at + 4];
        a.W = words[at + 8 * Bf16RowWords + 4];
        return a;
    }

    /// <summary>B fragment b0, b1 of a 16 × 8 column-major tile (w rows are its columns) whose (2·pairInRow, groupRow) word is at: k-words +0/+4.</summary>
    private static UInt2 LoadBFragment(ArrayView<uint> words, int at)
    {
        UInt2 b;
        b.X = words[at];
        b.Y = words[at + 4];
        return b;
    }

    /// <summary>The 16 mma.m16n8k16 of one k16 step of a warp: mma.sync on a CUDA device, <see cref="EmulatedMmaStepBf16"/> elsewhere.</summary>
    private static WarpAccumulators MmaStepBf16(WarpAccumulators acc, StepFragments f)
    {
        if (!CudaAsm.IsSupported) return EmulatedMmaStepBf16(acc, f);
        acc.R0 = MmaRowBf16(acc.R0, f.A0, f);
        acc.R1 = MmaRowBf16(acc.R1, f.A1, f);
        acc.R2 = MmaRowBf16(acc.R2, f.A2, f);
        acc.R3 = MmaRowBf16(acc.R3, f.A3, f);
        return acc;
    }

    private static MmaRow MmaRowBf16(MmaRow acc, UInt4 a, StepFragments f)
    {
        acc.N0 = MmaBf16(acc.N0, a, f.B0);
        acc.N1 = MmaBf16(acc.N1, a, f.B1);
        acc.N2 = MmaBf16(acc.N2, a, f.B2);
        acc.N3 = MmaBf16(acc.N3, a, f.B3);
        return acc;
    }

    /// <summary>D = A·B + C for one m16n8k16 tile (row.col, bf16 in, fp32 accumulate), warp-wide, by inline PTX. ILGPU passes each
    /// EmitRef operand through its own .local slot (a store before and a load after the instruction), which ptxas should fold into registers.</summary>
    private static Float4 MmaBf16(Float4 c, UInt4 a, UInt2 b)
    {
        Ref<float> d0 = c.X, d1 = c.Y, d2 = c.Z, d3 = c.W;
        Input<uint> a0 = a.X, a1 = a.Y, a2 = a.Z, a3 = a.W, b0 = b.X, b1 = b.Y;
        CudaAsm.EmitRef(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};",
            ref d0, ref d1, ref d2, ref d3, ref a0, ref a1, ref a2, ref a3, ref b0, ref b1);
        Float4 d;
        d.X = d0.Value;
        d.Y = d1.Value;
        d.Z = d2.Value;
        d.W = d3.Value;
        return d;
    }

    /// <summary>
    /// The 16 mma.m16n8k16 of a k16 step computed from the same fragment registers, exchanged by warp shuffles, per the PTX ISA layouts
    /// (g = lane/4, t = lane%4): A a0: (row g, k 2t..2t+1), a1: (g+8, 2t..), a2: (g, 2t+8..), a3: (g+8, 2t+8..); B b0: (k 2t..2t+1, col g),
    /// b1: (k 2t+8.., col g); C c0, c1: (g, 2t), (g, 2t+1), c2, c3: (g+8, 2t), (g+8, 2t+1). So lane 4g+q holds k = 2q, 2q+1, 2q+8, 2q+9 of
    /// rows g, g+8 of every A tile and of column g of every B tile. One struct shuffle per source lane keeps the CPU simulator fast.
    /// </summary>
    private static WarpAccumulators EmulatedMmaStepBf16(WarpAccumulators acc, StepFragments f)
    {
        int lane = Warp.LaneIdx;
        int g = lane / 4, t = lane % 4;
        for (int q = 0; q < 4; q++)
        {
            var rows = Warp.Shuffle(f, 4 * g + q);
            var leftColumn = Warp.Shuffle(f, 4 * (2 * t) + q);
            var rightColumn = Warp.Shuffle(f, 4 * (2 * t + 1) + q);
            acc.R0 = EmulatedRow(acc.R0, rows.A0, leftColumn, rightColumn);
            acc.R1 = EmulatedRow(acc.R1, rows.A1, leftColumn, rightColumn);
            acc.R2 = EmulatedRow(acc.R2, rows.A2, leftColumn, rightColumn);
            acc.R3 = EmulatedRow(acc.R3, rows.A3, leftColumn, rightColumn);
        }
        return acc;
    }

    private static MmaRow EmulatedRow(MmaRow acc, UInt4 a, StepFragments left, StepFragments right)
    {
        acc.N0 = EmulatedTile(acc.N0, a, left.B0, right.B0);
        acc.N1 = EmulatedTile(acc.N1, a, left.B1, right.B1);
        acc.N2 = EmulatedTile(acc.N2, a, left.B2, right.B2);
        acc.N3 = EmulatedTile(acc.N3, a, left.B3, right.B3);
        return acc;
    }

    /// <summary>One source lane's share (4 of the 16 k) of an m16n8 tile's c0..c3: A words of rows g, g+8; B words of columns 2t, 2t+1.</summary>
    private static Float4 EmulatedTile(Float4 c, UInt4 a, UInt2 left, UInt2 right)
    {
        c.X += Dot2(a.X, left.X) + Dot2(a.Z, left.Y);
        c.Y += Dot2(a.X, right.X) + Dot2(a.Z, right.Y);
        c.Z += Dot2(a.Y, left.X) + Dot2(a.W, left.Y);
        c.W += Dot2(a.Y, right.X) + Dot2(a.W, right.Y);
        return c;
    }

    /// <summary>lo(a)·lo(b) + hi(a)·hi(b) of two words of packed bf16, widened to fp32.</summary>
    private static float Dot2(uint a, uint b) =>
        Interop.IntAsFloat(a << 16) * Interop.IntAsFloat(b << 16) + Interop.IntAsFloat(a & 0xFFFF0000u) * Interop.IntAsFloat(b & 0xFFFF0000u);

    private static void StoreMmaRow(ArrayView<float> y, ArrayView<float> bias, MmaRow acc, int row, int col, int m, int n, bool accumulate)
    {
        StoreMmaTile(y, bias, acc.N0, row, col, m, n, accumulate);
        StoreMmaTile(y, bias, acc.N1, row, col + 8, m, n, accumulate);
        StoreMmaTile(y, bias, acc.N2, row, col + 16, m, n, accumulate);
        StoreMmaTile(y, bias, acc.N3, row, col + 24, m, n, accumulate);
    }

    /// <summary>An m16n8 accumulator fragment: c0, c1 at (row, col), (row, col+1); c2, c3 eight rows below.</summary>
    private static void StoreMmaTile(ArrayView<float> y, ArrayView<float> bias, Float4 c, int row, int col, int m, int n, bool accumulate)
    {
        StorePair(y, bias, c.X, c.Y, row, col, m, n, accumulate);
        StorePair(y, bias, c.Z, c.W, row + 8, col, m, n, accumulate);
    }

    private static void StorePair(ArrayView<float> y, ArrayView<float> bias, float v0, float v1, int row, int col, int m, int n, bool accumulate)
    {
        if (row >= m) return;
        long rowOffset = (long)row * n;
        StoreOne(y, bias, v0, rowOffset, col, n, accumulate);
        StoreOne(y, bias, v1, rowOffset, col + 1, n, accumulate);
    }
}

/// <summary>One term scale·op(A)·op(B) of a <see cref="MatMulKernels.Gemm"/> launch, over depth K (K = 0: no term).</summary>
internal readonly record struct GemmTerm(ArrayView<float> A, ArrayView<float> B, int K, float Scale = 1f);

/// <summary>Launches the matmul kernels on one accelerator's default stream (no synchronisation), mirroring CpuMatMul.</summary>
public sealed class MatMul(Accelerator accelerator)
{
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        int, int, int, int, float, GemmOptions> gemm =
        accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            int, int, int, int, float, GemmOptions>(MatMulKernels.Gemm);
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int> columnSum =
        accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int>(MatMulKernels.ColumnSum);
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, int, int, int, GemmOptions> gemmBf16 =
        LoadGemmBf16(accelerator);

    /// <summary>GemmBf16 on the default stream; on CUDA from PTX whose inline-mma operands live in registers (<see cref="LocalSlotPromotion"/>).</summary>
    private static Action<KernelConfig, ArrayView<float>, ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, int, int, int, GemmOptions> LoadGemmBf16(
        Accelerator accelerator)
    {
        if (accelerator is not CudaAccelerator)
            return accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, int, int, int, GemmOptions>(MatMulKernels.GemmBf16);
        var launch = LocalSlotPromotion.LoadExplicitlyGrouped(accelerator, typeof(MatMulKernels).GetMethod(nameof(MatMulKernels.GemmBf16))!)
            .CreateLauncherDelegate<Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, int, int, int, GemmOptions>>();
        return (config, y, x, w, bias, m, n, k, options) => launch(accelerator.DefaultStream, config, y, x, w, bias, m, n, k, options);
    }

    /// <summary>y[n, outDim] = x[n, inDim]·w[outDim, inDim]ᵀ + bias[outDim] (bias.Length == 0: none). Overwrites y.</summary>
    public void Forward(ArrayView<float> y, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, int n, int inDim, int outDim)
    {
        Arguments.RequireLength(y.Length, (long)n * outDim, nameof(y), "n*outDim");
        Arguments.RequireLength(x.Length, (long)n * inDim, nameof(x), "n*inDim");
        Arguments.RequireLength(w.Length, (long)outDim * inDim, nameof(w), "outDim*inDim");
        if (bias.Length != 0) Arguments.RequireLength(bias.Length, outDim, nameof(bias), "outDim");
        LaunchGemm(y, new GemmTerm(x, w, inDim), default, bias, n, outDim, aStoredKM: false, bStoredNK: true, accumulate: false);
    }

    /// <summary>dx[n, inDim] += dy·w; dw[outDim, inDim] += dyᵀ·x; dbias[outDim] += Σ_rows dy. Each output optional (Length == 0: skipped,
    /// and then the input only it needs, w for dx or x for dw, may be empty too).</summary>
    public void Backward(ArrayView<float> dx, ArrayView<float> dw, ArrayView<float> dbias, ArrayView<float> dy, ArrayView<float> x, ArrayView<float> w, int n, int inDim, int outDim)
    {
        Arguments.RequireLength(dy.Length, (long)n * outDim, nameof(dy), "n*outDim");
        if (dx.Length != 0)
        {
            Arguments.RequireLength(dx.Length, (long)n * inDim, nameof(dx), "n*inDim");
            Arguments.RequireLength(w.Length, (long)outDim * inDim, nameof(w), "outDim*inDim");
            LaunchGemm(dx, new GemmTerm(dy, w, outDim), default, default, n, inDim, aStoredKM: false, bStoredNK: false, accumulate: true);
        }
        if (dw.Length != 0)
        {
            Arguments.RequireLength(dw.Length, (long)outDim * inDim, nameof(dw), "outDim*inDim");
            Arguments.RequireLength(x.Length, (long)n * inDim, nameof(x), "n*inDim");
            LaunchGemm(dw, new GemmTerm(dy, x, n), default, default, outDim, inDim, aStoredKM: true, bStoredNK: false, accumulate: true);
        }
        if (dbias.Length != 0)
        {
            Arguments.RequireLength(dbias.Length, outDim, nameof(dbias), "outDim");
            if (n > 0)
                columnSum(new KernelConfig(Ceiling(outDim, MatMulKernels.ColumnSumWidth), MatMulKernels.ColumnSumGroupSize), dbias, dy, n, outDim);
        }
    }

    /// <summary>y[n, outDim] = x[n, inDim]·w[outDim, inDim]ᵀ with x, w given as bf16 bits; fp32 accumulate and output. Overwrites y.</summary>
    public void ForwardBf16(ArrayView<float> y, ArrayView<ushort> x, ArrayView<ushort> w, int n, int inDim, int outDim) =>
        LaunchGemmBf16(y, x, w, ArrayView<float>.Empty, n, outDim, inDim, accumulate: false);

    /// <summary>c[m, n] (+)= a[m, k]·b[n, k]ᵀ + bias[n] through <see cref="MatMulKernels.GemmBf16"/>, a and b bf16 bits (bias.Length == 0:
    /// none); 16-byte loads when k and both offsets are multiples of 8.</summary>
    public void LaunchGemmBf16(ArrayView<float> c, ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> bias, int m, int n, int k, bool accumulate)
    {
        if (m < 0 || n < 0 || k < 0) throw new ArgumentException($"m = {m}, n = {n}, k = {k} must not be negative", nameof(m));
        Arguments.RequireLength(c.Length, (long)m * n, nameof(c), "m*n");
        Arguments.RequireLength(a.Length, (long)m * k, nameof(a), "m*k");
        Arguments.RequireLength(b.Length, (long)n * k, nameof(b), "n*k");
        if (bias.Length != 0) Arguments.RequireLength(bias.Length, n, nameof(bias), "n");
        if (m == 0 || n == 0) return;
        bool vectorized = k % 8 == 0 && OffsetIsMultipleOf(a, 8) && OffsetIsMultipleOf(b, 8);
        // A kernel argument must be a view of a real buffer: "no bias" travels as an empty slice of c.
        var biasOrNone = bias.Length != 0 ? bias : c.SubView(0, 0);
        var grid = new Index3D(Ceiling(n, MatMulKernels.Bf16TileN), Ceiling(m, MatMulKernels.Bf16TileM), 1);
        var options = new GemmOptions(aStoredKM: false, bStoredNK: true, accumulate, vectorized);
        gemmBf16(new KernelConfig(grid, new Index3D(MatMulKernels.Bf16GroupSize, 1, 1)), c, a, b, biasOrNone, m, n, k, options);
    }

    /// <summary>
    /// C[m, n] (+)= first + second + bias through <see cref="MatMulKernels.Gemm"/>, both terms' operands stored as aStoredKM/bStoredNK say
    /// (second = default: none); 16-byte accesses for each term whose leading dimensions and offsets allow (and C's). The kernel scales only
    /// its second term, so a scaled term alone runs as the second after an empty first.
    /// </summary>
    internal void LaunchGemm(ArrayView<float> c, GemmTerm first, GemmTerm second, ArrayView<float> bias, int m, int n, bool aStoredKM, bool bStoredNK, bool accumulate)
    {
        if (m == 0 || n == 0) return;
        if (first.K > 0 && first.Scale != 1f)
        {
            if (second.K > 0) throw new ArgumentException("only the second of two terms may be scaled", nameof(first));
            (first, second) = (default, first);
        }
        bool vectorized = n % 4 == 0 && OffsetIsMultipleOf(c, 4) && TermIsVectorizable(first, m, n, aStoredKM, bStoredNK);
        bool secondVectorized = second.K > 0 && TermIsVectorizable(second, m, n, aStoredKM, bStoredNK);
        // A kernel argument must be a view of a real buffer: "no bias" and an empty term's operands travel as empty slices of c.
        var none = c.SubView(0, 0);
        var biasOrNone = bias.Length != 0 ? bias : none;
        var (a, b) = first.K > 0 ? (first.A, first.B) : (none, none);
        var (a2, b2) = second.K > 0 ? (second.A, second.B) : (none, none);
        var grid = new Index3D(Ceiling(n, MatMulKernels.TileN), Ceiling(m, MatMulKernels.TileM), 1);
        var options = new GemmOptions(aStoredKM, bStoredNK, accumulate, vectorized, secondVectorized);
        gemm(new KernelConfig(grid, new Index3D(MatMulKernels.GroupSize, 1, 1)), c, a, b, a2, b2, biasOrNone,
            m, n, first.K, second.K, second.Scale, options);
    }

    /// <summary>Whether a term's operands allow 16-byte loads: the leading dimensions of A and B and their view offsets are multiples of 4.</summary>
    private static bool TermIsVectorizable(GemmTerm term, int m, int n, bool aStoredKM, bool bStoredNK) =>
        (aStoredKM ? m : term.K) % 4 == 0 && (bStoredNK ? term.K : n) % 4 == 0 && OffsetIsMultipleOf(term.A, 4) && OffsetIsMultipleOf(term.B, 4);

    /// <summary>Whether the view starts a multiple of <paramref name="elements"/> into its buffer (buffers themselves are at least 256-byte aligned).</summary>
    private static bool OffsetIsMultipleOf(IContiguousArrayView view, int elements) => view.Index % elements == 0;

    /// <summary>⌈value / divisor⌉: the groups a grid needs.</summary>
    internal static int Ceiling(int value, int divisor) => (value + divisor - 1) / divisor;
}
