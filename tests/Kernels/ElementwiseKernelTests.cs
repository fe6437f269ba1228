using Engine.Backends;
using Engine.Kernels;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Kernels;

/// <summary>The elementwise kernels on the CPU accelerator against CpuElementwise (the oracle): one correctly rounded float op per element, so bit-identical.</summary>
[Collection(CpuAcceleratorCollection.Name)]
public class ElementwiseKernelTests(KernelFixture<Elementwise> fixture) : IClassFixture<KernelFixture<Elementwise>>
{
    readonly Elementwise _elementwise = fixture.Launcher;

    [Theory]
    [InlineData(1)]
    [InlineData(37)]
    [InlineData(1000)]
    public void AddAccumulateAndScaleMatchCpu(int length)
    {
        var (a, b) = (TestData.Uniform(length, 1), TestData.Uniform(length, 2));
        var y = TestData.Poisoned(length);
        CpuElementwise.Add(y, a, b);
        using DeviceArray<float> ga = fixture.Put(a), gb = fixture.Put(b), gy = fixture.Put(TestData.Poisoned(length));

        _elementwise.Add(gy.View, ga.View, gb.View);
        Assert.Equal(y, fixture.Get(gy));

        _elementwise.Accumulate(ga.View, gb.View);
        CpuElementwise.Accumulate(a, b);
        Assert.Equal(a, fixture.Get(ga));

        _elementwise.Scale(ga.View, -0.37f);
        CpuElementwise.Scale(a, -0.37f);
        Assert.Equal(a, fixture.Get(ga));
    }

    [Fact]
    public void AddInPlace()
    {
        var (a, b) = (TestData.Uniform(20, 1), TestData.Uniform(20, 2));
        using DeviceArray<float> ga = fixture.Put(a), gb = fixture.Put(b);
        _elementwise.Add(ga.View, ga.View, gb.View);
        CpuElementwise.Add(a, a, b);
        Assert.Equal(a, fixture.Get(ga));
    }

    [Fact]
    public void MismatchedLengthsAreRejected()
    {
        using DeviceArray<float> a = fixture.Put(new float[4]), b = fixture.Put(new float[5]);
        var error = Assert.Throws<ArgumentException>(() => _elementwise.Accumulate(a.View, b.View));
        Assert.Equal("src", error.ParamName);
    }
}
