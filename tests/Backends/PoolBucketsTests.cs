using Engine.Backends;
using Engine.Tensors;
using Xunit;

namespace Engine.Tests.Backends;

public class PoolBucketsTests
{
    [Fact]
    public void CapacityCoversTheLengthWithAtMostAnEighthToSpare()
    {
        long previous = 0;
        for (long length = 1; length < 100_000; length += 1 + length / 50)
        {
            long capacity = PoolBuckets.Capacity(length);
            Assert.True(capacity >= length, $"capacity {capacity} < length {length}");
            Assert.True(capacity <= Math.Max(16, length * 9 / 8), $"capacity {capacity} wastes more than 1/8 of {length}");
            Assert.True(capacity >= previous, "capacities grow with the length");
            previous = capacity;
        }
        Assert.Equal(1L << 40, PoolBuckets.Capacity(1L << 40));
    }

    /// <summary>A window that grows by one token per step (generation) keeps reusing a few buffers instead of leaving one per size.</summary>
    [Fact]
    public void NearbyLengthsShareAPooledBuffer()
    {
        using var backend = new CpuBackend();
        var first = backend.Allocate(DType.F32, 1000);
        CpuBackend.F(first).Fill(3f);
        object storage = first.Storage;
        first.Dispose();
        using var second = backend.Allocate(DType.F32, 1001);
        Assert.Same(storage, second.Storage);
        Assert.All(CpuBackend.F(second).ToArray(), v => Assert.Equal(0f, v));
        Assert.Equal(1001, CpuBackend.F(second).Length);
    }
}
