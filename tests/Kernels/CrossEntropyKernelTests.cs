using Engine.Kernels;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Kernels;

/// <summary>The cross-entropy row kernel on the CPU accelerator against a float64 reference written here (CpuCrossEntropy's row step is private).
/// Tolerance 1e-5: float32 exponentials and sums over a few hundred logits.</summary>
[Collection(CpuAcceleratorCollection.Name)]
public class CrossEntropyKernelTests(KernelFixture<CrossEntropy> fixture) : IClassFixture<KernelFixture<CrossEntropy>>
{
    const double Tolerance = 1e-5;
    readonly CrossEntropy _crossEntropy = fixture.Launcher;

    /// <summary>float64 reference: loss_r = logsumexp(z_r) − z_r[t_r]; grad_r = s·(softmax(z_r) − onehot(t_r)); a row with t_r &lt; 0 gets 0 and 0.</summary>
    static (double[] loss, double[] grad) Reference(float[] logits, int[] targets, int m, int vocab, float gradScale)
    {
        var (loss, grad) = (new double[m], new double[m * vocab]);
        for (int r = 0; r < m; r++)
        {
            if (targets[r] < 0) continue;
            double max = double.NegativeInfinity, sum = 0;
            for (int j = 0; j < vocab; j++) max = Math.Max(max, logits[r * vocab + j]);
            for (int j = 0; j < vocab; j++) sum += Math.Exp(logits[r * vocab + j] - max);
            loss[r] = max + Math.Log(sum) - logits[r * vocab + targets[r]];
            for (int j = 0; j < vocab; j++)
                grad[r * vocab + j] = gradScale * (Math.Exp(logits[r * vocab + j] - max) / sum - (j == targets[r] ? 1 : 0));
        }
        return (loss, grad);
    }

    // vocab giving a row group of one warp, of several with a ragged end, of the 256-thread maximum; one ignored row (target −1).
    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 37)]
    [InlineData(4, 300)]
    [InlineData(3, 2100)]
    public void LossAndGradientMatchFloat64Reference(int m, int vocab)
    {
        var logits = TestData.Uniform(m * vocab, 1, 8f);
        var targets = TestData.Ints(m, 2, vocab);
        if (m > 2) targets[1] = -1;
        const float gradScale = 0.25f;
        var (loss, grad) = Reference(logits, targets, m, vocab, gradScale);

        var (actualLoss, actualGrad) = DeviceSoftmaxRows(logits, targets, m, vocab, wantGrad: true, gradScale);

        Check.Close(loss, actualLoss, Tolerance, "row loss");
        Check.Close(grad, actualGrad, Tolerance, "gradient written over the logits");
    }

    [Fact]
    public void WithoutGradientTheLogitsAreLeftAlone()
    {
        const int m = 3, vocab = 300;
        var logits = TestData.Uniform(m * vocab, 1, 8f);
        var targets = TestData.Ints(m, 2, vocab);
        var (loss, _) = Reference(logits, targets, m, vocab, 1f);

        var (actualLoss, logitsAfter) = DeviceSoftmaxRows(logits, targets, m, vocab, wantGrad: false, 1f);

        Check.Close(loss, actualLoss, Tolerance, "row loss");
        Assert.Equal(logits, logitsAfter);
    }

    [Fact]
    public void LargeLogitsDoNotOverflow()
    {
        const int m = 2, vocab = 50;
        var logits = TestData.Uniform(m * vocab, 1, 1f);
        logits[7] = 500f;
        logits[vocab + 3] = -500f;
        var targets = new[] { 7, 4 };
        var (loss, grad) = Reference(logits, targets, m, vocab, 1f);

        var (actualLoss, actualGrad) = DeviceSoftmaxRows(logits, targets, m, vocab, wantGrad: true, 1f);

        Check.Close(loss, actualLoss, Tolerance, "row loss");
        Assert.True(Math.Abs(actualLoss[0] - loss[0]) < 1e-5, $"loss of the confident row {actualLoss[0]}, expected {loss[0]}");
        Check.Close(grad, actualGrad, Tolerance, "gradient");
    }

    [Fact]
    public void RunsAreBitIdentical()
    {
        const int m = 2, vocab = 700;
        var logits = TestData.Uniform(m * vocab, 3, 8f);
        var targets = TestData.Ints(m, 4, vocab);
        float[] Run()
        {
            var (loss, grad) = DeviceSoftmaxRows(logits, targets, m, vocab, wantGrad: true, 0.5f);
            return [.. loss, .. grad];
        }
        Assert.Equal(Run(), Run());
    }

    /// <summary>The dx scatter: dx[rows[i],:] += dxChunk[i,:], against a plain loop; rows not listed keep their values.</summary>
    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(3, 5, 7)]
    [InlineData(4, 70, 9)]
    public void ScatterAddRowsMatchesAPlainLoop(int m, int c, int n)
    {
        var dx = TestData.Uniform(n * c, 5);
        var dxChunk = TestData.Uniform(m * c, 6);
        int[] rows = Enumerable.Range(0, n).Where(r => r % 2 == 0 || r == n - 1).Take(m).Reverse().ToArray();
        Assert.Equal(m, rows.Length);
        var expected = (float[])dx.Clone();
        for (int i = 0; i < m; i++)
            for (int j = 0; j < c; j++) expected[rows[i] * c + j] += dxChunk[i * c + j];

        using DeviceArray<float> gDx = fixture.Put(dx), gChunk = fixture.Put(dxChunk);
        using var gRows = fixture.Put(rows);
        _crossEntropy.ScatterAddRows(gDx.View, gChunk.View, gRows.View, m, c);

        Assert.Equal(expected, fixture.Get(gDx));
    }

    /// <summary>The kernel on device copies of the logits and targets: the row losses (into a NaN-poisoned buffer) and the logits buffer
    /// after it (the gradient when wanted).</summary>
    (float[] loss, float[] logitsAfter) DeviceSoftmaxRows(float[] logits, int[] targets, int m, int vocab, bool wantGrad, float gradScale)
    {
        using DeviceArray<float> gLogits = fixture.Put(logits), gLoss = fixture.Put(TestData.Poisoned(m));
        using var gTargets = fixture.Put(targets);
        _crossEntropy.SoftmaxRows(gLoss.View, gLogits.View, gTargets.View, m, vocab, wantGrad, gradScale);
        return (fixture.Get(gLoss), fixture.Get(gLogits));
    }
}
