using Engine.Diagnostics;
using Engine.Kernels;
using Engine.Tests.Ops;
using Engine.Tests.Support;
using Xunit;
using static Engine.Tests.Ops.MatMulReference;

namespace Engine.Tests.Kernels;

/// <summary>
/// A linear layer's three matmuls on bf16 operands (<see cref="Bf16MatMul"/>: x·Wᵀ, dy·W through Wᵀ, dyᵀ·x through the transposed roundings)
/// against float64 products of the bf16-rounded operands, where only the fp32 sums differ, and of the fp32 operands, where bf16 rounding
/// shows; and the rounding kernels against the host's rounding, bit for bit.
/// </summary>
[Collection(CpuAcceleratorCollection.Name)]
public class Bf16MatMulKernelTests(KernelFixture<Bf16MatMul> fixture) : IClassFixture<KernelFixture<Bf16MatMul>>
{
    readonly Bf16MatMul bf16 = fixture.Launcher;

    /// <summary>Sums of at most 130 exact products in fp32: a few ulps of the largest partial sum, far below this.</summary>
    const double RoundedOperands = 1e-5;

    /// <summary>Each operand rounded to bf16 moves by at most 2⁻⁹ relative; the product of two by about 2⁻⁸ (METHOD.md: 1e-3 to 1e-2).</summary>
    const double Fp32Operands = 1e-2;

    // Ragged k (7, 17) and the scalar loads (k not a multiple of 8) beside the 16-byte ones (16, 32, 40, 64); more than one 128-tile of rows
    // (130) or columns (136); for dW the depth is n (5, 33, 70, 130, 3).
    public static TheoryData<int, int, int> Shapes => new() { { 5, 7, 31 }, { 33, 40, 65 }, { 70, 17, 3 }, { 130, 16, 9 }, { 3, 64, 136 }, { 32, 32, 48 } };

    /// <summary>The case with x, w and dy rounded to bf16 values (the bias and everything fp32 kept): what the kernels multiply exactly.</summary>
    static MatMulCase Rounded(MatMulCase c) => c with { X = RoundTrip(c.X), W = RoundTrip(c.W), Dy = RoundTrip(c.Dy) };

    static float[] RoundTrip(float[] values) => values.Select(v => Bf16.ToFloat(Bf16.FromFloat(v))).ToArray();

    static ushort[] Bits(float[] values)
    {
        var bits = new ushort[values.Length];
        Bf16.FromFloat(values, bits);
        return bits;
    }

    float[] Forward(MatMulCase c, bool withBias)
    {
        using DeviceArray<float> y = fixture.Put(TestData.Poisoned(c.N * c.OutDim)), x = fixture.Put(c.X), bias = fixture.Put(withBias ? c.Bias : []);
        using var w = fixture.Put(Bits(c.W));
        bf16.Forward(y.View, x.View, w.View, bias.View, c.N, c.InDim, c.OutDim);
        return fixture.Get(y);
    }

    (float[] dx, float[] dw, float[] dbias) Backward(MatMulCase c, (float[] dx, float[] dw, float[] dbias) start)
    {
        using DeviceArray<float> dx = fixture.Put(start.dx), dw = fixture.Put(start.dw), dbias = fixture.Put(start.dbias);
        using DeviceArray<float> dy = fixture.Put(c.Dy), x = fixture.Put(c.X);
        using var wTransposed = fixture.Put(Bits(Float64Reference.Transpose(c.W, c.OutDim, c.InDim)));
        bf16.Backward(dx.View, dw.View, dbias.View, dy.View, x.View, wTransposed.View, c.N, c.InDim, c.OutDim);
        return (fixture.Get(dx), fixture.Get(dw), fixture.Get(dbias));
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ForwardMatchesFloat64OfTheRoundedAndOfTheFp32Operands(int n, int inDim, int outDim)
    {
        var c = MatMulCase.Random(n, inDim, outDim, seed: 21);
        var withBias = Forward(c, withBias: true);
        Check.Close(Rounded(c).Forward64(withBias: true), withBias, RoundedOperands, "y (rounded operands)");
        Check.Close(Rounded(c).Forward64(withBias: false), Forward(c, withBias: false), RoundedOperands, "y without bias (rounded operands)");
        Check.Close(c.Forward64(withBias: true), withBias, Fp32Operands, "y (fp32 operands)");
    }

    /// <summary>dx = dy·W and dW = dyᵀ·x from bf16 operands, dbias from the fp32 dy, each added onto random starting values (what was added
    /// is compared: an overwrite would leave the start out).</summary>
    [Theory]
    [MemberData(nameof(Shapes))]
    public void BackwardMatchesFloat64OfTheRoundedAndOfTheFp32Operands(int n, int inDim, int outDim)
    {
        var c = MatMulCase.Random(n, inDim, outDim, seed: 24);
        var start = c.RandomGradients(seed: 31);
        var actual = Backward(c, start);
        var added = (Minus(actual.dx, start.dx), Minus(actual.dw, start.dw), Minus(actual.dbias, start.dbias));

        var rounded = Rounded(c).Backward64();
        var exact = c.Backward64();
        CheckGradients((rounded.dx, rounded.dw, exact.dbias), added, RoundedOperands, " (rounded operands; dbias from the fp32 dy)");
        Check.Close(exact.dx, added.Item1, Fp32Operands, "dx (fp32 operands)");
        Check.Close(exact.dw, added.Item2, Fp32Operands, "dw (fp32 operands)");
    }

    /// <summary>A gradient not wanted is skipped, and the input only it needs may be empty.</summary>
    [Fact]
    public void BackwardSkipsTheGradientsNotWanted()
    {
        var c = MatMulCase.Random(9, 24, 20, seed: 3);
        var expected = Rounded(c).Backward64();
        using DeviceArray<float> dx = fixture.Put(new float[c.N * c.InDim]), dw = fixture.Put(new float[c.OutDim * c.InDim]), dy = fixture.Put(c.Dy), x = fixture.Put(c.X);
        using var wTransposed = fixture.Put(Bits(Float64Reference.Transpose(c.W, c.OutDim, c.InDim)));
        using DeviceArray<float> none = fixture.Put(Array.Empty<float>());
        using DeviceArray<ushort> noBits = fixture.Put(Array.Empty<ushort>());

        bf16.Backward(dx.View, none.View, none.View, dy.View, none.View, wTransposed.View, c.N, c.InDim, c.OutDim);
        bf16.Backward(none.View, dw.View, none.View, dy.View, x.View, noBits.View, c.N, c.InDim, c.OutDim);

        Check.Close(expected.dx, fixture.Get(dx), RoundedOperands, "dx alone");
        Check.Close(expected.dw, fixture.Get(dw), RoundedOperands, "dw alone");
    }

    /// <summary>Ties to even, NaN, infinities, overflow and ordinary values: the device rounds every one as the host does, laid out and transposed
    /// (ragged against the 32 × 32 tile: 33 × 17 and 5 × 70).</summary>
    [Theory]
    [InlineData(33, 17)]
    [InlineData(5, 70)]
    public void RoundingKernelsRoundAsTheHost(int rows, int cols)
    {
        var values = TestData.Uniform(rows * cols, seed: 8, scale: 100f);
        float[] special = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, float.MaxValue, 1f + MathF.Pow(2, -8), 1f + 3 * MathF.Pow(2, -8), -0f, 1e-40f];
        special.CopyTo(values, 0);
        using var source = fixture.Put(values);
        using DeviceArray<ushort> laidOut = fixture.Put(new ushort[values.Length]), transposed = fixture.Put(new ushort[values.Length]);

        bf16.Rounding.Round(laidOut.View, source.View);
        bf16.Rounding.RoundTransposed(transposed.View, source.View, rows, cols);

        Assert.Equal(Bits(values), fixture.Get(laidOut));
        Assert.Equal(Bits(Float64Reference.Transpose(values, rows, cols)), fixture.Get(transposed));
    }

    static float[] Minus(float[] a, float[] b) => a.Select((v, i) => v - b[i]).ToArray();
}
