using System.Buffers;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Engine.Kernels;
using Engine.Tensors;

namespace Engine.Backends.Cpu;

/// <summary>
/// The linear layer in PyTorch's nn.Linear layout (weight [outDim, inDim]), on one packed, register-blocked GEMM core.
/// Each output element's sum over the inner dimension is the same sequence of operations (one FMA chain per depth block,
/// blocks in order, block depth a function of the inner dimension alone) whatever the thread count or partition,
/// so results are bit-identical run to run.
/// </summary>
public static unsafe class CpuMatMul
{
    /// <summary>Rows of C per microkernel call: each broadcasts one A value per row per step.</summary>
    private const int RowBlock = 8;

    /// <summary>Columns of C per microkernel call: two Vector512 of B per step.</summary>
    private const int PanelWidth = 32;

    /// <summary>Largest inner-dimension block; the inner dimension is cut into equal blocks no deeper than this.</summary>
    private const int MaxDepthBlock = 512;

    /// <summary>Columns of C swept per A micro-panel (a B tile of at most MaxDepthBlock × ColumnBlock floats: 1 MiB, one core's L2).</summary>
    private const int ColumnBlock = 512;

    /// <summary>Tasks per core in the fixed partition of C: a little slack for a core that is briefly busy elsewhere.</summary>
    private const int TasksPerCore = 2;

    /// <summary>Below this many multiply-adds the product runs on the calling thread alone.</summary>
    private const long SerialWork = 1 << 21;

    /// <summary>Most floats of packed B shared by the tasks at once (16 MiB): a larger B is packed and multiplied in rounds of whole column blocks.</summary>
    private const long MaxPackedB = 1 << 22;

    /// <summary>Rows of a transposed A packed together, a whole cache line of each source row at a time (128 KiB at full depth, L2-resident).</summary>
    private const int ABlockRows = 64;

    /// <summary>Floats of scratch per worker: a transposed A block, an A micro-panel, an edge tile, a zero row, and slack for 64-byte alignment.</summary>
    private const int ScratchFloats = ABlockRows * MaxDepthBlock + RowBlock * MaxDepthBlock + RowBlock * PanelWidth + PanelWidth + 16;

    // y[n, outDim] = x[n, inDim] · w[outDim, inDim]ᵀ + bias[outDim]   (bias empty = none). Overwrites y.
    // All row-major float32.
    public static void Forward(Span<float> y, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, int n, int inDim, int outDim)
    {
        RequireDims(n, inDim, outDim);
        Arguments.RequireLength(y.Length, (long)n * outDim, nameof(y), "n*outDim");
        Arguments.RequireLength(x.Length, (long)n * inDim, nameof(x), "n*inDim");
        Arguments.RequireLength(w.Length, (long)outDim * inDim, nameof(w), "outDim*inDim");
        if (!bias.IsEmpty) Arguments.RequireLength(bias.Length, outDim, nameof(bias), "outDim");

        fixed (float* py = y, px = x, pw = w, pb = bias)
        {
            var a = new Operand(px, inDim, 1);
            var b = new Operand(pw, 1, inDim);
            Gemm(a, b, py, n, outDim, inDim, bias.IsEmpty ? null : pb, accumulate: false, scale: 1f);
        }
    }

    // dx[n, inDim] += dy · w ;  dw[outDim, inDim] += dyᵀ · x ;  dbias[outDim] += Σ_rows dy   (dy is [n, outDim]).
    // Each gradient is optional: an empty span skips its work entirely.
    public static void Backward(Span<float> dx, Span<float> dw, Span<float> dbias, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> w, int n, int inDim, int outDim)
    {
        RequireDims(n, inDim, outDim);
        Arguments.RequireLength(dy.Length, (long)n * outDim, nameof(dy), "n*outDim");
        Arguments.RequireLength(x.Length, (long)n * inDim, nameof(x), "n*inDim");
        Arguments.RequireLength(w.Length, (long)outDim * inDim, nameof(w), "outDim*inDim");
        if (!dx.IsEmpty) Arguments.RequireLength(dx.Length, (long)n * inDim, nameof(dx), "n*inDim");
        if (!dw.IsEmpty) Arguments.RequireLength(dw.Length, (long)outDim * inDim, nameof(dw), "outDim*inDim");
        if (!dbias.IsEmpty) Arguments.RequireLength(dbias.Length, outDim, nameof(dbias), "outDim");

        WeightAndInputGradients(dx, dw, dy, x, w, 1f, n, inDim, outDim);
        if (!dbias.IsEmpty) AddColumnSums(dbias, dy, n, outDim);
    }

    // y[n, outDim] += scale · x[n, inDim] · w[outDim, inDim]ᵀ: a second product accumulated into a forward's output (LoRA's
    // low-rank term), y read and written once. Sizes are the caller's to check.
    internal static void ForwardAccumulate(Span<float> y, ReadOnlySpan<float> x, ReadOnlySpan<float> w, float scale, int n, int inDim, int outDim)
    {
        fixed (float* py = y, px = x, pw = w)
            Gemm(new Operand(px, inDim, 1), new Operand(pw, 1, inDim), py, n, outDim, inDim, bias: null, accumulate: true, scale);
    }

    // dx[n, inDim] += scale · dy · w ;  dw[outDim, inDim] += scale · dyᵀ · x   (dy is [n, outDim]; empty gradient = skipped).
    // Backward's products with dy scaled as it is packed; sizes are the caller's to check.
    internal static void WeightAndInputGradients(Span<float> dx, Span<float> dw, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> w,
        float scale, int n, int inDim, int outDim)
    {
        fixed (float* pdx = dx, pdw = dw, pdy = dy, px = x, pw = w)
        {
            if (!dx.IsEmpty)
                Gemm(new Operand(pdy, outDim, 1), new Operand(pw, inDim, 1), pdx, n, inDim, outDim, bias: null, accumulate: true, scale);
            if (!dw.IsEmpty)
                Gemm(new Operand(pdy, 1, outDim), new Operand(px, inDim, 1), pdw, outDim, inDim, n, bias: null, accumulate: true, scale);
        }
    }

    /// <summary>dbias += Σ_i dy[i, :], summed row by row into a zeroed buffer first (fixed order), then added once.</summary>
    private static void AddColumnSums(Span<float> dbias, ReadOnlySpan<float> dy, int n, int outDim)
    {
        float[] rented = ArrayPool<float>.Shared.Rent(outDim);
        var sums = rented.AsSpan(0, outDim);
        sums.Clear();
        for (int i = 0; i < n; i++) TensorPrimitives.Add(sums, dy.Slice(i * outDim, outDim), sums);
        TensorPrimitives.Add(dbias, sums, dbias);
        ArrayPool<float>.Shared.Return(rented);
    }

    /// <summary>A matrix read in place: element (i, j) is Data[i·RowStride + j·ColStride].</summary>
    private readonly struct Operand(float* data, nint rowStride, nint colStride)
    {
        public readonly float* Data = data;
        public readonly nint RowStride = rowStride;
        public readonly nint ColStride = colStride;
    }

    /// <summary>
    /// C[m, n] = init + (scale·A[m, k]) · B[k, n], C row-major with n columns; init is C itself when accumulating,
    /// else bias broadcast over rows, else zero. A is scaled as it is packed (scale 1 leaves it untouched).
    /// B is packed once into a buffer all tasks share (in rounds of whole column blocks when it is large), so splitting the rows
    /// of C over tasks costs no repeated packing.
    /// </summary>
    private static void Gemm(Operand a, Operand b, float* c, int m, int n, int k, float* bias, bool accumulate, float scale)
    {
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            if (!accumulate) FillRows(c, m, n, bias);
            return;
        }
        int panels = (n + PanelWidth - 1) / PanelWidth;
        int depthBlock = DepthBlock(k), depthBlocks = (k + depthBlock - 1) / depthBlock;
        int depthBlocksPerRound = (int)Math.Clamp(MaxPackedB / ((long)depthBlock * ColumnBlock), 1, depthBlocks);
        int panelsPerRound = (int)Math.Min(panels, MaxPackedB / ((long)depthBlocksPerRound * depthBlock * ColumnBlock) * (ColumnBlock / PanelWidth));
        bool serial = (long)m * n * k < SerialWork || Environment.ProcessorCount == 1;
        var partition = serial ? new Partition(1, 1) : Partition.For(m, Math.Min(n, panelsPerRound * PanelWidth), k,
            Environment.ProcessorCount * TasksPerCore, Environment.ProcessorCount, aCostPerElement: a.ColStride == 1 ? 0.25 : 1);

        float[] packed = ArrayPool<float>.Shared.Rent(depthBlocksPerRound * depthBlock * panelsPerRound * PanelWidth + 16);
        int[] claims = ArrayPool<int>.Shared.Rent(depthBlocksPerRound * panelsPerRound);
        try
        {
            fixed (float* rawPacked = packed)
            fixed (int* claimed = claims)
            {
                float* aligned = (float*)(((nint)rawPacked + 63) & ~(nint)63);
                for (int firstDepthBlock = 0; firstDepthBlock < depthBlocks; firstDepthBlock += depthBlocksPerRound)
                {
                    int p0 = firstDepthBlock * depthBlock, p1 = (int)Math.Min(k, (long)(firstDepthBlock + depthBlocksPerRound) * depthBlock);
                    for (int firstPanel = 0; firstPanel < panels; firstPanel += panelsPerRound)
                    {
                        int roundPanels = Math.Min(panelsPerRound, panels - firstPanel);
                        int n0 = firstPanel * PanelWidth, width = Math.Min(n - n0, roundPanels * PanelWidth);
                        new Span<int>(claimed, depthBlocksPerRound * roundPanels).Clear();
                        var job = new GemmJob(a, b, c, n, k, p0, p1, bias, accumulate, scale, new PackedB(aligned, claimed, depthBlock, p0, firstPanel, roundPanels));
                        if (partition.Count == 1)
                        {
                            float[] scratch = ArrayPool<float>.Shared.Rent(ScratchFloats);
                            job.RunRange(0, m, n0, n0 + width, scratch);
                            ArrayPool<float>.Shared.Return(scratch);
                            continue;
                        }
                        Parallel.For(0, partition.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
                            () => ArrayPool<float>.Shared.Rent(ScratchFloats),
                            (task, _, scratch) =>
                            {
                                partition.Bounds(task, m, width, out int m0, out int m1, out int j0, out int j1);
                                job.RunRange(m0, m1, n0 + j0, n0 + j1, scratch);
                                return scratch;
                            },
                            scratch => ArrayPool<float>.Shared.Return(scratch));
                    }
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(packed);
            ArrayPool<int>.Shared.Return(claims);
        }
    }

    /// <summary>The inner dimension's block depth: k cut into the fewest equal blocks no deeper than MaxDepthBlock (a function of k alone).</summary>
    private static int DepthBlock(int k)
    {
        int blocks = (k + MaxDepthBlock - 1) / MaxDepthBlock;
        return (k + blocks - 1) / blocks;
    }

    private static void FillRows(float* c, int m, int n, float* bias)
    {
        for (int i = 0; i < m; i++)
        {
            var row = new Span<float>(c + (nint)i * n, n);
            if (bias == null) row.Clear();
            else new ReadOnlySpan<float>(bias, n).CopyTo(row);
        }
    }

    /// <summary>
    /// A fixed grid of output rectangles, one task each. B is packed once whatever the grid, but each row part streams all of
    /// packed B into its core's cache again; each task reads (or packs) A once per column block it covers. The grid is the one
    /// with the least time per core: multiply-adds (16 per cycle), A's and B's streaming (cycles per element), over the busy tasks.
    /// </summary>
    private readonly struct Partition(int rowParts, int colParts)
    {
        /// <summary>Cycles per element to bring packed B into a core's cache (from the shared cache or the other core).</summary>
        private const double PackedBCostPerElement = 0.4;

        public int Count => rowParts * colParts;

        public static Partition For(int m, int n, int k, int tasks, int cores, double aCostPerElement)
        {
            int rowBlocks = (m + RowBlock - 1) / RowBlock;
            int panels = (n + PanelWidth - 1) / PanelWidth;
            var best = new Partition(1, 1);
            double bestCost = double.MaxValue;
            for (int colParts = 1; colParts <= tasks; colParts++)
            {
                if (tasks % colParts != 0) continue;
                int cols = Math.Min(colParts, panels), rows = Math.Min(tasks / colParts, rowBlocks);
                double columnBlocks = Math.Max(cols, Math.Ceiling((double)n / ColumnBlock));
                double work = (double)m * n * k / 16 + columnBlocks * m * k * aCostPerElement + (double)rows * n * k * PackedBCostPerElement;
                double cost = work / Math.Min(rows * cols, cores);
                if (cost < bestCost) (best, bestCost) = (new Partition(rows, cols), cost);
            }
            return best;
        }

        public void Bounds(int task, int m, int n, out int m0, out int m1, out int n0, out int n1)
        {
            int rowPart = task / colParts, colPart = task % colParts;
            int rowBlocks = (m + RowBlock - 1) / RowBlock;
            int panels = (n + PanelWidth - 1) / PanelWidth;
            m0 = Math.Min(m, (int)((long)rowBlocks * rowPart / rowParts) * RowBlock);
            m1 = Math.Min(m, (int)((long)rowBlocks * (rowPart + 1) / rowParts) * RowBlock);
            n0 = Math.Min(n, (int)((long)panels * colPart / colParts) * PanelWidth);
            n1 = Math.Min(n, (int)((long)panels * (colPart + 1) / colParts) * PanelWidth);
        }
    }

    /// <summary>
    /// B packed for one round: depth blocks from depth P0 on, panels [firstPanel, firstPanel + panels). Each depth block holds, panel
    /// after panel, that panel's kc × PanelWidth block. Whichever task first needs a (depth block, panel) claims and packs it;
    /// a task needing one another has claimed waits for it (the packer is running, so the wait is short).
    /// </summary>
    private readonly struct PackedB(float* data, int* claims, int depthBlock, int p0, int firstPanel, int panels)
    {
        private const int Unclaimed = 0, Packing = 1, Packed = 2;

        /// <summary>The packed panel of B rows [depth, depth + kc), depth a depth-block start inside the round.</summary>
        public float* Panel(int depth, int kc, int panel)
            => data + ((long)(depth - p0) * panels + (long)(panel - firstPanel) * kc) * PanelWidth;

        /// <summary>Packs every panel of [first, first + count) at this depth block that no task has claimed, then waits for the rest.</summary>
        public void Ensure(Operand b, int n, int depth, int kc, int first, int count)
        {
            int* claim = claims + (long)(depth - p0) / depthBlock * panels - firstPanel;
            for (int panel = first; panel < first + count; panel++)
            {
                if (Volatile.Read(ref claim[panel]) != Unclaimed || Interlocked.CompareExchange(ref claim[panel], Packing, Unclaimed) != Unclaimed) continue;
                PackB(b, depth, kc, panel * PanelWidth, Math.Min(PanelWidth, n - panel * PanelWidth), Panel(depth, kc, panel));
                Volatile.Write(ref claim[panel], Packed);
            }
            for (int panel = first; panel < first + count; panel++)
            {
                var spinner = new SpinWait();
                while (Volatile.Read(ref claim[panel]) != Packed) spinner.SpinOnce(sleep1Threshold: -1);
            }
        }
    }

    private readonly struct GemmJob(Operand a, Operand b, float* c, int n, int k, int depthStart, int depthEnd, float* bias, bool accumulate, float scale,
        PackedB packedB)
    {
        /// <summary>Computes the depth blocks [depthStart, depthEnd) of C[m0..m1, n0..n1]: per column block and depth block, make sure
        /// its B panels are packed, then sweep the rows in blocks of ABlockRows.</summary>
        public void RunRange(int m0, int m1, int n0, int n1, float[] scratch)
        {
            int depthBlock = DepthBlock(k);
            fixed (float* raw = scratch)
            {
                var space = new Scratch((float*)(((nint)raw + 63) & ~(nint)63));
                for (int j0 = n0; j0 < n1; j0 += ColumnBlock)
                {
                    int panels = (Math.Min(ColumnBlock, n1 - j0) + PanelWidth - 1) / PanelWidth;
                    for (int p0 = depthStart; p0 < depthEnd; p0 += depthBlock)
                    {
                        int kc = Math.Min(depthBlock, k - p0);
                        packedB.Ensure(b, n, p0, kc, j0 / PanelWidth, panels);
                        for (int block0 = m0; block0 < m1; block0 += ABlockRows)
                            RowBlocks(block0, Math.Min(m1, block0 + ABlockRows), m1, j0, panels, p0, kc, space);
                    }
                }
            }
        }

        /// <summary>
        /// Rows [block0, blockEnd) against the panels from column j0 at depth block p0: each 8-row micro-panel of A, read in place when
        /// A is row-major, else packed (a transposed A a block at a time), then multiplied with each B panel into C.
        /// </summary>
        private void RowBlocks(int block0, int blockEnd, int m1, int j0, int panels, int p0, int kc, Scratch space)
        {
            int packedRows = a.RowStride == 1 && a.ColStride != 1 && Vector512.IsHardwareAccelerated ? (blockEnd - block0) & ~15 : 0;
            if (packedRows > 0) PackATransposed(a, block0, packedRows, p0, kc, scale, space.ABlock, prefetchRows: Math.Min(ABlockRows, m1 - blockEnd));
            bool first = p0 == 0;
            for (int i0 = block0; i0 < blockEnd; i0 += RowBlock)
            {
                int rows = Math.Min(RowBlock, blockEnd - i0);
                float* aTile;
                nint aRowStride, aDepthStride;
                if (i0 - block0 < packedRows)
                {
                    aTile = space.ABlock + (i0 - block0) * kc;
                    aRowStride = 1;
                    aDepthStride = RowBlock;
                }
                else if (rows == RowBlock && a.ColStride == 1 && scale == 1f)
                {
                    aTile = a.Data + (nint)i0 * a.RowStride + p0;
                    aRowStride = a.RowStride;
                    aDepthStride = 1;
                }
                else
                {
                    PackA(a, i0, rows, p0, kc, scale, space.APanel, out aRowStride, out aDepthStride);
                    aTile = space.APanel;
                    if (i0 + RowBlock < m1) PrefetchA(a, i0 + RowBlock, Math.Min(RowBlock, m1 - i0 - RowBlock), p0, kc);
                }
                for (int panel = 0; panel < panels; panel++)
                {
                    int col = j0 + panel * PanelWidth;
                    int cols = Math.Min(PanelWidth, n - col);
                    float* cTile = c + (nint)i0 * n + col;
                    float* init = !first || accumulate ? cTile : bias != null ? bias + col : space.Zeros;
                    nint initStride = !first || accumulate ? n : 0;

                    float* bPanel = packedB.Panel(p0, kc, col / PanelWidth);
                    if (rows == RowBlock && cols == PanelWidth)
                        Kernel(aTile, aRowStride, aDepthStride, bPanel, kc, cTile, n, init, initStride);
                    else
                        EdgeTile(aTile, aRowStride, aDepthStride, bPanel, kc, cTile, n, init, initStride, rows, cols, space.Edge);
                }
            }
        }
    }

    /// <summary>A worker's scratch, 64-byte aligned: a transposed A block, an A micro-panel, an edge tile and a row of zeros.</summary>
    private readonly struct Scratch
    {
        public readonly float* ABlock, APanel, Edge, Zeros;

        public Scratch(float* aligned)
        {
            ABlock = aligned;
            APanel = ABlock + ABlockRows * MaxDepthBlock;
            Edge = APanel + RowBlock * MaxDepthBlock;
            Zeros = Edge + RowBlock * PanelWidth;
            new Span<float>(Zeros, PanelWidth).Clear();
        }
    }

    /// <summary>
    /// Packs B[p0..p0+kc, j0..j0+width] as consecutive panels of PanelWidth columns: panel p holds, for each depth step,
    /// PanelWidth consecutive columns (zero past the matrix's last column).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackB(Operand b, int p0, int kc, int j0, int width, float* dst)
    {
        for (int start = 0; start < width; start += PanelWidth)
        {
            int cols = Math.Min(PanelWidth, width - start);
            float* src = b.Data + (nint)p0 * b.RowStride + (nint)(j0 + start) * b.ColStride;
            if (b.ColStride == 1)
            {
                for (int kk = 0; kk < kc; kk++, dst += PanelWidth)
                {
                    float* row = src + kk * b.RowStride;
                    if (cols == PanelWidth)
                    {
                        Vector256.Store(Vector256.Load(row), dst);
                        Vector256.Store(Vector256.Load(row + 8), dst + 8);
                        Vector256.Store(Vector256.Load(row + 16), dst + 16);
                        Vector256.Store(Vector256.Load(row + 24), dst + 24);
                    }
                    else
                    {
                        new ReadOnlySpan<float>(row, cols).CopyTo(new Span<float>(dst, cols));
                        new Span<float>(dst + cols, PanelWidth - cols).Clear();
                    }
                }
            }
            else if (cols == PanelWidth && b.RowStride == 1 && Avx512F.IsSupported)
            {
                for (int half = 0; half < PanelWidth; half += 16)
                {
                    float* rows = src + half * b.ColStride;
                    int kk = 0;
                    for (; kk + 16 <= kc; kk += 16)
                        Transpose16x16(rows + kk, b.ColStride, dst + kk * PanelWidth + half, PanelWidth);
                    for (; kk < kc; kk++)
                        for (int jj = 0; jj < 16; jj++) dst[kk * PanelWidth + half + jj] = rows[jj * b.ColStride + kk];
                }
                dst += kc * PanelWidth;
            }
            else
            {
                for (int jj = 0; jj < cols; jj++)
                {
                    float* column = src + jj * b.ColStride;
                    for (int kk = 0; kk < kc; kk++) dst[kk * PanelWidth + jj] = column[kk * b.RowStride];
                }
                for (int kk = 0; kk < kc; kk++)
                    for (int jj = cols; jj < PanelWidth; jj++) dst[kk * PanelWidth + jj] = 0;
                dst += kc * PanelWidth;
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

    /// <summary>
    /// Packs scale·A[i0..i0+rows, p0..p0+kc] into a RowBlock-row micro-panel (zero rows past <paramref name="rows"/>) in whichever
    /// layout copies contiguously from the source; element (r, kk) lands at dst[r·rowStride + kk·depthStride].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackA(Operand a, int i0, int rows, int p0, int kc, float scale, float* dst, out nint rowStride, out nint depthStride)
    {
        var panel = new Span<float>(dst, RowBlock * kc);
        float* src = a.Data + (nint)i0 * a.RowStride + (nint)p0 * a.ColStride;
        if (a.ColStride == 1)
        {
            rowStride = kc; depthStride = 1;
            for (int r = 0; r < rows; r++)
                new ReadOnlySpan<float>(src + r * a.RowStride, kc).CopyTo(new Span<float>(dst + r * kc, kc));
            new Span<float>(dst + rows * kc, (RowBlock - rows) * kc).Clear();
        }
        else
        {
            rowStride = 1; depthStride = RowBlock;
            for (int kk = 0; kk < kc; kk++, dst += RowBlock)
            {
                float* column = src + kk * a.ColStride;
                if (rows == RowBlock && a.RowStride == 1) Vector256.Store(Vector256.Load(column), dst);
                else
                    for (int r = 0; r < RowBlock; r++) dst[r] = r < rows ? column[r * a.RowStride] : 0;
            }
        }
        if (scale != 1f) TensorPrimitives.Multiply(panel, scale, panel);
    }

    /// <summary>
    /// Packs scale·A[i0..i0+rows, p0..p0+kc] of an A stored transposed (RowStride 1; rows a multiple of 16) as rows / RowBlock micro-panels
    /// one after another, element (r, kk) of micro-panel q at dst[q·RowBlock·kc + kk·RowBlock + r]: the layout PackA gives a transposed A,
    /// read a whole cache line of each source row per step. Asks for the next block's first prefetchRows elements of each row meanwhile.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackATransposed(Operand a, int i0, int rows, int p0, int kc, float scale, float* dst, int prefetchRows)
    {
        float* src = a.Data + i0 + (nint)p0 * a.ColStride;
        nint panelStride = (nint)RowBlock * kc;
        var factor = Vector512.Create(scale);
        for (int kk = 0; kk < kc; kk++, src += a.ColStride)
        {
            float* d = dst + kk * RowBlock;
            for (int r = 0; r < rows; r += 16, d += 2 * panelStride)
            {
                var v = Vector512.Load(src + r);
                if (scale != 1f) v *= factor;
                v.GetLower().Store(d);
                v.GetUpper().Store(d + panelStride);
            }
            if (Sse.IsSupported)
                for (int r = 0; r < prefetchRows; r += 16) Sse.Prefetch0(src + rows + r);
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

    /// <summary>A tile with rows or columns past the matrix edge: run the kernel on a full-size copy, write back the valid part.</summary>
    private static void EdgeTile(float* a, nint aRowStride, nint aDepthStride, float* b, int kc, float* c, nint ldc,
        float* init, nint initStride, int rows, int cols, float* edge)
    {
        for (int r = 0; r < RowBlock; r++)
            for (int j = 0; j < PanelWidth; j++)
                edge[r * PanelWidth + j] = r < rows && j < cols ? init[r * initStride + j] : 0;
        Kernel(a, aRowStride, aDepthStride, b, kc, edge, PanelWidth, edge, PanelWidth);
        for (int r = 0; r < rows; r++)
            new ReadOnlySpan<float>(edge + r * PanelWidth, cols).CopyTo(new Span<float>(c + r * ldc, cols));
    }

    /// <summary>
    /// C[8, 32] = init[8, 32] + A[8, kc] · B[kc, 32]: A element (r, kk) at a[r·aRowStride + kk·aDepthStride],
    /// B packed 32 wide per step; 16 accumulators stay in registers for the whole depth.
    /// </summary>
    private static void Kernel(float* a, nint aRowStride, nint aDepthStride, float* b, int kc, float* c, nint ldc, float* init, nint initStride)
    {
        if (Vector512.IsHardwareAccelerated) Kernel512(a, aRowStride, aDepthStride, b, kc, c, ldc, init, initStride);
        else Kernel256(a, aRowStride, aDepthStride, b, kc, c, ldc, init, initStride);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel512(float* a, nint aRowStride, nint aDepthStride, float* b, int kc, float* c, nint ldc, float* init, nint initStride)
    {
        nint r1 = aRowStride, r2 = 2 * aRowStride, r3 = 3 * aRowStride, r4 = 4 * aRowStride,
            r5 = 5 * aRowStride, r6 = 6 * aRowStride, r7 = 7 * aRowStride;
        var c00 = Vector512.Load(init); var c01 = Vector512.Load(init + 16); init += initStride;
        var c10 = Vector512.Load(init); var c11 = Vector512.Load(init + 16); init += initStride;
        var c20 = Vector512.Load(init); var c21 = Vector512.Load(init + 16); init += initStride;
        var c30 = Vector512.Load(init); var c31 = Vector512.Load(init + 16); init += initStride;
        var c40 = Vector512.Load(init); var c41 = Vector512.Load(init + 16); init += initStride;
        var c50 = Vector512.Load(init); var c51 = Vector512.Load(init + 16); init += initStride;
        var c60 = Vector512.Load(init); var c61 = Vector512.Load(init + 16); init += initStride;
        var c70 = Vector512.Load(init); var c71 = Vector512.Load(init + 16);
        for (int kk = 0; kk < kc; kk++)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var av = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(av, b0, c00); c01 = Vector512.FusedMultiplyAdd(av, b1, c01);
            av = Vector512.Create(a[r1]);
            c10 = Vector512.FusedMultiplyAdd(av, b0, c10); c11 = Vector512.FusedMultiplyAdd(av, b1, c11);
            av = Vector512.Create(a[r2]);
            c20 = Vector512.FusedMultiplyAdd(av, b0, c20); c21 = Vector512.FusedMultiplyAdd(av, b1, c21);
            av = Vector512.Create(a[r3]);
            c30 = Vector512.FusedMultiplyAdd(av, b0, c30); c31 = Vector512.FusedMultiplyAdd(av, b1, c31);
            av = Vector512.Create(a[r4]);
            c40 = Vector512.FusedMultiplyAdd(av, b0, c40); c41 = Vector512.FusedMultiplyAdd(av, b1, c41);
            av = Vector512.Create(a[r5]);
            c50 = Vector512.FusedMultiplyAdd(av, b0, c50); c51 = Vector512.FusedMultiplyAdd(av, b1, c51);
            av = Vector512.Create(a[r6]);
            c60 = Vector512.FusedMultiplyAdd(av, b0, c60); c61 = Vector512.FusedMultiplyAdd(av, b1, c61);
            av = Vector512.Create(a[r7]);
            c70 = Vector512.FusedMultiplyAdd(av, b0, c70); c71 = Vector512.FusedMultiplyAdd(av, b1, c71);
            a += aDepthStride;
            b += PanelWidth;
        }
        c00.Store(c); c01.Store(c + 16); c += ldc;
        c10.Store(c); c11.Store(c + 16); c += ldc;
        c20.Store(c); c21.Store(c + 16); c += ldc;
        c30.Store(c); c31.Store(c + 16); c += ldc;
        c40.Store(c); c41.Store(c + 16); c += ldc;
        c50.Store(c); c51.Store(c + 16); c += ldc;
        c60.Store(c); c61.Store(c + 16); c += ldc;
        c70.Store(c); c71.Store(c + 16);
    }

    /// <summary>The same tile without AVX-512: two rows at a time, four Vector256 per row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel256(float* a, nint aRowStride, nint aDepthStride, float* b, int kc, float* c, nint ldc, float* init, nint initStride)
    {
        for (int r = 0; r < RowBlock; r += 2)
        {
            float* i0 = init + r * initStride, i1 = i0 + initStride;
            var c00 = Vector256.Load(i0); var c01 = Vector256.Load(i0 + 8); var c02 = Vector256.Load(i0 + 16); var c03 = Vector256.Load(i0 + 24);
            var c10 = Vector256.Load(i1); var c11 = Vector256.Load(i1 + 8); var c12 = Vector256.Load(i1 + 16); var c13 = Vector256.Load(i1 + 24);
            float* a0 = a + r * aRowStride, a1 = a0 + aRowStride, bk = b;
            for (int kk = 0; kk < kc; kk++)
            {
                var b0 = Vector256.Load(bk); var b1 = Vector256.Load(bk + 8); var b2 = Vector256.Load(bk + 16); var b3 = Vector256.Load(bk + 24);
                var x0 = Vector256.Create(*a0);
                var x1 = Vector256.Create(*a1);
                c00 = Vector256.FusedMultiplyAdd(x0, b0, c00); c01 = Vector256.FusedMultiplyAdd(x0, b1, c01);
                c02 = Vector256.FusedMultiplyAdd(x0, b2, c02); c03 = Vector256.FusedMultiplyAdd(x0, b3, c03);
                c10 = Vector256.FusedMultiplyAdd(x1, b0, c10); c11 = Vector256.FusedMultiplyAdd(x1, b1, c11);
                c12 = Vector256.FusedMultiplyAdd(x1, b2, c12); c13 = Vector256.FusedMultiplyAdd(x1, b3, c13);
                a0 += aDepthStride; a1 += aDepthStride; bk += PanelWidth;
            }
            float* o0 = c + r * ldc, o1 = o0 + ldc;
            c00.Store(o0); c01.Store(o0 + 8); c02.Store(o0 + 16); c03.Store(o0 + 24);
            c10.Store(o1); c11.Store(o1 + 8); c12.Store(o1 + 16); c13.Store(o1 + 24);
        }
    }

    private static void RequireDims(int n, int inDim, int outDim)
    {
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), n, "must be non-negative");
        if (inDim < 0) throw new ArgumentOutOfRangeException(nameof(inDim), inDim, "must be non-negative");
        if (outDim < 0) throw new ArgumentOutOfRangeException(nameof(outDim), outDim, "must be non-negative");
    }
}

public sealed partial class CpuBackend
{
    public void MatMulForward(Tensor y, Tensor x, Tensor w, Tensor? bias, int n, int inDim, int outDim)
        => CpuMatMul.Forward(F(y), F(x), F(w), F(bias), n, inDim, outDim);

    public void MatMulBackward(Tensor? dx, Tensor? dw, Tensor? dbias, Tensor dy, Tensor x, Tensor w, int n, int inDim, int outDim)
        => CpuMatMul.Backward(F(dx), F(dw), F(dbias), F(dy), F(x), F(w), n, inDim, outDim);
}
