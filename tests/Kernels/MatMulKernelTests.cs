using Engine.Diagnostics;
using Engine.Kernels;
using Engine.Tests.Ops;
using Engine.Tests.Support;
using ILGPU;
using Xunit;
using static Engine.Tests.Ops.MatMulReference;

namespace Engine.Tests.Kernels;

public class MatMulKernelTests(KernelFixture<MatMul> fixture) : IClassFixture<KernelFixture<MatMul>>
{
    readonly MatMul matMul = fixture.Launcher;

    /// <summary>The kernel forward into a NaN-poisoned y, with the bias or without (an empty view).</summary>
    float[] DeviceForward(MatMulCase c, bool withBias)
    {
        using DeviceArray<float> y = fixture.Put(TestData.Poisoned(c.N * c.OutDim)), x = fixture.Put(c.X), w = fixture.Put(c.W);
        using var bias = fixture.Put(withBias ? c.Bias : []);
        matMul.Forward(y.View, x.View, w.View, bias.View, c.N, c.InDim, c.OutDim);
        return fixture.Get(y);
    }

    /// <summary>The kernel backward for dy = c.Dy on device copies of the starting gradients; an empty array (a gradient, c.X or c.W) passes
    /// an empty view: a gradient not wanted, or an input not needed.</summary>
    (float[] dx, float[] dw, float[] dbias) DeviceBackward(MatMulCase c, (float[] dx, float[] dw, float[] dbias) start)
    {
        using DeviceArray<float> dx = fixture.Put(start.dx), dw = fixture.Put(start.dw), dbias = fixture.Put(start.dbias);
        using DeviceArray<float> dy = fixture.Put(c.Dy), x = fixture.Put(c.X), w = fixture.Put(c.W);
        matMul.Backward(dx.View, dw.View, dbias.View, dy.View, x.View, w.View, c.N, c.InDim, c.OutDim);
        return (fixture.Get(dx), fixture.Get(dw), fixture.Get(dbias));
    }

    /// <summary>A device copy of data that starts one element into its buffer, so no 16-byte access may be used on it.</summary>
    (DeviceArray<float> buffer, ArrayView<float> view) PutMisaligned(float[] data)
    {
        var buffer = fixture.Put(new float[1].Concat(data).ToArray());
        return (buffer, buffer.View.SubView(1, data.Length));
    }

    // Shapes: ragged against the 128 × 128 × 8 tile and 16-byte vectors (1, 5, 7, 17, 31, 33, 65, 70); k over several tiles (17, 40);
    // more than one tile of rows or columns (130, 132); 40/32/132 keep every leading dimension a multiple of 4 (the vectorized path).
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 1, 3 }, { 5, 7, 31 }, { 33, 17, 65 }, { 70, 40, 65 }, { 70, 40, 32 }, { 33, 40, 132 }, { 130, 8, 16 }, { 2, 1, 1 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ForwardMatchesFloat64Reference(int n, int inDim, int outDim)
    {
        var c = MatMulCase.Random(n, inDim, outDim, seed: 1);
        Check.Close(c.Forward64(withBias: true), DeviceForward(c, withBias: true), 1e-5, "y");
        Check.Close(c.Forward64(withBias: false), DeviceForward(c, withBias: false), 1e-5, "y without bias");
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void BackwardMatchesFloat64Reference(int n, int inDim, int outDim)
    {
        var c = MatMulCase.Random(n, inDim, outDim, seed: 4);
        CheckGradients(c.Backward64(), DeviceBackward(c, c.ZeroGradients()), 1e-5);
    }

    [Fact]
    public void BackwardMatchesFiniteDifferencesOfTheReference()
    {
        var c = MatMulCase.Random(5, 7, 3, seed: 7);
        CheckGradients(c.FiniteDifferenceGradients(), DeviceBackward(c, c.ZeroGradients()), 1e-5);
    }

    [Theory]
    [InlineData(33, 17, 65)]
    [InlineData(70, 40, 32)]
    public void BackwardAccumulatesIntoItsOutputs(int n, int inDim, int outDim)
    {
        var c = MatMulCase.Random(n, inDim, outDim, seed: 11);
        var start = c.RandomGradients(seed: 15);

        var twice = DeviceBackward(c, DeviceBackward(c, start));

        CheckGradients(TwiceAddedTo(start, c.Backward64()), twice, 1e-5, " after two calls");
    }

    [Fact]
    public void BackwardSkipsEmptyOutputsAndTheInputsOnlyTheyNeed()
    {
        var c = MatMulCase.Random(5, 7, 31, seed: 17);
        var (dx64, dw64, _) = c.Backward64();
        var zero = c.ZeroGradients();

        Check.Close(dw64, DeviceBackward(c with { W = [] }, ([], zero.dw, [])).dw, 1e-5, "dw alone");
        Check.Close(dx64, DeviceBackward(c with { X = [] }, (zero.dx, [], [])).dx, 1e-5, "dx alone");

        DeviceBackward(c with { X = [], W = [] }, ([], [], []));
        var e = Assert.Throws<ArgumentException>(() => DeviceBackward(c with { W = [] }, (zero.dx, [], [])));
        Assert.Equal("w", e.ParamName);
    }

    [Fact]
    public void MisalignedViewsTakeTheScalarPath()
    {
        var c = MatMulCase.Random(33, 40, 32, seed: 20);
        var (n, inDim, outDim) = (c.N, c.InDim, c.OutDim);
        var (xb, xv) = PutMisaligned(c.X);
        var (wb, wv) = PutMisaligned(c.W);
        var (dyb, dyv) = PutMisaligned(c.Dy);
        var (yb, yv) = PutMisaligned(TestData.Poisoned(n * outDim));
        var (dxb, dxv) = PutMisaligned(new float[n * inDim]);
        var (dwb, dwv) = PutMisaligned(new float[outDim * inDim]);
        using (xb) using (wb) using (dyb) using (yb) using (dxb) using (dwb)
        {
            matMul.Forward(yv, xv, wv, ArrayView<float>.Empty, n, inDim, outDim);
            matMul.Backward(dxv, dwv, ArrayView<float>.Empty, dyv, xv, wv, n, inDim, outDim);

            var (dx64, dw64, _) = c.Backward64();
            Check.Close(c.Forward64(withBias: false), fixture.Get(yv), 1e-5, "y");
            Check.Close(dx64, fixture.Get(dxv), 1e-5, "dx");
            Check.Close(dw64, fixture.Get(dwv), 1e-5, "dw");
        }
    }

    [Fact]
    public void SizeMismatchNamesTheArgument()
    {
        using var buffer = fixture.Put(new float[64]);
        var v = buffer.View;
        var e = Assert.Throws<ArgumentException>(() => matMul.Forward(v.SubView(0, 10), v.SubView(0, 12), v.SubView(0, 15), ArrayView<float>.Empty, 4, 3, 5));
        Assert.Equal("y", e.ParamName);
        e = Assert.Throws<ArgumentException>(() => matMul.Forward(v.SubView(0, 20), v.SubView(0, 12), v.SubView(0, 15), v.SubView(0, 4), 4, 3, 5));
        Assert.Equal("bias", e.ParamName);
    }

    [Fact]
    public void ResultsAreBitIdenticalRunToRun()
    {
        var c = MatMulCase.Random(70, 40, 65, seed: 23);

        float[][] Run()
        {
            var (dx, dw, dbias) = DeviceBackward(c, c.ZeroGradients());
            return [DeviceForward(c, withBias: true), dx, dw, dbias];
        }

        var first = Run();
        var second = Run();
        for (int i = 0; i < first.Length; i++) Assert.Equal(first[i], second[i]);
    }

    // bf16: ragged k (7, 17, 40 = one full 32-wide slice and a tail) and the scalar loads (k not a multiple of 8) beside the 16-byte ones
    // (16, 40, 64); more than one tile of rows (130) or columns (136).
    [Theory]
    [InlineData(5, 7, 31)]
    [InlineData(33, 40, 65)]
    [InlineData(70, 17, 3)]
    [InlineData(130, 16, 9)]
    [InlineData(3, 64, 136)]
    public void ForwardBf16MatchesFloat64ReferenceOnRoundedInputs(int n, int inDim, int outDim)
    {
        var x = Bf16Bits(TestData.Uniform(n * inDim, 27));
        var w = Bf16Bits(TestData.Uniform(outDim * inDim, 28));
        using DeviceArray<ushort> xd = fixture.Put(x), wd = fixture.Put(w);
        using var yd = fixture.Put(TestData.Poisoned(n * outDim));

        matMul.ForwardBf16(yd.View, xd.View, wd.View, n, inDim, outDim);

        // Products of bf16 values are exact in fp32, so the only error is fp32 accumulation over k ≤ 64 terms.
        var expected = Float64Reference.MatMul(Widened(x), Widened(w), null, n, inDim, outDim);
        Check.Close(expected, fixture.Get(yd), 1e-5, "y (bf16 inputs)");
    }

    static ushort[] Bf16Bits(float[] values)
    {
        var bits = new ushort[values.Length];
        Bf16.FromFloat(values, bits);
        return bits;
    }

    static double[] Widened(ushort[] bits) => bits.Select(b => (double)Bf16.ToFloat(b)).ToArray();

    [Fact]
    public void Bf16RoundsToNearestEven()
    {
        Assert.Equal(0x3F80, Bf16.FromFloat(1f));
        Assert.Equal(0x3F80, Bf16.FromFloat(1f + MathF.Pow(2, -8)));      // halfway between 0x3F80 and 0x3F81: to even
        Assert.Equal(0x3F82, Bf16.FromFloat(1f + 3 * MathF.Pow(2, -8)));  // halfway between 0x3F81 and 0x3F82: to even
        Assert.Equal(0x3F81, Bf16.FromFloat(1f + 1.5f * MathF.Pow(2, -8))); // above halfway: up
        Assert.Equal(0xBF80, Bf16.FromFloat(-1f));
        Assert.Equal(0x7F80, Bf16.FromFloat(float.MaxValue));              // rounds up to +infinity
        Assert.True(float.IsNaN(Bf16.ToFloat(Bf16.FromFloat(float.NaN))));
        Assert.Equal(-2.5f, Bf16.ToFloat(Bf16.FromFloat(-2.5f)));
    }
}
