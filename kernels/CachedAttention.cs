using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>
/// Attention of a few new tokens per row against a KV cache, for generation (forward only), as CpuCachedAttention. Layouts: q, out
/// [rows, newTokens, heads, headDim]; new k, v [rows, newTokens, kvHeads, headDim]; kCache, vCache [rows, capacity, kvHeads, headDim];
/// slots [rows, newTokens]: each new token's cache slot (its position in its row), −1 for padding. Append stores the new keys and values;
/// Forward then runs one group (one warp) per (query, head, row): an online softmax over key tiles of GroupSize in key order, lane c scoring key
/// c of the tile, lane d accumulating output elements d, d + GroupSize, ... Deterministic: fixed-order butterflies and loops, no atomics.
/// </summary>
public static class CachedAttentionKernels
{
    /// <summary>Threads per Forward group, one warp: the keys of a tile (one per lane) and the stride of a lane's output elements.</summary>
    public const int GroupSize = 32;

    /// <summary>Largest head dimension: the query and the output accumulator live in shared memory of this size.</summary>
    public const int MaxHeadDim = 256;

    /// <summary>Threads per Append group: one per copied element.</summary>
    public const int AppendGroupSize = 256;

    /// <summary>cache[r, slots[r,t], e] = src[r, t, e] for every slots[r,t] ≥ 0; width = kvHeads·headDim.</summary>
    /// <remarks>Grid ⌈rows·newTokens·width / AppendGroupSize⌉, group AppendGroupSize: one thread per element of src.</remarks>
    [GroupSize(AppendGroupSize)]
    public static void Append(ArrayView<float> cache, ArrayView<float> src, ArrayView<int> slots, int newTokens, int capacity, int width)
    {
        int i = Grid.IdxX * Group.DimX + Group.IdxX;
        if (i >= src.Length) return;
        int token = i / width, e = i - token * width, slot = slots[token];
        if (slot < 0) return;
        cache[((long)(token / newTokens) * capacity + slot) * width + e] = src[i];
    }

    /// <summary>out[r,i,h,:] = Σ_{s−W<j≤s} softmax_j(q[r,i,h,:]·kCache[r,j,g,:]/√D)·vCache[r,j,g,:], s = slots[r,i], g = h/(heads/kvHeads); 0 where s = −1.</summary>
    /// <remarks>Grid (newTokens, heads, rows), group GroupSize (one warp): per tile of keys from the window's first slot on, lane c scores key j0 + c, the warp
    /// updates the running max m and sum l, and lane d rescales its accumulators by e^(m_old − m) and adds the tile's p_c·v[j0 + c, d] in key order.</remarks>
    [GroupSize(GroupSize)]
    public static void Forward(ArrayView<float> output, ArrayView<float> q, ArrayView<float> kCache, ArrayView<float> vCache, ArrayView<int> slots,
        int newTokens, int capacity, int heads, int kvHeads, int headDim, int window)
    {
        int i = Grid.IdxX, h = Grid.IdxY, r = Grid.IdxZ, lane = Group.IdxX, D = headDim;
        int g = h / (heads / kvHeads), slot = slots[r * newTokens + i], kvStride = kvHeads * D;
        long at = (((long)r * newTokens + i) * heads + h) * D, kvBase = ((long)r * capacity * kvHeads + g) * D;
        if (slot < 0)
        {
            for (int d = lane; d < D; d += GroupSize) output[at + d] = 0f;
            return;
        }

        var query = SharedMemory.Allocate<float>(MaxHeadDim);
        var accumulator = SharedMemory.Allocate<float>(MaxHeadDim);
        var probabilities = SharedMemory.Allocate<float>(GroupSize);
        for (int d = lane; d < D; d += GroupSize)
        {
            query[d] = q[at + d];
            accumulator[d] = 0f;
        }
        Group.Barrier();

        float scale = 1f / MathF.Sqrt(D), m = float.NegativeInfinity, l = 0f;
        for (int j0 = AttentionShape.FirstKey(slot, window); j0 <= slot; j0 += GroupSize)
        {
            int j = j0 + lane;
            float score = float.NegativeInfinity;
            if (j <= slot)
            {
                long key = kvBase + (long)j * kvStride;
                float dot = 0f;
                for (int d = 0; d < D; d++) dot += query[d] * kCache[key + d];
                score = dot * scale;
            }
            float mNew = MathF.Max(m, Butterfly.Max(score, GroupSize));
            float rescale = MathF.Exp(m - mNew);
            float p = j <= slot ? MathF.Exp(score - mNew) : 0f;
            l = l * rescale + Butterfly.Sum(p, GroupSize);
            m = mNew;
            probabilities[lane] = p;
            Group.Barrier();

            int keys = Math.Min(GroupSize, slot - j0 + 1);
            for (int d = lane; d < D; d += GroupSize)
            {
                float a = accumulator[d] * rescale;
                for (int c = 0; c < keys; c++) a += probabilities[c] * vCache[kvBase + (long)(j0 + c) * kvStride + d];
                accumulator[d] = a;
            }
            Group.Barrier();
        }

        float inverse = 1f / l;
        for (int d = lane; d < D; d += GroupSize) output[at + d] = accumulator[d] * inverse;
    }
}

/// <summary>
/// Launches the cached-attention kernels on the accelerator's default stream without synchronising; mirrors CpuCachedAttention (same arguments,
/// layouts and semantics). Slots live on the device and are not range-checked here: a slot outside [−1, capacity) is undefined behaviour.
/// </summary>
public sealed class CachedAttention
{
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, int> _append;

    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, int, int, int, int> _forward;

    /// <summary>Loads both kernels; Forward's groups are one warp of <see cref="CachedAttentionKernels.GroupSize"/> threads.</summary>
    public CachedAttention(Accelerator accelerator)
    {
        if (accelerator.WarpSize != CachedAttentionKernels.GroupSize)
            throw new NotSupportedException($"cached attention needs warps of {CachedAttentionKernels.GroupSize} threads; this accelerator's are {accelerator.WarpSize}");
        _append = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, int>(CachedAttentionKernels.Append);
        _forward = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, int, int, int, int>(
            CachedAttentionKernels.Forward);
    }

    /// <summary>cache[r, slots[r,i], :] = src[r, i, :] for every slots[r,i] ≥ 0: the new tokens' keys (or values), each row at its own offset.</summary>
    /// <remarks>src: [rows, newTokens, width]; cache: [rows, capacity, width]; slots: [rows, newTokens], each −1 or a slot below capacity, distinct within a row.</remarks>
    public void Append(ArrayView<float> cache, ArrayView<float> src, ArrayView<int> slots, int rows, int newTokens, int capacity, int width)
    {
        CachedAttentionArguments.RequireAppend(cache.Length, src.Length, slots.Length, rows, newTokens, capacity, width);
        Arguments.RequireIndexable(src.Length, nameof(src));
        int groups = (int)((src.Length + CachedAttentionKernels.AppendGroupSize - 1) / CachedAttentionKernels.AppendGroupSize);
        _append(new KernelConfig(groups, CachedAttentionKernels.AppendGroupSize), cache, src, slots, newTokens, capacity, width);
    }

    /// <summary>out[r,i,h,:] = Σ_{s−W<j≤s} softmax_j(q[r,i,h,:]·kCache[r,j,g,:]/√D)·vCache[r,j,g,:] with s = slots[r,i], g = h/(heads/kvHeads); out[r,i,h,:] = 0 where s = −1.</summary>
    /// <remarks>q, output: [rows, newTokens, heads, headDim]; kCache, vCache: [rows, capacity, kvHeads, headDim], the slots attended already written; slots: [rows, newTokens].
    /// headDim ≤ MaxHeadDim. window: the sliding window W (<see cref="AttentionShape.Sees"/>, slots as positions), 0 = unlimited.</remarks>
    public void Forward(ArrayView<float> output, ArrayView<float> q, ArrayView<float> kCache, ArrayView<float> vCache, ArrayView<int> slots,
        int rows, int newTokens, int capacity, int heads, int kvHeads, int headDim, int window = 0)
    {
        if (headDim > CachedAttentionKernels.MaxHeadDim)
            throw new ArgumentException($"headDim is {headDim}, expected 1..{CachedAttentionKernels.MaxHeadDim} (CachedAttentionKernels.MaxHeadDim)", nameof(headDim));
        CachedAttentionArguments.RequireForward(output.Length, q.Length, kCache.Length, vCache.Length, slots.Length, rows, newTokens, capacity, heads, kvHeads, headDim, window);
        _forward(new KernelConfig(new Index3D(newTokens, heads, rows), new Index3D(CachedAttentionKernels.GroupSize, 1, 1)),
            output, q, kCache, vCache, slots, newTokens, capacity, heads, kvHeads, headDim, window);
    }
}

/// <summary>The cached attention's size checks, one set for both backends (CpuCachedAttention and the launcher), so a wrong size gets the
/// same error on either; the slots' values are the CPU op's to check (the launcher cannot read them without a wait).</summary>
public static class CachedAttentionArguments
{
    /// <summary>Throws unless the sizes are positive and cache [rows, capacity, width], src [rows, newTokens, width] and slots [rows, newTokens]
    /// have the lengths given, naming the size or operand.</summary>
    public static void RequireAppend(long cache, long src, long slots, int rows, int newTokens, int capacity, int width)
    {
        RequireRows(rows, newTokens, capacity);
        if (width <= 0) throw new ArgumentException($"width is {width}, expected > 0", nameof(width));
        Arguments.RequireLength(cache, (long)rows * capacity * width, nameof(cache), "rows*capacity*width");
        Arguments.RequireLength(src, (long)rows * newTokens * width, nameof(src), "rows*newTokens*width");
        Arguments.RequireLength(slots, (long)rows * newTokens, nameof(slots), "rows*newTokens");
    }

    /// <summary>Throws unless the sizes are positive, heads is a multiple of kvHeads, the window ≥ 0, and output and q
    /// [rows, newTokens, heads, headDim], kCache and vCache [rows, capacity, kvHeads, headDim] and slots [rows, newTokens] have the lengths
    /// given, naming the size or operand.</summary>
    public static void RequireForward(long output, long q, long kCache, long vCache, long slots, int rows, int newTokens, int capacity,
        int heads, int kvHeads, int headDim, int window)
    {
        RequireRows(rows, newTokens, capacity);
        if (headDim <= 0) throw new ArgumentException($"headDim is {headDim}, expected > 0", nameof(headDim));
        if (kvHeads <= 0) throw new ArgumentException($"kvHeads is {kvHeads}, expected > 0", nameof(kvHeads));
        if (heads <= 0 || heads % kvHeads != 0)
            throw new ArgumentException($"heads is {heads}, expected a positive multiple of kvHeads = {kvHeads}", nameof(heads));
        AttentionShape.RequireWindow(window);
        long qSize = (long)rows * newTokens * heads * headDim, cacheSize = (long)rows * capacity * kvHeads * headDim;
        Arguments.RequireLength(output, qSize, nameof(output), "rows*newTokens*heads*headDim");
        Arguments.RequireLength(q, qSize, nameof(q), "rows*newTokens*heads*headDim");
        Arguments.RequireLength(kCache, cacheSize, nameof(kCache), "rows*capacity*kvHeads*headDim");
        Arguments.RequireLength(vCache, cacheSize, nameof(vCache), "rows*capacity*kvHeads*headDim");
        Arguments.RequireLength(slots, (long)rows * newTokens, nameof(slots), "rows*newTokens");
    }

    private static void RequireRows(int rows, int newTokens, int capacity)
    {
        if (rows <= 0) throw new ArgumentException($"rows is {rows}, expected > 0", nameof(rows));
        if (newTokens <= 0) throw new ArgumentException($"newTokens is {newTokens}, expected > 0", nameof(newTokens));
        if (capacity <= 0) throw new ArgumentException($"capacity is {capacity}, expected > 0", nameof(capacity));
    }
}
