using Engine.Backends;
using Engine.Diagnostics;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Ops;

public class LoraTests
{
    /// <summary>float64 reference: h = x·aᵀ, y = x·wᵀ + bias + scale·h·bᵀ (bias null = none), on the linear layer's reference.</summary>
    static double[] Forward64(double[] x, double[] w, double[]? bias, double[] a, double[] b, double scale, int n, int inDim, int outDim, int rank)
    {
        var h = Hidden64(x, a, n, inDim, rank);
        var lowRank = Float64Reference.MatMul(h, b, null, n, rank, outDim);
        var y = Float64Reference.MatMul(x, w, bias, n, inDim, outDim);
        for (int i = 0; i < y.Length; i++) y[i] += scale * lowRank[i];
        return y;
    }

    static double[] Hidden64(double[] x, double[] a, int n, int inDim, int rank) => Float64Reference.MatMul(x, a, null, n, inDim, rank);

    static double[] Forward64(LoraCase c, double[]? bias) => Forward64(c.X64, c.W64, bias, c.A64, c.B64, c.Scale, c.N, c.InDim, c.OutDim, c.Rank);

    /// <summary>Exact gradients of L = Σ y·dy in float64, in the order of <see cref="LoraCase.GradientNames"/>: dx = dy·w + dh·a, dw = dyᵀ·x,
    /// dbias = Σ_rows dy, dA = dhᵀ·x, dB = s·dyᵀ·h, where dh = s·dy·b.</summary>
    static double[][] Backward64(LoraCase c)
    {
        int n = c.N, inDim = c.InDim, outDim = c.OutDim, rank = c.Rank;
        double[] x = c.X64, dy = c.Dy64, h = Hidden64(x, c.A64, n, inDim, rank);
        var (dx, dw, dbias) = MatMulReference.Backward64(dy, x, c.W64, n, inDim, outDim);
        var (dh, db, _) = MatMulReference.Backward64(dy, h, c.B64, n, rank, outDim);
        for (int i = 0; i < dh.Length; i++) dh[i] *= c.Scale;
        for (int i = 0; i < db.Length; i++) db[i] *= c.Scale;
        var (dxLowRank, da, _) = MatMulReference.Backward64(dh, x, c.A64, n, inDim, rank);
        for (int i = 0; i < dx.Length; i++) dx[i] += dxLowRank[i];
        return [dx, dw, dbias, da, db];
    }

    /// <summary>The CPU backward into zeroed gradients, in the order of <see cref="LoraCase.GradientNames"/>.</summary>
    static float[][] Backward(LoraCase c, float[] h)
    {
        var g = c.ZeroGradients();
        CpuLora.Backward(g[0], g[1], g[2], g[3], g[4], c.Dy, c.X, c.W, c.A, c.B, h, c.Scale, c.N, c.InDim, c.OutDim, c.Rank);
        return g;
    }

    static void CheckGradients(double[][] expected, float[][] actual, string when = "")
    {
        for (int i = 0; i < LoraCase.GradientNames.Length; i++) Check.Close(expected[i], actual[i], 1e-5, LoraCase.GradientNames[i] + when);
    }

    // Ragged sizes around the GEMM core's 8-row × 32-column tile, ranks 1, 3, 8 and 16; 65×300×100 and 40×257×300 have inner
    // dimensions past one 256-deep block, and the last is large enough (n·in·out ≥ 2²¹) to run multi-threaded.
    public static TheoryData<int, int, int, int> Shapes => new()
    {
        { 1, 1, 1, 1 }, { 5, 7, 3, 1 }, { 7, 17, 31, 3 }, { 9, 33, 20, 8 }, { 33, 70, 65, 8 }, { 65, 300, 100, 3 }, { 40, 257, 300, 16 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ForwardMatchesFloat64Reference(int n, int inDim, int outDim, int rank)
    {
        var c = LoraCase.Random(n, inDim, outDim, rank, seed: 1);
        var (y, h) = (TestData.Poisoned(n * outDim), TestData.Poisoned(n * rank));

        CpuLora.Forward(y, h, c.X, c.W, c.Bias, c.A, c.B, c.Scale, n, inDim, outDim, rank);
        Check.Close(Forward64(c, c.Bias64), y, 1e-5, "y with bias");
        Check.Close(Hidden64(c.X64, c.A64, n, inDim, rank), h, 1e-5, "h");

        (y, h) = (TestData.Poisoned(n * outDim), TestData.Poisoned(n * rank));
        CpuLora.Forward(y, h, c.X, c.W, default, c.A, c.B, c.Scale, n, inDim, outDim, rank);
        Check.Close(Forward64(c, null), y, 1e-5, "y without bias");
    }

    /// <summary>PEFT initialises B to zero: the layer is then exactly the plain linear layer, bit for bit.</summary>
    [Theory]
    [InlineData(7, 17, 31, 3)]
    [InlineData(40, 257, 300, 16)]
    public void WithZeroBTheOutputIsThePlainLinearLayerBitForBit(int n, int inDim, int outDim, int rank)
    {
        var c = LoraCase.Random(n, inDim, outDim, rank, seed: 2) with { B = new float[outDim * rank] };
        foreach (var bias in new[] { c.Bias, null })
        {
            var (linear, y, h) = (TestData.Poisoned(n * outDim), TestData.Poisoned(n * outDim), TestData.Poisoned(n * rank));
            CpuMatMul.Forward(linear, c.X, c.W, bias, n, inDim, outDim);
            CpuLora.Forward(y, h, c.X, c.W, bias, c.A, c.B, c.Scale, n, inDim, outDim, rank);
            Assert.Equal(linear, y);
        }
    }

    [Theory]
    [InlineData(5, 7, 6, 1)]
    [InlineData(4, 9, 5, 3)]
    [InlineData(3, 10, 11, 8)]
    public void BackwardMatchesFiniteDifferences(int n, int inDim, int outDim, int rank)
    {
        var c = LoraCase.Random(n, inDim, outDim, rank, seed: 3);
        double[] x = c.X64, w = c.W64, bias = c.Bias64, a = c.A64, b = c.B64;
        double L(double[] y) => FiniteDifference.Dot(y, c.Dy);
        double[][] fd =
        [
            FiniteDifference.Gradient(v => L(Forward64(v, w, bias, a, b, c.Scale, n, inDim, outDim, rank)), x),
            FiniteDifference.Gradient(v => L(Forward64(x, v, bias, a, b, c.Scale, n, inDim, outDim, rank)), w),
            FiniteDifference.Gradient(v => L(Forward64(x, w, v, a, b, c.Scale, n, inDim, outDim, rank)), bias),
            FiniteDifference.Gradient(v => L(Forward64(x, w, bias, v, b, c.Scale, n, inDim, outDim, rank)), a),
            FiniteDifference.Gradient(v => L(Forward64(x, w, bias, a, v, c.Scale, n, inDim, outDim, rank)), b),
        ];

        CheckGradients(fd, Backward(c, c.H()));
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void BackwardMatchesFloat64Formulas(int n, int inDim, int outDim, int rank)
    {
        var c = LoraCase.Random(n, inDim, outDim, rank, seed: 4);
        CheckGradients(Backward64(c), Backward(c, c.H()));
    }

    [Fact]
    public void BackwardAccumulatesIntoExistingGradients()
    {
        var c = LoraCase.Random(33, 70, 65, 8, seed: 5);
        var (n, inDim, outDim, rank) = (c.N, c.InDim, c.OutDim, c.Rank);
        var starts = c.RandomGradients(seed: 50);
        var g = starts.Select(s => s.ToArray()).ToArray();
        var h = c.H();

        CpuLora.Backward(g[0], g[1], g[2], g[3], g[4], c.Dy, c.X, c.W, c.A, c.B, h, c.Scale, n, inDim, outDim, rank);
        CpuLora.Backward(g[0], g[1], g[2], g[3], g[4], c.Dy, c.X, c.W, c.A, c.B, h, c.Scale, n, inDim, outDim, rank);

        CheckGradients([.. starts.Zip(Backward64(c), MatMulReference.TwiceAddedTo)], g, " after two calls");
    }

    /// <summary>A frozen W and bias (the usual LoRA fine-tune) pass empty gradients: the others come out bit-identical to a full backward's.</summary>
    [Fact]
    public void FrozenWeightAndBiasAreSkippedAndTheOtherGradientsAreUnchanged()
    {
        var c = LoraCase.Random(40, 257, 300, 16, seed: 6);
        var (n, inDim, outDim, rank) = (c.N, c.InDim, c.OutDim, c.Rank);
        var h = c.H();
        var full = Backward(c, h);

        var (dxFrozen, daFrozen, dbFrozen) = (new float[n * inDim], new float[rank * inDim], new float[outDim * rank]);
        CpuLora.Backward(dxFrozen, default, default, daFrozen, dbFrozen, c.Dy, c.X, c.W, c.A, c.B, h, c.Scale, n, inDim, outDim, rank);

        Assert.Equal(full[0], dxFrozen);
        Assert.Equal(full[3], daFrozen);
        Assert.Equal(full[4], dbFrozen);
    }

    /// <summary>Any subset of gradients may be wanted; each comes out as in a full backward (dB alone computes no dh; dx alone still needs it).</summary>
    [Fact]
    public void EachGradientAloneMatchesTheFullBackward()
    {
        var c = LoraCase.Random(9, 33, 20, 8, seed: 7);
        var (n, inDim, outDim, rank) = (c.N, c.InDim, c.OutDim, c.Rank);
        var h = c.H();
        var full = Backward(c, h);

        for (int i = 0; i < full.Length; i++)
        {
            var g = new float[]?[full.Length];
            g[i] = new float[full[i].Length];
            CpuLora.Backward(g[0], g[1], g[2], g[3], g[4], c.Dy, c.X, c.W, c.A, c.B, h, c.Scale, n, inDim, outDim, rank);
            Assert.Equal(full[i], g[i]);
        }
        CpuLora.Backward(default, default, default, default, default, c.Dy, c.X, c.W, c.A, c.B, h, c.Scale, n, inDim, outDim, rank);
    }

    [Fact]
    public void ResultsAreBitIdenticalRunToRun()
    {
        var c = LoraCase.Random(200, 300, 330, 16, seed: 8);
        var (n, inDim, outDim, rank) = (c.N, c.InDim, c.OutDim, c.Rank);

        float[][] Run()
        {
            var (y, h) = (new float[n * outDim], new float[n * rank]);
            CpuLora.Forward(y, h, c.X, c.W, c.Bias, c.A, c.B, c.Scale, n, inDim, outDim, rank);
            return [y, h, .. Backward(c, h)];
        }

        var first = Run();
        var second = Run();
        for (int i = 0; i < first.Length; i++) Assert.Equal(first[i], second[i]);
    }

    [Fact]
    public void WrongSizesAreRejectedNamingTheArgument()
    {
        var (x, w, a, b, h) = (new float[6], new float[6], new float[3], new float[2], new float[2]);
        var ex = Assert.Throws<ArgumentException>(() => CpuLora.Forward(new float[4], h, x, w, default, new float[4], b, 1f, 2, 3, 2, 1));
        Assert.Equal("loraA", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => CpuLora.Forward(new float[4], h, x, w, default, a, new float[3], 1f, 2, 3, 2, 1));
        Assert.Equal("loraB", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => CpuLora.Forward(new float[4], new float[3], x, w, default, a, b, 1f, 2, 3, 2, 1));
        Assert.Equal("h", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => CpuLora.Backward(default, default, default, new float[2], default, new float[4], x, w, a, b, h, 1f, 2, 3, 2, 1));
        Assert.Equal("dLoraA", ex.ParamName);
    }
}
