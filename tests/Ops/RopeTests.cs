using Engine.Backends;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Ops;

public sealed class RopeTests
{
    /// <summary>
    /// Naive float64 rotate-half RoPE. The angle is the float32 product position·invFreq, the documented Hugging Face
    /// convention (at position 10⁵ that rounding alone moves the angle by ~4e-3), then cos and sin in float64.
    /// </summary>
    private static double[] Reference(double[] x, int[] positions, float[] invFreq, int n, int heads, int headDim)
    {
        int half = headDim / 2;
        var y = new double[x.Length];
        for (int r = 0; r < n; r++)
        for (int h = 0; h < heads; h++)
        for (int i = 0; i < half; i++)
        {
            double angle = (float)positions[r] * invFreq[i];
            int o = (r * heads + h) * headDim;
            y[o + i] = x[o + i] * Math.Cos(angle) - x[o + half + i] * Math.Sin(angle);
            y[o + half + i] = x[o + half + i] * Math.Cos(angle) + x[o + i] * Math.Sin(angle);
        }
        return y;
    }

    [Theory]
    [InlineData(64, 10000.0)]
    [InlineData(20, 500000.0)]
    public void InverseFrequencies_MatchDefinition(int headDim, double theta)
    {
        float[] invFreq = CpuRope.InverseFrequencies(headDim, theta);
        double[] expected = [.. Enumerable.Range(0, headDim / 2).Select(i => Math.Pow(theta, -2.0 * i / headDim))];
        Assert.Equal(1f, invFreq[0]);
        // Computed in float32 as HF does: a couple of float32 roundings of the exponent and the power.
        for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(invFreq[i] - expected[i]) <= 1e-6 * expected[i], $"invFreq[{i}]");
    }

    [Fact]
    public void PositionZero_IsIdentity()
    {
        const int n = 3, heads = 2, headDim = 12;
        float[] x = TestData.Uniform(n * heads * headDim, 1), y = TestData.Poisoned(x.Length);
        CpuRope.Forward(y, x, new int[n], CpuRope.InverseFrequencies(headDim, 10000), n, heads, headDim);
        Assert.Equal(x, y);
    }

    [Fact]
    public void TwoDimensions_RotateByPosition()
    {
        // headDim 2: invFreq = [1], so (1, 2) at position 1 turns by 1 radian: cos 1 = 0.5403023, sin 1 = 0.8414710.
        float[] y = TestData.Poisoned(4);
        CpuRope.Forward(y, [1f, 2f, 1f, 2f], [1, 0], [1f], 2, 1, 2);
        Assert.Equal(0.5403023 - 2 * 0.8414710, y[0], 6);
        Assert.Equal(2 * 0.5403023 + 0.8414710, y[1], 6);
        Assert.Equal(1f, y[2]);
        Assert.Equal(2f, y[3]);
    }

    [Theory]
    [InlineData(7, 3, 20, new[] { 0, 1, 2, 3, 0, 1, 2 })]
    [InlineData(5, 2, 6, new[] { 4, 9, 0, 2, 1 })]
    [InlineData(4, 1, 64, new[] { 0, 5000, 3, 100000 })]
    [InlineData(130, 2, 34, null)]
    public void Forward_MatchesReference(int n, int heads, int headDim, int[]? positions)
    {
        positions ??= [.. Enumerable.Range(0, n).Select(i => i % 50)];
        float[] invFreq = CpuRope.InverseFrequencies(headDim, 10000);
        float[] x = TestData.Uniform(n * heads * headDim, n + headDim), y = TestData.Poisoned(x.Length);
        CpuRope.Forward(y, x, positions, invFreq, n, heads, headDim);
        // float32 cos/sin of the same float32 angle and a few float32 products: a handful of ulps.
        Check.Close(Reference(TestData.ToDouble(x), positions, invFreq, n, heads, headDim), y, 1e-6, "y");

        float[] inPlace = (float[])x.Clone();
        CpuRope.Forward(inPlace, inPlace, positions, invFreq, n, heads, headDim);
        Assert.Equal(y, inPlace);
    }

    [Theory]
    [InlineData(7, 3, 20, new[] { 0, 1, 2, 3, 0, 1, 2 })]
    [InlineData(4, 1, 64, new[] { 0, 5000, 3, 100000 })]
    public void Backward_MatchesFiniteDifferences(int n, int heads, int headDim, int[] positions)
    {
        float[] invFreq = CpuRope.InverseFrequencies(headDim, 10000);
        float[] x = TestData.Uniform(n * heads * headDim, 3), dy = TestData.Uniform(x.Length, 4);
        double[] expected = FiniteDifference.Gradient(a => FiniteDifference.Dot(Reference(a, positions, invFreq, n, heads, headDim), dy), TestData.ToDouble(x));
        float[] dx = new float[x.Length];
        CpuRope.Backward(dx, dy, positions, invFreq, n, heads, headDim);
        Check.Close(expected, dx, 1e-6, "dx");

        CpuRope.Backward(dx, dy, positions, invFreq, n, heads, headDim);
        Check.Close(expected.Select(g => 2 * g).ToArray(), dx, 1e-6, "2·dx");
        CpuRope.Backward(default, dy, positions, invFreq, n, heads, headDim);
    }

    [Fact]
    public void RejectsBadShapes()
    {
        var e = Assert.Throws<ArgumentException>(() => CpuRope.Forward(new float[6], new float[6], [0, 1], [1f], 2, 1, 3));
        Assert.Equal("headDim", e.ParamName);
        e = Assert.Throws<ArgumentException>(() => CpuRope.Forward(new float[8], new float[8], [0, 1], [1f], 2, 1, 4));
        Assert.Equal("invFreq", e.ParamName);
    }
}
