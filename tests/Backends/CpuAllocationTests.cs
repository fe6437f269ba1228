using Engine.Backends.Cpu;
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
}
