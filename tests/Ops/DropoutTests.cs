using Engine.Backends;
using Engine.Kernels;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Ops;

/// <summary>CpuDropout against a float64 reference that applies the mask element by element, the mask's statistics, and the backward
/// against finite differences (dropout is linear in x for a fixed seed).</summary>
public class DropoutTests
{
    static double[] Reference(double[] x, float p, float scale, uint seed)
        => x.Select((v, i) => v * DropoutMask.Factor(seed, i, p, scale)).ToArray();

    [Theory]
    [InlineData(1, 0.1f)]
    [InlineData(37, 0.5f)]
    [InlineData(70_001, 0.05f)]
    public void ForwardMatchesTheReference(int length, float p)
    {
        var x = TestData.Uniform(length, 1);
        var y = TestData.Poisoned(length);
        CpuDropout.Forward(y, x, p, 1 / (1 - p), seed: 7);
        Check.Close(Reference(TestData.ToDouble(x), p, 1 / (1 - p), 7), y, 1e-7, "y");
    }

    [Theory]
    [InlineData(0.05f)]
    [InlineData(0.5f)]
    [InlineData(0.9f)]
    public void KeepsOneMinusPOfTheElementsAndTheMeanOfX(float p)
    {
        const int n = 200_000;
        var x = Enumerable.Repeat(1f, n).ToArray();
        var y = new float[n];
        CpuDropout.Forward(y, x, p, 1 / (1 - p), seed: 3);
        double kept = y.Count(v => v != 0) / (double)n;
        // Binomial standard deviation √(p(1 − p)/n) ≤ 0.0012; 5 of them.
        Assert.InRange(kept, 1 - p - 0.006, 1 - p + 0.006);
        Assert.InRange(y.Average(v => (double)v), 1 - 0.006 / (1 - p), 1 + 0.006 / (1 - p));
    }

    [Fact]
    public void TheMaskDependsOnTheSeedOnly()
    {
        var x = TestData.Uniform(1000, 2);
        var (a, b, c) = (new float[1000], new float[1000], new float[1000]);
        CpuDropout.Forward(a, x, 0.3f, 1f, seed: 11);
        CpuDropout.Forward(b, x, 0.3f, 1f, seed: 11);
        CpuDropout.Forward(c, x, 0.3f, 1f, seed: 12);
        Assert.Equal(a, b);
        int differing = Enumerable.Range(0, 1000).Count(i => (a[i] == 0) != (c[i] == 0));
        Assert.InRange(differing, 300, 540); // two independent masks differ on 2·0.3·0.7 = 42 % of elements
    }

    [Fact]
    public void BackwardMatchesFiniteDifferencesAndAccumulates()
    {
        const int n = 45;
        const float p = 0.4f, scale = 2.5f;
        var x = TestData.ToDouble(TestData.Uniform(n, 4));
        var r = TestData.Uniform(n, 5);
        var expected = FiniteDifference.Gradient(v => FiniteDifference.Dot(Reference(v, p, scale, 9), r), x, 1e-3);
        var dx = new float[n];
        CpuDropout.Backward(dx, r, p, scale, seed: 9);
        Check.Close(expected, dx, 1e-6, "dx");
        CpuDropout.Backward(dx, r, p, scale, seed: 9);
        Check.Close(expected.Select(g => 2 * g).ToArray(), dx, 1e-6, "dx accumulated twice");
    }

    [Fact]
    public void MismatchedLengthsAreRejected()
        => Assert.Throws<ArgumentException>(() => CpuDropout.Forward(new float[3], new float[4], 0.1f, 1f, 1));
}
