using Engine.Backends;
using Engine.Kernels;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Ops;

/// <summary>AdamW at each vector width (the nested classes).</summary>
public abstract class AdamWTests(int bits) : AtLaneWidth(bits)
{
    /// <summary>float64 reference of torch.optim.AdamW (single tensor, no amsgrad): decay, moments, bias-corrected update.</summary>
    static void Step64(double[] p, double[] g, double[] m, double[] v, double lr, double beta1, double beta2, double eps, double wd, int t)
    {
        double bc1 = 1 - Math.Pow(beta1, t), bc2 = 1 - Math.Pow(beta2, t);
        for (int i = 0; i < p.Length; i++)
        {
            p[i] *= 1 - lr * wd;
            m[i] = beta1 * m[i] + (1 - beta1) * g[i];
            v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
            double denom = Math.Sqrt(v[i]) / Math.Sqrt(bc2) + eps;
            p[i] -= lr / bc1 * m[i] / denom;
        }
    }

    [Fact]
    public void OneStepMatchesHandComputedNumbers()
    {
        // lr 0.1, wd 0.01: decay factor 0.999; step 1: m = 0.1·g, v = 0.001·g², m̂ = g, v̂ = g², update = lr·g/(|g| + eps) = ±0.1.
        float[] p = [1f, -2f, 0.5f];
        float[] g = [0.5f, -3f, 0f];
        var m = new float[3];
        var v = new float[3];
        CpuAdamW.Step(p, g, gradScale: 1f, m, v, lr: 0.1f, beta1: 0.9f, beta2: 0.999f, eps: 1e-8f, weightDecay: 0.01f, step: 1);
        Check.Close([0.899, -1.898, 0.4995], p, 1e-6, "param");
        Check.Close([0.05, -0.3, 0], m, 1e-6, "m");
        Check.Close([0.00025, 0.009, 0], v, 1e-6, "v");
    }

    [Theory]
    [InlineData(1, 0.9, 1f)]
    [InlineData(7, 0.9, 1f)]
    [InlineData(37, 0.9, 0.3f)] // a clipped gradient: g = 0.3·grad
    [InlineData(37, 0.3, 1f)] // 1 − β1 ≥ ½: torch's lerp takes its other form
    [InlineData(100_003, 0.9, 0.3f)] // > 64K: the parallel path
    public void ThreeStepsWithWeightDecayMatchFloat64Reference(int length, double beta1, float gradScale)
    {
        // The reference gets the hyperparameters as written (as Python floats), the op their float32 roundings.
        const double lr = 1e-2, beta2 = 0.99, eps = 1e-8, wd = 0.1;
        var p = TestData.Uniform(length, 1);
        var m = new float[length];
        var v = new float[length];
        double[] p64 = TestData.ToDouble(p), m64 = new double[length], v64 = new double[length];
        for (int t = 1; t <= 3; t++)
        {
            var g = TestData.Uniform(length, 10 + t, 2f);
            CpuAdamW.Step(p, g, gradScale, m, v, (float)lr, (float)beta1, (float)beta2, (float)eps, (float)wd, t);
            Step64(p64, TestData.ToDouble(g).Select(x => (double)gradScale * x).ToArray(), m64, v64, lr, beta1, beta2, eps, wd, t);
        }
        // A handful of float32 roundings per step on values O(1): relative error well under 1e-6.
        Check.Close(p64, p, 1e-6, "param");
        Check.Close(m64, m, 1e-6, "m");
        Check.Close(v64, v, 1e-6, "v");
    }

    [Fact]
    public void LongSpanEqualsPiecewiseStepsBitForBit()
    {
        const int length = 100_003, piece = 4096;
        var p = TestData.Uniform(length, 20);
        var g = TestData.Uniform(length, 21);
        var m = TestData.Uniform(length, 22, 0.1f);
        var v = TestData.Uniform(length, 23, 0.01f).Select(MathF.Abs).ToArray();
        float[] pPieces = (float[])p.Clone(), mPieces = (float[])m.Clone(), vPieces = (float[])v.Clone();

        CpuAdamW.Step(p, g, 0.5f, m, v, 3e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 5);
        for (int start = 0; start < length; start += piece)
        {
            int count = Math.Min(piece, length - start);
            CpuAdamW.Step(pPieces.AsSpan(start, count), g.AsSpan(start, count), 0.5f, mPieces.AsSpan(start, count), vPieces.AsSpan(start, count),
                3e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 5);
        }
        Assert.Equal(pPieces, p);
        Assert.Equal(mPieces, m);
        Assert.Equal(vPieces, v);
    }

    [Fact]
    public void InvalidArgumentsThrowNamingTheArgument()
    {
        Assert.Equal("v", Assert.Throws<ArgumentException>(() =>
            CpuAdamW.Step(new float[3], new float[3], 1f, new float[3], new float[2], 1e-3f, 0.9f, 0.999f, 1e-8f, 0f, 1)).ParamName);
        Assert.Equal("step", Assert.Throws<ArgumentException>(() =>
            CpuAdamW.Step(new float[3], new float[3], 1f, new float[3], new float[3], 1e-3f, 0.9f, 0.999f, 1e-8f, 0f, 0)).ParamName);
    }

    /// <summary>A NaN gradient scale (the step's loss or gradient norm was not finite) leaves param, m and v as they were.</summary>
    [Fact]
    public void ANaNGradScaleChangesNothing()
    {
        var (p, g, m, v) = (TestData.Uniform(37, 1), TestData.Uniform(37, 2), TestData.Uniform(37, 3, 0.1f), TestData.Uniform(37, 4, 0.1f).Select(MathF.Abs).ToArray());
        float[] p0 = (float[])p.Clone(), m0 = (float[])m.Clone(), v0 = (float[])v.Clone();
        CpuAdamW.Step(p, g, float.NaN, m, v, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, 2);
        Assert.Equal(p0, p);
        Assert.Equal(m0, m);
        Assert.Equal(v0, v);
    }

    /// <summary>The clipping factor against its float64 definition: clip/‖g‖ when the norm exceeds the clip, 1 otherwise or without a clip (0),
    /// NaN for a non-finite loss or sum of squares.</summary>
    [Theory]
    [InlineData(3.0, 16.0, 1f, 0.25)]
    [InlineData(3.0, 16.0, 4f, 1.0)]
    [InlineData(3.0, 16.0, 8f, 1.0)]
    [InlineData(3.0, 2.0, 1f, 0.70710678118654752)]
    [InlineData(3.0, 1e6, 0f, 1.0)]
    [InlineData(double.NaN, 16.0, 1f, double.NaN)]
    [InlineData(double.PositiveInfinity, 16.0, 0f, double.NaN)]
    [InlineData(3.0, double.PositiveInfinity, 1f, double.NaN)]
    [InlineData(3.0, double.NaN, 0f, double.NaN)]
    public void ClipScaleMatchesItsDefinition(double loss, double sumOfSquares, float maxNorm, double expected)
    {
        float scale = GradientClipping.Scale(loss, sumOfSquares, maxNorm);
        if (double.IsNaN(expected)) Assert.True(float.IsNaN(scale), $"scale {scale}");
        else Assert.Equal(expected, scale, 1e-7);
    }

    public sealed class Scalar() : AdamWTests(32);
    public sealed class Bits256() : AdamWTests(256);
    public sealed class Bits512() : AdamWTests(512);
}
