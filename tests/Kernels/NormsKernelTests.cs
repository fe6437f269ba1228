using Engine.Backends;
using Engine.Kernels;
using Engine.Tests.Support;
using ILGPU;
using Xunit;

namespace Engine.Tests.Kernels;

/// <summary>The norm kernels on the CPU accelerator against CpuLayerNorm and CpuRmsNorm (the oracle).
/// Tolerance 1e-5: the kernels sum a row (or a weight-gradient column) in another fixed order than the CPU op, so results differ by float32 rounding.</summary>
[Collection(CpuAcceleratorCollection.Name)]
public class NormsKernelTests(KernelFixture<Norms> fixture) : IClassFixture<KernelFixture<Norms>>
{
    const float Eps = 1e-5f;
    const double Tolerance = 1e-5;
    readonly Norms _norms = fixture.Launcher;

    // Shapes: a single element; c giving a row group of one warp, of two warps with a ragged end, of the 256-thread maximum with
    // columns left over; n across the 32-row partial blocks of the weight gradients.
    public static TheoryData<int, int> Shapes => new() { { 1, 1 }, { 3, 7 }, { 5, 33 }, { 2, 130 }, { 2, 1100 }, { 33, 21 } };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void LayerNormForwardMatchesCpu(int n, int c)
    {
        var (x, w, b) = (TestData.Uniform(n * c, 1, 2f), TestData.Uniform(c, 2), TestData.Uniform(c, 3));
        var (y, mean, rstd) = (TestData.Poisoned(n * c), TestData.Poisoned(n), TestData.Poisoned(n));
        CpuLayerNorm.Forward(y, mean, rstd, x, w, b, n, c, Eps);

        var (gy, gMean, gRstd) = LayerNormForward(x, w, b, n, c);

        Check.Close(y, gy, Tolerance, "y");
        Check.Close(mean, gMean, Tolerance, "mean");
        Check.Close(rstd, gRstd, Tolerance, "rstd");
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void LayerNormBackwardAccumulatesAsCpu(int n, int c)
    {
        var (x, w, b, dy) = (TestData.Uniform(n * c, 1, 2f), TestData.Uniform(c, 2), TestData.Uniform(c, 3), TestData.Uniform(n * c, 4));
        var (mean, rstd) = (new float[n], new float[n]);
        CpuLayerNorm.Forward(new float[n * c], mean, rstd, x, w, b, n, c, Eps);
        // Gradients start non-zero: both sides must add to them.
        var (dx, dw, db) = (TestData.Uniform(n * c, 5), TestData.Uniform(c, 6), TestData.Uniform(c, 7));
        var (gdx, gdw, gdb) = LayerNormBackward(dx, dw, db, dy, x, w, mean, rstd, n, c);
        CpuLayerNorm.Backward(dx, dw, db, dy, x, w, mean, rstd, n, c);

        Check.Close(dx, gdx, Tolerance, "dx");
        Check.Close(dw, gdw, Tolerance, "dw");
        Check.Close(db, gdb, Tolerance, "db");
    }

    [Fact]
    public void LayerNormBackwardSkipsEmptyGradients()
    {
        const int n = 33, c = 20;
        var (x, w, dy) = (TestData.Uniform(n * c, 1), TestData.Uniform(c, 2), TestData.Uniform(n * c, 3));
        var (mean, rstd) = (new float[n], new float[n]);
        CpuLayerNorm.Forward(new float[n * c], mean, rstd, x, w, TestData.Uniform(c, 4), n, c, Eps);
        var db = TestData.Uniform(c, 5);
        var (_, _, gdb) = LayerNormBackward([], [], db, dy, x, w, mean, rstd, n, c);
        var dx = TestData.Uniform(n * c, 6);
        var (gdx, _, _) = LayerNormBackward(dx, [], [], dy, x, w, mean, rstd, n, c);
        CpuLayerNorm.Backward(default, default, db, dy, x, w, mean, rstd, n, c);
        CpuLayerNorm.Backward(dx, default, default, dy, x, w, mean, rstd, n, c);

        Check.Close(db, gdb, Tolerance, "db alone");
        Check.Close(dx, gdx, Tolerance, "dx alone");
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void RmsNormForwardMatchesCpu(int n, int c)
    {
        var (x, w) = (TestData.Uniform(n * c, 1, 2f), TestData.Uniform(c, 2));
        var (y, rstd) = (TestData.Poisoned(n * c), TestData.Poisoned(n));
        CpuRmsNorm.Forward(y, rstd, x, w, n, c, Eps);

        var (gy, gRstd) = RmsNormForward(x, w, n, c);

        Check.Close(y, gy, Tolerance, "y");
        Check.Close(rstd, gRstd, Tolerance, "rstd");
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void RmsNormBackwardAccumulatesAsCpu(int n, int c)
    {
        var (x, w, dy) = (TestData.Uniform(n * c, 1, 2f), TestData.Uniform(c, 2), TestData.Uniform(n * c, 4));
        var rstd = new float[n];
        CpuRmsNorm.Forward(new float[n * c], rstd, x, w, n, c, Eps);
        var (dx, dw) = (TestData.Uniform(n * c, 5), TestData.Uniform(c, 6));
        var (gdx, gdw) = RmsNormBackward(dx, dw, dy, x, w, rstd, n, c);
        CpuRmsNorm.Backward(dx, dw, dy, x, w, rstd, n, c);

        Check.Close(dx, gdx, Tolerance, "dx");
        Check.Close(dw, gdw, Tolerance, "dw");
    }

    [Fact]
    public void RmsNormBackwardSkipsEmptyGradients()
    {
        const int n = 33, c = 9;
        var (x, w, dy) = (TestData.Uniform(n * c, 1), TestData.Uniform(c, 2), TestData.Uniform(n * c, 3));
        var rstd = new float[n];
        CpuRmsNorm.Forward(new float[n * c], rstd, x, w, n, c, Eps);
        var dw = TestData.Uniform(c, 5);
        var (_, gdw) = RmsNormBackward([], dw, dy, x, w, rstd, n, c);
        var dx = TestData.Uniform(n * c, 6);
        var (gdx, _) = RmsNormBackward(dx, [], dy, x, w, rstd, n, c);
        CpuRmsNorm.Backward(default, dw, dy, x, w, rstd, n, c);
        CpuRmsNorm.Backward(dx, default, dy, x, w, rstd, n, c);

        Check.Close(dw, gdw, Tolerance, "dw alone");
        Check.Close(dx, gdx, Tolerance, "dx alone");
    }

    [Fact]
    public void NoRowsIsANoOp()
    {
        var w = TestData.Uniform(5, 1);
        var (y, _, _) = LayerNormForward([], w, w, 0, 5);
        Assert.Empty(y);
        var dw = TestData.Uniform(5, 2);
        var (_, gdw, gdb) = LayerNormBackward([], dw, dw, [], [], w, [], [], 0, 5);
        Assert.Equal(dw, gdw);
        Assert.Equal(dw, gdb);
    }

    [Fact]
    public void RunsAreBitIdentical()
    {
        const int n = 33, c = 20;
        var (x, w, b, dy) = (TestData.Uniform(n * c, 1, 2f), TestData.Uniform(c, 2), TestData.Uniform(c, 3), TestData.Uniform(n * c, 4));
        var first = LayerNormForward(x, w, b, n, c);
        var second = LayerNormForward(x, w, b, n, c);
        Assert.Equal(first.y, second.y);
        Assert.Equal(first.rstd, second.rstd);

        var (gradients1, gradients2) = (LayerNormBackward(new float[n * c], new float[c], new float[c], dy, x, w, first.mean, first.rstd, n, c),
            LayerNormBackward(new float[n * c], new float[c], new float[c], dy, x, w, first.mean, first.rstd, n, c));
        Assert.Equal(gradients1.dx, gradients2.dx);
        Assert.Equal(gradients1.dw, gradients2.dw);
        Assert.Equal(gradients1.db, gradients2.db);

        var (rms1, rms2) = (RmsNormForward(x, w, n, c), RmsNormForward(x, w, n, c));
        Assert.Equal(rms1.y, rms2.y);
        var (rmsGradients1, rmsGradients2) = (RmsNormBackward(new float[n * c], new float[c], dy, x, w, rms1.rstd, n, c),
            RmsNormBackward(new float[n * c], new float[c], dy, x, w, rms1.rstd, n, c));
        Assert.Equal(rmsGradients1.dx, rmsGradients2.dx);
        Assert.Equal(rmsGradients1.dw, rmsGradients2.dw);
    }

    (float[] y, float[] mean, float[] rstd) LayerNormForward(float[] x, float[] w, float[] b, int n, int c)
    {
        using DeviceArray<float> gx = fixture.Put(x), gw = fixture.Put(w), gb = fixture.Put(b);
        using DeviceArray<float> gy = fixture.Put(TestData.Poisoned(n * c)), gMean = fixture.Put(TestData.Poisoned(n)), gRstd = fixture.Put(TestData.Poisoned(n));
        _norms.LayerNormForward(gy.View, gMean.View, gRstd.View, gx.View, gw.View, gb.View, n, c, Eps);
        return (fixture.Get(gy), fixture.Get(gMean), fixture.Get(gRstd));
    }

    /// <summary>The kernel backward on device copies of the gradient buffers (an empty array = an empty view, "not wanted").</summary>
    (float[] dx, float[] dw, float[] db) LayerNormBackward(float[] dx, float[] dw, float[] db, float[] dy, float[] x, float[] w, float[] mean, float[] rstd, int n, int c)
    {
        using DeviceArray<float> gdx = fixture.Put(dx), gdw = fixture.Put(dw), gdb = fixture.Put(db);
        using DeviceArray<float> gdy = fixture.Put(dy), gx = fixture.Put(x), gw = fixture.Put(w), gMean = fixture.Put(mean), gRstd = fixture.Put(rstd);
        _norms.LayerNormBackward(gdx.View, gdw.View, gdb.View, gdy.View, gx.View, gw.View, gMean.View, gRstd.View, n, c);
        return (fixture.Get(gdx), fixture.Get(gdw), fixture.Get(gdb));
    }

    (float[] y, float[] rstd) RmsNormForward(float[] x, float[] w, int n, int c)
    {
        using DeviceArray<float> gx = fixture.Put(x), gw = fixture.Put(w);
        using DeviceArray<float> gy = fixture.Put(TestData.Poisoned(n * c)), gRstd = fixture.Put(TestData.Poisoned(n));
        _norms.RmsNormForward(gy.View, gRstd.View, gx.View, gw.View, n, c, Eps);
        return (fixture.Get(gy), fixture.Get(gRstd));
    }

    (float[] dx, float[] dw) RmsNormBackward(float[] dx, float[] dw, float[] dy, float[] x, float[] w, float[] rstd, int n, int c)
    {
        using DeviceArray<float> gdx = fixture.Put(dx), gdw = fixture.Put(dw);
        using DeviceArray<float> gdy = fixture.Put(dy), gx = fixture.Put(x), gw = fixture.Put(w), gRstd = fixture.Put(rstd);
        _norms.RmsNormBackward(gdx.View, gdw.View, gdy.View, gx.View, gw.View, gRstd.View, n, c);
        return (fixture.Get(gdx), fixture.Get(gdw));
    }
}
