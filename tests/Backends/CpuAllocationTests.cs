using Engine.Backends;
using Engine.Tensors;
using Xunit;

namespace Engine.Tests.Backends;

public class CpuAllocationTests
{
    [Fact]
    public void AllocateZeroesAReusedBufferAndAllocateUninitializedLeavesIt()
    {
        using var backend = new CpuBackend();
        var first = backend.Allocate(DType.F32, 100);
        CpuBackend.F(first).Fill(3f);
        object storage = first.Storage;
        first.Dispose();

        var uninitialized = backend.AllocateUninitialized(DType.F32, 100);
        Assert.Same(storage, uninitialized.Storage);
        Assert.All(CpuBackend.F(uninitialized).ToArray(), v => Assert.Equal(3f, v));
        uninitialized.Dispose();

        using var zeroed = backend.Allocate(DType.F32, 100);
        Assert.Same(storage, zeroed.Storage);
        Assert.All(CpuBackend.F(zeroed).ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void AFreshUninitializedTensorIsZeroAndShaped()
    {
        using var backend = new CpuBackend();
        using var t = backend.AllocateUninitialized(DType.I32, 3, 5);
        Assert.Equal([3, 5], t.Shape);
        Assert.All(CpuBackend.I(t).ToArray(), v => Assert.Equal(0, v));
    }

    [Fact]
    public void MemoryCountsLivePeakAndHeldBytesAtPooledCapacity()
    {
        using var backend = new CpuBackend();
        long a = 4 * PoolBuckets.Capacity(1000), b = 4 * PoolBuckets.Capacity(300);
        var first = backend.Allocate(DType.F32, 1000);
        var second = backend.AllocateUninitialized(DType.I32, 10, 30);
        Assert.Equal(new TensorMemory(a + b, a + b, a + b), backend.Memory);

        second.Dispose();
        Assert.Equal(new TensorMemory(a, a + b, a + b), backend.Memory);
        backend.ResetPeak();
        Assert.Equal(new TensorMemory(a, a, a + b), backend.Memory);

        // A reused array is live again but not held twice.
        using var reused = backend.Allocate(DType.I32, 300);
        Assert.Equal(new TensorMemory(a + b, a + b, a + b), backend.Memory);
        first.Dispose();
        Assert.Equal(new TensorMemory(b, a + b, a + b), backend.Memory);
    }
}
