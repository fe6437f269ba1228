using Engine.Backends;
using Engine.Kernels;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Kernels;

/// <summary>The reduction kernels on the CPU accelerator against CpuElementwise.SumOfSquares and float64 sums (the oracles).
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

    /// <summary>Several tensors into one device scalar: each tensor's total added in list order, so the result is bit for bit the host's
    /// sum of the single-tensor results (what the trainer computed before the norm stayed on the device).</summary>
    [Fact]
    public void SumOfSquaresOverTensorsAddsEachTensorsTotalInOrder()
    {
        var parts = new[] { TestData.Uniform(20000, 5), TestData.Uniform(0, 6), TestData.Uniform(3, 7, 4f), TestData.Uniform(8192, 8) };
        double expected = parts.Aggregate(0.0, (total, p) => total + SumOfSquares(p));

        double actual = SumOfSquares(parts);

        Assert.Equal(BitConverter.DoubleToInt64Bits(expected), BitConverter.DoubleToInt64Bits(actual));
        double reference = parts.Sum(p => CpuElementwise.SumOfSquares(p));
        Assert.True(Math.Abs(actual - reference) <= 1e-13 * reference, $"sum of squares {actual:R}, expected {reference:R}");
        Assert.Equal(0.0, SumOfSquares());
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

    /// <summary>AddSum (the loss): result += Σ x in float64, against a float64 reference, onto what the result held; an empty x adds nothing.</summary>
    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(8193)]
    public void AddSumAddsTheFloat64Sum(int length)
    {
        var x = TestData.Uniform(length, 9, 3f);
        using var gx = fixture.Put(x);
        using var result = fixture.Put(new[] { 2.5 });
        _reduce.AddSum(result.View, gx.View);
        double expected = 2.5 + x.Sum(v => (double)v);
        double actual = fixture.Get(result)[0];
        Assert.True(Math.Abs(actual - expected) <= 1e-13 * x.Sum(v => Math.Abs((double)v)), $"sum {actual:R}, expected {expected:R}");
        if (length == 0) Assert.Equal(2.5, actual);
    }

    double SumOfSquares(params float[][] xs)
    {
        var arrays = xs.Select(fixture.Put).ToArray();
        using var result = fixture.Put(new[] { double.NaN });
        _reduce.SumOfSquares(result.View, arrays.Select(a => a.View).ToArray());
        double value = fixture.Get(result)[0];
        foreach (var a in arrays) a.Dispose();
        return value;
    }
}
