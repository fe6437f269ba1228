using Engine.Backends;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Ops;

/// <summary>The fused LM head and cross-entropy at each vector width of its softmax (the nested classes).</summary>
public abstract class CrossEntropyTests(int bits) : AtLaneWidth(bits)
{
    /// <summary>Σ_{r: t_r ≥ 0} logsumexp(z_r) − z_r[t_r], z = x·Wᵀ, in float64.</summary>
    private static double Reference(double[] x, double[] w, int[] targets, int n, int c, int vocab)
    {
        double loss = 0;
        var z = new double[vocab];
        for (int r = 0; r < n; r++)
        {
            if (targets[r] < 0) continue;
            for (int v = 0; v < vocab; v++)
            {
                double s = 0;
                for (int i = 0; i < c; i++) s += x[r * c + i] * w[v * c + i];
                z[v] = s;
            }
            double max = z.Max(), sum = z.Sum(zv => Math.Exp(zv - max));
            loss += max + Math.Log(sum) - z[targets[r]];
        }
        return loss;
    }

    /// <summary>The op over the rows with target ≥ 0, as the tape calls it.</summary>
    private static double ForwardBackward(Span<float> dx, Span<float> dw, float[] x, float[] w, int[] targets, int n, int c, int vocab, float scale,
        int? maxLogits = null)
    {
        var (rows, keptTargets) = LossRows.Keep(targets);
        return CpuCrossEntropy.ForwardBackward(dx, dw, x, w, rows, keptTargets, n, c, vocab, scale, maxLogits);
    }

    /// <summary>Chunks hold 2^24 logits but never fewer than 256 rows (nor more than the kept rows); a given bound overrides the rule.</summary>
    [Theory]
    [InlineData(50257, 1024, null, 333)]
    [InlineData(151936, 1024, null, 256)]
    [InlineData(262144, 1024, null, 256)]
    [InlineData(262144, 100, null, 100)]
    [InlineData(260, 2048, null, 2048)]
    [InlineData(11, 9, 33, 3)]
    [InlineData(11, 9, 5, 1)]
    public void ChunksHoldAtLeast256RowsUnlessTold(int vocab, int kept, int? maxLogits, int rows) =>
        Assert.Equal(rows, CpuCrossEntropy.ChunkRows(vocab, kept, maxLogits));

    [Theory]
    [InlineData(1, 3, 5, int.MaxValue)]
    [InlineData(7, 5, 13, int.MaxValue)]
    [InlineData(9, 6, 11, 33)]   // 3 rows per chunk: several chunks and a ragged last one
    public void LossAndGradientsMatchFiniteDifferences(int n, int c, int vocab, int maxLogits)
    {
        var x = TestData.Uniform(n * c, 1, 2f);
        var w = TestData.Uniform(vocab * c, 2, 2f);
        var targets = TestData.Ints(n, 3, vocab);
        if (n > 2) targets[1] = -1;
        const float scale = 0.37f;

        var dx = new float[n * c];
        var dw = new float[vocab * c];
        double loss = ForwardBackward(dx, dw, x, w, targets, n, c, vocab, scale, maxLogits);

        double[] x64 = TestData.ToDouble(x), w64 = TestData.ToDouble(w);
        double expected = Reference(x64, w64, targets, n, c, vocab);
        Assert.True(Math.Abs(loss - expected) <= 1e-5 * Math.Abs(expected), $"loss {loss} vs reference {expected}");

        var gx = FiniteDifference.Gradient(v => scale * Reference(v, w64, targets, n, c, vocab), x64);
        var gw = FiniteDifference.Gradient(v => scale * Reference(x64, v, targets, n, c, vocab), w64);
        Check.Close(gx, dx, 1e-5, "dx");
        Check.Close(gw, dw, 1e-5, "dw");
    }

    [Fact]
    public void MaskedRowsContributeNothing()
    {
        int n = 6, c = 4, vocab = 9;
        var x = TestData.Uniform(n * c, 4);
        var w = TestData.Uniform(vocab * c, 5);
        int[] targets = [3, -1, 0, -1, 8, 2];
        int[] kept = [0, 2, 4, 5];

        var dx = new float[n * c];
        var dw = new float[vocab * c];
        double loss = ForwardBackward(dx, dw, x, w, targets, n, c, vocab, 1f);

        // The same rows alone, without the masked ones, give the same loss and weight gradient.
        var xKept = kept.SelectMany(r => x.Skip(r * c).Take(c)).ToArray();
        var dxKept = new float[kept.Length * c];
        var dwKept = new float[vocab * c];
        double lossKept = ForwardBackward(dxKept, dwKept, xKept, w, kept.Select(r => targets[r]).ToArray(), kept.Length, c, vocab, 1f);

        Assert.Equal(lossKept, loss, 12);
        Assert.Equal(dwKept, dw);
        Assert.All(new[] { 1, 3 }, r => Assert.All(dx.Skip(r * c).Take(c), v => Assert.Equal(0f, v)));
    }

    [Fact]
    public void WithoutGradientBuffersOnlyTheLossIsComputed()
    {
        int n = 5, c = 3, vocab = 7;
        var x = TestData.Uniform(n * c, 6);
        var w = TestData.Uniform(vocab * c, 7);
        var targets = TestData.Ints(n, 8, vocab);
        double withGrad = ForwardBackward(new float[n * c], new float[vocab * c], x, w, targets, n, c, vocab, 1f);
        double lossOnly = ForwardBackward(default, default, x, w, targets, n, c, vocab, 1f);
        Assert.Equal(withGrad, lossOnly);
    }

    [Fact]
    public void LossRowsAreTheRowsWithATargetInOrder()
    {
        var (rows, targets) = LossRows.Keep([-1, 4, -1, -1, 0, 7, -1]);
        Assert.Equal([1, 4, 5], rows);
        Assert.Equal([4, 0, 7], targets);
        Assert.Empty(LossRows.Keep([-1, -1]).Rows);
    }

    [Fact]
    public void TargetOutsideVocabularyIsRejectedWithItsRow()
    {
        var e = Assert.Throws<ArgumentException>(() =>
            ForwardBackward(default, default, new float[4], new float[6], [0, 3], 2, 2, 3, 1f));
        Assert.Contains("row 1", e.Message);
    }

    public sealed class Scalar() : CrossEntropyTests(32);
    public sealed class Bits256() : CrossEntropyTests(256);
    public sealed class Bits512() : CrossEntropyTests(512);
}
