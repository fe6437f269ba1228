using Engine.Backends.Cpu;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Ops;

public class LayerNormTests
{
    const float Eps = 1e-5f;

    /// <summary>float64 reference: y = (x − mean)/√(var + eps)·w + b per row, biased variance.</summary>
    static (double[] y, double[] mean, double[] rstd) Forward64(double[] x, double[] w, double[] b, int n, int c, double eps)
    {
        var y = new double[n * c];
        var mean = new double[n];
        var rstd = new double[n];
        for (int r = 0; r < n; r++)
        {
            double m = 0;
            for (int j = 0; j < c; j++) m += x[r * c + j];
            m /= c;
            double v = 0;
            for (int j = 0; j < c; j++) v += (x[r * c + j] - m) * (x[r * c + j] - m);
            v /= c;
            double s = 1 / Math.Sqrt(v + eps);
            for (int j = 0; j < c; j++) y[r * c + j] = (x[r * c + j] - m) * s * w[j] + b[j];
            mean[r] = m;
            rstd[r] = s;
        }
        return (y, mean, rstd);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 7)]
    [InlineData(4, 17)]
    [InlineData(5, 33)]
    [InlineData(2, 130)]
    [InlineData(70, 1001)] // n·c > 64K: the parallel path
    public void ForwardMatchesFloat64Reference(int n, int c)
    {
        var x = TestData.Uniform(n * c, 1, 2f);
        var w = TestData.Uniform(c, 2);
        var b = TestData.Uniform(c, 3);
        var y = TestData.Poisoned(n * c);
        var mean = TestData.Poisoned(n);
        var rstd = TestData.Poisoned(n);

        CpuLayerNorm.Forward(y, mean, rstd, x, w, b, n, c, Eps);

        var (y64, mean64, rstd64) = Forward64(TestData.ToDouble(x), TestData.ToDouble(w), TestData.ToDouble(b), n, c, Eps);
        Check.Close(y64, y, 1e-5, "y");
        Check.Close(mean64, mean, 1e-5, "mean");
        Check.Close(rstd64, rstd, 1e-5, "rstd");
    }

    [Fact]
    public void ForwardOfManyRowsEqualsRowByRowBitForBit()
    {
        const int n = 70, c = 1001;
        var x = TestData.Uniform(n * c, 4);
        var w = TestData.Uniform(c, 5);
        var b = TestData.Uniform(c, 6);
        var y = TestData.Poisoned(n * c);
        var mean = TestData.Poisoned(n);
        var rstd = TestData.Poisoned(n);
        CpuLayerNorm.Forward(y, mean, rstd, x, w, b, n, c, Eps);

        var yRow = new float[c];
        var meanRow = new float[1];
        var rstdRow = new float[1];
        for (int r = 0; r < n; r++)
        {
            CpuLayerNorm.Forward(yRow, meanRow, rstdRow, x.AsSpan(r * c, c), w, b, 1, c, Eps);
            Assert.Equal(yRow, y.AsSpan(r * c, c).ToArray());
            Assert.Equal(meanRow[0], mean[r]);
            Assert.Equal(rstdRow[0], rstd[r]);
        }
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 7)]
    [InlineData(2, 19)]
    [InlineData(4, 35)]
    public void BackwardMatchesFiniteDifferences(int n, int c)
    {
        var x = TestData.Uniform(n * c, 10, 2f);
        var w = TestData.Uniform(c, 11);
        var b = TestData.Uniform(c, 12);
        var r = TestData.Uniform(n * c, 13);
        double[] x64 = TestData.ToDouble(x), w64 = TestData.ToDouble(w), b64 = TestData.ToDouble(b);
        double Loss(double[] xs, double[] ws, double[] bs) => FiniteDifference.Dot(Forward64(xs, ws, bs, n, c, Eps).y, r);
        var dx64 = FiniteDifference.Gradient(xs => Loss(xs, w64, b64), x64);
        var dw64 = FiniteDifference.Gradient(ws => Loss(x64, ws, b64), w64);
        var db64 = FiniteDifference.Gradient(bs => Loss(x64, w64, bs), b64);

        var (dx, dw, db) = RunBackward(x, w, b, r, n, c);

        Check.Close(dx64, dx, 1e-5, "dx");
        Check.Close(dw64, dw, 1e-5, "dw");
        Check.Close(db64, db, 1e-5, "db");
    }

    [Fact]
    public void BackwardAccumulatesAndSkipsEmptyGradients()
    {
        const int n = 3, c = 21;
        var x = TestData.Uniform(n * c, 20);
        var w = TestData.Uniform(c, 21);
        var b = TestData.Uniform(c, 22);
        var dy = TestData.Uniform(n * c, 23);
        var mean = new float[n];
        var rstd = new float[n];
        CpuLayerNorm.Forward(new float[n * c], mean, rstd, x, w, b, n, c, Eps);

        var dx = new float[n * c];
        var dw = new float[c];
        var db = new float[c];
        CpuLayerNorm.Backward(dx, dw, db, dy, x, w, mean, rstd, n, c);
        var dxOnce = (float[])dx.Clone();
        var dwOnce = (float[])dw.Clone();
        var dbOnce = (float[])db.Clone();
        CpuLayerNorm.Backward(dx, dw, db, dy, x, w, mean, rstd, n, c);
        // dx gets one addition per element (exactly 2×); dw and db add the rows again onto the first sum, so only float32 rounding apart.
        Assert.Equal(dxOnce.Select(v => 2 * v), dx);
        Check.Close(dwOnce.Select(v => 2.0 * v).ToArray(), dw, 1e-6, "dw twice");
        Check.Close(dbOnce.Select(v => 2.0 * v).ToArray(), db, 1e-6, "db twice");

        var dxOnly = new float[n * c];
        CpuLayerNorm.Backward(dxOnly, default, default, dy, x, w, mean, rstd, n, c);
        Assert.Equal(dxOnce, dxOnly);

        var dwOnly = new float[c];
        CpuLayerNorm.Backward(default, dwOnly, default, dy, x, w, mean, rstd, n, c);
        Assert.Equal(dwOnce, dwOnly);

        var dbOnly = new float[c];
        CpuLayerNorm.Backward(default, default, dbOnly, dy, x, w, mean, rstd, n, c);
        Assert.Equal(dbOnce, dbOnly);
    }

    [Fact]
    public void BackwardOfManyRowsEqualsRowByRowBitForBit()
    {
        const int n = 90, c = 999;
        var x = TestData.Uniform(n * c, 30);
        var w = TestData.Uniform(c, 31);
        var b = TestData.Uniform(c, 32);
        var dy = TestData.Uniform(n * c, 33);
        var mean = new float[n];
        var rstd = new float[n];
        CpuLayerNorm.Forward(new float[n * c], mean, rstd, x, w, b, n, c, Eps);
        var dx = TestData.Uniform(n * c, 34);
        var dw = TestData.Uniform(c, 35);
        var db = TestData.Uniform(c, 36);
        var dxRows = (float[])dx.Clone();
        var dwRows = (float[])dw.Clone();
        var dbRows = (float[])db.Clone();

        CpuLayerNorm.Backward(dx, dw, db, dy, x, w, mean, rstd, n, c);
        for (int r = 0; r < n; r++)
            CpuLayerNorm.Backward(dxRows.AsSpan(r * c, c), dwRows, dbRows, dy.AsSpan(r * c, c), x.AsSpan(r * c, c), w,
                mean.AsSpan(r, 1), rstd.AsSpan(r, 1), 1, c);

        Assert.Equal(dxRows, dx);
        Assert.Equal(dwRows, dw);
        Assert.Equal(dbRows, db);
    }

    [Fact]
    public void WrongSizesThrowNamingTheArgument()
    {
        var ex = Assert.Throws<ArgumentException>(() =>
            CpuLayerNorm.Forward(new float[6], new float[2], new float[2], new float[5], new float[3], new float[3], 2, 3, Eps));
        Assert.Equal("x", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() =>
            CpuLayerNorm.Backward(new float[6], new float[2], default, new float[6], new float[6], new float[3], new float[2], new float[2], 2, 3));
        Assert.Equal("dw", ex.ParamName);
    }

    static (float[] dx, float[] dw, float[] db) RunBackward(float[] x, float[] w, float[] b, float[] dy, int n, int c)
    {
        var mean = new float[n];
        var rstd = new float[n];
        CpuLayerNorm.Forward(new float[n * c], mean, rstd, x, w, b, n, c, Eps);
        var dx = new float[n * c];
        var dw = new float[c];
        var db = new float[c];
        CpuLayerNorm.Backward(dx, dw, db, dy, x, w, mean, rstd, n, c);
        return (dx, dw, db);
    }
}
