using Engine.Backends;
using Engine.Tensors;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Ops;

/// <summary>The flat elementwise ops at each vector width (the nested classes; only the sum of squares has a vector body of its own).</summary>
public abstract class ElementwiseTests(int bits) : AtLaneWidth(bits)
{
    // Add, Accumulate and Scale are single float32 operations per element, so each result must be exactly the
    // float64 result rounded to float32 (a sum or product of two floats is exact in float64).

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(33)]
    [InlineData(1000)]
    [InlineData(100_003)] // > 64K: the parallel path
    public void AddIsTheRoundedFloat64Sum(int length)
    {
        var a = TestData.Uniform(length, 1);
        var b = TestData.Uniform(length, 2, 3f);
        var y = TestData.Poisoned(length);
        CpuElementwise.Add(y, a, b);
        for (int i = 0; i < length; i++) Assert.Equal((float)((double)a[i] + b[i]), y[i]);

        var inPlace = (float[])a.Clone();
        CpuElementwise.Add(inPlace, inPlace, b);
        Assert.Equal(y, inPlace);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(100_003)]
    public void AccumulateAddsIntoDestination(int length)
    {
        var dst = TestData.Uniform(length, 3);
        var src = TestData.Uniform(length, 4);
        var expected = dst.Select((d, i) => (float)((double)d + src[i])).ToArray();
        CpuElementwise.Accumulate(dst, src);
        Assert.Equal(expected, dst);

        var fromZero = new float[length];
        CpuElementwise.Accumulate(fromZero, src);
        CpuElementwise.Accumulate(fromZero, src);
        Assert.Equal(src.Select(v => 2 * v), fromZero);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(19)]
    [InlineData(100_003)]
    public void ScaleMultipliesInPlace(int length)
    {
        var x = TestData.Uniform(length, 5);
        const float s = 0.37f;
        var expected = x.Select(v => (float)((double)v * s)).ToArray();
        CpuElementwise.Scale(x, s);
        Assert.Equal(expected, x);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(100_003)] // > 64K: the parallel path
    public void ZeroClearsEveryElement(int length)
    {
        var x = TestData.Poisoned(length);
        CpuElementwise.Zero(x);
        Assert.All(x, v => Assert.Equal(0f, v));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(15)]
    [InlineData(1001)]
    [InlineData(200_003)] // > 64K: chunk partials
    public void SumOfSquaresMatchesFloat64Reference(int length)
    {
        var x = TestData.Uniform(length, 6, 3f);
        double expected = 0;
        foreach (float v in x) expected += (double)v * v;
        double actual = CpuElementwise.SumOfSquares(x);
        // Both sum the same exact float64 squares; only the order of float64 additions differs.
        Assert.True(Math.Abs(actual - expected) <= 1e-13 * Math.Max(expected, 1e-300), $"Σx² = {actual}, expected {expected}");
        Assert.Equal(actual, CpuElementwise.SumOfSquares(x));
    }

    /// <summary>The backend op over several tensors (the global gradient norm): each tensor's sum added in list order into a float64 tensor,
    /// against a float64 reference over all elements; an empty list gives 0.</summary>
    [Fact]
    public void SumOfSquaresOverTensorsMatchesFloat64Reference()
    {
        using var backend = new CpuBackend();
        var parts = new[] { TestData.Uniform(7, 1), TestData.Uniform(0, 2), TestData.Uniform(70_001, 3, 2f), TestData.Uniform(300, 4) };
        var tensors = parts.Select(p => { var t = backend.Allocate(DType.F32, p.Length); backend.Upload(t, p); return t; }).ToArray();
        using var sum = backend.Allocate(DType.F64, 1);
        CpuBackend.D(sum)[0] = double.NaN;

        backend.SumOfSquares(sum, tensors);

        double expected = parts.SelectMany(p => p).Sum(v => (double)v * v);
        Assert.True(Math.Abs(CpuBackend.D(sum)[0] - expected) <= 1e-13 * expected, $"Σx² = {CpuBackend.D(sum)[0]}, expected {expected}");
        Assert.Equal(parts.Aggregate(0.0, (total, p) => total + CpuElementwise.SumOfSquares(p)), CpuBackend.D(sum)[0]);
        backend.SumOfSquares(sum, []);
        Assert.Equal(0.0, CpuBackend.D(sum)[0]);
        foreach (var t in tensors) t.Dispose();
    }

    [Fact]
    public void SumOfSquaresIsExactForSmallIntegers()
    {
        var x = Enumerable.Range(-500, 100_001).Select(i => (float)(i % 1000)).ToArray();
        double expected = x.Sum(v => (double)v * v);
        Assert.Equal(expected, CpuElementwise.SumOfSquares(x));
    }

    [Fact]
    public void MismatchedLengthsThrowNamingTheArgument()
    {
        Assert.Equal("b", Assert.Throws<ArgumentException>(() => CpuElementwise.Add(new float[3], new float[3], new float[4])).ParamName);
        Assert.Equal("src", Assert.Throws<ArgumentException>(() => CpuElementwise.Accumulate(new float[3], new float[2])).ParamName);
    }

    public sealed class Scalar() : ElementwiseTests(32);
    public sealed class Bits256() : ElementwiseTests(256);
    public sealed class Bits512() : ElementwiseTests(512);
}
