using Engine.Backends.Cpu;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Ops;

public class MatMulTests
{
    /// <summary>float64 reference: y[i, o] = Σ_k x[i, k]·w[o, k] + b[o]  (b null = no bias).</summary>
    static double[] Forward64(double[] x, double[] w, double[]? b, int n, int inDim, int outDim)
    {
        var y = new double[n * outDim];
        for (int i = 0; i < n; i++)
            for (int o = 0; o < outDim; o++)
            {
                double s = b?[o] ?? 0;
                for (int k = 0; k < inDim; k++) s += x[i * inDim + k] * w[o * inDim + k];
                y[i * outDim + o] = s;
            }
        return y;
    }

    /// <summary>Exact gradients of L = Σ y·dy: dx = dy·w, dw = dyᵀ·x, db = Σ_rows dy, in float64.</summary>
    static (double[] dx, double[] dw, double[] db) Backward64(double[] dy, double[] x, double[] w, int n, int inDim, int outDim)
    {
        var dx = new double[n * inDim];
        var dw = new double[outDim * inDim];
        var db = new double[outDim];
        for (int i = 0; i < n; i++)
            for (int o = 0; o < outDim; o++)
            {
                double g = dy[i * outDim + o];
                db[o] += g;
                for (int k = 0; k < inDim; k++)
                {
                    dx[i * inDim + k] += g * w[o * inDim + k];
                    dw[o * inDim + k] += g * x[i * inDim + k];
                }
            }
        return (dx, dw, db);
    }

    // Ragged sizes around the kernel's 8-row × 32-column tile, the inner-dimension blocks (inner dimensions past 256 are cut
    // into equal blocks, not all multiples of the 16×16 transpose) and the 256-column B tile;
    // the larger shapes (n·in·out ≥ 2^21) run multi-threaded.
    public static TheoryData<int, int, int> ForwardShapes => new()
    {
        { 1, 1, 1 }, { 1, 5, 3 }, { 7, 17, 31 }, { 7, 70, 33 }, { 33, 5, 100 }, { 33, 70, 1 },
        { 65, 17, 33 }, { 8, 256, 32 }, { 9, 257, 65 }, { 65, 300, 100 }, { 33, 530, 300 }, { 65, 300, 520 },
    };

    [Theory]
    [MemberData(nameof(ForwardShapes))]
    public void ForwardMatchesFloat64Reference(int n, int inDim, int outDim)
    {
        var x = TestData.Uniform(n * inDim, 1);
        var w = TestData.Uniform(outDim * inDim, 2);
        var b = TestData.Uniform(outDim, 3);
        var x64 = TestData.ToDouble(x);
        var w64 = TestData.ToDouble(w);

        var y = TestData.Poisoned(n * outDim);
        CpuMatMul.Forward(y, x, w, default, n, inDim, outDim);
        Check.Close(Forward64(x64, w64, null, n, inDim, outDim), y, 1e-5, "y without bias");

        y = TestData.Poisoned(n * outDim);
        CpuMatMul.Forward(y, x, w, b, n, inDim, outDim);
        Check.Close(Forward64(x64, w64, TestData.ToDouble(b), n, inDim, outDim), y, 1e-5, "y with bias");
    }

    [Fact]
    public void ForwardWithEmptyInnerDimensionWritesBias()
    {
        var b = TestData.Uniform(5, 4);
        var y = TestData.Poisoned(3 * 5);
        CpuMatMul.Forward(y, default, default, b, 3, 0, 5);
        for (int i = 0; i < 3; i++) Assert.Equal(b, y.AsSpan(i * 5, 5).ToArray());

        y = TestData.Poisoned(3 * 5);
        CpuMatMul.Forward(y, default, default, default, 3, 0, 5);
        Assert.All(y, v => Assert.Equal(0f, v));
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(3, 5, 4)]
    [InlineData(9, 7, 33)]
    public void BackwardMatchesFiniteDifferences(int n, int inDim, int outDim)
    {
        var x = TestData.Uniform(n * inDim, 5);
        var w = TestData.Uniform(outDim * inDim, 6);
        var b = TestData.Uniform(outDim, 7);
        var r = TestData.Uniform(n * outDim, 8);
        var x64 = TestData.ToDouble(x);
        var w64 = TestData.ToDouble(w);
        var b64 = TestData.ToDouble(b);

        var gx = FiniteDifference.Gradient(v => FiniteDifference.Dot(Forward64(v, w64, b64, n, inDim, outDim), r), x64);
        var gw = FiniteDifference.Gradient(v => FiniteDifference.Dot(Forward64(x64, v, b64, n, inDim, outDim), r), w64);
        var gb = FiniteDifference.Gradient(v => FiniteDifference.Dot(Forward64(x64, w64, v, n, inDim, outDim), r), b64);

        var dx = new float[n * inDim];
        var dw = new float[outDim * inDim];
        var db = new float[outDim];
        CpuMatMul.Backward(dx, dw, db, r, x, w, n, inDim, outDim);

        Check.Close(gx, dx, 1e-5, "dx");
        Check.Close(gw, dw, 1e-5, "dw");
        Check.Close(gb, db, 1e-5, "db");
    }

    // 70×130×97 stays on one thread; 300×130×270 is multi-threaded and has inner dimensions past one 256-deep block
    // for dx (K = outDim) and dw (K = n); in 7×290×3 every tile is an edge tile and the 290 columns span two B tiles.
    [Theory]
    [InlineData(70, 130, 97)]
    [InlineData(300, 130, 270)]
    [InlineData(7, 290, 3)]
    public void EachGradientAloneMatchesFloat64Formulas(int n, int inDim, int outDim)
    {
        var x = TestData.Uniform(n * inDim, 9);
        var w = TestData.Uniform(outDim * inDim, 10);
        var dy = TestData.Uniform(n * outDim, 11);
        var (dx64, dw64, db64) = Backward64(TestData.ToDouble(dy), TestData.ToDouble(x), TestData.ToDouble(w), n, inDim, outDim);

        var dx = new float[n * inDim];
        CpuMatMul.Backward(dx, default, default, dy, x, w, n, inDim, outDim);
        Check.Close(dx64, dx, 1e-5, "dx");

        var dw = new float[outDim * inDim];
        CpuMatMul.Backward(default, dw, default, dy, x, w, n, inDim, outDim);
        Check.Close(dw64, dw, 1e-5, "dw");

        var db = new float[outDim];
        CpuMatMul.Backward(default, default, db, dy, x, w, n, inDim, outDim);
        Check.Close(db64, db, 1e-5, "db");
    }

    [Fact]
    public void BackwardAccumulatesIntoExistingGradients()
    {
        const int n = 33, inDim = 40, outDim = 45;
        var x = TestData.Uniform(n * inDim, 12);
        var w = TestData.Uniform(outDim * inDim, 13);
        var dy = TestData.Uniform(n * outDim, 14);
        var dx = TestData.Uniform(n * inDim, 15);
        var dw = TestData.Uniform(outDim * inDim, 16);
        var db = TestData.Uniform(outDim, 17);
        var (dx0, dw0, db0) = (TestData.ToDouble(dx), TestData.ToDouble(dw), TestData.ToDouble(db));
        var (dx64, dw64, db64) = Backward64(TestData.ToDouble(dy), TestData.ToDouble(x), TestData.ToDouble(w), n, inDim, outDim);

        CpuMatMul.Backward(dx, dw, db, dy, x, w, n, inDim, outDim);
        CpuMatMul.Backward(dx, dw, db, dy, x, w, n, inDim, outDim);

        Check.Close(dx0.Zip(dx64, (g0, g) => g0 + 2 * g).ToArray(), dx, 1e-5, "dx after two calls");
        Check.Close(dw0.Zip(dw64, (g0, g) => g0 + 2 * g).ToArray(), dw, 1e-5, "dw after two calls");
        Check.Close(db0.Zip(db64, (g0, g) => g0 + 2 * g).ToArray(), db, 1e-5, "db after two calls");
    }

    [Fact]
    public void ResultsAreBitIdenticalAcrossRunsAndPartitions()
    {
        const int n = 200, inDim = 300, outDim = 330;
        var x = TestData.Uniform(n * inDim, 21);
        var w = TestData.Uniform(outDim * inDim, 22);
        var b = TestData.Uniform(outDim, 23);
        var dy = TestData.Uniform(n * outDim, 24);

        float[] RunForward() { var y = new float[n * outDim]; CpuMatMul.Forward(y, x, w, b, n, inDim, outDim); return y; }
        float[] RunDx() { var dx = new float[n * inDim]; CpuMatMul.Backward(dx, default, default, dy, x, w, n, inDim, outDim); return dx; }
        float[] RunDw() { var dw = new float[outDim * inDim]; CpuMatMul.Backward(default, dw, default, dy, x, w, n, inDim, outDim); return dw; }

        var y1 = RunForward();
        Assert.Equal(y1, RunForward());
        Assert.Equal(RunDx(), RunDx());
        Assert.Equal(RunDw(), RunDw());

        // One row at a time runs single-threaded on edge tiles, yet each element's sum is the same sequence of operations.
        var yRow = new float[outDim];
        for (int i = 0; i < n; i += 37)
        {
            CpuMatMul.Forward(yRow, x.AsSpan(i * inDim, inDim), w, b, 1, inDim, outDim);
            Assert.Equal(yRow, y1.AsSpan(i * outDim, outDim).ToArray());
        }
    }

    [Fact]
    public void WrongSizesAreRejectedNamingTheArgument()
    {
        var x = new float[6];
        var w = new float[6];
        var ex = Assert.Throws<ArgumentException>(() => CpuMatMul.Forward(new float[5], x, w, default, 2, 3, 2));
        Assert.Equal("y", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => CpuMatMul.Forward(new float[4], x, w, new float[3], 2, 3, 2));
        Assert.Equal("bias", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => CpuMatMul.Backward(default, new float[5], default, new float[4], x, w, 2, 3, 2));
        Assert.Equal("dw", ex.ParamName);
    }
}
