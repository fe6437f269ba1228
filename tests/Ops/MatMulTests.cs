using Engine.Backends;
using Engine.Tests.Support;
using Xunit;
using static Engine.Tests.Ops.MatMulReference;

namespace Engine.Tests.Ops;

public class MatMulTests
{
    // Ragged sizes around the kernel's 8-row × 32-column tile, the inner-dimension blocks (inner dimensions past 512 are cut
    // into equal blocks, not all multiples of the 16×16 transpose) and the 512-column B tile;
    // the larger shapes (n·in·out ≥ 2^21) run multi-threaded.
    public static TheoryData<int, int, int> ForwardShapes => new()
    {
        { 1, 1, 1 }, { 1, 5, 3 }, { 7, 17, 31 }, { 7, 70, 33 }, { 33, 5, 100 }, { 33, 70, 1 },
        { 65, 17, 33 }, { 8, 512, 32 }, { 9, 513, 65 }, { 65, 300, 100 }, { 33, 530, 300 }, { 65, 300, 520 },
    };

    [Theory]
    [MemberData(nameof(ForwardShapes))]
    public void ForwardMatchesFloat64Reference(int n, int inDim, int outDim)
    {
        var c = MatMulCase.Random(n, inDim, outDim, seed: 1);

        var y = TestData.Poisoned(n * outDim);
        CpuMatMul.Forward(y, c.X, c.W, default, n, inDim, outDim);
        Check.Close(c.Forward64(withBias: false), y, 1e-5, "y without bias");

        y = TestData.Poisoned(n * outDim);
        CpuMatMul.Forward(y, c.X, c.W, c.Bias, n, inDim, outDim);
        Check.Close(c.Forward64(withBias: true), y, 1e-5, "y with bias");
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
        var c = MatMulCase.Random(n, inDim, outDim, seed: 5);
        var (dx, dw, db) = c.ZeroGradients();

        CpuMatMul.Backward(dx, dw, db, c.Dy, c.X, c.W, n, inDim, outDim);

        CheckGradients(c.FiniteDifferenceGradients(), (dx, dw, db), 1e-5);
    }

    // 70×130×97 stays on one thread; 600×130×540 is multi-threaded and has inner dimensions past one 512-deep block
    // for dx (K = outDim) and dw (K = n), and a transposed A (dyᵀ of dw) of whole and partial 64-row blocks;
    // in 7×530×3 every tile is an edge tile and the 530 columns span two B tiles.
    [Theory]
    [InlineData(70, 130, 97)]
    [InlineData(600, 130, 540)]
    [InlineData(7, 530, 3)]
    public void EachGradientAloneMatchesFloat64Formulas(int n, int inDim, int outDim)
    {
        var c = MatMulCase.Random(n, inDim, outDim, seed: 9);
        var (dx64, dw64, db64) = c.Backward64();
        var (dx, dw, db) = c.ZeroGradients();

        CpuMatMul.Backward(dx, default, default, c.Dy, c.X, c.W, n, inDim, outDim);
        Check.Close(dx64, dx, 1e-5, "dx");

        CpuMatMul.Backward(default, dw, default, c.Dy, c.X, c.W, n, inDim, outDim);
        Check.Close(dw64, dw, 1e-5, "dw");

        CpuMatMul.Backward(default, default, db, c.Dy, c.X, c.W, n, inDim, outDim);
        Check.Close(db64, db, 1e-5, "db");
    }

    // B is packed once for all tasks, at most 4M floats at a time: outDim = 50,000 at inDim = 100 takes two rounds of columns
    // for the forward, an inner dimension of 20,000 (dx = dy·W with outDim = 20,000) two rounds of depth blocks.
    [Fact]
    public void ProductsPackedInSeveralRoundsMatchFloat64Formulas()
    {
        var wide = MatMulCase.Random(3, 100, 50_000, seed: 31);
        var y = TestData.Poisoned(3 * 50_000);
        CpuMatMul.Forward(y, wide.X, wide.W, wide.Bias, 3, 100, 50_000);
        Check.Close(wide.Forward64(withBias: true), y, 1e-5, "y over two column rounds");

        var deep = MatMulCase.Random(2, 40, 20_000, seed: 35);
        var (dx64, _, _) = deep.Backward64();
        var dx = new float[2 * 40];
        CpuMatMul.Backward(dx, default, default, deep.Dy, deep.X, deep.W, 2, 40, 20_000);
        Check.Close(dx64, dx, 1e-5, "dx over two depth rounds");
    }

    [Fact]
    public void BackwardAccumulatesIntoExistingGradients()
    {
        var c = MatMulCase.Random(33, 40, 45, seed: 12);
        var start = c.RandomGradients(seed: 16);
        var (dx, dw, db) = (start.dx.ToArray(), start.dw.ToArray(), start.dbias.ToArray());

        CpuMatMul.Backward(dx, dw, db, c.Dy, c.X, c.W, c.N, c.InDim, c.OutDim);
        CpuMatMul.Backward(dx, dw, db, c.Dy, c.X, c.W, c.N, c.InDim, c.OutDim);

        CheckGradients(TwiceAddedTo(start, c.Backward64()), (dx, dw, db), 1e-5, " after two calls");
    }

    [Fact]
    public void ResultsAreBitIdenticalAcrossRunsAndPartitions()
    {
        const int n = 200, inDim = 300, outDim = 330;
        var (_, _, _, x, w, b, dy) = MatMulCase.Random(n, inDim, outDim, seed: 21);

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
