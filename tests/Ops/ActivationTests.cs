using Engine.Backends;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Ops;

/// <summary>GELU, SwiGLU and GeGLU at each vector width (the nested classes).</summary>
public abstract class ActivationTests(int bits) : AtLaneWidth(bits)
{
    static readonly double SqrtTwoOverPi = Math.Sqrt(2 / Math.PI);

    /// <summary>float64 reference GELU, tanh form: ½x(1 + tanh(√(2/π)(x + 0.044715x³))).</summary>
    static double Gelu64(double x) => 0.5 * x * (1 + Math.Tanh(SqrtTwoOverPi * (x + 0.044715 * x * x * x)));

    /// <summary>Its derivative, differentiated by hand (for inputs too many or too large for finite differences).</summary>
    static double GeluDerivative64(double x)
    {
        double t = Math.Tanh(SqrtTwoOverPi * (x + 0.044715 * x * x * x));
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SqrtTwoOverPi * (1 + 3 * 0.044715 * x * x);
    }

    static double Sigmoid64(double g) => g >= 0 ? 1 / (1 + Math.Exp(-g)) : Math.Exp(g) / (1 + Math.Exp(g));

    /// <summary>float64 reference SwiGLU: g·σ(g)·up.</summary>
    static double SwiGlu64(double g, double up) => g * Sigmoid64(g) * up;

    /// <summary>float64 reference GeGLU: gelu(g)·up, tanh form.</summary>
    static double GeGlu64(double g, double up) => Gelu64(g) * up;

    static double[] Map(double[] x, Func<double, double> f) => x.Select(f).ToArray();

    /// <summary>Ragged lengths around the vector widths, and one past 64K elements: the parallel path.</summary>
    public static TheoryData<int> ForwardLengths => [1, 7, 33, 100, 70_001];

    /// <summary>Ragged lengths small enough for element-wise finite differences.</summary>
    public static TheoryData<int> FiniteDifferenceLengths => [1, 7, 33, 100];

    [Theory]
    [MemberData(nameof(ForwardLengths))]
    public void GeluForwardMatchesFloat64Reference(int length)
    {
        var x = TestData.Uniform(length, 1, 4f);
        var y = TestData.Poisoned(length);
        CpuGelu.Forward(y, x);
        Check.Close(Map(TestData.ToDouble(x), Gelu64), y, 1e-5, "gelu");
    }

    [Theory]
    [MemberData(nameof(FiniteDifferenceLengths))]
    public void GeluBackwardMatchesFiniteDifferences(int length)
    {
        var x = TestData.Uniform(length, 2, 4f);
        var r = TestData.Uniform(length, 3);
        var dx64 = FiniteDifference.Gradient(xs => FiniteDifference.Dot(Map(xs, Gelu64), r), TestData.ToDouble(x));
        var dx = new float[length];
        CpuGelu.Backward(dx, r, x);
        Check.Close(dx64, dx, 1e-5, "gelu dx");
    }

    [Fact]
    public void GeluOfManyElementsMatchesReferenceAndPiecewiseCallsBitForBit()
    {
        const int length = 70_001, piece = 1024;
        var x = TestData.Uniform(length, 4, 4f);
        var dy = TestData.Uniform(length, 5);
        var y = TestData.Poisoned(length);
        var dx = new float[length];
        CpuGelu.Forward(y, x);
        CpuGelu.Backward(dx, dy, x);

        var dx64 = new double[length];
        for (int i = 0; i < length; i++) dx64[i] = dy[i] * GeluDerivative64(x[i]);
        Check.Close(dx64, dx, 1e-5, "gelu dx");

        var yPieces = TestData.Poisoned(length);
        var dxPieces = new float[length];
        for (int start = 0; start < length; start += piece)
        {
            int count = Math.Min(piece, length - start);
            CpuGelu.Forward(yPieces.AsSpan(start, count), x.AsSpan(start, count));
            CpuGelu.Backward(dxPieces.AsSpan(start, count), dy.AsSpan(start, count), x.AsSpan(start, count));
        }
        Assert.Equal(yPieces, y);
        Assert.Equal(dxPieces, dx);
    }

    [Fact]
    public void GeluAccumulatesAndSkipsEmptyGradient()
    {
        var x = TestData.Uniform(37, 6, 3f);
        var dy = TestData.Uniform(37, 7);
        var dx = new float[37];
        CpuGelu.Backward(dx, dy, x);
        var once = (float[])dx.Clone();
        CpuGelu.Backward(dx, dy, x);
        Assert.Equal(once.Select(v => 2 * v), dx);
        CpuGelu.Backward(default, dy, x);
    }

    [Fact]
    public void GeluStaysFiniteAtExtremeInputs()
    {
        // Extremes at both ends, so they pass through the vector loop and the scalar tail.
        float[] x = [-20, 20, -1000, 1000, -5, 5, 0, 0.5f, -0.5f, 1, 2, 3, 4, 6, 7, 8, 9, -9, -20, 20, -1000, 1000, -5];
        var dy = Enumerable.Repeat(1f, x.Length).ToArray();
        var y = TestData.Poisoned(x.Length);
        var dx = new float[x.Length];
        CpuGelu.Forward(y, x);
        CpuGelu.Backward(dx, dy, x);
        for (int i = 0; i < x.Length; i++)
        {
            AssertCloseElement(Gelu64(x[i]), y[i], $"gelu({x[i]})");
            AssertCloseElement(GeluDerivative64(x[i]), dx[i], $"gelu'({x[i]})");
        }
    }

    [Theory]
    [MemberData(nameof(ForwardLengths))]
    public void SwiGluForwardMatchesFloat64Reference(int length)
    {
        var gate = TestData.Uniform(length, 10, 6f);
        var up = TestData.Uniform(length, 11, 2f);
        var y = TestData.Poisoned(length);
        CpuSwiGlu.Forward(y, gate, up);
        var y64 = new double[length];
        for (int i = 0; i < length; i++) y64[i] = SwiGlu64(gate[i], up[i]);
        Check.Close(y64, y, 1e-5, "swiglu");
    }

    [Theory]
    [MemberData(nameof(FiniteDifferenceLengths))]
    public void SwiGluBackwardMatchesFiniteDifferences(int length)
    {
        var gate = TestData.Uniform(length, 12, 6f);
        var up = TestData.Uniform(length, 13, 2f);
        var r = TestData.Uniform(length, 14);
        double[] gate64 = TestData.ToDouble(gate), up64 = TestData.ToDouble(up);
        double Loss(double[] gs, double[] us) => FiniteDifference.Dot(gs.Select((g, i) => SwiGlu64(g, us[i])).ToArray(), r);
        var dGate64 = FiniteDifference.Gradient(gs => Loss(gs, up64), gate64);
        var dUp64 = FiniteDifference.Gradient(us => Loss(gate64, us), up64);

        var dGate = new float[length];
        var dUp = new float[length];
        CpuSwiGlu.Backward(dGate, dUp, r, gate, up);
        Check.Close(dGate64, dGate, 1e-5, "dGate");
        Check.Close(dUp64, dUp, 1e-5, "dUp");
    }

    [Fact]
    public void SwiGluAccumulatesAndSkipsEmptyGradients()
    {
        const int length = 41;
        var gate = TestData.Uniform(length, 15, 4f);
        var up = TestData.Uniform(length, 16);
        var dy = TestData.Uniform(length, 17);
        var dGate = new float[length];
        var dUp = new float[length];
        CpuSwiGlu.Backward(dGate, dUp, dy, gate, up);
        var dGateOnce = (float[])dGate.Clone();
        var dUpOnce = (float[])dUp.Clone();
        CpuSwiGlu.Backward(dGate, dUp, dy, gate, up);
        Assert.Equal(dGateOnce.Select(v => 2 * v), dGate);
        Assert.Equal(dUpOnce.Select(v => 2 * v), dUp);

        var dGateOnly = new float[length];
        CpuSwiGlu.Backward(dGateOnly, default, dy, gate, up);
        Assert.Equal(dGateOnce, dGateOnly);
        var dUpOnly = new float[length];
        CpuSwiGlu.Backward(default, dUpOnly, dy, gate, up);
        Assert.Equal(dUpOnce, dUpOnly);
    }

    [Fact]
    public void SwiGluOfManyElementsEqualsPiecewiseCallsBitForBit()
    {
        const int length = 70_001, piece = 1024;
        var gate = TestData.Uniform(length, 18, 6f);
        var up = TestData.Uniform(length, 19);
        var dy = TestData.Uniform(length, 20);
        var y = TestData.Poisoned(length);
        var dGate = new float[length];
        var dUp = new float[length];
        CpuSwiGlu.Forward(y, gate, up);
        CpuSwiGlu.Backward(dGate, dUp, dy, gate, up);

        var yPieces = TestData.Poisoned(length);
        var dGatePieces = new float[length];
        var dUpPieces = new float[length];
        for (int start = 0; start < length; start += piece)
        {
            int count = Math.Min(piece, length - start);
            CpuSwiGlu.Forward(yPieces.AsSpan(start, count), gate.AsSpan(start, count), up.AsSpan(start, count));
            CpuSwiGlu.Backward(dGatePieces.AsSpan(start, count), dUpPieces.AsSpan(start, count), dy.AsSpan(start, count),
                gate.AsSpan(start, count), up.AsSpan(start, count));
        }
        Assert.Equal(yPieces, y);
        Assert.Equal(dGatePieces, dGate);
        Assert.Equal(dUpPieces, dUp);
    }

    [Fact]
    public void SwiGluStaysFiniteAtExtremeInputs()
    {
        float[] gate = [-20, 20, -100, 100, -1000, 1000, 0, 0.5f, -0.5f, 1, 2, 3, 4, 6, 7, 8, 9, -9, -20, 20, -100, 100, -1000, 1000];
        var up = TestData.Uniform(gate.Length, 21, 2f);
        var dy = TestData.Uniform(gate.Length, 22);
        var y = TestData.Poisoned(gate.Length);
        var dGate = new float[gate.Length];
        var dUp = new float[gate.Length];
        CpuSwiGlu.Forward(y, gate, up);
        CpuSwiGlu.Backward(dGate, dUp, dy, gate, up);
        for (int i = 0; i < gate.Length; i++)
        {
            double g = gate[i], s = Sigmoid64(g);
            AssertCloseElement(SwiGlu64(g, up[i]), y[i], $"swiglu({g})");
            AssertCloseElement(dy[i] * up[i] * s * (1 + g * (1 - s)), dGate[i], $"dGate({g})");
            AssertCloseElement(dy[i] * g * s, dUp[i], $"dUp({g})");
        }
    }

    [Theory]
    [MemberData(nameof(ForwardLengths))]
    public void GeGluForwardMatchesFloat64Reference(int length)
    {
        var gate = TestData.Uniform(length, 30, 6f);
        var up = TestData.Uniform(length, 31, 2f);
        var y = TestData.Poisoned(length);
        CpuGeGlu.Forward(y, gate, up);
        var y64 = new double[length];
        for (int i = 0; i < length; i++) y64[i] = GeGlu64(gate[i], up[i]);
        Check.Close(y64, y, 1e-5, "geglu");
    }

    [Theory]
    [MemberData(nameof(FiniteDifferenceLengths))]
    public void GeGluBackwardMatchesFiniteDifferences(int length)
    {
        var gate = TestData.Uniform(length, 32, 6f);
        var up = TestData.Uniform(length, 33, 2f);
        var r = TestData.Uniform(length, 34);
        double[] gate64 = TestData.ToDouble(gate), up64 = TestData.ToDouble(up);
        double Loss(double[] gs, double[] us) => FiniteDifference.Dot(gs.Select((g, i) => GeGlu64(g, us[i])).ToArray(), r);
        var dGate64 = FiniteDifference.Gradient(gs => Loss(gs, up64), gate64);
        var dUp64 = FiniteDifference.Gradient(us => Loss(gate64, us), up64);

        var dGate = new float[length];
        var dUp = new float[length];
        CpuGeGlu.Backward(dGate, dUp, r, gate, up);
        Check.Close(dGate64, dGate, 1e-5, "dGate");
        Check.Close(dUp64, dUp, 1e-5, "dUp");
    }

    [Fact]
    public void GeGluAccumulatesAndSkipsEmptyGradients()
    {
        const int length = 41;
        var gate = TestData.Uniform(length, 35, 4f);
        var up = TestData.Uniform(length, 36);
        var dy = TestData.Uniform(length, 37);
        var dGate = new float[length];
        var dUp = new float[length];
        CpuGeGlu.Backward(dGate, dUp, dy, gate, up);
        var dGateOnce = (float[])dGate.Clone();
        var dUpOnce = (float[])dUp.Clone();
        CpuGeGlu.Backward(dGate, dUp, dy, gate, up);
        Assert.Equal(dGateOnce.Select(v => 2 * v), dGate);
        Assert.Equal(dUpOnce.Select(v => 2 * v), dUp);

        var dGateOnly = new float[length];
        CpuGeGlu.Backward(dGateOnly, default, dy, gate, up);
        Assert.Equal(dGateOnce, dGateOnly);
        var dUpOnly = new float[length];
        CpuGeGlu.Backward(default, dUpOnly, dy, gate, up);
        Assert.Equal(dUpOnce, dUpOnly);
    }

    /// <summary>The parallel path (70,001 elements) equals one call per 1024-element piece, and every element is GELU's times up: the same
    /// float operations as CpuGelu's forward and backward, bit for bit.</summary>
    [Fact]
    public void GeGluOfManyElementsEqualsPiecewiseCallsAndGelusOwnValuesBitForBit()
    {
        const int length = 70_001, piece = 1024;
        var gate = TestData.Uniform(length, 38, 6f);
        var up = TestData.Uniform(length, 39);
        var dy = TestData.Uniform(length, 40);
        var y = TestData.Poisoned(length);
        var dGate = new float[length];
        var dUp = new float[length];
        CpuGeGlu.Forward(y, gate, up);
        CpuGeGlu.Backward(dGate, dUp, dy, gate, up);

        var yPieces = TestData.Poisoned(length);
        var dGatePieces = new float[length];
        var dUpPieces = new float[length];
        for (int start = 0; start < length; start += piece)
        {
            int count = Math.Min(piece, length - start);
            CpuGeGlu.Forward(yPieces.AsSpan(start, count), gate.AsSpan(start, count), up.AsSpan(start, count));
            CpuGeGlu.Backward(dGatePieces.AsSpan(start, count), dUpPieces.AsSpan(start, count), dy.AsSpan(start, count),
                gate.AsSpan(start, count), up.AsSpan(start, count));
        }
        Assert.Equal(yPieces, y);
        Assert.Equal(dGatePieces, dGate);
        Assert.Equal(dUpPieces, dUp);

        var gelu = new float[length];
        var geluDerivative = new float[length];
        CpuGelu.Forward(gelu, gate);
        CpuGelu.Backward(geluDerivative, Enumerable.Repeat(1f, length).ToArray(), gate);
        Assert.Equal(gelu.Select((g, i) => g * up[i]), y);
        Assert.Equal(gelu.Select((g, i) => 0f + dy[i] * g), dUp);
        Assert.Equal(geluDerivative.Select((d, i) => 0f + dy[i] * up[i] * d), dGate);
    }

    [Fact]
    public void GeGluStaysFiniteAtExtremeInputs()
    {
        float[] gate = [-20, 20, -100, 100, -1000, 1000, 0, 0.5f, -0.5f, 1, 2, 3, 4, 6, 7, 8, 9, -9, -20, 20, -100, 100, -1000, 1000];
        var up = TestData.Uniform(gate.Length, 41, 2f);
        var dy = TestData.Uniform(gate.Length, 42);
        var y = TestData.Poisoned(gate.Length);
        var dGate = new float[gate.Length];
        var dUp = new float[gate.Length];
        CpuGeGlu.Forward(y, gate, up);
        CpuGeGlu.Backward(dGate, dUp, dy, gate, up);
        for (int i = 0; i < gate.Length; i++)
        {
            double g = gate[i];
            AssertCloseElement(GeGlu64(g, up[i]), y[i], $"geglu({g})");
            AssertCloseElement(dy[i] * up[i] * GeluDerivative64(g), dGate[i], $"dGate({g})");
            AssertCloseElement(dy[i] * Gelu64(g), dUp[i], $"dUp({g})");
        }
    }

    [Fact]
    public void MismatchedLengthsThrowNamingTheArgument()
    {
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => CpuGelu.Forward(new float[4], new float[5])).ParamName);
        Assert.Equal("up", Assert.Throws<ArgumentException>(() => CpuSwiGlu.Forward(new float[4], new float[4], new float[3])).ParamName);
        Assert.Equal("dUp", Assert.Throws<ArgumentException>(() =>
            CpuSwiGlu.Backward(new float[4], new float[5], new float[4], new float[4], new float[4])).ParamName);
        Assert.Equal("up", Assert.Throws<ArgumentException>(() => CpuGeGlu.Forward(new float[4], new float[4], new float[3])).ParamName);
        Assert.Equal("dGate", Assert.Throws<ArgumentException>(() =>
            CpuGeGlu.Backward(new float[5], new float[4], new float[4], new float[4], new float[4])).ParamName);
    }

    /// <summary>Finite and within float32 rounding of the reference: |actual − expected| ≤ 1e-6·max(1, |expected|).</summary>
    static void AssertCloseElement(double expected, float actual, string what)
    {
        Assert.True(float.IsFinite(actual), $"{what} = {actual} is not finite");
        Assert.True(Math.Abs(actual - expected) <= 1e-6 * Math.Max(1, Math.Abs(expected)), $"{what} = {actual}, expected {expected}");
    }

    public sealed class Scalar() : ActivationTests(32);
    public sealed class Bits256() : ActivationTests(256);
    public sealed class Bits512() : ActivationTests(512);
}
