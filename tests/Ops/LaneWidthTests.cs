using Engine.Backends;
using Engine.Backends.Cpu;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Ops;

/// <summary>The vector widths against each other (each is also tested alone against float64 by the op's own tests, once per width):
/// the same inputs at 32 (scalar), 256 and 512 bits. A body made only of correctly rounded operations (AdamW) gives the same bits at
/// every width. One that reassociates a float32 sum (the norms, the softmax's Σ e^z) or swaps one exp for another (VectorExp,
/// Vector256.Exp, MathF.Exp, each within ~1.3 ulp) agrees to a few ulp of the largest value: here within 1e-6 (~17 ulp), norm-wise.</summary>
public class LaneWidthTests
{
    const double Agreement = 1e-6;

    static readonly LaneWidth[] Widths = [LaneWidth.Scalar, LaneWidth.Bits256, LaneWidth.Bits512];

    /// <summary>The outputs of op (fresh buffers each time) at every width, scalar first.</summary>
    static float[][][] AtEveryWidth(Func<float[][]> op) => [.. Widths.Select(width =>
    {
        using var forced = CpuLanes.Force(width);
        return op();
    })];

    /// <summary>Every width's outputs within <see cref="Agreement"/> of the scalar width's.</summary>
    static void AssertAgree(float[][][] results, params string[] names)
    {
        for (int w = 1; w < Widths.Length; w++)
            for (int k = 0; k < names.Length; k++)
                Check.Close(results[0][k], results[w][k], Agreement, $"{names[k]} at {Widths[w]} vs scalar");
    }

    [Fact]
    public async Task ForcingIsScopedAndNests()
    {
        var host = CpuLanes.Current;
        using (CpuLanes.Force(LaneWidth.Scalar))
        {
            using (CpuLanes.Force(LaneWidth.Bits512)) Assert.Equal(LaneWidth.Bits512, CpuLanes.Current);
            Assert.Equal(LaneWidth.Scalar, CpuLanes.Current);
            Assert.Equal(LaneWidth.Scalar, await Task.Run(() => CpuLanes.Current));
        }
        Assert.Equal(host, CpuLanes.Current);
        Assert.Equal(CpuLanes.Host, host);
    }

    [Fact]
    public void ForcedWidthReachesTheParallelTasks()
    {
        // 200k elements run as parallel chunks; each chunk alone runs on the calling thread. At a forced width, the parallel sum is
        // the chunk sums added in order, bit for bit, and the widths give different bits (else this would prove nothing).
        var x = TestData.Uniform(200_003, 1, 3f);
        var chunkSums = new double[Widths.Length];
        for (int w = 0; w < Widths.Length; w++)
        {
            using var forced = CpuLanes.Force(Widths[w]);
            double chunked = 0;
            for (int start = 0; start < x.Length; start += CpuParallel.ChunkElements)
                chunked += CpuElementwise.SumOfSquares(x.AsSpan(start, Math.Min(CpuParallel.ChunkElements, x.Length - start)));
            Assert.Equal(chunked, CpuElementwise.SumOfSquares(x));
            chunkSums[w] = chunked;
        }
        Assert.Equal(Widths.Length, chunkSums.Distinct().Count());
    }

    [Theory]
    [InlineData(37, 0.9)]
    [InlineData(37, 0.3)]
    [InlineData(100_003, 0.9)]
    public void AdamWIsBitIdenticalAtEveryWidth(int length, double beta1)
    {
        var results = AtEveryWidth(() =>
        {
            var p = TestData.Uniform(length, 1);
            var m = new float[length];
            var v = new float[length];
            for (int t = 1; t <= 3; t++) CpuAdamW.Step(p, TestData.Uniform(length, 10 + t, 2f), gradScale: 0.75f, m, v, 1e-2f, (float)beta1, 0.99f, 1e-8f, 0.1f, t);
            return [p, m, v];
        });
        for (int w = 1; w < Widths.Length; w++)
            for (int k = 0; k < 3; k++) Assert.Equal(results[0][k], results[w][k]);
    }

    [Theory]
    [InlineData(37)]
    [InlineData(70_001)]
    public void ActivationsAgreeAcrossWidths(int length)
    {
        var x = TestData.Uniform(length, 2, 6f);
        var up = TestData.Uniform(length, 3, 2f);
        var dy = TestData.Uniform(length, 4);
        AssertAgree(AtEveryWidth(() =>
        {
            float[] gelu = new float[length], dGelu = new float[length], swiglu = new float[length], dGate = new float[length], dUp = new float[length];
            float[] geglu = new float[length], dGeGate = new float[length], dGeUp = new float[length];
            CpuGelu.Forward(gelu, x);
            CpuGelu.Backward(dGelu, dy, x);
            CpuSwiGlu.Forward(swiglu, x, up);
            CpuSwiGlu.Backward(dGate, dUp, dy, x, up);
            CpuGeGlu.Forward(geglu, x, up);
            CpuGeGlu.Backward(dGeGate, dGeUp, dy, x, up);
            return [gelu, dGelu, swiglu, dGate, dUp, geglu, dGeGate, dGeUp];
        }), "gelu", "gelu dx", "swiglu", "dGate", "dUp", "geglu", "geglu dGate", "geglu dUp");
    }

    [Theory]
    [InlineData(3, 37)]
    [InlineData(70, 1001)] // the parallel path
    public void NormsAgreeAcrossWidths(int n, int c)
    {
        var x = TestData.Uniform(n * c, 5, 2f);
        var w = TestData.Uniform(c, 6);
        var b = TestData.Uniform(c, 7);
        var dy = TestData.Uniform(n * c, 8);
        AssertAgree(AtEveryWidth(() =>
        {
            float[] y = new float[n * c], mean = new float[n], rstd = new float[n], dx = new float[n * c], dw = new float[c], db = new float[c];
            CpuLayerNorm.Forward(y, mean, rstd, x, w, b, n, c, 1e-5f);
            CpuLayerNorm.Backward(dx, dw, db, dy, x, w, mean, rstd, n, c);
            float[] yRms = new float[n * c], rstdRms = new float[n], dxRms = new float[n * c], dwRms = new float[c];
            CpuRmsNorm.Forward(yRms, rstdRms, x, w, n, c, 1e-6f);
            CpuRmsNorm.Backward(dxRms, dwRms, dy, x, w, rstdRms, n, c);
            return [y, mean, rstd, dx, dw, db, yRms, rstdRms, dxRms, dwRms];
        }), "layernorm y", "mean", "rstd", "layernorm dx", "layernorm dw", "layernorm db", "rmsnorm y", "rmsnorm rstd", "rmsnorm dx", "rmsnorm dw");
    }

    [Fact]
    public void CrossEntropyAgreesAcrossWidths()
    {
        const int n = 9, c = 6, vocab = 1003;
        var x = TestData.Uniform(n * c, 9, 2f);
        var w = TestData.Uniform(vocab * c, 10, 2f);
        var (rows, targets) = LossRows.Keep(TestData.Ints(n, 11, vocab));
        AssertAgree(AtEveryWidth(() =>
        {
            float[] dx = new float[n * c], dw = new float[vocab * c];
            double loss = CpuCrossEntropy.ForwardBackward(dx, dw, x, w, rows, targets, n, c, vocab, 0.37f);
            return [[(float)loss], dx, dw];
        }), "loss", "dx", "dw");
    }

    [Theory]
    [InlineData(15)]
    [InlineData(200_003)]
    public void SumOfSquaresAgreesAcrossWidths(int length)
    {
        // Float64 sums of the same exact squares in other orders: within 1e-13 relative (as the op's own reference test).
        var x = TestData.Uniform(length, 12, 3f);
        var sums = Widths.Select(width =>
        {
            using var forced = CpuLanes.Force(width);
            return CpuElementwise.SumOfSquares(x);
        }).ToArray();
        Assert.All(sums, s => Assert.True(Math.Abs(s - sums[0]) <= 1e-13 * sums[0], $"Σx² = {s} vs {sums[0]} at scalar width"));
    }
}
