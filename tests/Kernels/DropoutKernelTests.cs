using Engine.Backends;
using Engine.Kernels;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Kernels;

/// <summary>The dropout kernels on the CPU accelerator against CpuDropout (the oracle): the same mask function and one float multiply
/// (plus one add) per element, so bit-identical.</summary>
[Collection(CpuAcceleratorCollection.Name)]
public class DropoutKernelTests(KernelFixture<Dropout> fixture) : IClassFixture<KernelFixture<Dropout>>
{
    [Theory]
    [InlineData(1)]
    [InlineData(37)]
    [InlineData(1000)]
    public void ForwardAndBackwardMatchCpu(int length)
    {
        var (x, dy, dx) = (TestData.Uniform(length, 1), TestData.Uniform(length, 2), TestData.Uniform(length, 3));
        using DeviceArray<float> gx = fixture.Put(x), gy = fixture.Put(TestData.Poisoned(length)), gdy = fixture.Put(dy), gdx = fixture.Put(dx);

        fixture.Launcher.Forward(gy.View, gx.View, 0.3f, 1.7f, seed: 5);
        fixture.Launcher.Backward(gdx.View, gdy.View, 0.3f, 1.7f, seed: 5);

        var y = TestData.Poisoned(length);
        CpuDropout.Forward(y, x, 0.3f, 1.7f, seed: 5);
        CpuDropout.Backward(dx, dy, 0.3f, 1.7f, seed: 5);
        Assert.Equal(y, fixture.Get(gy));
        Assert.Equal(dx, fixture.Get(gdx));
    }
}
