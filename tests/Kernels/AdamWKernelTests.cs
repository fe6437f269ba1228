using Engine.Backends.Cpu;
using Engine.Kernels;
using Engine.Tests.Support;
using ILGPU.Runtime;
using Xunit;

namespace Engine.Tests.Kernels;

/// <summary>The AdamW kernel on the CPU accelerator against CpuAdamW (the oracle): the same constants and the same float ops in the same order,
/// each correctly rounded (no fused multiply-add on the CPU), so param, m and v must be bit-identical after every step.</summary>
[Collection(CpuAcceleratorCollection.Name)]
public class AdamWKernelTests(KernelFixture<AdamW> fixture) : IClassFixture<KernelFixture<AdamW>>
{
    readonly AdamW _adamW = fixture.Launcher;

    // beta1 = 0.9: torch's lerp from m (weight 0.1 < ½); beta1 = 0.3: the other branch (weight 0.7). Lengths below and above a vector width.
    [Theory]
    [InlineData(1, 0.9f, 0.1f)]
    [InlineData(37, 0.9f, 0.01f)]
    [InlineData(100, 0.3f, 0f)]
    public void StepsMatchCpuBitForBit(int length, float beta1, float weightDecay)
    {
        const float lr = 3e-4f, beta2 = 0.999f, eps = 1e-8f;
        var (param, m, v) = (TestData.Uniform(length, 1), new float[length], new float[length]);
        using DeviceArray<float> gParam = fixture.Put(param), gm = fixture.Put(m), gv = fixture.Put(v), gGrad = fixture.Put(new float[length]);

        for (int step = 1; step <= 3; step++)
        {
            var grad = TestData.Uniform(length, 10 + step, 0.5f);
            gGrad.View.CopyFromCPU(grad);
            _adamW.Step(gParam.View, gGrad.View, gm.View, gv.View, lr, beta1, beta2, eps, weightDecay, step);
            CpuAdamW.Step(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, step);

            Assert.Equal(param, fixture.Get(gParam));
            Assert.Equal(m, fixture.Get(gm));
            Assert.Equal(v, fixture.Get(gv));
        }
    }

    [Fact]
    public void StepZeroIsRejected()
    {
        using var p = fixture.Put(new float[3]);
        var error = Assert.Throws<ArgumentException>(() => _adamW.Step(p.View, p.View, p.View, p.View, 1e-3f, 0.9f, 0.999f, 1e-8f, 0f, 0));
        Assert.Equal("step", error.ParamName);
    }
}
