using System.Runtime.Intrinsics;
using Engine.Backends.Cpu;
using Xunit;

namespace Engine.Tests.Ops;

public class VectorExpTests
{
    static float[] Exp(float[] x)
    {
        var y = new float[x.Length];
        for (int i = 0; i < x.Length; i += Vector512<float>.Count)
        {
            var lanes = new float[Vector512<float>.Count];
            x.AsSpan(i, Math.Min(lanes.Length, x.Length - i)).CopyTo(lanes);
            var e = VectorExp.Exp(Vector512.Create(lanes));
            for (int j = 0; j < lanes.Length && i + j < x.Length; j++) y[i + j] = e[j];
        }
        return y;
    }

    [Fact]
    public void MatchesFloat64ExpElementwiseToAFewUlp()
    {
        // Every float32 result lies within 3·2⁻²⁴ relative of e^x (the float nearest is within 2⁻²⁴; the kernel adds ~1.3 ulp),
        // over the whole range where e^x is a normal float32, densely near 0 where softmax and the activations live.
        var rng = new Random(1);
        var x = new float[20_000];
        for (int i = 0; i < x.Length; i++) x[i] = i % 2 == 0 ? (float)(rng.NextDouble() * 175 - 87) : (float)(rng.NextDouble() * 8 - 4);
        var y = Exp(x);
        for (int i = 0; i < x.Length; i++)
        {
            double expected = Math.Exp(x[i]);
            double relative = Math.Abs(y[i] - expected) / expected;
            Assert.True(relative <= 3 * Math.Pow(2, -24), $"exp({x[i]:R}) = {y[i]:R}, expected {expected:R}: relative error {relative:E2}");
        }
    }

    [Fact]
    public void EndsAndSpecialValuesAreExact()
    {
        float[] x = [float.NegativeInfinity, -1000, -104, 0, 89, 1000, float.PositiveInfinity, float.NaN, -0f, 1];
        var y = Exp(x);
        Assert.Equal(0f, y[0]);
        Assert.Equal(0f, y[1]);
        Assert.Equal(0f, y[2]);
        Assert.Equal(1f, y[3]);
        Assert.Equal(float.PositiveInfinity, y[4]);
        Assert.Equal(float.PositiveInfinity, y[5]);
        Assert.Equal(float.PositiveInfinity, y[6]);
        Assert.True(float.IsNaN(y[7]), $"exp(NaN) = {y[7]}");
        Assert.Equal(1f, y[8]);
        Assert.True(Math.Abs(y[9] - Math.E) <= 3 * Math.Pow(2, -24) * Math.E, $"exp(1) = {y[9]:R}");
    }
}
