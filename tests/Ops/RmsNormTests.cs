using Engine.Backends;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Ops;

/// <summary>CpuRmsNorm: parameter w, statistic rstd; the shared tests are in <see cref="RowNormTests"/>; one nested class per vector width.</summary>
public abstract class RmsNormTests(int bits) : RowNormTests(bits)
{
    const float Eps = 1e-6f;

    protected override string[] Parameters => ["w"];
    protected override string[] Statistics => ["rstd"];

    // No c = 1: there x̂ = ±(1 − O(eps)), the true dx is O(eps) and float32 only sees the rounding of 1 − x̂².
    protected override int OneRowWidth => 2;

    protected override void Forward(Span<float> y, float[][] statistics, ReadOnlySpan<float> x, float[][] parameters, int n, int c)
        => CpuRmsNorm.Forward(y, statistics[0], x, parameters[0], n, c, Eps);

    protected override void Backward(Span<float> dx, float[]?[] parameterGradients, ReadOnlySpan<float> dy, ReadOnlySpan<float> x,
        float[][] parameters, float[][] statistics, int n, int c)
        => CpuRmsNorm.Backward(dx, parameterGradients[0], dy, x, parameters[0], statistics[0], n, c);

    /// <summary>float64 reference: y = x/√(mean(x²) + eps)·w per row.</summary>
    protected override (double[] y, double[][] statistics) Forward64(double[] x, double[][] parameters, int n, int c)
    {
        double[] w = parameters[0];
        var y = new double[n * c];
        var rstd = new double[n];
        for (int r = 0; r < n; r++)
        {
            double ss = 0;
            for (int j = 0; j < c; j++) ss += x[r * c + j] * x[r * c + j];
            double s = 1 / Math.Sqrt(ss / c + Eps);
            for (int j = 0; j < c; j++) y[r * c + j] = x[r * c + j] * s * w[j];
            rstd[r] = s;
        }
        return (y, [rstd]);
    }

    [Fact]
    public void WrongSizesThrowNamingTheArgument()
    {
        var ex = Assert.Throws<ArgumentException>(() => CpuRmsNorm.Forward(new float[6], new float[2], new float[6], new float[4], 2, 3, Eps));
        Assert.Equal("w", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => CpuRmsNorm.Backward(new float[5], default, new float[6], new float[6], new float[3], new float[2], 2, 3));
        Assert.Equal("dx", ex.ParamName);
    }

    public sealed class Scalar() : RmsNormTests(32);
    public sealed class Bits256() : RmsNormTests(256);
    public sealed class Bits512() : RmsNormTests(512);
}
