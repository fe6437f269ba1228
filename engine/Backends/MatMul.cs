using System.Buffers;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using Engine.Backends.Cpu;
using Engine.Kernels;
using Engine.Tensors;
using ILGPU;

namespace Engine.Backends;

/// <summary>
/// The linear layer in PyTorch's nn.Linear layout (weight [outDim, inDim]), on one packed, register-blocked GEMM core whose register
/// tile and cache blocking come from the host (<see cref="MatMulBlocking"/>). Each output element is one FMA chain over the inner
/// dimension in order, started from its bias, zero or its old value, whatever the tile, blocking, thread count or partition (a depth
/// block's partial sum is stored as the float32 the register held), so results are bit-identical run to run and host to host.
/// </summary>
public static unsafe partial class CpuMatMul
{
    /// <summary>Tasks per core in the fixed partition of C: a little slack for a core that is briefly busy elsewhere.</summary>
    private const int TasksPerCore = 2;

    /// <summary>Below this many multiply-adds the product runs on the calling thread alone.</summary>
    private const long SerialWork = 1 << 21;

    /// <summary>Most floats of packed B shared by the tasks at once (16 MiB): a larger B is packed and multiplied in rounds of whole column blocks.</summary>
    private const long MaxPackedB = 1 << 22;

    /// <summary>Micro-panels of a transposed A packed together, a whole source row segment at a time (64 rows of the 8-row tile: 128 KiB at
    /// depth 512, L2-resident).</summary>
    private const int PanelsPerABlock = 8;

    /// <summary>This process's register tile and blocking and the caches they came from, for benchmark headers.</summary>
    public static string HostBlocking =>
        $"{MatMulBlocking.Host}; L1d {CpuCaches.Host.L1Data >> 10} KiB, L2 {CpuCaches.Host.L2 >> 10} KiB ({CpuCaches.Host.Source})" +
        (Environment.GetEnvironmentVariable(MatMulBlocking.Variable) is { Length: > 0 } set ? $"; {MatMulBlocking.Variable}={set}" : "");

    // y[n, outDim] = x[n, inDim] · w[outDim, inDim]ᵀ + bias[outDim]   (bias empty = none). Overwrites y.
    // All row-major float32.
    public static void Forward(Span<float> y, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, int n, int inDim, int outDim)
        => Forward(y, x, w, bias, n, inDim, outDim, MatMulBlocking.Host);

    /// <summary><see cref="Forward(Span{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, int, int, int)"/> on a given blocking (tests force each).</summary>
    internal static void Forward(Span<float> y, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, int n, int inDim, int outDim,
        MatMulBlocking blocking)
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
            Gemm(a, b, py, n, outDim, inDim, bias.IsEmpty ? null : pb, accumulate: false, scale: 1f, blocking);
        }
    }

    // dx[n, inDim] += dy · w ;  dw[outDim, inDim] += dyᵀ · x ;  dbias[outDim] += Σ_rows dy   (dy is [n, outDim]).
    // Each gradient is optional: an empty span skips its work entirely.
    public static void Backward(Span<float> dx, Span<float> dw, Span<float> dbias, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> w, int n, int inDim, int outDim)
        => Backward(dx, dw, dbias, dy, x, w, n, inDim, outDim, MatMulBlocking.Host);

    /// <summary><see cref="Backward(Span{float}, Span{float}, Span{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, int, int, int)"/> on a given blocking.</summary>
    internal static void Backward(Span<float> dx, Span<float> dw, Span<float> dbias, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> w,
        int n, int inDim, int outDim, MatMulBlocking blocking)
    {
        RequireDims(n, inDim, outDim);
        Arguments.RequireLength(dy.Length, (long)n * outDim, nameof(dy), "n*outDim");
        Arguments.RequireLength(x.Length, (long)n * inDim, nameof(x), "n*inDim");
        Arguments.RequireLength(w.Length, (long)outDim * inDim, nameof(w), "outDim*inDim");
        if (!dx.IsEmpty) Arguments.RequireLength(dx.Length, (long)n * inDim, nameof(dx), "n*inDim");
        if (!dw.IsEmpty) Arguments.RequireLength(dw.Length, (long)outDim * inDim, nameof(dw), "outDim*inDim");
        if (!dbias.IsEmpty) Arguments.RequireLength(dbias.Length, outDim, nameof(dbias), "outDim");

        WeightAndInputGradients(dx, dw, dy, x, w, 1f, n, inDim, outDim, blocking);
        if (!dbias.IsEmpty) AddColumnSums(dbias, dy, n, outDim);
    }

    // y[n, outDim] += scale · x[n, inDim] · w[outDim, inDim]ᵀ: a second product accumulated into a forward's output (LoRA's
    // low-rank term), y read and written once. Sizes are the caller's to check.
    internal static void ForwardAccumulate(Span<float> y, ReadOnlySpan<float> x, ReadOnlySpan<float> w, float scale, int n, int inDim, int outDim)
    {
        fixed (float* py = y, px = x, pw = w)
            Gemm(new Operand(px, inDim, 1), new Operand(pw, 1, inDim), py, n, outDim, inDim, bias: null, accumulate: true, scale, MatMulBlocking.Host);
    }

    // dx[n, inDim] += scale · dy · w ;  dw[outDim, inDim] += scale · dyᵀ · x   (dy is [n, outDim]; empty gradient = skipped).
    // Backward's products with dy scaled as it is packed; sizes are the caller's to check.
    internal static void WeightAndInputGradients(Span<float> dx, Span<float> dw, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> w,
        float scale, int n, int inDim, int outDim) => WeightAndInputGradients(dx, dw, dy, x, w, scale, n, inDim, outDim, MatMulBlocking.Host);

    private static void WeightAndInputGradients(Span<float> dx, Span<float> dw, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> w,
        float scale, int n, int inDim, int outDim, MatMulBlocking blocking)
    {
        fixed (float* pdx = dx, pdw = dw, pdy = dy, px = x, pw = w)
        {
            if (!dx.IsEmpty)
                Gemm(new Operand(pdy, outDim, 1), new Operand(pw, inDim, 1), pdx, n, inDim, outDim, bias: null, accumulate: true, scale, blocking);
            if (!dw.IsEmpty)
                Gemm(new Operand(pdy, 1, outDim), new Operand(px, inDim, 1), pdw, outDim, inDim, n, bias: null, accumulate: true, scale, blocking);
        }
    }

    /// <summary>dbias += Σ_i dy[i, :], summed row by row into a zeroed buffer first (fixed order), then added once; column blocks in parallel.</summary>
    private static void AddColumnSums(Span<float> dbias, ReadOnlySpan<float> dy, int n, int outDim)
    {
        float[] sums = ArrayPool<float>.Shared.Rent(outDim);
        fixed (float* pdbias = dbias, pdy = dy)
        {
            float* db = pdbias, g = pdy;
            CpuParallel.ForEachColumnBlock(n, outDim, (j0, j1) =>
            {
                var block = sums.AsSpan(j0, j1 - j0);
                block.Clear();
                for (int i = 0; i < n; i++) TensorPrimitives.Add(block, new ReadOnlySpan<float>(g + (nint)i * outDim + j0, j1 - j0), block);
                var target = new Span<float>(db + j0, j1 - j0);
                TensorPrimitives.Add(target, block, target);
            });
        }
        ArrayPool<float>.Shared.Return(sums);
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
    private static void Gemm(Operand a, Operand b, float* c, int m, int n, int k, float* bias, bool accumulate, float scale, MatMulBlocking blocking)
    {
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            if (!accumulate) FillRows(c, m, n, bias);
            return;
        }
        if (blocking.VectorBits == 512) Gemm<Tile512>(a, b, c, m, n, k, bias, accumulate, scale, blocking);
        else Gemm<Tile256>(a, b, c, m, n, k, bias, accumulate, scale, blocking);
    }

    private static void Gemm<T>(Operand a, Operand b, float* c, int m, int n, int k, float* bias, bool accumulate, float scale, MatMulBlocking blocking)
        where T : struct, ITile
    {
        int columnBlock = blocking.ColumnBlock;
        int panels = (n + T.Width - 1) / T.Width;
        int depthBlock = blocking.DepthBlock(k), depthBlocks = (k + depthBlock - 1) / depthBlock;
        int depthBlocksPerRound = (int)Math.Clamp(MaxPackedB / ((long)depthBlock * columnBlock), 1, depthBlocks);
        int panelsPerRound = (int)Math.Min(panels, MaxPackedB / ((long)depthBlocksPerRound * depthBlock * columnBlock) * (columnBlock / T.Width));
        bool serial = (long)m * n * k < SerialWork || Environment.ProcessorCount == 1;
        var partition = serial ? new Partition(1, 1, T.Rows, T.Width) : Partition.For(m, Math.Min(n, panelsPerRound * T.Width), k,
            Environment.ProcessorCount * TasksPerCore, Environment.ProcessorCount, aCostPerElement: a.ColStride == 1 ? 0.25 : 1, T.Rows, T.Width, columnBlock);
        int scratchFloats = (PanelsPerABlock + 1) * T.Rows * depthBlock + T.Rows * T.Width + T.Width + 16;

        float[] packed = ArrayPool<float>.Shared.Rent(depthBlocksPerRound * depthBlock * panelsPerRound * T.Width + 16);
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
                        int n0 = firstPanel * T.Width, width = Math.Min(n - n0, roundPanels * T.Width);
                        new Span<int>(claimed, depthBlocksPerRound * roundPanels).Clear();
                        var job = new GemmJob<T>(a, b, c, n, k, p0, p1, depthBlock, columnBlock, bias, accumulate, scale,
                            new PackedB<T>(aligned, claimed, depthBlock, p0, firstPanel, roundPanels));
                        if (partition.Count == 1)
                        {
                            float[] scratch = ArrayPool<float>.Shared.Rent(scratchFloats);
                            job.RunRange(0, m, n0, n0 + width, scratch);
                            ArrayPool<float>.Shared.Return(scratch);
                            continue;
                        }
                        Parallel.For(0, partition.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
                            () => ArrayPool<float>.Shared.Rent(scratchFloats),
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
    /// A fixed grid of output rectangles, one task each, cut at whole tiles. B is packed once whatever the grid, but each row part streams
    /// all of packed B into its core's cache again; each task reads (or packs) A once per column block it covers. The grid is the one
    /// with the least time per core: multiply-adds (16 per cycle), A's and B's streaming (cycles per element), over the busy tasks.
    /// </summary>
    private readonly struct Partition(int rowParts, int colParts, int tileRows, int tileWidth)
    {
        /// <summary>Cycles per element to bring packed B into a core's cache (from the shared cache or the other core).</summary>
        private const double PackedBCostPerElement = 0.4;

        public int Count => rowParts * colParts;

        public static Partition For(int m, int n, int k, int tasks, int cores, double aCostPerElement, int tileRows, int tileWidth, int columnBlock)
        {
            int rowBlocks = (m + tileRows - 1) / tileRows;
            int panels = (n + tileWidth - 1) / tileWidth;
            var best = new Partition(1, 1, tileRows, tileWidth);
            double bestCost = double.MaxValue;
            for (int colParts = 1; colParts <= tasks; colParts++)
            {
                if (tasks % colParts != 0) continue;
                int cols = Math.Min(colParts, panels), rows = Math.Min(tasks / colParts, rowBlocks);
                double columnBlocks = Math.Max(cols, Math.Ceiling((double)n / columnBlock));
                double work = (double)m * n * k / 16 + columnBlocks * m * k * aCostPerElement + (double)rows * n * k * PackedBCostPerElement;
                double cost = work / Math.Min(rows * cols, cores);
                if (cost < bestCost) (best, bestCost) = (new Partition(rows, cols, tileRows, tileWidth), cost);
            }
            return best;
        }

        public void Bounds(int task, int m, int n, out int m0, out int m1, out int n0, out int n1)
        {
            int rowPart = task / colParts, colPart = task % colParts;
            int rowBlocks = (m + tileRows - 1) / tileRows;
            int panels = (n + tileWidth - 1) / tileWidth;
            m0 = Math.Min(m, (int)((long)rowBlocks * rowPart / rowParts) * tileRows);
            m1 = Math.Min(m, (int)((long)rowBlocks * (rowPart + 1) / rowParts) * tileRows);
            n0 = Math.Min(n, (int)((long)panels * colPart / colParts) * tileWidth);
            n1 = Math.Min(n, (int)((long)panels * (colPart + 1) / colParts) * tileWidth);
        }
    }

    /// <summary>
    /// B packed for one round: depth blocks from depth P0 on, panels [firstPanel, firstPanel + panels). Each depth block holds, panel
    /// after panel, that panel's kc × Width block. Whichever task first needs a (depth block, panel) claims and packs it;
    /// a task needing one another has claimed waits for it (the packer is running, so the wait is short).
    /// </summary>
    private readonly struct PackedB<T>(float* data, int* claims, int depthBlock, int p0, int firstPanel, int panels) where T : struct, ITile
    {
        private const int Unclaimed = 0, Packing = 1, Packed = 2;

        /// <summary>The packed panel of B rows [depth, depth + kc), depth a depth-block start inside the round.</summary>
        public float* Panel(int depth, int kc, int panel)
            => data + ((long)(depth - p0) * panels + (long)(panel - firstPanel) * kc) * T.Width;

        /// <summary>Packs every panel of [first, first + count) at this depth block that no task has claimed, then waits for the rest.</summary>
        public void Ensure(Operand b, int n, int depth, int kc, int first, int count)
        {
            int* claim = claims + (long)(depth - p0) / depthBlock * panels - firstPanel;
            for (int panel = first; panel < first + count; panel++)
            {
                if (Volatile.Read(ref claim[panel]) != Unclaimed || Interlocked.CompareExchange(ref claim[panel], Packing, Unclaimed) != Unclaimed) continue;
                PackB<T>(b, depth, kc, panel * T.Width, Math.Min(T.Width, n - panel * T.Width), Panel(depth, kc, panel));
                Volatile.Write(ref claim[panel], Packed);
            }
            for (int panel = first; panel < first + count; panel++)
            {
                var spinner = new SpinWait();
                while (Volatile.Read(ref claim[panel]) != Packed) spinner.SpinOnce(sleep1Threshold: -1);
            }
        }
    }

    private readonly struct GemmJob<T>(Operand a, Operand b, float* c, int n, int k, int depthStart, int depthEnd, int depthBlock, int columnBlock,
        float* bias, bool accumulate, float scale, PackedB<T> packedB) where T : struct, ITile
    {
        /// <summary>Rows of A swept (and, transposed, packed) together against one B tile.</summary>
        private static int ABlockRows => PanelsPerABlock * T.Rows;

        /// <summary>Computes the depth blocks [depthStart, depthEnd) of C[m0..m1, n0..n1]: per column block and depth block, make sure
        /// its B panels are packed, then sweep the rows in blocks of ABlockRows.</summary>
        public void RunRange(int m0, int m1, int n0, int n1, float[] scratch)
        {
            fixed (float* raw = scratch)
            {
                var space = new Scratch((float*)(((nint)raw + 63) & ~(nint)63), ABlockRows * depthBlock, T.Rows * depthBlock, T.Rows * T.Width, T.Width);
                for (int j0 = n0; j0 < n1; j0 += columnBlock)
                {
                    int panels = (Math.Min(columnBlock, n1 - j0) + T.Width - 1) / T.Width;
                    for (int p0 = depthStart; p0 < depthEnd; p0 += depthBlock)
                    {
                        int kc = Math.Min(depthBlock, k - p0);
                        packedB.Ensure(b, n, p0, kc, j0 / T.Width, panels);
                        for (int block0 = m0; block0 < m1; block0 += ABlockRows)
                            RowBlocks(block0, Math.Min(m1, block0 + ABlockRows), m1, j0, panels, p0, kc, space);
                    }
                }
            }
        }

        /// <summary>
        /// Rows [block0, blockEnd) against the panels from column j0 at depth block p0: each micro-panel of A, read in place when
        /// A is row-major, else packed (a transposed A a block at a time), then multiplied with each B panel into C.
        /// </summary>
        private void RowBlocks(int block0, int blockEnd, int m1, int j0, int panels, int p0, int kc, Scratch space)
        {
            int packedRows = a.RowStride == 1 && a.ColStride != 1 ? (blockEnd - block0) / T.Rows * T.Rows : 0;
            if (packedRows > 0) PackATransposed<T>(a, block0, packedRows, p0, kc, scale, space.ABlock, prefetchRows: Math.Min(ABlockRows, m1 - blockEnd));
            bool first = p0 == 0;
            for (int i0 = block0; i0 < blockEnd; i0 += T.Rows)
            {
                int rows = Math.Min(T.Rows, blockEnd - i0);
                float* aTile;
                nint aRowStride, aDepthStride;
                if (i0 - block0 < packedRows)
                {
                    aTile = space.ABlock + (i0 - block0) * kc;
                    aRowStride = 1;
                    aDepthStride = T.Rows;
                }
                else if (rows == T.Rows && a.ColStride == 1 && scale == 1f)
                {
                    aTile = a.Data + (nint)i0 * a.RowStride + p0;
                    aRowStride = a.RowStride;
                    aDepthStride = 1;
                }
                else
                {
                    PackA<T>(a, i0, rows, p0, kc, scale, space.APanel, out aRowStride, out aDepthStride);
                    aTile = space.APanel;
                    if (i0 + T.Rows < m1) PrefetchA(a, i0 + T.Rows, Math.Min(T.Rows, m1 - i0 - T.Rows), p0, kc);
                }
                for (int panel = 0; panel < panels; panel++)
                {
                    int col = j0 + panel * T.Width;
                    int cols = Math.Min(T.Width, n - col);
                    float* cTile = c + (nint)i0 * n + col;
                    float* init = !first || accumulate ? cTile : bias != null ? bias + col : space.Zeros;
                    nint initStride = !first || accumulate ? n : 0;

                    float* bPanel = packedB.Panel(p0, kc, col / T.Width);
                    if (rows == T.Rows && cols == T.Width)
                        T.Kernel(aTile, aRowStride, aDepthStride, bPanel, kc, cTile, n, init, initStride);
                    else
                        EdgeTile<T>(aTile, aRowStride, aDepthStride, bPanel, kc, cTile, n, init, initStride, rows, cols, space.Edge);
                }
            }
        }
    }

    /// <summary>A worker's scratch, 64-byte aligned: a transposed A block, an A micro-panel, an edge tile and a row of zeros.</summary>
    private readonly struct Scratch
    {
        public readonly float* ABlock, APanel, Edge, Zeros;

        public Scratch(float* aligned, int aBlock, int aPanel, int edge, int zeros)
        {
            ABlock = aligned;
            APanel = ABlock + aBlock;
            Edge = APanel + aPanel;
            Zeros = Edge + edge;
            new Span<float>(Zeros, zeros).Clear();
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

public sealed partial class IlgpuBackend
{
    MatMul? _matMul;
    MatMul MatMulLauncher => Launcher(ref _matMul, a => new MatMul(a));

    Bf16MatMul? _bf16MatMul;
    Bf16MatMul Bf16MatMulLauncher => Launcher(ref _bf16MatMul, a => new Bf16MatMul(a));
    Bf16Weights? _bf16Weights;

    /// <summary>The weights' bf16 copies, made with the first bf16 matmul (disposed with the backend).</summary>
    Bf16Weights WeightCopies
    {
        get
        {
            var rounding = Bf16MatMulLauncher.Rounding;
            lock (_launchers) return _bf16Weights ??= new Bf16Weights(_accelerator, rounding);
        }
    }

    /// <summary>How many bf16 weight copies have been rounded from their fp32 masters (0 at fp32): in training, each matmul weight's two
    /// copies once per optimizer step.</summary>
    public long Bf16WeightRoundings => _bf16Weights?.Roundings ?? 0;

    public void MatMulForward(Tensor y, Tensor x, Tensor w, Tensor? bias, int n, int inDim, int outDim)
        => LinearForward(F(y), F(x), w, F(bias), n, inDim, outDim);

    public void MatMulBackward(Tensor? dx, Tensor? dw, Tensor? dbias, Tensor dy, Tensor x, Tensor w, int n, int inDim, int outDim)
        => LinearBackward(F(dx), F(dw), F(dbias), F(dy), F(x), w, n, inDim, outDim);

    /// <summary>y = x·Wᵀ + bias at this backend's precision (bf16: from W's bf16 copy).</summary>
    void LinearForward(ArrayView<float> y, ArrayView<float> x, Tensor w, ArrayView<float> bias, int n, int inDim, int outDim)
    {
        if (Precision == Precision.Fp32)
        {
            MatMulLauncher.Forward(y, x, F(w), bias, n, inDim, outDim);
            return;
        }
        Arguments.RequireLength(w.Length, (long)outDim * inDim, nameof(w), "outDim*inDim");
        Bf16MatMulLauncher.Forward(y, x, WeightCopies.Rows(w, outDim, inDim), bias, n, inDim, outDim);
    }

    /// <summary>dx += dy·W, dW += dyᵀ·x, dbias += Σ dy at this backend's precision (bf16: dx from W's transposed bf16 copy).</summary>
    void LinearBackward(ArrayView<float> dx, ArrayView<float> dw, ArrayView<float> dbias, ArrayView<float> dy, ArrayView<float> x, Tensor w,
        int n, int inDim, int outDim)
    {
        if (Precision == Precision.Fp32)
        {
            MatMulLauncher.Backward(dx, dw, dbias, dy, x, F(w), n, inDim, outDim);
            return;
        }
        Arguments.RequireLength(w.Length, (long)outDim * inDim, nameof(w), "outDim*inDim");
        var wTransposed = dx.Length == 0 ? ArrayView<ushort>.Empty : WeightCopies.Transposed(w, outDim, inDim);
        Bf16MatMulLauncher.Backward(dx, dw, dbias, dy, x, wTransposed, n, inDim, outDim);
    }
}
