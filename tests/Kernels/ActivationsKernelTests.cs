using Engine.Backends;
using Engine.Kernels;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Kernels;

/// <summary>The activation kernels on the CPU accelerator against CpuGelu, CpuSwiGlu and CpuGeGlu (the oracle).
/// Tolerance 1e-6: the same formulas in the same order; only e^x may differ in the last bit (MathF.Exp here, Vector512.Exp in the CPU op).</summary>
[Collection(CpuAcceleratorCollection.Name)]
public class ActivationsKernelTests(KernelFixture<Activations> fixture) : IClassFixture<KernelFixture<Activations>>
{
    const double Tolerance = 1e-6;
    readonly Activations _activations = fixture.Launcher;

    /// <summary>Inputs in [−6, 6) plus extremes that would overflow a naive tanh or sigmoid.</summary>
    static float[] Inputs(int length, int seed)
    {
        var x = TestData.Uniform(length, seed, 6f);
        if (length > 3) (x[0], x[1], x[2]) = (-100f, 100f, 0f);
        return x;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(37)]
    [InlineData(300)]
    public void GeluForwardAndBackwardMatchCpu(int length)
    {
        var (x, dy) = (Inputs(length, 1), TestData.Uniform(length, 2));
        var y = TestData.Poisoned(length);
        CpuGelu.Forward(y, x);
        var dx = TestData.Uniform(length, 3);
        using DeviceArray<float> gx = fixture.Put(x), gy = fixture.Put(TestData.Poisoned(length)), gdy = fixture.Put(dy), gdx = fixture.Put(dx);

        _activations.GeluForward(gy.View, gx.View);
        _activations.GeluBackward(gdx.View, gdy.View, gx.View);
        CpuGelu.Backward(dx, dy, x);

        Check.Close(y, fixture.Get(gy), Tolerance, "y");
        Check.Close(dx, fixture.Get(gdx), Tolerance, "dx (accumulated onto its initial values)");
    }

    [Fact]
    public void GeluForwardInPlace()
    {
        var x = Inputs(50, 1);
        var y = new float[50];
        CpuGelu.Forward(y, x);
        using var gx = fixture.Put(x);
        _activations.GeluForward(gx.View, gx.View);
        Check.Close(y, fixture.Get(gx), Tolerance, "y written over x");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(37)]
    [InlineData(300)]
    public void SwiGluForwardAndBackwardMatchCpu(int length)
    {
        var (gate, up, dy) = (Inputs(length, 1), TestData.Uniform(length, 2, 3f), TestData.Uniform(length, 3));
        var y = TestData.Poisoned(length);
        CpuSwiGlu.Forward(y, gate, up);
        var (dGate, dUp) = (TestData.Uniform(length, 4), TestData.Uniform(length, 5));
        using DeviceArray<float> gGate = fixture.Put(gate), gUp = fixture.Put(up), gy = fixture.Put(TestData.Poisoned(length)), gdy = fixture.Put(dy);
        using DeviceArray<float> gdGate = fixture.Put(dGate), gdUp = fixture.Put(dUp);

        _activations.SwiGluForward(gy.View, gGate.View, gUp.View);
        _activations.SwiGluBackward(gdGate.View, gdUp.View, gdy.View, gGate.View, gUp.View);
        CpuSwiGlu.Backward(dGate, dUp, dy, gate, up);

        Check.Close(y, fixture.Get(gy), Tolerance, "y");
        Check.Close(dGate, fixture.Get(gdGate), Tolerance, "dGate (accumulated)");
        Check.Close(dUp, fixture.Get(gdUp), Tolerance, "dUp (accumulated)");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(37)]
    [InlineData(300)]
    public void GeGluForwardAndBackwardMatchCpu(int length)
    {
        var (gate, up, dy) = (Inputs(length, 6), TestData.Uniform(length, 7, 3f), TestData.Uniform(length, 8));
        var y = TestData.Poisoned(length);
        CpuGeGlu.Forward(y, gate, up);
        var (dGate, dUp) = (TestData.Uniform(length, 9), TestData.Uniform(length, 10));
        using DeviceArray<float> gGate = fixture.Put(gate), gUp = fixture.Put(up), gy = fixture.Put(TestData.Poisoned(length)), gdy = fixture.Put(dy);
        using DeviceArray<float> gdGate = fixture.Put(dGate), gdUp = fixture.Put(dUp);

        _activations.GeGluForward(gy.View, gGate.View, gUp.View);
        _activations.GeGluBackward(gdGate.View, gdUp.View, gdy.View, gGate.View, gUp.View);
        CpuGeGlu.Backward(dGate, dUp, dy, gate, up);

        Check.Close(y, fixture.Get(gy), Tolerance, "y");
        Check.Close(dGate, fixture.Get(gdGate), Tolerance, "dGate (accumulated)");
        Check.Close(dUp, fixture.Get(gdUp), Tolerance, "dUp (accumulated)");
    }

    [Fact]
    public void EmptyGradientsAreSkipped()
    {
        const int length = 45;
        var (gate, up, dy) = (Inputs(length, 1), TestData.Uniform(length, 2), TestData.Uniform(length, 3));
        var (dGate, dUp) = (TestData.Uniform(length, 4), TestData.Uniform(length, 5));
        using DeviceArray<float> gGate = fixture.Put(gate), gUp = fixture.Put(up), gdy = fixture.Put(dy), gdGate = fixture.Put(dGate), gdUp = fixture.Put(dUp);

        _activations.SwiGluBackward(default, gdUp.View, gdy.View, gGate.View, gUp.View);
        _activations.SwiGluBackward(gdGate.View, default, gdy.View, gGate.View, gUp.View);
        _activations.GeluBackward(default, gdy.View, gGate.View);
        _activations.SwiGluBackward(default, default, gdy.View, gGate.View, gUp.View);
        _activations.GeGluBackward(default, gdUp.View, gdy.View, gGate.View, gUp.View);
        _activations.GeGluBackward(gdGate.View, default, gdy.View, gGate.View, gUp.View);
        _activations.GeGluBackward(default, default, gdy.View, gGate.View, gUp.View);
        CpuSwiGlu.Backward(default, dUp, dy, gate, up);
        CpuSwiGlu.Backward(dGate, default, dy, gate, up);
        CpuGeGlu.Backward(default, dUp, dy, gate, up);
        CpuGeGlu.Backward(dGate, default, dy, gate, up);

        Check.Close(dGate, fixture.Get(gdGate), Tolerance, "dGate alone");
        Check.Close(dUp, fixture.Get(gdUp), Tolerance, "dUp alone");
    }

    [Fact]
    public void RunsAreBitIdentical()
    {
        const int length = 64;
        var (x, up) = (Inputs(length, 1), TestData.Uniform(length, 2));
        using DeviceArray<float> gx = fixture.Put(x), gUp = fixture.Put(up), gy = fixture.Put(new float[length]);
        _activations.SwiGluForward(gy.View, gx.View, gUp.View);
        var first = fixture.Get(gy);
        _activations.SwiGluForward(gy.View, gx.View, gUp.View);
        Assert.Equal(first, fixture.Get(gy));
        _activations.GeluForward(gy.View, gx.View);
        first = fixture.Get(gy);
        _activations.GeluForward(gy.View, gx.View);
        Assert.Equal(first, fixture.Get(gy));
    }
}
