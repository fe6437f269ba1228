using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>
/// Causal, segment-masked, grouped-query attention, flash style (FlashAttention-2): scores live only in registers and in
/// one tile of shared memory, never as a T×T matrix. Layouts as in the CPU op: q, out [batch, seqLen, heads, headDim];
/// k, v [batch, seqLen, kvHeads, headDim]; segments [batch, seqLen]; lse, delta [batch, heads, seqLen].
/// Every group has GroupSize threads seen as RowLanes × LanesPerRow: the LanesPerRow consecutive lanes of one row split its
/// keys (key c belongs to lane c mod LanesPerRow) and its head-dimension elements (d belongs to lane d mod LanesPerRow).
/// Shared tiles are sized by the real headDim at launch (dynamic shared memory): ILGPU cannot opt a kernel into more than the default
/// 48 KiB per group, which bounds the tiles at MaxHeadDim (forward 37 KiB, backward 36 KiB); smaller heads leave room for more groups.
/// Causal tiles above the diagonal are never visited; a query tile starts at the key tile holding the earliest key of its rows' segments, and a
/// key tile stops at the query tile holding the latest row of its keys' segments (found with integer atomic min/max in shared memory, whose
/// result does not depend on order); with a sliding window W (shape.Window, 0 = unlimited; row t sees keys t − W &lt; j ≤ t) those searches start
/// inside the window, so tiles wholly outside it are never visited either; inside, keys are masked one by one.
/// Deterministic: every output element is produced by one thread in a fixed order; no float atomics. Backward: delta rows first, then one
/// group per (key tile, b, kv head) owns its dk, dv rows (looping the group's query heads and query tiles in order), and a separate pass,
/// one group per (query tile, b, h), owns its dq rows (looping key tiles in order).
/// </summary>
public static class AttentionKernels
{
    /// <summary>Largest supported head dimension: each lane holds headDim / LanesPerRow elements of a row in registers.</summary>
    public const int MaxHeadDim = LanesPerRow * DimSlots.Count;

    /// <summary>Threads per group for the three tile kernels.</summary>
    public const int GroupSize = RowLanes * LanesPerRow;

    /// <summary>Consecutive lanes sharing one query (or key) row; row reductions are butterflies over them.</summary>
    public const int LanesPerRow = 8;

    /// <summary>Rows of lanes in a group.</summary>
    public const int RowLanes = 8;

    /// <summary>Query rows per forward group: each thread owns ForwardQueryTile / RowLanes = 4 rows.</summary>
    public const int ForwardQueryTile = 32;

    /// <summary>Keys per forward key tile: each thread scores ForwardKeyTile / LanesPerRow = 4 of them per row.</summary>
    public const int ForwardKeyTile = 32;

    /// <summary>Query rows per backward query tile: 2 per thread.</summary>
    public const int BackwardQueryTile = 16;

    /// <summary>Keys per backward key tile: 2 per thread.</summary>
    public const int BackwardKeyTile = 16;

    /// <summary>Threads per group of the delta kernel: one warp per row.</summary>
    public const int DeltaGroupSize = 128;

    /// <summary>Row strides of the transposed shared tiles (one float of padding against bank conflicts); the launcher sizes the tiles from them.</summary>
    internal const int ForwardQueryStride = ForwardQueryTile + 1, ForwardKeyStride = ForwardKeyTile + 1;

    /// <inheritdoc cref="ForwardQueryStride"/>
    internal const int BackwardQueryStride = BackwardQueryTile + 1, BackwardKeyStride = BackwardKeyTile + 1;

    /// <summary>out[b,t,h,:] = Σ_{t−W<j≤t, seg[j]=seg[t]} softmax_j(q[b,t,h,:]·k[b,j,g,:]·scale)·v[b,j,g,:], g = h/(heads/kvHeads); lse[b,h,t] = m + log l.</summary>
    /// <remarks>Grid (⌈seqLen/ForwardQueryTile⌉, heads, batch), group GroupSize: one query tile of one (b, h), online softmax over its key tiles.</remarks>
    [GroupSize(GroupSize)]
    public static void Forward(ArrayView<float> output, ArrayView<float> lse, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<int> segments, AttentionShape shape)
    {
        int T = shape.SeqLen, D = shape.HeadDim, H = shape.Heads, KV = shape.KvHeads;
        int b = Grid.IdxZ, h = Grid.IdxY, g = h / (H / KV), q0 = Grid.IdxX * ForwardQueryTile;
        int tid = Group.IdxX, rowLane = tid / LanesPerRow, lane = tid % LanesPerRow, slots = DimSlots.For(lane, D);
        int rowsValid = Math.Min(ForwardQueryTile, T - q0), lastRow = q0 + rowsValid - 1;
        int qBase = (b * T * H + h) * D, kvBase = (b * T * KV + g) * D, segBase = b * T;

        var shared = SharedMemory.GetDynamic<float>();
        int qT = 0, kv = D * ForwardQueryStride, pT = kv + D * ForwardKeyStride;
        var querySegments = SharedMemory.Allocate<int>(ForwardQueryTile);
        var keySegments = SharedMemory.Allocate<int>(ForwardKeyTile);
        var firstKey = SharedMemory.Allocate<int>(1);

        LoadTransposed(shared, qT, ForwardQueryStride, q, qBase + q0 * H * D, H * D, ForwardQueryTile, rowsValid, D);
        if (tid < ForwardQueryTile) querySegments[tid] = segments[segBase + Math.Min(q0 + tid, lastRow)];
        if (tid == 0) firstKey[0] = q0;
        Group.Barrier();
        FindFirstKey(segments, segBase, querySegments, rowsValid, AttentionShape.FirstKey(q0, shape.Window), q0, firstKey);
        Group.Barrier();

        // Row i of this thread is rowLane + RowLanes·i; rows past the end act as the last row (computed, never written).
        int r0 = rowLane, r1 = rowLane + RowLanes, r2 = rowLane + 2 * RowLanes, r3 = rowLane + 3 * RowLanes;
        int t0 = Math.Min(q0 + r0, lastRow), t1 = Math.Min(q0 + r1, lastRow), t2 = Math.Min(q0 + r2, lastRow), t3 = Math.Min(q0 + r3, lastRow);
        float m0 = float.NegativeInfinity, m1 = float.NegativeInfinity, m2 = float.NegativeInfinity, m3 = float.NegativeInfinity;
        float l0 = 0f, l1 = 0f, l2 = 0f, l3 = 0f;
        DimSlots o0 = default, o1 = default, o2 = default, o3 = default, vRow = default;
        for (int k0 = firstKey[0] / ForwardKeyTile * ForwardKeyTile; k0 <= lastRow; k0 += ForwardKeyTile)
        {
            int keysValid = Math.Min(ForwardKeyTile, T - k0);
            Group.Barrier();
            LoadTransposed(shared, kv, ForwardKeyStride, k, kvBase + k0 * KV * D, KV * D, ForwardKeyTile, keysValid, D);
            if (tid < ForwardKeyTile) keySegments[tid] = segments[segBase + Math.Min(k0 + tid, T - 1)];
            Group.Barrier();

            Float4 s0 = default, s1 = default, s2 = default, s3 = default;
            for (int d = 0; d < D; d++)
            {
                int qRow = qT + d * ForwardQueryStride + rowLane, kRow = kv + d * ForwardKeyStride + lane;
                var keys = new Float4(shared[kRow], shared[kRow + LanesPerRow], shared[kRow + 2 * LanesPerRow], shared[kRow + 3 * LanesPerRow]);
                s0.MulAdd(shared[qRow], keys);
                s1.MulAdd(shared[qRow + RowLanes], keys);
                s2.MulAdd(shared[qRow + 2 * RowLanes], keys);
                s3.MulAdd(shared[qRow + 3 * RowLanes], keys);
            }
            o0.Scale(SoftmaxStep(ref s0, ref m0, ref l0, shape, t0, querySegments[r0], k0, lane, keySegments), slots);
            o1.Scale(SoftmaxStep(ref s1, ref m1, ref l1, shape, t1, querySegments[r1], k0, lane, keySegments), slots);
            o2.Scale(SoftmaxStep(ref s2, ref m2, ref l2, shape, t2, querySegments[r2], k0, lane, keySegments), slots);
            o3.Scale(SoftmaxStep(ref s3, ref m3, ref l3, shape, t3, querySegments[r3], k0, lane, keySegments), slots);
            Group.Barrier();

            LoadRows(shared, kv, v, kvBase + k0 * KV * D, KV * D, ForwardKeyTile, keysValid, D);
            StoreColumn(shared, pT + lane * ForwardQueryStride + r0, s0);
            StoreColumn(shared, pT + lane * ForwardQueryStride + r1, s1);
            StoreColumn(shared, pT + lane * ForwardQueryStride + r2, s2);
            StoreColumn(shared, pT + lane * ForwardQueryStride + r3, s3);
            Group.Barrier();

            for (int c = 0; c < keysValid; c++)
            {
                int pRow = pT + c * ForwardQueryStride + rowLane;
                vRow.Load(shared, kv + c * D + lane, LanesPerRow, slots);
                o0.MulAdd(shared[pRow], vRow, slots);
                o1.MulAdd(shared[pRow + RowLanes], vRow, slots);
                o2.MulAdd(shared[pRow + 2 * RowLanes], vRow, slots);
                o3.MulAdd(shared[pRow + 3 * RowLanes], vRow, slots);
            }
        }

        int lseBase = (b * H + h) * T;
        WriteRow(output, lse, o0, m0, Butterfly.Sum(l0, LanesPerRow), r0, rowsValid, q0, qBase, H * D, lseBase, lane, slots);
        WriteRow(output, lse, o1, m1, Butterfly.Sum(l1, LanesPerRow), r1, rowsValid, q0, qBase, H * D, lseBase, lane, slots);
        WriteRow(output, lse, o2, m2, Butterfly.Sum(l2, LanesPerRow), r2, rowsValid, q0, qBase, H * D, lseBase, lane, slots);
        WriteRow(output, lse, o3, m3, Butterfly.Sum(l3, LanesPerRow), r3, rowsValid, q0, qBase, H * D, lseBase, lane, slots);
    }

    /// <summary>delta[b,h,t] = Σ_d dOutput[b,t,h,d]·output[b,t,h,d], the softmax-backward row term.</summary>
    /// <remarks>Grid ⌈batch·seqLen·heads / (DeltaGroupSize/warp)⌉, group DeltaGroupSize: one warp per row, a fixed butterfly sum.</remarks>
    [GroupSize(DeltaGroupSize)]
    public static void BackwardDelta(ArrayView<float> delta, ArrayView<float> dOutput, ArrayView<float> output, AttentionShape shape)
    {
        int T = shape.SeqLen, H = shape.Heads, D = shape.HeadDim;
        int row = Grid.IdxX * (Group.DimX / Warp.WarpSize) + Warp.WarpIdx;
        if (row >= shape.Batch * T * H) return;
        float sum = 0f;
        for (int d = Warp.LaneIdx; d < D; d += Warp.WarpSize) sum += dOutput[row * D + d] * output[row * D + d];
        for (int offset = Warp.WarpSize / 2; offset > 0; offset /= 2) sum += Warp.ShuffleXor(sum, offset);
        if (Warp.LaneIdx != 0) return;
        int bt = row / H, h = row - bt * H, b = bt / T, t = bt - b * T;
        delta[(b * H + h) * T + t] = sum;
    }

    /// <summary>dk += Σ_h Σ_t dsᵀ·q, dv += Σ_h Σ_t pᵀ·dOut with p = exp(s − lse), ds = p·(dOut·vᵀ − delta)·scale, over the query heads h of kv head g.</summary>
    /// <remarks>Grid (⌈seqLen/BackwardKeyTile⌉, kvHeads, batch), group GroupSize: one key tile, looping heads then query tiles in order; dk/dv in registers. Empty dk or dv is skipped.</remarks>
    [GroupSize(GroupSize)]
    public static void BackwardKeyValue(ArrayView<float> dk, ArrayView<float> dv, ArrayView<float> dOutput, ArrayView<float> delta, ArrayView<float> lse,
        ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<int> segments, AttentionShape shape)
    {
        int T = shape.SeqLen, D = shape.HeadDim, H = shape.Heads, KV = shape.KvHeads, groupSize = H / KV;
        int b = Grid.IdxZ, g = Grid.IdxY, k0 = Grid.IdxX * BackwardKeyTile;
        int tid = Group.IdxX, rowLane = tid / LanesPerRow, lane = tid % LanesPerRow, slots = DimSlots.For(lane, D);
        int keysValid = Math.Min(BackwardKeyTile, T - k0), kvBase = (b * T * KV + g) * D, segBase = b * T;
        bool wantDk = dk.Length > 0, wantDv = dv.Length > 0;

        var shared = SharedMemory.GetDynamic<float>();
        int qT = 0, dOT = qT + D * BackwardQueryStride, kT = dOT + D * BackwardQueryStride, vT = kT + D * BackwardKeyStride;
        int dsS = vT + D * BackwardKeyStride, pS = dsS + BackwardQueryTile * BackwardKeyStride;
        var querySegments = SharedMemory.Allocate<int>(BackwardQueryTile);
        var keySegments = SharedMemory.Allocate<int>(BackwardKeyTile);
        var rowLse = SharedMemory.Allocate<float>(BackwardQueryTile);
        var rowDelta = SharedMemory.Allocate<float>(BackwardQueryTile);
        var lastQuery = SharedMemory.Allocate<int>(1);

        LoadTransposed(shared, kT, BackwardKeyStride, k, kvBase + k0 * KV * D, KV * D, BackwardKeyTile, keysValid, D);
        LoadTransposed(shared, vT, BackwardKeyStride, v, kvBase + k0 * KV * D, KV * D, BackwardKeyTile, keysValid, D);
        if (tid < BackwardKeyTile) keySegments[tid] = segments[segBase + Math.Min(k0 + tid, T - 1)];
        if (tid == 0) lastQuery[0] = k0 + keysValid - 1;
        Group.Barrier();
        FindLastQuery(segments, segBase, keySegments, keysValid, LastQuery(k0 + keysValid - 1, shape.Window, T), lastQuery);
        Group.Barrier();

        // Scores: query rows rowLane + RowLanes·i, keys lane + LanesPerRow·j. Accumulators: key rows rowLane + RowLanes·i.
        int r0 = rowLane, r1 = rowLane + RowLanes;
        DimSlots dk0 = default, dk1 = default, dv0 = default, dv1 = default, row = default;
        int firstTile = k0 / BackwardQueryTile * BackwardQueryTile, last = lastQuery[0];
        for (int h = g * groupSize; h < (g + 1) * groupSize; h++)
        {
            int qBase = (b * T * H + h) * D, lseBase = (b * H + h) * T;
            for (int q0 = firstTile; q0 <= last; q0 += BackwardQueryTile)
            {
                int rowsValid = Math.Min(BackwardQueryTile, T - q0);
                Group.Barrier();
                LoadTransposed(shared, qT, BackwardQueryStride, q, qBase + q0 * H * D, H * D, BackwardQueryTile, rowsValid, D);
                LoadTransposed(shared, dOT, BackwardQueryStride, dOutput, qBase + q0 * H * D, H * D, BackwardQueryTile, rowsValid, D);
                LoadRowTerms(querySegments, rowLse, rowDelta, segments, lse, delta, segBase, lseBase, q0, T);
                Group.Barrier();

                ScoreTiles(shared, qT, dOT, kT, vT, rowLane, lane, D, wantDk, out var s0, out var s1, out var dp0, out var dp1);
                ScoreGradients(shared, wantDv, pS, wantDk, dsS, s0, dp0, r0, q0, k0, lane, shape, querySegments, keySegments, rowLse, rowDelta);
                ScoreGradients(shared, wantDv, pS, wantDk, dsS, s1, dp1, r1, q0, k0, lane, shape, querySegments, keySegments, rowLse, rowDelta);
                Group.Barrier();

                for (int r = 0; r < rowsValid; r++)
                {
                    if (wantDv)
                    {
                        row.Load(shared, dOT + lane * BackwardQueryStride + r, LanesPerRow * BackwardQueryStride, slots);
                        dv0.MulAdd(shared[pS + r * BackwardKeyStride + r0], row, slots);
                        dv1.MulAdd(shared[pS + r * BackwardKeyStride + r1], row, slots);
                    }
                    if (wantDk)
                    {
                        row.Load(shared, qT + lane * BackwardQueryStride + r, LanesPerRow * BackwardQueryStride, slots);
                        dk0.MulAdd(shared[dsS + r * BackwardKeyStride + r0], row, slots);
                        dk1.MulAdd(shared[dsS + r * BackwardKeyStride + r1], row, slots);
                    }
                }
            }
        }

        if (wantDk)
        {
            if (r0 < keysValid) dk0.AddTo(dk, kvBase + (k0 + r0) * KV * D + lane, LanesPerRow, slots);
            if (r1 < keysValid) dk1.AddTo(dk, kvBase + (k0 + r1) * KV * D + lane, LanesPerRow, slots);
        }
        if (wantDv)
        {
            if (r0 < keysValid) dv0.AddTo(dv, kvBase + (k0 + r0) * KV * D + lane, LanesPerRow, slots);
            if (r1 < keysValid) dv1.AddTo(dv, kvBase + (k0 + r1) * KV * D + lane, LanesPerRow, slots);
        }
    }

    /// <summary>dq += Σ_j ds·k with p = exp(s − lse), ds = p·(dOut·vᵀ − delta)·scale.</summary>
    /// <remarks>Grid (⌈seqLen/BackwardQueryTile⌉, heads, batch), group GroupSize: one query tile of one (b, h), looping its key tiles in order; dq in registers.</remarks>
    [GroupSize(GroupSize)]
    public static void BackwardQuery(ArrayView<float> dq, ArrayView<float> dOutput, ArrayView<float> delta, ArrayView<float> lse,
        ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<int> segments, AttentionShape shape)
    {
        int T = shape.SeqLen, D = shape.HeadDim, H = shape.Heads, KV = shape.KvHeads;
        int b = Grid.IdxZ, h = Grid.IdxY, g = h / (H / KV), q0 = Grid.IdxX * BackwardQueryTile;
        int tid = Group.IdxX, rowLane = tid / LanesPerRow, lane = tid % LanesPerRow, slots = DimSlots.For(lane, D);
        int rowsValid = Math.Min(BackwardQueryTile, T - q0), lastRow = q0 + rowsValid - 1;
        int qBase = (b * T * H + h) * D, kvBase = (b * T * KV + g) * D, segBase = b * T;

        var shared = SharedMemory.GetDynamic<float>();
        int qT = 0, dOT = qT + D * BackwardQueryStride, kT = dOT + D * BackwardQueryStride, vT = kT + D * BackwardKeyStride;
        int dsS = vT + D * BackwardKeyStride;
        var querySegments = SharedMemory.Allocate<int>(BackwardQueryTile);
        var keySegments = SharedMemory.Allocate<int>(BackwardKeyTile);
        var rowLse = SharedMemory.Allocate<float>(BackwardQueryTile);
        var rowDelta = SharedMemory.Allocate<float>(BackwardQueryTile);
        var firstKey = SharedMemory.Allocate<int>(1);

        LoadTransposed(shared, qT, BackwardQueryStride, q, qBase + q0 * H * D, H * D, BackwardQueryTile, rowsValid, D);
        LoadTransposed(shared, dOT, BackwardQueryStride, dOutput, qBase + q0 * H * D, H * D, BackwardQueryTile, rowsValid, D);
        LoadRowTerms(querySegments, rowLse, rowDelta, segments, lse, delta, segBase, (b * H + h) * T, q0, T);
        if (tid == 0) firstKey[0] = q0;
        Group.Barrier();
        FindFirstKey(segments, segBase, querySegments, rowsValid, AttentionShape.FirstKey(q0, shape.Window), q0, firstKey);
        Group.Barrier();

        int r0 = rowLane, r1 = rowLane + RowLanes;
        DimSlots dq0 = default, dq1 = default, kRow = default;
        for (int k0 = firstKey[0] / BackwardKeyTile * BackwardKeyTile; k0 <= lastRow; k0 += BackwardKeyTile)
        {
            int keysValid = Math.Min(BackwardKeyTile, T - k0);
            Group.Barrier();
            LoadTransposed(shared, kT, BackwardKeyStride, k, kvBase + k0 * KV * D, KV * D, BackwardKeyTile, keysValid, D);
            LoadTransposed(shared, vT, BackwardKeyStride, v, kvBase + k0 * KV * D, KV * D, BackwardKeyTile, keysValid, D);
            if (tid < BackwardKeyTile) keySegments[tid] = segments[segBase + Math.Min(k0 + tid, T - 1)];
            Group.Barrier();

            ScoreTiles(shared, qT, dOT, kT, vT, rowLane, lane, D, true, out var s0, out var s1, out var dp0, out var dp1);
            ScoreGradients(shared, false, 0, true, dsS, s0, dp0, r0, q0, k0, lane, shape, querySegments, keySegments, rowLse, rowDelta);
            ScoreGradients(shared, false, 0, true, dsS, s1, dp1, r1, q0, k0, lane, shape, querySegments, keySegments, rowLse, rowDelta);
            Group.Barrier();

            for (int c = 0; c < keysValid; c++)
            {
                kRow.Load(shared, kT + lane * BackwardKeyStride + c, LanesPerRow * BackwardKeyStride, slots);
                dq0.MulAdd(shared[dsS + r0 * BackwardKeyStride + c], kRow, slots);
                dq1.MulAdd(shared[dsS + r1 * BackwardKeyStride + c], kRow, slots);
            }
        }

        if (r0 < rowsValid) dq0.AddTo(dq, qBase + (q0 + r0) * H * D + lane, LanesPerRow, slots);
        if (r1 < rowsValid) dq1.AddTo(dq, qBase + (q0 + r1) * H * D + lane, LanesPerRow, slots);
    }

    /// <summary>shared[dst + d·stride + r] = src[srcBase + r·rowStride + d] for r &lt; rows, d &lt; headDim; rows from valid on are zero.</summary>
    private static void LoadTransposed(ArrayView<float> shared, int dst, int stride, ArrayView<float> src, int srcBase, int rowStride,
        int rows, int valid, int headDim)
    {
        for (int i = Group.IdxX; i < rows * headDim; i += Group.DimX)
        {
            int r = i / headDim, d = i - r * headDim;
            shared[dst + d * stride + r] = r < valid ? src[srcBase + r * rowStride + d] : 0f;
        }
    }

    /// <summary>shared[dst + r·headDim + d] = src[srcBase + r·rowStride + d] for r &lt; rows, d &lt; headDim; rows from valid on are zero.</summary>
    private static void LoadRows(ArrayView<float> shared, int dst, ArrayView<float> src, int srcBase, int rowStride, int rows, int valid, int headDim)
    {
        for (int i = Group.IdxX; i < rows * headDim; i += Group.DimX)
        {
            int r = i / headDim, d = i - r * headDim;
            shared[dst + i] = r < valid ? src[srcBase + r * rowStride + d] : 0f;
        }
    }

    /// <summary>Segment id, lse and delta of each backward query row; rows past the end get lse = +∞, so their probabilities are 0.</summary>
    private static void LoadRowTerms(ArrayView<int> querySegments, ArrayView<float> rowLse, ArrayView<float> rowDelta, ArrayView<int> segments,
        ArrayView<float> lse, ArrayView<float> delta, int segBase, int lseBase, int q0, int T)
    {
        int r = Group.IdxX;
        if (r >= BackwardQueryTile) return;
        int t = q0 + r;
        querySegments[r] = segments[segBase + Math.Min(t, T - 1)];
        rowLse[r] = t < T ? lse[lseBase + t] : float.PositiveInfinity;
        rowDelta[r] = t < T ? delta[lseBase + t] : 0f;
    }

    /// <summary>Lowers first[0] (preset to q0) to the earliest key from `from` on (the tile's first row's window) whose segment id is one of the
    /// query tile's: no earlier key is attended.</summary>
    private static void FindFirstKey(ArrayView<int> segments, int segBase, ArrayView<int> querySegments, int rows, int from, int q0, ArrayView<int> first)
    {
        for (int j = from + Group.IdxX; j < q0; j += Group.DimX)
        {
            if (!Contains(querySegments, rows, segments[segBase + j])) continue;
            Atomic.Min(ref first[0], j);
            break;
        }
    }

    /// <summary>Raises last[0] (preset to the tile's last key) to the latest query row up to `until` (the last row whose window holds a key of the
    /// tile) whose segment id is one of the key tile's.</summary>
    private static void FindLastQuery(ArrayView<int> segments, int segBase, ArrayView<int> keySegments, int keys, int until, ArrayView<int> last)
    {
        int floor = last[0];
        for (int t = until - Group.IdxX; t > floor; t -= Group.DimX)
        {
            if (!Contains(keySegments, keys, segments[segBase + t])) continue;
            Atomic.Max(ref last[0], t);
            break;
        }
    }

    /// <summary>The last query row whose window (W = window, 0 = unlimited) holds key: key + W − 1, within the sequence.</summary>
    private static int LastQuery(int key, int window, int seqLen) => window == 0 ? seqLen - 1 : Math.Min(seqLen - 1, key + window - 1);

    private static bool Contains(ArrayView<int> ids, int count, int id)
    {
        for (int i = 0; i < count; i++)
            if (ids[i] == id) return true;
        return false;
    }

    /// <summary>
    /// One forward row's four scores (keys lane + LanesPerRow·j of the tile at k0): masks them (in the row's causal window, same segment), folds their max
    /// into m, turns them into exp(s − m) and adds them to the lane's partial sum l; returns the factor that rescales the row's earlier terms.
    /// </summary>
    private static float SoftmaxStep(ref Float4 s, ref float m, ref float l, AttentionShape shape, int row, int rowSegment, int k0, int lane,
        ArrayView<int> keySegments)
    {
        s.X = MaskedScore(s.X, shape, k0 + lane, row, keySegments[lane], rowSegment);
        s.Y = MaskedScore(s.Y, shape, k0 + lane + LanesPerRow, row, keySegments[lane + LanesPerRow], rowSegment);
        s.Z = MaskedScore(s.Z, shape, k0 + lane + 2 * LanesPerRow, row, keySegments[lane + 2 * LanesPerRow], rowSegment);
        s.W = MaskedScore(s.W, shape, k0 + lane + 3 * LanesPerRow, row, keySegments[lane + 3 * LanesPerRow], rowSegment);
        float mNew = Math.Max(m, Butterfly.Max(Math.Max(Math.Max(s.X, s.Y), Math.Max(s.Z, s.W)), LanesPerRow));
        float baseline = mNew == float.NegativeInfinity ? 0f : mNew;
        float alpha = MathF.Exp(m - baseline);
        s.X = MathF.Exp(s.X - baseline);
        s.Y = MathF.Exp(s.Y - baseline);
        s.Z = MathF.Exp(s.Z - baseline);
        s.W = MathF.Exp(s.W - baseline);
        l = l * alpha + (s.X + s.Y + s.Z + s.W);
        m = mNew;
        return alpha;
    }

    private static float MaskedScore(float dot, AttentionShape shape, int key, int row, int keySegment, int rowSegment) =>
        AttentionShape.Sees(row, key, shape.Window) && keySegment == rowSegment ? dot * shape.Scale : float.NegativeInfinity;

    /// <summary>Writes one forward row: out = o / l, lse = m + log l (lane 0), when the row is inside the sequence.</summary>
    private static void WriteRow(ArrayView<float> output, ArrayView<float> lse, DimSlots o, float m, float l, int r, int rowsValid, int q0,
        int qBase, int rowStride, int lseBase, int lane, int slots)
    {
        if (r >= rowsValid) return;
        int t = q0 + r;
        o.Store(output, qBase + t * rowStride + lane, LanesPerRow, slots, 1f / l);
        if (lane == 0) lse[lseBase + t] = m + MathF.Log(l);
    }

    /// <summary>shared[column + LanesPerRow·j·ForwardQueryStride] = s_j: one row's four probabilities into the transposed P tile.</summary>
    private static void StoreColumn(ArrayView<float> shared, int column, Float4 s)
    {
        shared[column] = s.X;
        shared[column + LanesPerRow * ForwardQueryStride] = s.Y;
        shared[column + 2 * LanesPerRow * ForwardQueryStride] = s.Z;
        shared[column + 3 * LanesPerRow * ForwardQueryStride] = s.W;
    }

    /// <summary>Backward 2×2 tiles: s_i = q_i·k_j and (when wanted) dp_i = dOut_i·v_j for query rows rowLane + RowLanes·i, keys lane + LanesPerRow·j.</summary>
    private static void ScoreTiles(ArrayView<float> shared, int qT, int dOT, int kT, int vT, int rowLane, int lane, int headDim, bool wantDp,
        out Float2 s0, out Float2 s1, out Float2 dp0, out Float2 dp1)
    {
        s0 = default;
        s1 = default;
        dp0 = default;
        dp1 = default;
        for (int d = 0; d < headDim; d++)
        {
            int qRow = qT + d * BackwardQueryStride + rowLane, kRow = kT + d * BackwardKeyStride + lane;
            var keys = new Float2(shared[kRow], shared[kRow + LanesPerRow]);
            s0.MulAdd(shared[qRow], keys);
            s1.MulAdd(shared[qRow + RowLanes], keys);
        }
        if (!wantDp) return;
        for (int d = 0; d < headDim; d++)
        {
            int dORow = dOT + d * BackwardQueryStride + rowLane, vRow = vT + d * BackwardKeyStride + lane;
            var values = new Float2(shared[vRow], shared[vRow + LanesPerRow]);
            dp0.MulAdd(shared[dORow], values);
            dp1.MulAdd(shared[dORow + RowLanes], values);
        }
    }

    /// <summary>p = exp(s·scale − lse) where the row sees the key and segments match (else 0), ds = p·(dp − delta)·scale, stored row-major in the P and dS tiles when kept.</summary>
    private static void ScoreGradients(ArrayView<float> shared, bool keepP, int pS, bool keepDs, int dsS, Float2 s, Float2 dp, int r, int q0, int k0,
        int lane, AttentionShape shape, ArrayView<int> querySegments, ArrayView<int> keySegments, ArrayView<float> rowLse, ArrayView<float> rowDelta)
    {
        int t = q0 + r, rowSegment = querySegments[r], c0 = lane, c1 = lane + LanesPerRow, at = r * BackwardKeyStride;
        float rowMax = rowLse[r], rowTerm = rowDelta[r], scale = shape.Scale;
        float p0 = AttentionShape.Sees(t, k0 + c0, shape.Window) && keySegments[c0] == rowSegment ? MathF.Exp(s.X * scale - rowMax) : 0f;
        float p1 = AttentionShape.Sees(t, k0 + c1, shape.Window) && keySegments[c1] == rowSegment ? MathF.Exp(s.Y * scale - rowMax) : 0f;
        if (keepP)
        {
            shared[pS + at + c0] = p0;
            shared[pS + at + c1] = p1;
        }
        if (keepDs)
        {
            shared[dsS + at + c0] = p0 * (dp.X - rowTerm) * scale;
            shared[dsS + at + c1] = p1 * (dp.Y - rowTerm) * scale;
        }
    }

    /// <summary>Two floats in registers.</summary>
    private struct Float2(float x, float y)
    {
        public float X = x, Y = y;

        /// <summary>this += a·b.</summary>
        public void MulAdd(float a, Float2 b)
        {
            X += a * b.X;
            Y += a * b.Y;
        }
    }

    /// <summary>
    /// The head-dimension elements of one row that one lane owns, in registers: slot j holds d = lane + LanesPerRow·j. Named fields rather than an
    /// array, which ILGPU would place in local memory. Loads and stores touch slots j &lt; count; arithmetic runs in blocks of four up to count.
    /// </summary>
    private struct DimSlots
    {
        public const int Count = 16;

        public float S0, S1, S2, S3, S4, S5, S6, S7, S8, S9, S10, S11, S12, S13, S14, S15;

        /// <summary>Slots a lane needs for headDim: the d = lane + LanesPerRow·j below headDim.</summary>
        public static int For(int lane, int headDim) => headDim > lane ? (headDim - lane + LanesPerRow - 1) / LanesPerRow : 0;

        /// <summary>Slot j = src[first + j·stride] for j &lt; count, else 0.</summary>
        public void Load(ArrayView<float> src, int first, int stride, int count)
        {
            S0 = count > 0 ? src[first] : 0f;
            S1 = count > 1 ? src[first + stride] : 0f;
            S2 = count > 2 ? src[first + 2 * stride] : 0f;
            S3 = count > 3 ? src[first + 3 * stride] : 0f;
            if (count <= 4) return;
            S4 = src[first + 4 * stride];
            S5 = count > 5 ? src[first + 5 * stride] : 0f;
            S6 = count > 6 ? src[first + 6 * stride] : 0f;
            S7 = count > 7 ? src[first + 7 * stride] : 0f;
            if (count <= 8) return;
            S8 = src[first + 8 * stride];
            S9 = count > 9 ? src[first + 9 * stride] : 0f;
            S10 = count > 10 ? src[first + 10 * stride] : 0f;
            S11 = count > 11 ? src[first + 11 * stride] : 0f;
            if (count <= 12) return;
            S12 = src[first + 12 * stride];
            S13 = count > 13 ? src[first + 13 * stride] : 0f;
            S14 = count > 14 ? src[first + 14 * stride] : 0f;
            S15 = count > 15 ? src[first + 15 * stride] : 0f;
        }

        /// <summary>this += a·x over the blocks of four slots that hold data.</summary>
        public void MulAdd(float a, DimSlots x, int count)
        {
            S0 += a * x.S0;
            S1 += a * x.S1;
            S2 += a * x.S2;
            S3 += a * x.S3;
            if (count <= 4) return;
            S4 += a * x.S4;
            S5 += a * x.S5;
            S6 += a * x.S6;
            S7 += a * x.S7;
            if (count <= 8) return;
            S8 += a * x.S8;
            S9 += a * x.S9;
            S10 += a * x.S10;
            S11 += a * x.S11;
            if (count <= 12) return;
            S12 += a * x.S12;
            S13 += a * x.S13;
            S14 += a * x.S14;
            S15 += a * x.S15;
        }

        /// <summary>this ·= a over the blocks of four slots that hold data.</summary>
        public void Scale(float a, int count)
        {
            S0 *= a;
            S1 *= a;
            S2 *= a;
            S3 *= a;
            if (count <= 4) return;
            S4 *= a;
            S5 *= a;
            S6 *= a;
            S7 *= a;
            if (count <= 8) return;
            S8 *= a;
            S9 *= a;
            S10 *= a;
            S11 *= a;
            if (count <= 12) return;
            S12 *= a;
            S13 *= a;
            S14 *= a;
            S15 *= a;
        }

        /// <summary>dst[first + j·stride] = slot j · factor for j &lt; count.</summary>
        public readonly void Store(ArrayView<float> dst, int first, int stride, int count, float factor)
        {
            if (count > 0) dst[first] = S0 * factor;
            if (count > 1) dst[first + stride] = S1 * factor;
            if (count > 2) dst[first + 2 * stride] = S2 * factor;
            if (count > 3) dst[first + 3 * stride] = S3 * factor;
            if (count > 4) dst[first + 4 * stride] = S4 * factor;
            if (count > 5) dst[first + 5 * stride] = S5 * factor;
            if (count > 6) dst[first + 6 * stride] = S6 * factor;
            if (count > 7) dst[first + 7 * stride] = S7 * factor;
            if (count > 8) dst[first + 8 * stride] = S8 * factor;
            if (count > 9) dst[first + 9 * stride] = S9 * factor;
            if (count > 10) dst[first + 10 * stride] = S10 * factor;
            if (count > 11) dst[first + 11 * stride] = S11 * factor;
            if (count > 12) dst[first + 12 * stride] = S12 * factor;
            if (count > 13) dst[first + 13 * stride] = S13 * factor;
            if (count > 14) dst[first + 14 * stride] = S14 * factor;
            if (count > 15) dst[first + 15 * stride] = S15 * factor;
        }

        /// <summary>dst[first + j·stride] += slot j for j &lt; count.</summary>
        public readonly void AddTo(ArrayView<float> dst, int first, int stride, int count)
        {
            if (count > 0) dst[first] += S0;
            if (count > 1) dst[first + stride] += S1;
            if (count > 2) dst[first + 2 * stride] += S2;
            if (count > 3) dst[first + 3 * stride] += S3;
            if (count > 4) dst[first + 4 * stride] += S4;
            if (count > 5) dst[first + 5 * stride] += S5;
            if (count > 6) dst[first + 6 * stride] += S6;
            if (count > 7) dst[first + 7 * stride] += S7;
            if (count > 8) dst[first + 8 * stride] += S8;
            if (count > 9) dst[first + 9 * stride] += S9;
            if (count > 10) dst[first + 10 * stride] += S10;
            if (count > 11) dst[first + 11 * stride] += S11;
            if (count > 12) dst[first + 12 * stride] += S12;
            if (count > 13) dst[first + 13 * stride] += S13;
            if (count > 14) dst[first + 14 * stride] += S14;
            if (count > 15) dst[first + 15 * stride] += S15;
        }
    }
}

/// <summary>
/// Launches the attention kernels on the accelerator's default stream without synchronising; mirrors CpuAttention (same arguments, layouts and
/// semantics: Forward overwrites, Backward accumulates, an empty gradient view is skipped). Holds a device buffer for the backward's delta rows.
/// </summary>
public sealed class Attention(Accelerator accelerator) : IDisposable
{
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>,
        AttentionShape> _forward = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<int>, AttentionShape>(AttentionKernels.Forward);

    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionShape> _delta =
        accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionShape>(AttentionKernels.BackwardDelta);

    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, ArrayView<int>, AttentionShape> _keyValue = accelerator.LoadStreamKernel<ArrayView<float>,
        ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>,
        AttentionShape>(AttentionKernels.BackwardKeyValue);

    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<int>, AttentionShape> _query = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, AttentionShape>(AttentionKernels.BackwardQuery);

    private MemoryBuffer1D<float, Stride1D.Dense>? _deltaRows;

    /// <summary>out[b,t,h,:] = Σ_{t−W<j≤t, seg[b,j]=seg[b,t]} softmax_j(q[b,t,h,:]·k[b,j,g,:]/√D)·v[b,j,g,:], g = h/(heads/kvHeads); lse[b,h,t] = log Σ_j exp(score_j).</summary>
    /// <remarks>q, output: [batch, seqLen, heads, headDim]; k, v: [batch, seqLen, kvHeads, headDim]; segments: [batch, seqLen]; lse: [batch, heads, seqLen]. headDim ≤ MaxHeadDim.
    /// window: the sliding window W (<see cref="AttentionShape.Sees"/>), 0 = unlimited.</remarks>
    public void Forward(ArrayView<float> output, ArrayView<float> lse, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<int> segments, int batch, int seqLen, int heads, int kvHeads, int headDim, int window = 0)
    {
        var shape = Validated(batch, seqLen, heads, kvHeads, headDim, window);
        shape.RequireOperands(output.Length, lse.Length, q.Length, k.Length, v.Length, segments.Length);
        _forward(Config(Tiles(seqLen, AttentionKernels.ForwardQueryTile), heads, batch, ForwardSharedFloats(headDim)),
            output, lse, q, k, v, segments, shape);
    }

    /// <summary>dq, dk, dv += ∂(Σ dOutput·output)/∂(q, k, v): with p = exp(s − lse), Dt = Σ dOut·out: dv += pᵀ·dOut, ds = p·(dOut·vᵀ − Dt)/√D, dq += ds·k, dk += dsᵀ·q.</summary>
    /// <remarks>Layouts and window as in Forward; output and lse are Forward's. An empty gradient view is skipped. Three launches: delta rows, dk/dv per key tile, dq per query tile.</remarks>
    public void Backward(ArrayView<float> dq, ArrayView<float> dk, ArrayView<float> dv, ArrayView<float> dOutput, ArrayView<float> output,
        ArrayView<float> lse, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<int> segments,
        int batch, int seqLen, int heads, int kvHeads, int headDim, int window = 0)
    {
        var shape = Validated(batch, seqLen, heads, kvHeads, headDim, window);
        shape.RequireGradients(dOutput.Length, dq.Length, dk.Length, dv.Length);
        shape.RequireOperands(output.Length, lse.Length, q.Length, k.Length, v.Length, segments.Length);
        if (dq.Length == 0 && dk.Length == 0 && dv.Length == 0) return;

        int rows = batch * seqLen * heads;
        ArrayView<float> delta = DeltaRows(rows);
        int rowsPerGroup = AttentionKernels.DeltaGroupSize / accelerator.WarpSize;
        _delta(new KernelConfig(new Index3D((rows + rowsPerGroup - 1) / rowsPerGroup, 1, 1), new Index3D(AttentionKernels.DeltaGroupSize, 1, 1)),
            delta, dOutput, output, shape);
        if (dk.Length != 0 || dv.Length != 0)
            _keyValue(Config(Tiles(seqLen, AttentionKernels.BackwardKeyTile), kvHeads, batch, BackwardKeyValueSharedFloats(headDim)),
                dk, dv, dOutput, delta, lse, q, k, v, segments, shape);
        if (dq.Length != 0)
            _query(Config(Tiles(seqLen, AttentionKernels.BackwardQueryTile), heads, batch, BackwardQuerySharedFloats(headDim)),
                dq, dOutput, delta, lse, q, k, v, segments, shape);
    }

    public void Dispose() => _deltaRows?.Dispose();

    /// <summary>The delta scratch, grown on demand; replacing a buffer first waits for the stream, whose kernels may still read it.</summary>
    private ArrayView<float> DeltaRows(int rows)
    {
        if (_deltaRows == null || _deltaRows.Length < rows)
        {
            if (_deltaRows != null)
            {
                accelerator.DefaultStream.Synchronize();
                _deltaRows.Dispose();
            }
            _deltaRows = accelerator.Allocate1D<float>(rows);
        }
        return _deltaRows.View.SubView(0, rows);
    }

    private static int Tiles(int seqLen, int tile) => (seqLen + tile - 1) / tile;

    /// <summary>Dynamic shared floats of Forward: Q tile and K-or-V tile transposed (padded), probabilities transposed.</summary>
    private static int ForwardSharedFloats(int headDim) =>
        headDim * AttentionKernels.ForwardQueryStride + headDim * AttentionKernels.ForwardKeyStride + AttentionKernels.ForwardKeyTile * AttentionKernels.ForwardQueryStride;

    /// <summary>Dynamic shared floats of BackwardKeyValue: Q, dOut, K, V tiles transposed (padded), the P and dS tiles.</summary>
    private static int BackwardKeyValueSharedFloats(int headDim) =>
        BackwardQuerySharedFloats(headDim) + AttentionKernels.BackwardQueryTile * AttentionKernels.BackwardKeyStride;

    /// <summary>Dynamic shared floats of BackwardQuery: Q, dOut, K, V tiles transposed (padded), the dS tile.</summary>
    private static int BackwardQuerySharedFloats(int headDim) =>
        2 * headDim * AttentionKernels.BackwardQueryStride + 2 * headDim * AttentionKernels.BackwardKeyStride
        + AttentionKernels.BackwardQueryTile * AttentionKernels.BackwardKeyStride;

    private static KernelConfig Config(int tiles, int heads, int batch, int sharedFloats) =>
        new(new Index3D(tiles, heads, batch), new Index3D(AttentionKernels.GroupSize, 1, 1), SharedMemoryConfig.RequestDynamic<float>(sharedFloats));

    /// <summary>The shape, checked as the CPU op checks it, and within what the kernels hold: headDim ≤ MaxHeadDim, 32-bit indices.</summary>
    private static AttentionShape Validated(int batch, int seqLen, int heads, int kvHeads, int headDim, int window)
    {
        var shape = new AttentionShape(batch, seqLen, heads, kvHeads, headDim, window);
        shape.RequireValid();
        if (headDim > AttentionKernels.MaxHeadDim)
            throw new ArgumentException($"headDim is {headDim}, expected 1..{AttentionKernels.MaxHeadDim} (AttentionKernels.MaxHeadDim)", nameof(headDim));
        if ((long)batch * seqLen * heads * headDim > int.MaxValue)
            throw new ArgumentException($"batch*seqLen*heads*headDim = {(long)batch * seqLen * heads * headDim} exceeds the kernels' 32-bit indexing", nameof(batch));
        return shape;
    }
}
