using Engine.Backends.Cpu;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Ops;

public class RmsNormTests
{
    const float Eps = 1e-6f;

    /// <summary>float64 reference: y = x/√(mean(x²) + eps)·w per row.</summary>
    static (double[] y, double[] rstd) Forward64(double[] x, double[] w, int n, int c, double eps)
    {
        var y = new double[n * c];
        var rstd = new double[n];
        for (int r = 0; r < n; r++)
        {
            double ss = 0;
            for (int j = 0; j < c; j++) ss += x[r * c + j] * x[r * c + j];
            double s = 1 / Math.Sqrt(ss / c + eps);
            for (int j = 0; j < c; j++) y[r * c + j] = x[r * c + j] * s * w[j];
            rstd[r] = s;
        }
        return (y, rstd);
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
        var y = TestData.Poisoned(n * c);
        var rstd = TestData.Poisoned(n);

        CpuRmsNorm.Forward(y, rstd, x, w, n, c, Eps);

        var (y64, rstd64) = Forward64(TestData.ToDouble(x), TestData.ToDouble(w), n, c, Eps);
        Check.Close(y64, y, 1e-5, "y");
        Check.Close(rstd64, rstd, 1e-5, "rstd");
    }

    [Fact]
    public void ForwardOfManyRowsEqualsRowByRowBitForBit()
    {
        const int n = 70, c = 1001;
        var x = TestData.Uniform(n * c, 4);
        var w = TestData.Uniform(c, 5);
        var y = TestData.Poisoned(n * c);
        var rstd = TestData.Poisoned(n);
        CpuRmsNorm.Forward(y, rstd, x, w, n, c, Eps);

        var yRow = new float[c];
        var rstdRow = new float[1];
        for (int r = 0; r < n; r++)
        {
            CpuRmsNorm.Forward(yRow, rstdRow, x.AsSpan(r * c, c), w, 1, c, Eps);
            Assert.Equal(yRow, y.AsSpan(r * c, c).ToArray());
            Assert.Equal(rstdRow[0], rstd[r]);
        }
    }

    // No c = 1: there x̂ = ±(1 − O(eps)), the true dx is O(eps) and float32 only sees the rounding of 1 − x̂².
    [Theory]
    [InlineData(1, 2)]
    [InlineData(3, 7)]
    [InlineData(2, 19)]
    [InlineData(4, 35)]
    public void BackwardMatchesFiniteDifferences(int n, int c)
    {
        var x = TestData.Uniform(n * c, 10, 2f);
        var w = TestData.Uniform(c, 11);
        var r = TestData.Uniform(n * c, 12);
        double[] x64 = TestData.ToDouble(x), w64 = TestData.ToDouble(w);
        double Loss(double[] xs, double[] ws) => FiniteDifference.Dot(Forward64(xs, ws, n, c, Eps).y, r);
        var dx64 = FiniteDifference.Gradient(xs => Loss(xs, w64), x64);
        var dw64 = FiniteDifference.Gradient(ws => Loss(x64, ws), w64);

        var rstd = new float[n];
        CpuRmsNorm.Forward(new float[n * c], rstd, x, w, n, c, Eps);
        var dx = new float[n * c];
        var dw = new float[c];
        CpuRmsNorm.Backward(dx, dw, r, x, w, rstd, n, c);

        Check.Close(dx64, dx, 1e-5, "dx");
        Check.Close(dw64, dw, 1e-5, "dw");
    }

    [Fact]
    public void BackwardAccumulatesAndSkipsEmptyGradients()
    {
        const int n = 3, c = 21;
        var x = TestData.Uniform(n * c, 20);
        var w = TestData.Uniform(c, 21);
        var dy = TestData.Uniform(n * c, 22);
        var rstd = new float[n];
        CpuRmsNorm.Forward(new float[n * c], rstd, x, w, n, c, Eps);

        var dx = new float[n * c];
        var dw = new float[c];
        CpuRmsNorm.Backward(dx, dw, dy, x, w, rstd, n, c);
        var dxOnce = (float[])dx.Clone();
        var dwOnce = (float[])dw.Clone();
        CpuRmsNorm.Backward(dx, dw, dy, x, w, rstd, n, c);
        // dx gets one addition per element (exactly 2×); dw adds the rows again onto the first sum, so only float32 rounding apart.
        Assert.Equal(dxOnce.Select(v => 2 * v), dx);
        Check.Close(dwOnce.Select(v => 2.0 * v).ToArray(), dw, 1e-6, "dw twice");

        var dxOnly = new float[n * c];
        CpuRmsNorm.Backward(dxOnly, default, dy, x, w, rstd, n, c);
        Assert.Equal(dxOnce, dxOnly);

        var dwOnly = new float[c];
        CpuRmsNorm.Backward(default, dwOnly, dy, x, w, rstd, n, c);
        Assert.Equal(dwOnce, dwOnly);
    }

    [Fact]
    public void BackwardOfManyRowsEqualsRowByRowBitForBit()
    {
        const int n = 90, c = 999;
        var x = TestData.Uniform(n * c, 30);
        var w = TestData.Uniform(c, 31);
        var dy = TestData.Uniform(n * c, 32);
        var rstd = new float[n];
        CpuRmsNorm.Forward(new float[n * c], rstd, x, w, n, c, Eps);
        var dx = TestData.Uniform(n * c, 33);
        var dw = TestData.Uniform(c, 34);
        var dxRows = (float[])dx.Clone();
        var dwRows = (float[])dw.Clone();

        CpuRmsNorm.Backward(dx, dw, dy, x, w, rstd, n, c);
        for (int r = 0; r < n; r++)
            CpuRmsNorm.Backward(dxRows.AsSpan(r * c, c), dwRows, dy.AsSpan(r * c, c), x.AsSpan(r * c, c), w, rstd.AsSpan(r, 1), 1, c);

        Assert.Equal(dxRows, dx);
        Assert.Equal(dwRows, dw);
    }

    [Fact]
    public void WrongSizesThrowNamingTheArgument()
    {
        var ex = Assert.Throws<ArgumentException>(() => CpuRmsNorm.Forward(new float[6], new float[2], new float[6], new float[4], 2, 3, Eps));
        Assert.Equal("w", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => CpuRmsNorm.Backward(new float[5], default, new float[6], new float[6], new float[3], new float[2], 2, 3));
        Assert.Equal("dx", ex.ParamName);
    }
}
