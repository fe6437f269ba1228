using Engine.Eval;
using Xunit;

namespace Engine.Tests.Eval;

public class PassAtKTests
{
    /// <summary>The estimator equals the fraction of k-subsets of the n samples that hold a correct one, counted in float64.</summary>
    [Theory]
    [InlineData(5, 2, 1)]
    [InlineData(5, 2, 3)]
    [InlineData(8, 1, 4)]
    [InlineData(8, 0, 2)]
    [InlineData(6, 5, 2)]
    [InlineData(10, 3, 5)]
    public void EqualsTheFractionOfSubsetsWithACorrectSample(int n, int c, int k)
    {
        int subsets = 0, withCorrect = 0;
        for (int mask = 0; mask < 1 << n; mask++)
        {
            if (System.Numerics.BitOperations.PopCount((uint)mask) != k) continue;
            subsets++;
            if ((mask & ((1 << c) - 1)) != 0) withCorrect++; // samples 0..c−1 are the correct ones
        }
        Assert.Equal((double)withCorrect / subsets, PassAtK.Estimate(n, c, k), 12);
    }

    [Fact]
    public void KnownValues()
    {
        Assert.Equal(0.4, PassAtK.Estimate(5, 2, 1), 12);
        Assert.Equal(1 - 21.0 / 252, PassAtK.Estimate(10, 3, 5), 12);
        Assert.Equal(1.0, PassAtK.Estimate(4, 3, 2));
        Assert.Throws<ArgumentException>(() => PassAtK.Estimate(4, 1, 5));
    }
}
