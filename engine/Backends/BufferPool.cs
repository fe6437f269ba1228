using Engine.Tensors;

namespace Engine.Backends;

/// <summary>
/// A backend's free buffers by element type and capacity (<see cref="PoolBuckets"/>). A request takes a free buffer of its own
/// bucket, else the smallest free one of at most twice that capacity, else none (the backend allocates). Without the second rule
/// every bucket keeps its own buffers: a run whose tensors come in many nearby sizes (evaluation's one-row batches, generation's
/// prefills of every prompt length) held about twelve forwards' worth of memory; with it, about the largest forward's.
/// Not thread-safe: the backend holds its lock around each call.
/// </summary>
public sealed class BufferPool<TBuffer> where TBuffer : class
{
    /// <summary>The largest buffer a request takes, as a multiple of its own bucket's capacity.</summary>
    private const int MaxOversize = 2;

    private readonly Dictionary<(DType, long), Stack<TBuffer>> _free = new();

    /// <summary>A free buffer of at least <paramref name="capacity"/> elements (a bucket's capacity) and at most twice that, or null.</summary>
    public TBuffer? Take(DType dtype, long capacity)
    {
        if (_free.TryGetValue((dtype, capacity), out var exact) && exact.Count > 0) return exact.Pop();
        Stack<TBuffer>? best = null;
        long bestCapacity = long.MaxValue;
        foreach (var ((type, size), stack) in _free)
            if (type == dtype && size > capacity && size <= MaxOversize * capacity && size < bestCapacity && stack.Count > 0)
                (best, bestCapacity) = (stack, size);
        return best?.Pop();
    }

    /// <summary>Keeps a buffer of <paramref name="capacity"/> elements for a later <see cref="Take"/>.</summary>
    public void Return(DType dtype, long capacity, TBuffer buffer)
    {
        if (!_free.TryGetValue((dtype, capacity), out var stack)) _free[(dtype, capacity)] = stack = new Stack<TBuffer>();
        stack.Push(buffer);
    }

    public void Clear() => _free.Clear();
}
