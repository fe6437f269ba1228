namespace Engine.Backends;

/// <summary>
/// The sizes a backend's buffer pool hands out: a requested length rounds up to the next of 8 steps per power of two
/// (at most 12.5% unused), so tensors whose lengths differ a little (generation's growing windows, an epoch's short last batch)
/// share buffers instead of each leaving one more size behind in the pool.
/// </summary>
public static class PoolBuckets
{
    public static long Capacity(long length)
    {
        if (length <= 16) return Math.Max(1, length);
        int log = 63 - (int)long.LeadingZeroCount(length - 1);   // 2^log < length ≤ 2^(log+1)
        long step = 1L << (log - 3);
        return (length + step - 1) / step * step;
    }
}
