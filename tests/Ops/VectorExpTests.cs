using System.Runtime.Intrinsics;
using Engine.Backends;
using Engine.Backends.Cpu;
using Xunit;

namespace Engine.Tests.Ops;

public class VectorExpTests
{
    /// <summary>e^x elementwise at one width: 512 (AVX-512's instructions where the host has them, else two 256-bit halves), 256 or 128.</summary>
    static float[] Exp(float[] x, int width)
    {
        int lanes = width / 32;
        var y = new float[x.Length];
        for (int i = 0; i < x.Length; i += lanes)
        {
            var v = new float[lanes];
            x.AsSpan(i, Math.Min(lanes, x.Length - i)).CopyTo(v);
            float[] e = width switch
            {
                512 => Lanes(VectorExp.Exp(Vector512.Create(v))),
                256 => Lanes(VectorExp.Exp(Vector256.Create(v))),
                _ => Lanes(VectorExp.Exp(Vector128.Create(v))),
            };
            for (int j = 0; j < lanes && i + j < x.Length; j++) y[i + j] = e[j];
        }
        return y;
    }

    static float[] Lanes(Vector512<float> v) => Enumerable.Range(0, 16).Select(i => v[i]).ToArray();
    static float[] Lanes(Vector256<float> v) => Enumerable.Range(0, 8).Select(i => v[i]).ToArray();
    static float[] Lanes(Vector128<float> v) => Enumerable.Range(0, 4).Select(i => v[i]).ToArray();

    [Theory]
    [InlineData(512)]
    [InlineData(256)]
    [InlineData(128)]
    public void MatchesFloat64ExpElementwiseToAFewUlp(int width)
    {
        // Every float32 result lies within 3·2⁻²⁴ relative of e^x (the float nearest is within 2⁻²⁴; the kernel adds ~1.3 ulp),
        // over the whole range where e^x is a normal float32, densely near 0 where softmax and the activations live.
        var rng = new Random(1);
        var x = new float[20_000];
        for (int i = 0; i < x.Length; i++) x[i] = i % 2 == 0 ? (float)(rng.NextDouble() * 175 - 87) : (float)(rng.NextDouble() * 8 - 4);
        var y = Exp(x, width);
        for (int i = 0; i < x.Length; i++)
        {
            double expected = Math.Exp(x[i]);
            double relative = Math.Abs(y[i] - expected) / expected;
            Assert.True(relative <= 3 * Math.Pow(2, -24), $"exp({x[i]:R}) = {y[i]:R}, expected {expected:R}: relative error {relative:E2}");
        }
    }

    [Theory]
    [InlineData(512)]
    [InlineData(256)]
    [InlineData(128)]
    public void EndsAndSpecialValuesAreExact(int width)
    {
        float[] x = [float.NegativeInfinity, -1000, -104, 0, 89, 1000, float.PositiveInfinity, float.NaN, -0f, 1];
        var y = Exp(x, width);
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
