using Engine.Data;
using Xunit;

namespace Engine.Tests.Data;

public class DataSplitTests
{
    private static readonly int[] Items = Enumerable.Range(0, 100).ToArray();

    [Fact]
    public void SeededDisjointAndComplete()
    {
        var (train, validation) = DataSplit.ByFraction(Items, 0.1, seed: 3);
        Assert.Equal(10, validation.Count);
        Assert.Empty(train.Intersect(validation));
        Assert.Equal(Items, train.Concat(validation).Order());
        Assert.Equal(train, train.Order());   // each part keeps the original order

        var again = DataSplit.ByFraction(Items, 0.1, seed: 3);
        Assert.Equal(validation, again.Validation);
        Assert.Equal(train, again.Train);
        Assert.NotEqual(validation, DataSplit.ByFraction(Items, 0.1, seed: 4).Validation);
    }

    [Fact]
    public void CountsAndLimits()
    {
        Assert.Equal(7, DataSplit.ByCount(Items, 7, seed: 1).Validation.Count);
        Assert.Empty(DataSplit.ByFraction(Items, 0, seed: 1).Validation);
        Assert.Single(DataSplit.ByFraction(Items, 0.001, seed: 1).Validation);
        Assert.Throws<ArgumentException>(() => DataSplit.ByCount(Items, 100, seed: 1));
        Assert.Throws<ArgumentException>(() => DataSplit.ByFraction(Items, 1.0, seed: 1));
    }
}
