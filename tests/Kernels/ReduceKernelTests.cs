using Engine.Backends.Cpu;
using Engine.Kernels;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Kernels;

/// <summary>The sum-of-squares kernels on the CPU accelerator against CpuElementwise.SumOfSquares (the oracle).
/// Both accumulate in float64 (in different fixed orders), so they agree to about 1e-15 relative; 1e-13 leaves room for the length.</summary>
[Collection(CpuAcceleratorCollection.Name)]
public class ReduceKernelTests(KernelFixture<Reduce> fixture) : IClassFixture<KernelFixture<Reduce>>
{
    readonly Reduce _reduce = fixture.Launcher;

    // Lengths: empty, one element, under one group, across group boundaries (8192 elements per group), ragged.
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(255)]
    [InlineData(8193)]
    [InlineData(20000)]
    public void SumOfSquaresMatchesCpu(int length)
    {
        var x = TestData.Uniform(length, 1, 3f);
        double expected = CpuElementwise.SumOfSquares(x);

        double actual = SumOfSquares(x);

        Assert.True(Math.Abs(actual - expected) <= 1e-13 * expected, $"sum of squares {actual:R}, expected {expected:R}");
        if (length == 0) Assert.Equal(0.0, actual);
    }

    [Fact]
    public void RunsAreBitIdentical()
    {
        var x = TestData.Uniform(17000, 2, 5f);
        Assert.Equal(BitConverter.DoubleToInt64Bits(SumOfSquares(x)), BitConverter.DoubleToInt64Bits(SumOfSquares(x)));
    }

    [Fact]
    public void SmallerAfterLargerReusesThePartials()
    {
        var (large, small) = (TestData.Uniform(20000, 3), TestData.Uniform(100, 4));
        SumOfSquares(large);
        double actual = SumOfSquares(small);
        double expected = CpuElementwise.SumOfSquares(small);
        Assert.True(Math.Abs(actual - expected) <= 1e-13 * expected, $"sum of squares {actual:R}, expected {expected:R}");
    }

    double SumOfSquares(float[] x)
    {
        using var gx = fixture.Put(x);
        using var result = fixture.Put(new[] { double.NaN });
        _reduce.SumOfSquares(result.View, gx.View);
        return fixture.Get(result)[0];
    }
}
