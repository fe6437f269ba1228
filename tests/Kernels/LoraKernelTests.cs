using Engine.Backends;
using Engine.Kernels;
using Engine.Tests.Ops;
using Engine.Tests.Support;
using ILGPU;
using Xunit;

namespace Engine.Tests.Kernels;

/// <summary>The ILGPU LoRA launcher on the CPU accelerator against <see cref="CpuLora"/> (the oracle) on the same inputs.</summary>
[Collection(CpuAcceleratorCollection.Name)]
public class LoraKernelTests(KernelFixture<Lora> fixture) : IClassFixture<KernelFixture<Lora>>
{
    readonly Lora lora = fixture.Launcher;

    // Float32 against float32 in another summation order, sums of at most ~70 terms: a few ulps of the largest value.
    const double Tolerance = 1e-5;

    /// <summary>The operands on the device.</summary>
    sealed class DeviceCase(KernelFixture<Lora> f, LoraCase c) : IDisposable
    {
        public DeviceArray<float> X { get; } = f.Put(c.X);
        public DeviceArray<float> W { get; } = f.Put(c.W);
        public DeviceArray<float> Bias { get; } = f.Put(c.Bias);
        public DeviceArray<float> A { get; } = f.Put(c.A);
        public DeviceArray<float> B { get; } = f.Put(c.B);
        public DeviceArray<float> Dy { get; } = f.Put(c.Dy);

        public void Dispose()
        {
            foreach (var array in new[] { X, W, Bias, A, B, Dy }) array.Dispose();
        }
    }

    /// <summary>The kernel backward on device copies of the starting gradients (order of <see cref="LoraCase.GradientNames"/>; null: an empty
    /// view, not wanted); returns them all (an empty array for each not wanted).</summary>
    float[][] DeviceBackward(LoraCase c, DeviceCase d, DeviceArray<float> h, float[]?[] starts)
    {
        var g = starts.Select(start => fixture.Put(start ?? [])).ToArray();
        try
        {
            lora.Backward(g[0].View, g[1].View, g[2].View, g[3].View, g[4].View, d.Dy.View, d.X.View, d.W.View, d.A.View, d.B.View, h.View, c.Scale,
                c.N, c.InDim, c.OutDim, c.Rank);
            return [.. g.Select(fixture.Get)];
        }
        finally
        {
            foreach (var array in g) array.Dispose();
        }
    }

    // Ragged against the 128 × 128 × 8 tile and the 16-byte loads (rank 1 and 3 take the scalar path for the low-rank term, rank 8 the vector
    // one; in 40/32 every leading dimension of the first term is a multiple of 4); 132 columns and 130 rows span two tiles.
    public static TheoryData<int, int, int, int> Shapes => new()
    {
        { 5, 7, 31, 3 }, { 33, 17, 9, 1 }, { 20, 40, 32, 8 }, { 6, 40, 132, 3 }, { 130, 8, 16, 8 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ForwardMatchesTheCpuOp(int n, int inDim, int outDim, int rank)
    {
        var c = LoraCase.Random(n, inDim, outDim, rank, seed: 1);
        using var d = new DeviceCase(fixture, c);
        using var y = fixture.Put(TestData.Poisoned(n * outDim));
        using var h = fixture.Put(TestData.Poisoned(n * rank));
        using var yNoBias = fixture.Put(TestData.Poisoned(n * outDim));

        lora.Forward(y.View, h.View, d.X.View, d.W.View, d.Bias.View, d.A.View, d.B.View, c.Scale, n, inDim, outDim, rank);
        var hWithBias = fixture.Get(h);
        lora.Forward(yNoBias.View, h.View, d.X.View, d.W.View, ArrayView<float>.Empty, d.A.View, d.B.View, c.Scale, n, inDim, outDim, rank);

        var (yExpected, hExpected, yNoBiasExpected) = (new float[n * outDim], new float[n * rank], new float[n * outDim]);
        CpuLora.Forward(yExpected, hExpected, c.X, c.W, c.Bias, c.A, c.B, c.Scale, n, inDim, outDim, rank);
        CpuLora.Forward(yNoBiasExpected, hExpected, c.X, c.W, default, c.A, c.B, c.Scale, n, inDim, outDim, rank);
        Check.Close(yExpected, fixture.Get(y), Tolerance, "y");
        Check.Close(hExpected, hWithBias, Tolerance, "h");
        Check.Close(yNoBiasExpected, fixture.Get(yNoBias), Tolerance, "y without bias");
    }

    /// <summary>With B = 0 the fused second term adds exact zeros: y is the plain matmul launcher's output bit for bit.</summary>
    [Fact]
    public void WithZeroBTheOutputIsThePlainMatMulBitForBit()
    {
        var c = LoraCase.Random(33, 40, 65, 8, seed: 2) with { B = new float[65 * 8] };
        using var d = new DeviceCase(fixture, c);
        using var y = fixture.Put(TestData.Poisoned(c.N * c.OutDim));
        using var h = fixture.Put(TestData.Poisoned(c.N * c.Rank));
        using var linear = fixture.Put(TestData.Poisoned(c.N * c.OutDim));

        lora.Forward(y.View, h.View, d.X.View, d.W.View, d.Bias.View, d.A.View, d.B.View, c.Scale, c.N, c.InDim, c.OutDim, c.Rank);
        new MatMul(fixture.Accelerator).Forward(linear.View, d.X.View, d.W.View, d.Bias.View, c.N, c.InDim, c.OutDim);

        Assert.Equal(fixture.Get(linear), fixture.Get(y));
    }

    /// <summary>Every gradient, accumulated onto random starting values, against the CPU op doing the same.</summary>
    [Theory]
    [MemberData(nameof(Shapes))]
    public void BackwardAccumulatesLikeTheCpuOp(int n, int inDim, int outDim, int rank)
    {
        var c = LoraCase.Random(n, inDim, outDim, rank, seed: 3);
        var h = c.H();
        var starts = c.RandomGradients(seed: 30);
        using var d = new DeviceCase(fixture, c);
        using var hd = fixture.Put(h);

        var actual = DeviceBackward(c, d, hd, starts);

        var expected = starts.Select(s => s.ToArray()).ToArray();
        CpuLora.Backward(expected[0], expected[1], expected[2], expected[3], expected[4], c.Dy, c.X, c.W, c.A, c.B, h, c.Scale, n, inDim, outDim, rank);
        for (int i = 0; i < actual.Length; i++) Check.Close(expected[i], actual[i], Tolerance, LoraCase.GradientNames[i]);
    }

    /// <summary>A frozen W and bias pass empty views: nothing is launched for them and the other gradients are as in a full backward.</summary>
    [Fact]
    public void FrozenWeightAndBiasAreSkipped()
    {
        var c = LoraCase.Random(20, 40, 32, 8, seed: 4);
        var (n, inDim, outDim, rank) = (c.N, c.InDim, c.OutDim, c.Rank);
        var h = c.H();
        using var d = new DeviceCase(fixture, c);
        using var hd = fixture.Put(h);

        var frozen = DeviceBackward(c, d, hd, [new float[n * inDim], null, null, new float[rank * inDim], new float[outDim * rank]]);

        var (dxExpected, daExpected, dbExpected) = (new float[n * inDim], new float[rank * inDim], new float[outDim * rank]);
        CpuLora.Backward(dxExpected, default, default, daExpected, dbExpected, c.Dy, c.X, c.W, c.A, c.B, h, c.Scale, n, inDim, outDim, rank);
        Check.Close(dxExpected, frozen[0], Tolerance, "dx");
        Check.Close(daExpected, frozen[3], Tolerance, "dA");
        Check.Close(dbExpected, frozen[4], Tolerance, "dB");

        var dbAlone = DeviceBackward(c, d, hd, [null, null, null, null, new float[outDim * rank]]);
        Assert.Equal(frozen[4], dbAlone[4]);
    }

    [Fact]
    public void ResultsAreBitIdenticalRunToRun()
    {
        var c = LoraCase.Random(33, 17, 65, 3, seed: 5);
        var (n, inDim, outDim, rank) = (c.N, c.InDim, c.OutDim, c.Rank);
        using var d = new DeviceCase(fixture, c);

        float[][] Run()
        {
            using DeviceArray<float> y = fixture.Put(new float[n * outDim]), h = fixture.Put(new float[n * rank]);
            lora.Forward(y.View, h.View, d.X.View, d.W.View, d.Bias.View, d.A.View, d.B.View, c.Scale, n, inDim, outDim, rank);
            return [fixture.Get(y), fixture.Get(h), .. DeviceBackward(c, d, h, c.ZeroGradients())];
        }

        var first = Run();
        var second = Run();
        for (int i = 0; i < first.Length; i++) Assert.Equal(first[i], second[i]);
    }

    [Fact]
    public void SizeMismatchNamesTheArgument()
    {
        using var buffer = fixture.Put(new float[64]);
        var v = buffer.View;
        var e = Assert.Throws<ArgumentException>(() =>
            lora.Forward(v.SubView(0, 20), v.SubView(0, 4), v.SubView(0, 12), v.SubView(0, 15), ArrayView<float>.Empty, v.SubView(0, 4), v.SubView(0, 5), 1f, 4, 3, 5, 1));
        Assert.Equal("loraA", e.ParamName);
        e = Assert.Throws<ArgumentException>(() =>
            lora.Forward(v.SubView(0, 20), v.SubView(0, 4), v.SubView(0, 12), v.SubView(0, 15), ArrayView<float>.Empty, v.SubView(0, 6), v.SubView(0, 10), 1f, 4, 3, 5, 2));
        Assert.Equal("h", e.ParamName);
        e = Assert.Throws<ArgumentException>(() => lora.Backward(ArrayView<float>.Empty, ArrayView<float>.Empty, ArrayView<float>.Empty, v.SubView(0, 5),
            ArrayView<float>.Empty, v.SubView(0, 20), v.SubView(0, 12), v.SubView(0, 15), v.SubView(0, 3), v.SubView(0, 5), v.SubView(0, 4), 1f, 4, 3, 5, 1));
        Assert.Equal("dLoraA", e.ParamName);
    }
}
