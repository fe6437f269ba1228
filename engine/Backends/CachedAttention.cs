using System.Buffers;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using Engine.Kernels;
using Engine.Tensors;

namespace Engine.Backends;

/// <summary>
/// Attention of a few new tokens per row against a KV cache, for generation (forward only). Each new token has a slot: its position in
/// its row, where its key and value are stored (<see cref="Append"/>) and up to which it attends (<see cref="Forward"/>); slot −1 marks
/// padding, which stores nothing and attends to nothing. Rows of a batch hold different numbers of tokens, so every token carries its own slot.
/// </summary>
public static unsafe class CpuCachedAttention
{
    /// <summary>cache[r, slots[r,i], :] = src[r, i, :] for every slots[r,i] ≥ 0: the new tokens' keys (or values), each row at its own offset.</summary>
    /// <remarks>src: [rows, newTokens, width]; cache: [rows, capacity, width]; slots: [rows, newTokens], each −1 or a slot below capacity, distinct within a row.</remarks>
    public static void Append(Span<float> cache, ReadOnlySpan<float> src, ReadOnlySpan<int> slots, int rows, int newTokens, int capacity, int width)
    {
        CachedAttentionArguments.RequireAppend(cache.Length, src.Length, slots.Length, rows, newTokens, capacity, width);
        ValidateSlots(slots, capacity);
        for (int token = 0; token < rows * newTokens; token++)
        {
            int slot = slots[token], r = token / newTokens;
            if (slot >= 0) src.Slice(token * width, width).CopyTo(cache.Slice((r * capacity + slot) * width, width));
        }
    }

    /// <summary>out[r,i,h,:] = Σ_{s−W<j≤s} softmax_j(q[r,i,h,:]·kCache[r,j,g,:]/√D)·vCache[r,j,g,:] with s = slots[r,i], g = h/(heads/kvHeads); out[r,i,h,:] = 0 where s = −1.</summary>
    /// <remarks>q, output: [rows, newTokens, heads, headDim]; kCache, vCache: [rows, capacity, kvHeads, headDim], the slots attended already written; slots: [rows, newTokens].
    /// window: the sliding window W (<see cref="AttentionShape.Sees"/>, slots as positions), 0 = unlimited. Parallel over (row, head); each query's scores, softmax and
    /// weighted sum run in key order.</remarks>
    public static void Forward(Span<float> output, ReadOnlySpan<float> q, ReadOnlySpan<float> kCache, ReadOnlySpan<float> vCache, ReadOnlySpan<int> slots,
        int rows, int newTokens, int capacity, int heads, int kvHeads, int headDim, int window = 0)
    {
        CachedAttentionArguments.RequireForward(output.Length, q.Length, kCache.Length, vCache.Length, slots.Length, rows, newTokens, capacity, heads, kvHeads, headDim, window);
        ValidateSlots(slots, capacity);

        fixed (float* pOut = output, pQ = q, pK = kCache, pV = vCache)
        fixed (int* pSlots = slots)
        {
            var p = new Problem(newTokens, capacity, heads, kvHeads, headDim, window, pOut, pQ, pK, pV, pSlots);
            Parallel.For(0, rows * heads, task => ForwardHead(p, task));
        }
    }

    /// <summary>One (row, head): every new token of the row in turn, scores over its keys (its window's first slot to its own), softmax, then the weighted sum of values.</summary>
    private static void ForwardHead(Problem p, int task)
    {
        int r = task / p.Heads, h = task % p.Heads, g = h / (p.Heads / p.KvHeads), D = p.HeadDim, kvStride = p.KvHeads * D;
        float scale = 1f / MathF.Sqrt(D);
        float[] rented = ArrayPool<float>.Shared.Rent(p.Capacity);
        try
        {
            var scores = rented.AsSpan();
            float* keys = p.K + ((long)r * p.Capacity * p.KvHeads + g) * D, values = p.V + ((long)r * p.Capacity * p.KvHeads + g) * D;
            for (int i = 0; i < p.NewTokens; i++)
            {
                long at = (((long)r * p.NewTokens + i) * p.Heads + h) * D;
                var output = new Span<float>(p.Output + at, D);
                int slot = p.Slots[r * p.NewTokens + i];
                output.Clear();
                if (slot < 0) continue;
                var query = new ReadOnlySpan<float>(p.Q + at, D);
                int first = AttentionShape.FirstKey(slot, p.Window);
                var row = scores[..(slot + 1 - first)];
                for (int j = first; j <= slot; j++) row[j - first] = TensorPrimitives.Dot(query, new ReadOnlySpan<float>(keys + (long)j * kvStride, D)) * scale;
                TensorPrimitives.Subtract(row, TensorPrimitives.Max(row), row);
                TensorPrimitives.Exp(row, row);
                float sum = TensorPrimitives.Sum(row);
                for (int j = first; j <= slot; j++) TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(values + (long)j * kvStride, D), row[j - first], output, output);
                TensorPrimitives.Multiply(output, 1f / sum, output);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(rented);
        }
    }

    private readonly struct Problem(int newTokens, int capacity, int heads, int kvHeads, int headDim, int window, float* output, float* q, float* k, float* v, int* slots)
    {
        public readonly int NewTokens = newTokens, Capacity = capacity, Heads = heads, KvHeads = kvHeads, HeadDim = headDim, Window = window;
        public readonly float* Output = output, Q = q, K = k, V = v;
        public readonly int* Slots = slots;
    }

    private static void ValidateSlots(ReadOnlySpan<int> slots, int capacity)
    {
        for (int i = 0; i < slots.Length; i++)
            if (slots[i] < -1 || slots[i] >= capacity)
                throw new ArgumentException($"slots[{i}] is {slots[i]}, expected −1 (padding) or a cache slot in [0, {capacity})", nameof(slots));
    }
}

public sealed partial class CpuBackend
{
    public void CachedAttentionForward(Tensor output, Tensor q, Tensor k, Tensor v, Tensor kCache, Tensor vCache, Tensor slots, CachedAttentionShape s)
    {
        int width = s.KvHeads * s.HeadDim;
        CpuCachedAttention.Append(F(kCache), F(k), I(slots), s.Rows, s.NewTokens, s.Capacity, width);
        CpuCachedAttention.Append(F(vCache), F(v), I(slots), s.Rows, s.NewTokens, s.Capacity, width);
        CpuCachedAttention.Forward(F(output), F(q), F(kCache), F(vCache), I(slots), s.Rows, s.NewTokens, s.Capacity, s.Heads, s.KvHeads, s.HeadDim, s.Window);
    }
}

public sealed partial class IlgpuBackend
{
    CachedAttention? _cachedAttention;
    CachedAttention CachedAttentionLauncher => Launcher(ref _cachedAttention, a => new CachedAttention(a));

    /// <summary>Three launches in stream order: the new keys, the new values into their cache slots, then the attention over the cache.</summary>
    public void CachedAttentionForward(Tensor output, Tensor q, Tensor k, Tensor v, Tensor kCache, Tensor vCache, Tensor slots, CachedAttentionShape s)
    {
        int width = s.KvHeads * s.HeadDim;
        CachedAttentionLauncher.Append(F(kCache), F(k), I(slots), s.Rows, s.NewTokens, s.Capacity, width);
        CachedAttentionLauncher.Append(F(vCache), F(v), I(slots), s.Rows, s.NewTokens, s.Capacity, width);
        CachedAttentionLauncher.Forward(F(output), F(q), F(kCache), F(vCache), I(slots), s.Rows, s.NewTokens, s.Capacity, s.Heads, s.KvHeads, s.HeadDim, s.Window);
    }
}
