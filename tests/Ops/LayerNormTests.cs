using Engine.Backends;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Ops;

/// <summary>CpuLayerNorm: parameters w and b, statistics mean and rstd; the shared tests are in <see cref="RowNormTests"/>; one nested class per vector width.</summary>
public abstract class LayerNormTests(int bits) : RowNormTests(bits)
{
    const float Eps = 1e-5f;

    protected override string[] Parameters => ["w", "b"];
    protected override string[] Statistics => ["mean", "rstd"];

    // c = 1: x̂ = 0 exactly, so y = b and the exact dx and dw are zero.
    protected override int OneRowWidth => 1;

    protected override void Forward(Span<float> y, float[][] statistics, ReadOnlySpan<float> x, float[][] parameters, int n, int c)
        => CpuLayerNorm.Forward(y, statistics[0], statistics[1], x, parameters[0], parameters[1], n, c, Eps);

    protected override void Backward(Span<float> dx, float[]?[] parameterGradients, ReadOnlySpan<float> dy, ReadOnlySpan<float> x,
        float[][] parameters, float[][] statistics, int n, int c)
        => CpuLayerNorm.Backward(dx, parameterGradients[0], parameterGradients[1], dy, x, parameters[0], statistics[0], statistics[1], n, c);

    /// <summary>float64 reference: y = (x − mean)/√(var + eps)·w + b per row, biased variance.</summary>
    protected override (double[] y, double[][] statistics) Forward64(double[] x, double[][] parameters, int n, int c)
    {
        double[] w = parameters[0], b = parameters[1];
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
            double s = 1 / Math.Sqrt(v + Eps);
            for (int j = 0; j < c; j++) y[r * c + j] = (x[r * c + j] - m) * s * w[j] + b[j];
            mean[r] = m;
            rstd[r] = s;
        }
        return (y, [mean, rstd]);
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

    public sealed class Scalar() : LayerNormTests(32);
    public sealed class Bits256() : LayerNormTests(256);
    public sealed class Bits512() : LayerNormTests(512);
}
