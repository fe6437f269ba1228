using Engine.Backends;
using Engine.Tensors;
using Xunit;

namespace Engine.Tests.Backends;

public class BufferPoolTests
{
    [Fact]
    public void ARequestTakesItsOwnBucketFirstThenTheSmallestFreeBufferUpToTwiceItsSize()
    {
        var pool = new BufferPool<string>();
        pool.Return(DType.F32, 100, "100");
        pool.Return(DType.F32, 150, "150");
        pool.Return(DType.F32, 120, "120");
        pool.Return(DType.I32, 64, "int 64");

        Assert.Equal("100", pool.Take(DType.F32, 100));
        Assert.Equal("120", pool.Take(DType.F32, 64));
        Assert.Null(pool.Take(DType.F32, 64));         // 150 is more than twice 64
        Assert.Null(pool.Take(DType.F32, 160));        // nothing free is large enough
        Assert.Equal("150", pool.Take(DType.F32, 80));
        Assert.Equal("int 64", pool.Take(DType.I32, 40));
        Assert.Null(pool.Take(DType.I32, 40));
    }

    /// <summary>Forwards over every length from 1 to 256 (evaluation's one-row batches) reuse the longest one's buffers: the backend
    /// ends up holding a small multiple of what one forward needs instead of a set of buffers per length bucket.</summary>
    [Fact]
    public void TensorsOfManyLengthsShareBuffers()
    {
        using var backend = new CpuBackend();
        long oneForward = 0;
        for (int length = 256; length >= 1; length--)
        {
            var tensors = Enumerable.Range(0, 4).Select(_ => backend.AllocateUninitialized(DType.F32, length, 128)).ToList();
            if (length == 256) oneForward = backend.Memory.Live;
            foreach (var t in tensors) t.Dispose();
        }
        Assert.True(backend.Memory.Held <= 3 * oneForward, $"held {backend.Memory.Held} bytes for forwards of {oneForward}");
    }
}
