using Engine.Backends;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Ops;

public class EmbeddingTests
{
    /// <summary>float64 reference: y[r,:] = wte[ids[r],:] + wpe[positions[r],:] (no wpe term when wpe is empty).</summary>
    static double[] Forward64(double[] wte, double[] wpe, int[] ids, int[] positions, int n, int c)
    {
        var y = new double[n * c];
        for (int r = 0; r < n; r++)
            for (int j = 0; j < c; j++)
                y[r * c + j] = wte[ids[r] * c + j] + (wpe.Length == 0 ? 0 : wpe[positions[r] * c + j]);
        return y;
    }

    [Theory]
    [InlineData(1, 1, 3, 2)]
    [InlineData(5, 7, 11, 5)]
    [InlineData(9, 19, 4, 9)]
    [InlineData(13, 37, 50, 16)]
    [InlineData(300, 301, 40, 300)] // n·c > 64K: the parallel path
    public void ForwardMatchesFloat64Reference(int n, int c, int vocab, int maxPositions)
    {
        var wte = TestData.Uniform(vocab * c, 1);
        var wpe = TestData.Uniform(maxPositions * c, 2);
        var ids = TestData.Ints(n, 3, vocab);
        var positions = TestData.Ints(n, 4, maxPositions);

        var y = TestData.Poisoned(n * c);
        CpuEmbedding.Forward(y, ids, positions, wte, wpe, n, c);
        Check.Close(Forward64(TestData.ToDouble(wte), TestData.ToDouble(wpe), ids, positions, n, c), y, 1e-7, "y with positions");

        var yNoPositions = TestData.Poisoned(n * c);
        CpuEmbedding.Forward(yNoPositions, ids, default, wte, default, n, c);
        Check.Close(Forward64(TestData.ToDouble(wte), [], ids, positions, n, c), yNoPositions, 0, "y without positions");
    }

    [Theory]
    [InlineData(1, 1, 3, 2)]
    [InlineData(6, 5, 4, 6)] // n > vocab: some ids must repeat (and, below, some positions too)
    [InlineData(12, 9, 3, 5)]
    public void BackwardMatchesFiniteDifferencesWithRepeatedIds(int n, int c, int vocab, int maxPositions)
    {
        var wte = TestData.Uniform(vocab * c, 10);
        var wpe = TestData.Uniform(maxPositions * c, 11);
        var ids = TestData.Ints(n, 12, vocab);
        var positions = TestData.Ints(n, 13, maxPositions);
        var r = TestData.Uniform(n * c, 14);
        double[] wte64 = TestData.ToDouble(wte), wpe64 = TestData.ToDouble(wpe);
        var dwte64 = FiniteDifference.Gradient(ws => FiniteDifference.Dot(Forward64(ws, wpe64, ids, positions, n, c), r), wte64);
        var dwpe64 = FiniteDifference.Gradient(ps => FiniteDifference.Dot(Forward64(wte64, ps, ids, positions, n, c), r), wpe64);

        var dwte = new float[vocab * c];
        var dwpe = new float[maxPositions * c];
        CpuEmbedding.Backward(dwte, dwpe, r, ids, positions, n, c);

        Check.Close(dwte64, dwte, 1e-6, "dwte");
        Check.Close(dwpe64, dwpe, 1e-6, "dwpe");
    }

    [Fact]
    public void BackwardWithOneIdRepeatedIsTheRowSumInRowOrder()
    {
        const int n = 10, c = 23, vocab = 3;
        var ids = Enumerable.Repeat(2, n).ToArray();
        var dy = TestData.Uniform(n * c, 20);
        var dwte = TestData.Uniform(vocab * c, 21);
        var expected = (float[])dwte.Clone();
        for (int r = 0; r < n; r++)
            for (int j = 0; j < c; j++)
                expected[2 * c + j] += dy[r * c + j];

        CpuEmbedding.Backward(dwte, default, dy, ids, default, n, c);

        Assert.Equal(expected, dwte);
    }

    [Fact]
    public void BackwardOfManyRowsIsDeterministicAndEqualsRowByRow()
    {
        const int n = 300, c = 301, vocab = 5, maxPositions = 7; // n·c > 64K: the parallel path; every id repeated ~60 times
        var ids = TestData.Ints(n, 30, vocab);
        var positions = TestData.Ints(n, 31, maxPositions);
        var dy = TestData.Uniform(n * c, 32);
        var dwteStart = TestData.Uniform(vocab * c, 33);
        var dwpeStart = TestData.Uniform(maxPositions * c, 34);

        float[] first = (float[])dwteStart.Clone(), firstPositions = (float[])dwpeStart.Clone();
        CpuEmbedding.Backward(first, firstPositions, dy, ids, positions, n, c);
        float[] second = (float[])dwteStart.Clone(), secondPositions = (float[])dwpeStart.Clone();
        CpuEmbedding.Backward(second, secondPositions, dy, ids, positions, n, c);
        Assert.Equal(first, second);
        Assert.Equal(firstPositions, secondPositions);

        float[] rows = (float[])dwteStart.Clone(), rowsPositions = (float[])dwpeStart.Clone();
        for (int r = 0; r < n; r++)
            CpuEmbedding.Backward(rows, rowsPositions, dy.AsSpan(r * c, c), ids.AsSpan(r, 1), positions.AsSpan(r, 1), 1, c);
        Assert.Equal(rows, first);
        Assert.Equal(rowsPositions, firstPositions);

        var expected = TestData.ToDouble(dwteStart);
        for (int r = 0; r < n; r++)
            for (int j = 0; j < c; j++)
                expected[ids[r] * c + j] += dy[r * c + j];
        Check.Close(expected, first, 1e-6, "dwte");
    }

    [Fact]
    public void BackwardAccumulatesAndSkipsEmptyGradients()
    {
        const int n = 4, c = 17, vocab = 6, maxPositions = 4;
        var ids = new[] { 1, 5, 1, 0 };
        var positions = new[] { 0, 1, 2, 3 };
        var dy = TestData.Uniform(n * c, 40);

        var dwpe = new float[maxPositions * c];
        CpuEmbedding.Backward(default, dwpe, dy, ids, positions, n, c);
        CpuEmbedding.Backward(default, dwpe, dy, ids, positions, n, c);
        Assert.Equal(dy.Select(v => 2 * v), dwpe); // positions 0..3 each once: dwpe = 2·dy exactly

        var dwte = new float[vocab * c];
        CpuEmbedding.Backward(dwte, default, dy, ids, default, n, c);
        var once = (float[])dwte.Clone();
        CpuEmbedding.Backward(dwte, default, dy, ids, default, n, c);
        Check.Close(once.Select(v => 2.0 * v).ToArray(), dwte, 1e-6, "dwte twice");
        Assert.All(dwte.AsSpan(2 * c, 3 * c).ToArray(), v => Assert.Equal(0f, v)); // ids 2, 3, 4 unused
    }

    [Fact]
    public void OutOfRangeIdsThrowNamingTheIdAndRow()
    {
        const int n = 4, c = 3, vocab = 5;
        var wte = TestData.Uniform(vocab * c, 50);
        var ex = Assert.Throws<ArgumentException>(() => CpuEmbedding.Forward(new float[n * c], [0, 4, 2, 5], default, wte, default, n, c));
        Assert.Equal("ids", ex.ParamName);
        Assert.Contains("ids[3] = 5", ex.Message);
        Assert.Contains("row 3", ex.Message);

        ex = Assert.Throws<ArgumentException>(() => CpuEmbedding.Backward(new float[vocab * c], default, new float[n * c], [0, -1, 2, 3], default, n, c));
        Assert.Contains("ids[1] = -1", ex.Message);

        ex = Assert.Throws<ArgumentException>(() =>
            CpuEmbedding.Forward(new float[n * c], [0, 1, 2, 3], [0, 1, 2, 3], wte, new float[3 * c], n, c));
        Assert.Equal("positions", ex.ParamName);
        Assert.Contains("positions[3] = 3", ex.Message);

        ex = Assert.Throws<ArgumentException>(() => CpuEmbedding.Forward(new float[n * c], [0, 1, 2, 3], default, new float[14], default, n, c));
        Assert.Equal("wte", ex.ParamName);
    }
}
