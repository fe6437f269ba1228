using Engine.Backends;
using Engine.Kernels;
using Engine.Tests.Support;
using ILGPU.Runtime;
using Xunit;

namespace Engine.Tests.Kernels;

/// <summary>The optimizer kernels on the CPU accelerator against CpuAdamW and GradientClipping (the oracle): the same constants and the same
/// float ops in the same order, each correctly rounded (no fused multiply-add on the CPU), so param, m, v and the clip scale must be bit-identical.</summary>
[Collection(CpuAcceleratorCollection.Name)]
public class AdamWKernelTests(KernelFixture<AdamW> fixture) : IClassFixture<KernelFixture<AdamW>>
{
    readonly AdamW _adamW = fixture.Launcher;

    // beta1 = 0.9: torch's lerp from m (weight 0.1 < ½); beta1 = 0.3: the other branch (weight 0.7). Lengths below and above a vector width;
    // gradScale 1 (no clipping) and 0.37 (clipped).
    [Theory]
    [InlineData(1, 0.9f, 0.1f, 1f)]
    [InlineData(37, 0.9f, 0.01f, 0.37f)]
    [InlineData(100, 0.3f, 0f, 0.37f)]
    public void StepsMatchCpuBitForBit(int length, float beta1, float weightDecay, float gradScale)
    {
        const float lr = 3e-4f, beta2 = 0.999f, eps = 1e-8f;
        var (param, m, v) = (TestData.Uniform(length, 1), new float[length], new float[length]);
        using DeviceArray<float> gParam = fixture.Put(param), gm = fixture.Put(m), gv = fixture.Put(v), gGrad = fixture.Put(new float[length]),
            gScale = fixture.Put(new[] { gradScale });

        for (int step = 1; step <= 3; step++)
        {
            var grad = TestData.Uniform(length, 10 + step, 0.5f);
            gGrad.View.CopyFromCPU(grad);
            _adamW.Step(gParam.View, gGrad.View, gScale.View, gm.View, gv.View, lr, beta1, beta2, eps, weightDecay, step);
            CpuAdamW.Step(param, grad, gradScale, m, v, lr, beta1, beta2, eps, weightDecay, step);

            Assert.Equal(param, fixture.Get(gParam));
            Assert.Equal(m, fixture.Get(gm));
            Assert.Equal(v, fixture.Get(gv));
        }
    }

    /// <summary>A NaN scale (the step's loss or gradient norm was not finite) leaves param, m and v exactly as they were.</summary>
    [Fact]
    public void ANaNScaleChangesNothing()
    {
        var (param, m, v) = (TestData.Uniform(40, 1), TestData.Uniform(40, 2, 0.1f), TestData.Uniform(40, 3, 0.5f).Select(Math.Abs).ToArray());
        using DeviceArray<float> gParam = fixture.Put(param), gm = fixture.Put(m), gv = fixture.Put(v), gGrad = fixture.Put(TestData.Uniform(40, 4)),
            gScale = fixture.Put(new[] { float.NaN });
        _adamW.Step(gParam.View, gGrad.View, gScale.View, gm.View, gv.View, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, 2);
        Assert.Equal(param, fixture.Get(gParam));
        Assert.Equal(m, fixture.Get(gm));
        Assert.Equal(v, fixture.Get(gv));
    }

    // Sums of squares whose norm is below, at and above the clip, no clip (0), and non-finite losses and sums.
    [Theory]
    [InlineData(12.0, 0.25, 1f)]
    [InlineData(12.0, 1.0, 1f)]
    [InlineData(12.0, 7.3, 1f)]
    [InlineData(12.0, 7.3, 0f)]
    [InlineData(double.NaN, 7.3, 1f)]
    [InlineData(12.0, double.PositiveInfinity, 1f)]
    [InlineData(double.NegativeInfinity, 7.3, 0f)]
    public void ClipScaleMatchesTheHostBitForBit(double loss, double sumOfSquares, float maxNorm)
    {
        using DeviceArray<double> gLoss = fixture.Put(new[] { loss }), gSum = fixture.Put(new[] { sumOfSquares });
        using var gScale = fixture.Put(new[] { -1f });
        _adamW.ClipScale(gScale.View, gLoss.View, gSum.View, maxNorm);
        float expected = GradientClipping.Scale(loss, sumOfSquares, maxNorm);
        Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(fixture.Get(gScale)[0]));
    }

    [Fact]
    public void StepZeroIsRejected()
    {
        using var p = fixture.Put(new float[3]);
        using var scale = fixture.Put(new[] { 1f });
        var error = Assert.Throws<ArgumentException>(() => _adamW.Step(p.View, p.View, scale.View, p.View, p.View, 1e-3f, 0.9f, 0.999f, 1e-8f, 0f, 0));
        Assert.Equal("step", error.ParamName);
    }
}
