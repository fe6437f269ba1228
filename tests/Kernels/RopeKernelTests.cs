using Engine.Backends;
using Engine.Kernels;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Kernels;

/// <summary>The RoPE kernels on ILGPU's CPU accelerator against CpuRope, the oracle.</summary>
public sealed class RopeKernelTests(KernelFixture<Rope> fixture) : IClassFixture<KernelFixture<Rope>>
{
    private readonly Rope _rope = fixture.Launcher;

    /// <summary>Packed rows restart at 0 per segment; offset shifts every position (large angles test the range reduction).</summary>
    private static int[] Positions(int n, int offset) => [.. Enumerable.Range(0, n).Select(r => offset + (r < 2 * n / 3 ? r : r - 2 * n / 3))];

    private float[] DeviceForward(float[] x, int[] positions, float[] invFreq, int n, int heads, int headDim)
    {
        using DeviceArray<float> y = fixture.Put(TestData.Poisoned(x.Length)), xBuffer = fixture.Put(x), freqBuffer = fixture.Put(invFreq);
        using var positionBuffer = fixture.Put(positions);
        _rope.Forward(y.View, xBuffer.View, positionBuffer.View, freqBuffer.View, n, heads, headDim);
        return fixture.Get(y);
    }

    private float[] DeviceBackward(float[] dxStart, float[] dy, int[] positions, float[] invFreq, int n, int heads, int headDim)
    {
        using DeviceArray<float> dx = fixture.Put(dxStart), dyBuffer = fixture.Put(dy), freqBuffer = fixture.Put(invFreq);
        using var positionBuffer = fixture.Put(positions);
        _rope.Backward(dx.View, dyBuffer.View, positionBuffer.View, freqBuffer.View, n, heads, headDim);
        return fixture.Get(dx);
    }

    [Theory]
    [InlineData(1, 1, 2, 0)]
    [InlineData(5, 3, 8, 0)]
    [InlineData(19, 2, 20, 0)]
    [InlineData(40, 4, 64, 0)]
    [InlineData(7, 2, 128, 0)]
    [InlineData(13, 3, 16, 100_000)]
    public void Forward_MatchesCpu(int n, int heads, int headDim, int offset)
    {
        float[] x = TestData.Uniform(n * heads * headDim, n + headDim), invFreq = CpuRope.InverseFrequencies(headDim, 10000);
        int[] positions = Positions(n, offset);
        float[] expected = TestData.Poisoned(x.Length);
        CpuRope.Forward(expected, x, positions, invFreq, n, heads, headDim);
        // Both round the same float angle's cosine and sine to float32; they may differ by one unit in the last place.
        Check.Close(expected, DeviceForward(x, positions, invFreq, n, heads, headDim), 1e-6, "y");
    }

    [Theory]
    [InlineData(1, 1, 2, 0)]
    [InlineData(19, 2, 20, 0)]
    [InlineData(40, 4, 64, 0)]
    [InlineData(13, 3, 16, 100_000)]
    public void Backward_MatchesCpu_AndAccumulates(int n, int heads, int headDim, int offset)
    {
        float[] dy = TestData.Uniform(n * heads * headDim, n + headDim), invFreq = CpuRope.InverseFrequencies(headDim, 10000);
        float[] start = TestData.Uniform(dy.Length, n * headDim);
        int[] positions = Positions(n, offset);
        float[] expected = (float[])start.Clone();
        CpuRope.Backward(expected, dy, positions, invFreq, n, heads, headDim);
        Check.Close(expected, DeviceBackward(start, dy, positions, invFreq, n, heads, headDim), 1e-6, "dx");
        float[] fresh = DeviceBackward(new float[dy.Length], dy, positions, invFreq, n, heads, headDim);
        Assert.Equal(start.Zip(fresh, (a, b) => a + b), DeviceBackward(start, dy, positions, invFreq, n, heads, headDim));
    }

    [Fact]
    public void Forward_InPlace_AndBackward_InvertsIt()
    {
        const int n = 11, heads = 2, headDim = 16;
        float[] x = TestData.Uniform(n * heads * headDim, 5), invFreq = CpuRope.InverseFrequencies(headDim, 10000);
        int[] positions = Positions(n, 3);
        using DeviceArray<float> buffer = fixture.Put(x), freqBuffer = fixture.Put(invFreq);
        using var positionBuffer = fixture.Put(positions);
        _rope.Forward(buffer.View, buffer.View, positionBuffer.View, freqBuffer.View, n, heads, headDim);
        float[] rotated = fixture.Get(buffer);
        Assert.Equal(DeviceForward(x, positions, invFreq, n, heads, headDim), rotated);
        Check.Close(x, DeviceBackward(new float[x.Length], rotated, positions, invFreq, n, heads, headDim), 1e-6, "Rᵀ·R·x");
    }

    [Fact]
    public void Backward_SkipsEmptyDx_AndRejectsBadShapes()
    {
        const int n = 3, heads = 1, headDim = 4;
        using DeviceArray<float> dy = fixture.Put(TestData.Uniform(n * heads * headDim, 1));
        using DeviceArray<float> invFreq = fixture.Put(CpuRope.InverseFrequencies(headDim, 10000));
        using var positions = fixture.Put(Positions(n, 0));
        _rope.Backward(default, dy.View, positions.View, invFreq.View, n, heads, headDim);
        var e = Assert.Throws<ArgumentException>(() => _rope.Forward(dy.View, dy.View, positions.View, invFreq.View, n, heads, 3));
        Assert.Equal("headDim", e.ParamName);
        e = Assert.Throws<ArgumentException>(() => _rope.Forward(dy.View, dy.View, positions.View, invFreq.View, n + 1, heads, headDim));
        Assert.Equal("y", e.ParamName);
    }
}
