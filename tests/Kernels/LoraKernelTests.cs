using Engine.Backends.Cpu;
using Engine.Kernels;
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

    /// <summary>Inputs of one layer: x [n, in], W [out, in], bias [out], A [rank, in], B [out, rank], dy [n, out].</summary>
    sealed record Case(int N, int InDim, int OutDim, int Rank, float Scale, float[] X, float[] W, float[] Bias, float[] A, float[] B, float[] Dy)
    {
        public static Case Random(int n, int inDim, int outDim, int rank, int seed) => new(n, inDim, outDim, rank, 2f / MathF.Sqrt(rank),
            TestData.Uniform(n * inDim, seed), TestData.Uniform(outDim * inDim, seed + 1), TestData.Uniform(outDim, seed + 2),
            TestData.Uniform(rank * inDim, seed + 3), TestData.Uniform(outDim * rank, seed + 4), TestData.Uniform(n * outDim, seed + 5));
    }

    /// <summary>The operands on the device.</summary>
    sealed class DeviceCase(KernelFixture<Lora> f, Case c) : IDisposable
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
        var c = Case.Random(n, inDim, outDim, rank, seed: 1);
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
        var c = Case.Random(33, 40, 65, 8, seed: 2) with { B = new float[65 * 8] };
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
        var c = Case.Random(n, inDim, outDim, rank, seed: 3);
        var h = new float[n * rank];
        CpuLora.Forward(new float[n * outDim], h, c.X, c.W, c.Bias, c.A, c.B, c.Scale, n, inDim, outDim, rank);
        float[][] starts = [TestData.Uniform(n * inDim, 30), TestData.Uniform(outDim * inDim, 31), TestData.Uniform(outDim, 32),
            TestData.Uniform(rank * inDim, 33), TestData.Uniform(outDim * rank, 34)];
        using var d = new DeviceCase(fixture, c);
        using var hd = fixture.Put(h);
        var grads = starts.Select(fixture.Put).ToArray();
        try
        {
            lora.Backward(grads[0].View, grads[1].View, grads[2].View, grads[3].View, grads[4].View, d.Dy.View, d.X.View, d.W.View, d.A.View, d.B.View,
                hd.View, c.Scale, n, inDim, outDim, rank);

            var expected = starts.Select(s => s.ToArray()).ToArray();
            CpuLora.Backward(expected[0], expected[1], expected[2], expected[3], expected[4], c.Dy, c.X, c.W, c.A, c.B, h, c.Scale, n, inDim, outDim, rank);
            string[] names = ["dx", "dw", "dbias", "dA", "dB"];
            for (int i = 0; i < names.Length; i++) Check.Close(expected[i], fixture.Get(grads[i]), Tolerance, names[i]);
        }
        finally
        {
            foreach (var g in grads) g.Dispose();
        }
    }

    /// <summary>A frozen W and bias pass empty views: nothing is launched for them and the other gradients are as in a full backward.</summary>
    [Fact]
    public void FrozenWeightAndBiasAreSkipped()
    {
        var c = Case.Random(20, 40, 32, 8, seed: 4);
        var (n, inDim, outDim, rank) = (c.N, c.InDim, c.OutDim, c.Rank);
        var h = new float[n * rank];
        CpuLora.Forward(new float[n * outDim], h, c.X, c.W, c.Bias, c.A, c.B, c.Scale, n, inDim, outDim, rank);
        using var d = new DeviceCase(fixture, c);
        using var hd = fixture.Put(h);
        using var dx = fixture.Put(new float[n * inDim]);
        using var da = fixture.Put(new float[rank * inDim]);
        using var db = fixture.Put(new float[outDim * rank]);
        var empty = ArrayView<float>.Empty;

        lora.Backward(dx.View, empty, empty, da.View, db.View, d.Dy.View, d.X.View, d.W.View, d.A.View, d.B.View, hd.View, c.Scale, n, inDim, outDim, rank);

        var (dxExpected, daExpected, dbExpected) = (new float[n * inDim], new float[rank * inDim], new float[outDim * rank]);
        CpuLora.Backward(dxExpected, default, default, daExpected, dbExpected, c.Dy, c.X, c.W, c.A, c.B, h, c.Scale, n, inDim, outDim, rank);
        Check.Close(dxExpected, fixture.Get(dx), Tolerance, "dx");
        Check.Close(daExpected, fixture.Get(da), Tolerance, "dA");
        Check.Close(dbExpected, fixture.Get(db), Tolerance, "dB");

        using var dbAlone = fixture.Put(new float[outDim * rank]);
        lora.Backward(empty, empty, empty, empty, dbAlone.View, d.Dy.View, d.X.View, d.W.View, d.A.View, d.B.View, hd.View, c.Scale, n, inDim, outDim, rank);
        Assert.Equal(fixture.Get(db), fixture.Get(dbAlone));
    }

    [Fact]
    public void ResultsAreBitIdenticalRunToRun()
    {
        var c = Case.Random(33, 17, 65, 3, seed: 5);
        var (n, inDim, outDim, rank) = (c.N, c.InDim, c.OutDim, c.Rank);
        using var d = new DeviceCase(fixture, c);

        float[][] Run()
        {
            using var y = fixture.Put(new float[n * outDim]);
            using var h = fixture.Put(new float[n * rank]);
            using var dx = fixture.Put(new float[n * inDim]);
            using var dw = fixture.Put(new float[outDim * inDim]);
            using var dbias = fixture.Put(new float[outDim]);
            using var da = fixture.Put(new float[rank * inDim]);
            using var db = fixture.Put(new float[outDim * rank]);
            lora.Forward(y.View, h.View, d.X.View, d.W.View, d.Bias.View, d.A.View, d.B.View, c.Scale, n, inDim, outDim, rank);
            lora.Backward(dx.View, dw.View, dbias.View, da.View, db.View, d.Dy.View, d.X.View, d.W.View, d.A.View, d.B.View, h.View, c.Scale, n, inDim, outDim, rank);
            return [fixture.Get(y), fixture.Get(h), fixture.Get(dx), fixture.Get(dw), fixture.Get(dbias), fixture.Get(da), fixture.Get(db)];
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
