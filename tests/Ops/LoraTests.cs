using Engine.Backends.Cpu;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Ops;

public class LoraTests
{
    /// <summary>Random inputs of one LoRA layer: x [n, in], W [out, in], bias [out], A [rank, in], B [out, rank], dy [n, out].</summary>
    sealed record Case(int N, int InDim, int OutDim, int Rank, float Scale, float[] X, float[] W, float[] Bias, float[] A, float[] B, float[] Dy)
    {
        public static Case Random(int n, int inDim, int outDim, int rank, int seed) => new(n, inDim, outDim, rank, 2f / MathF.Sqrt(rank),
            TestData.Uniform(n * inDim, seed), TestData.Uniform(outDim * inDim, seed + 1), TestData.Uniform(outDim, seed + 2),
            TestData.Uniform(rank * inDim, seed + 3), TestData.Uniform(outDim * rank, seed + 4), TestData.Uniform(n * outDim, seed + 5));

        public double[] X64 => TestData.ToDouble(X);
        public double[] W64 => TestData.ToDouble(W);
        public double[] Bias64 => TestData.ToDouble(Bias);
        public double[] A64 => TestData.ToDouble(A);
        public double[] B64 => TestData.ToDouble(B);
        public double[] Dy64 => TestData.ToDouble(Dy);

        /// <summary>h = x·Aᵀ, as the forward writes it (float32).</summary>
        public float[] H()
        {
            var h = new float[N * Rank];
            CpuLora.Forward(new float[N * OutDim], h, X, W, default, A, B, Scale, N, InDim, OutDim, Rank);
            return h;
        }
    }

    /// <summary>float64 reference: h[i, j] = Σ_k x[i, k]·a[j, k].</summary>
    static double[] Hidden64(double[] x, double[] a, int n, int inDim, int rank)
    {
        var h = new double[n * rank];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < rank; j++)
            {
                double s = 0;
                for (int k = 0; k < inDim; k++) s += x[i * inDim + k] * a[j * inDim + k];
                h[i * rank + j] = s;
            }
        return h;
    }

    /// <summary>float64 reference: y[i, o] = Σ_k x[i, k]·w[o, k] + bias[o] + scale·Σ_j h[i, j]·b[o, j], h = x·aᵀ  (bias null = none).</summary>
    static double[] Forward64(double[] x, double[] w, double[]? bias, double[] a, double[] b, double scale, int n, int inDim, int outDim, int rank)
    {
        var h = Hidden64(x, a, n, inDim, rank);
        var y = new double[n * outDim];
        for (int i = 0; i < n; i++)
            for (int o = 0; o < outDim; o++)
            {
                double s = bias?[o] ?? 0;
                for (int k = 0; k < inDim; k++) s += x[i * inDim + k] * w[o * inDim + k];
                double lowRank = 0;
                for (int j = 0; j < rank; j++) lowRank += h[i * rank + j] * b[o * rank + j];
                y[i * outDim + o] = s + scale * lowRank;
            }
        return y;
    }

    static double[] Forward64(Case c, double[]? bias) => Forward64(c.X64, c.W64, bias, c.A64, c.B64, c.Scale, c.N, c.InDim, c.OutDim, c.Rank);

    /// <summary>Exact gradients of L = Σ y·dy in float64: dh = s·dy·b, then dx = dy·w + dh·a, dw = dyᵀ·x, dbias = Σ_rows dy, da = dhᵀ·x, db = s·dyᵀ·h.</summary>
    static (double[] dx, double[] dw, double[] dbias, double[] da, double[] db) Backward64(Case c)
    {
        int n = c.N, inDim = c.InDim, outDim = c.OutDim, rank = c.Rank;
        double[] x = c.X64, w = c.W64, a = c.A64, b = c.B64, dy = c.Dy64, h = Hidden64(x, a, n, inDim, rank);
        var dh = new double[n * rank];
        var (dx, dw, dbias, da, db) = (new double[n * inDim], new double[outDim * inDim], new double[outDim], new double[rank * inDim], new double[outDim * rank]);
        for (int i = 0; i < n; i++)
            for (int o = 0; o < outDim; o++)
            {
                double g = dy[i * outDim + o];
                dbias[o] += g;
                for (int k = 0; k < inDim; k++)
                {
                    dx[i * inDim + k] += g * w[o * inDim + k];
                    dw[o * inDim + k] += g * x[i * inDim + k];
                }
                for (int j = 0; j < rank; j++)
                {
                    dh[i * rank + j] += c.Scale * g * b[o * rank + j];
                    db[o * rank + j] += c.Scale * g * h[i * rank + j];
                }
            }
        for (int i = 0; i < n; i++)
            for (int j = 0; j < rank; j++)
                for (int k = 0; k < inDim; k++)
                {
                    dx[i * inDim + k] += dh[i * rank + j] * a[j * inDim + k];
                    da[j * inDim + k] += dh[i * rank + j] * x[i * inDim + k];
                }
        return (dx, dw, dbias, da, db);
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
        var c = Case.Random(n, inDim, outDim, rank, seed: 1);
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
        var c = Case.Random(n, inDim, outDim, rank, seed: 2) with { B = new float[outDim * rank] };
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
        var c = Case.Random(n, inDim, outDim, rank, seed: 3);
        double[] x = c.X64, w = c.W64, bias = c.Bias64, a = c.A64, b = c.B64;
        double L(double[] y) => FiniteDifference.Dot(y, c.Dy);
        var gx = FiniteDifference.Gradient(v => L(Forward64(v, w, bias, a, b, c.Scale, n, inDim, outDim, rank)), x);
        var gw = FiniteDifference.Gradient(v => L(Forward64(x, v, bias, a, b, c.Scale, n, inDim, outDim, rank)), w);
        var gbias = FiniteDifference.Gradient(v => L(Forward64(x, w, v, a, b, c.Scale, n, inDim, outDim, rank)), bias);
        var ga = FiniteDifference.Gradient(v => L(Forward64(x, w, bias, v, b, c.Scale, n, inDim, outDim, rank)), a);
        var gb = FiniteDifference.Gradient(v => L(Forward64(x, w, bias, a, v, c.Scale, n, inDim, outDim, rank)), b);

        var (dx, dw, dbias, da, db) = (new float[n * inDim], new float[outDim * inDim], new float[outDim], new float[rank * inDim], new float[outDim * rank]);
        CpuLora.Backward(dx, dw, dbias, da, db, c.Dy, c.X, c.W, c.A, c.B, c.H(), c.Scale, n, inDim, outDim, rank);

        Check.Close(gx, dx, 1e-5, "dx");
        Check.Close(gw, dw, 1e-5, "dw");
        Check.Close(gbias, dbias, 1e-5, "dbias");
        Check.Close(ga, da, 1e-5, "dA");
        Check.Close(gb, db, 1e-5, "dB");
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void BackwardMatchesFloat64Formulas(int n, int inDim, int outDim, int rank)
    {
        var c = Case.Random(n, inDim, outDim, rank, seed: 4);
        var (dx64, dw64, dbias64, da64, db64) = Backward64(c);

        var (dx, dw, dbias, da, db) = (new float[n * inDim], new float[outDim * inDim], new float[outDim], new float[rank * inDim], new float[outDim * rank]);
        CpuLora.Backward(dx, dw, dbias, da, db, c.Dy, c.X, c.W, c.A, c.B, c.H(), c.Scale, n, inDim, outDim, rank);

        Check.Close(dx64, dx, 1e-5, "dx");
        Check.Close(dw64, dw, 1e-5, "dw");
        Check.Close(dbias64, dbias, 1e-5, "dbias");
        Check.Close(da64, da, 1e-5, "dA");
        Check.Close(db64, db, 1e-5, "dB");
    }

    [Fact]
    public void BackwardAccumulatesIntoExistingGradients()
    {
        var c = Case.Random(33, 70, 65, 8, seed: 5);
        var (n, inDim, outDim, rank) = (c.N, c.InDim, c.OutDim, c.Rank);
        var (dx, dw, dbias) = (TestData.Uniform(n * inDim, 50), TestData.Uniform(outDim * inDim, 51), TestData.Uniform(outDim, 52));
        var (da, db) = (TestData.Uniform(rank * inDim, 53), TestData.Uniform(outDim * rank, 54));
        var starts = new[] { dx, dw, dbias, da, db }.Select(g => TestData.ToDouble(g)).ToArray();
        var (dx64, dw64, dbias64, da64, db64) = Backward64(c);
        var h = c.H();

        CpuLora.Backward(dx, dw, dbias, da, db, c.Dy, c.X, c.W, c.A, c.B, h, c.Scale, n, inDim, outDim, rank);
        CpuLora.Backward(dx, dw, dbias, da, db, c.Dy, c.X, c.W, c.A, c.B, h, c.Scale, n, inDim, outDim, rank);

        static double[] TwiceAdded(double[] start, double[] g) => start.Zip(g, (s, d) => s + 2 * d).ToArray();
        Check.Close(TwiceAdded(starts[0], dx64), dx, 1e-5, "dx after two calls");
        Check.Close(TwiceAdded(starts[1], dw64), dw, 1e-5, "dw after two calls");
        Check.Close(TwiceAdded(starts[2], dbias64), dbias, 1e-5, "dbias after two calls");
        Check.Close(TwiceAdded(starts[3], da64), da, 1e-5, "dA after two calls");
        Check.Close(TwiceAdded(starts[4], db64), db, 1e-5, "dB after two calls");
    }

    /// <summary>A frozen W and bias (the usual LoRA fine-tune) pass empty gradients: the others come out bit-identical to a full backward's.</summary>
    [Fact]
    public void FrozenWeightAndBiasAreSkippedAndTheOtherGradientsAreUnchanged()
    {
        var c = Case.Random(40, 257, 300, 16, seed: 6);
        var (n, inDim, outDim, rank) = (c.N, c.InDim, c.OutDim, c.Rank);
        var h = c.H();
        var (dx, dw, dbias, da, db) = (new float[n * inDim], new float[outDim * inDim], new float[outDim], new float[rank * inDim], new float[outDim * rank]);
        CpuLora.Backward(dx, dw, dbias, da, db, c.Dy, c.X, c.W, c.A, c.B, h, c.Scale, n, inDim, outDim, rank);

        var (dxFrozen, daFrozen, dbFrozen) = (new float[n * inDim], new float[rank * inDim], new float[outDim * rank]);
        CpuLora.Backward(dxFrozen, default, default, daFrozen, dbFrozen, c.Dy, c.X, c.W, c.A, c.B, h, c.Scale, n, inDim, outDim, rank);

        Assert.Equal(dx, dxFrozen);
        Assert.Equal(da, daFrozen);
        Assert.Equal(db, dbFrozen);
    }

    /// <summary>Any subset of gradients may be wanted; each comes out as in a full backward (dB alone computes no dh; dx alone still needs it).</summary>
    [Fact]
    public void EachGradientAloneMatchesTheFullBackward()
    {
        var c = Case.Random(9, 33, 20, 8, seed: 7);
        var (n, inDim, outDim, rank) = (c.N, c.InDim, c.OutDim, c.Rank);
        var h = c.H();
        var (dx, dw, dbias, da, db) = (new float[n * inDim], new float[outDim * inDim], new float[outDim], new float[rank * inDim], new float[outDim * rank]);
        CpuLora.Backward(dx, dw, dbias, da, db, c.Dy, c.X, c.W, c.A, c.B, h, c.Scale, n, inDim, outDim, rank);

        var alone = new float[n * inDim];
        CpuLora.Backward(alone, default, default, default, default, c.Dy, c.X, c.W, c.A, c.B, h, c.Scale, n, inDim, outDim, rank);
        Assert.Equal(dx, alone);
        alone = new float[outDim * inDim];
        CpuLora.Backward(default, alone, default, default, default, c.Dy, c.X, c.W, c.A, c.B, h, c.Scale, n, inDim, outDim, rank);
        Assert.Equal(dw, alone);
        alone = new float[outDim];
        CpuLora.Backward(default, default, alone, default, default, c.Dy, c.X, c.W, c.A, c.B, h, c.Scale, n, inDim, outDim, rank);
        Assert.Equal(dbias, alone);
        alone = new float[rank * inDim];
        CpuLora.Backward(default, default, default, alone, default, c.Dy, c.X, c.W, c.A, c.B, h, c.Scale, n, inDim, outDim, rank);
        Assert.Equal(da, alone);
        alone = new float[outDim * rank];
        CpuLora.Backward(default, default, default, default, alone, c.Dy, c.X, c.W, c.A, c.B, h, c.Scale, n, inDim, outDim, rank);
        Assert.Equal(db, alone);
        CpuLora.Backward(default, default, default, default, default, c.Dy, c.X, c.W, c.A, c.B, h, c.Scale, n, inDim, outDim, rank);
    }

    [Fact]
    public void ResultsAreBitIdenticalRunToRun()
    {
        var c = Case.Random(200, 300, 330, 16, seed: 8);
        var (n, inDim, outDim, rank) = (c.N, c.InDim, c.OutDim, c.Rank);

        float[][] Run()
        {
            var (y, h) = (new float[n * outDim], new float[n * rank]);
            var (dx, dw, dbias, da, db) = (new float[n * inDim], new float[outDim * inDim], new float[outDim], new float[rank * inDim], new float[outDim * rank]);
            CpuLora.Forward(y, h, c.X, c.W, c.Bias, c.A, c.B, c.Scale, n, inDim, outDim, rank);
            CpuLora.Backward(dx, dw, dbias, da, db, c.Dy, c.X, c.W, c.A, c.B, h, c.Scale, n, inDim, outDim, rank);
            return [y, h, dx, dw, dbias, da, db];
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
