using Engine.Backends;
using Engine.Tensors;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Kernels;

/// <summary>IlgpuBackend on the CPU simulator ("ilgpu-cpu"): memory (allocation, pool, views, copies) and a few ops through
/// the IBackend interface against CpuBackend.</summary>
[Collection(CpuAcceleratorCollection.Name)]
public class IlgpuBackendTests(IlgpuCpuBackendFixture fixture) : IClassFixture<IlgpuCpuBackendFixture>
{
    readonly IlgpuBackend _backend = fixture.Backend;

    float[] Read(IBackend backend, Tensor t)
    {
        var data = new float[t.Length];
        backend.Download(t, data);
        return data;
    }

    [Fact]
    public void AllocateGivesZerosAndUploadDownloadRoundTrips()
    {
        using var t = _backend.Allocate(DType.F32, 3, 5);
        Assert.Equal(new float[15], Read(_backend, t));
        var data = TestData.Uniform(15, 1);
        _backend.Upload(t, data);
        Assert.Equal(data, Read(_backend, t));
    }

    [Fact]
    public void EmptyTensorsAreAllowed()
    {
        using var t = _backend.Allocate(DType.F32, 0, 5);
        Assert.Equal(0, t.Length);
        Assert.Empty(Read(_backend, t));
        _backend.Zero(t);
        _backend.GeluForward(t, t);
        using var sum = _backend.Allocate(DType.F64, 1);
        _backend.SumOfSquares(sum, [t, t]);
        var value = new double[1];
        _backend.Download(sum, value);
        Assert.Equal(0.0, value[0]);
    }

    [Fact]
    public void ViewsSelectARange()
    {
        using var t = _backend.Allocate(DType.F32, 4, 6);
        var row = TestData.Uniform(6, 1);
        var view = t.View(2 * 6, 6);
        _backend.Upload(view, row);
        Assert.Equal(row, Read(_backend, view));
        var all = Read(_backend, t);
        Assert.Equal(new float[12], all[..12]);
        Assert.Equal(row, all[12..18]);
        Assert.Equal(new float[6], all[18..]);

        _backend.Zero(view);
        _backend.Upload(t.View(0, 6), row);
        _backend.Copy(t.View(3 * 6, 6), t.View(0, 6));
        all = Read(_backend, t);
        Assert.Equal(new float[6], all[12..18]);
        Assert.Equal(row, all[18..]);
    }

    [Fact]
    public void ReleasedBuffersAreReusedAndZeroed()
    {
        var first = _backend.Allocate(DType.F32, 7, 11);
        var storage = first.Storage;
        _backend.Upload(first, TestData.Uniform(77, 1));
        first.Dispose();
        using var second = _backend.Allocate(DType.F32, 11, 7);
        Assert.Same(storage, second.Storage);
        Assert.Equal(new float[77], Read(_backend, second));
        using var ints = _backend.Allocate(DType.I32, 77);
        Assert.NotSame(storage, ints.Storage);
    }

    [Fact]
    public void MismatchedUploadIsRejected()
    {
        using var t = _backend.Allocate(DType.F32, 4);
        Assert.Throws<ArgumentException>(() => _backend.Upload(t, new float[5]));
    }

    [Fact]
    public void OpsMatchCpuBackend()
    {
        const int n = 5, c = 33, vocab = 7;
        using var cpu = new CpuBackend();
        var ids = TestData.Ints(n, 1, vocab);
        var positions = TestData.Ints(n, 2, n);
        var wte = TestData.Uniform(vocab * c, 3);
        var wpe = TestData.Uniform(n * c, 4);
        var (w, b, dy) = (TestData.Uniform(c, 5), TestData.Uniform(c, 6), TestData.Uniform(n * c, 7));

        float[][] Run(IBackend backend)
        {
            Tensor F(float[] data, params int[] shape)
            {
                var t = backend.Allocate(DType.F32, shape);
                backend.Upload(t, data);
                return t;
            }
            Tensor I(int[] data)
            {
                var t = backend.Allocate(DType.I32, data.Length);
                backend.Upload(t, data);
                return t;
            }
            using Tensor tIds = I(ids), tPositions = I(positions), tWte = F(wte, vocab, c), tWpe = F(wpe, n, c);
            using Tensor tw = F(w, c), tb = F(b, c), tdy = F(dy, n, c);
            using Tensor x = F(TestData.Poisoned(n * c), n, c), y = F(TestData.Poisoned(n * c), n, c), h = F(TestData.Poisoned(n * c), n, c);
            using Tensor mean = F(TestData.Poisoned(n), n), rstd = F(TestData.Poisoned(n), n);
            using Tensor dx = backend.Allocate(DType.F32, n, c), dw = backend.Allocate(DType.F32, c), db = backend.Allocate(DType.F32, c);
            using Tensor dWte = backend.Allocate(DType.F32, vocab, c), m = backend.Allocate(DType.F32, c), v = backend.Allocate(DType.F32, c);
            using Tensor sums = backend.Allocate(DType.F64, 2), scale = backend.Allocate(DType.F32, 1);

            backend.EmbeddingForward(x, tIds, tPositions, tWte, tWpe, n, c);
            backend.LayerNormForward(y, mean, rstd, x, tw, tb, n, c, 1e-5f);
            backend.GeluForward(h, y);
            backend.Add(h, h, x);
            backend.LayerNormBackward(dx, dw, db, tdy, x, tw, mean, rstd, n, c);
            backend.GeluBackward(dx, tdy, y);
            backend.EmbeddingBackward(dWte, null, dx, tIds, tPositions, n, c);
            backend.Scale(dw, 0.5f);
            backend.SumOfSquares(sums.View(1, 1), [dWte, dw]);
            backend.ClipScale(scale, sums.View(0, 1), sums.View(1, 1), maxNorm: 0.1f);
            backend.AdamW(tw, dw, scale, m, v, new AdamWStep(1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, 1));
            var sumOfSquares = new double[2];
            backend.Download(sums, sumOfSquares);
            return [Read(backend, h), Read(backend, dx), Read(backend, db), Read(backend, dWte), Read(backend, tw), [(float)sumOfSquares[1]], Read(backend, scale)];
        }

        var expected = Run(cpu);
        var actual = Run(_backend);
        Assert.True(expected[^1][0] < 1f, $"the clip must bite: scale {expected[^1][0]}");
        string[] names = ["h = gelu(layernorm(embedding)) + embedding", "dx", "db", "dWte", "w after AdamW", "Σ dWte² + Σ dw²", "clip scale"];
        for (int i = 0; i < names.Length; i++) Check.Close(expected[i], actual[i], 1e-5, names[i]);
    }

    /// <summary>The fused LM head + cross-entropy, chunked (3 rows of logits at a time, a ragged last chunk), against CpuBackend, with a few,
    /// most, every and no row masked (target −1). The masked rows of x hold NaN: a row that reached the head's matmul would poison dW
    /// (0·NaN = NaN in dlogitsᵀ·x), so finite results show the matmul saw only the kept rows, as on the CPU.</summary>
    [Theory]
    [InlineData(new[] { 2, 5 })]
    [InlineData(new[] { 0, 1, 3, 4, 5, 6 })]
    [InlineData(new[] { 0, 1, 2, 3, 4, 5, 6, 7 })]
    [InlineData(new int[0])]
    public void FusedCrossEntropyMatchesTheCpuBackend(int[] masked)
    {
        const int n = 8, c = 12, vocab = 19;
        var x = TestData.Uniform(n * c, 1);
        var w = TestData.Uniform(vocab * c, 2);
        var targets = TestData.Ints(n, 3, vocab);
        foreach (int r in masked)
        {
            targets[r] = -1;
            Array.Fill(x, float.NaN, r * c, c);
        }
        var (rows, keptTargets) = LossRows.Keep(targets);
        var dxStart = TestData.Uniform(n * c, 4);

        (double Loss, float[] Dx, float[] Dw) Run(IBackend backend)
        {
            using Tensor tx = backend.Allocate(DType.F32, n, c), tw = backend.Allocate(DType.F32, vocab, c);
            using Tensor loss = backend.Allocate(DType.F64, 1), lossOnly = backend.Allocate(DType.F64, 1);
            using Tensor tRows = backend.Allocate(DType.I32, rows.Length), tTargets = backend.Allocate(DType.I32, rows.Length);
            using Tensor dx = backend.Allocate(DType.F32, n, c), dw = backend.Allocate(DType.F32, vocab, c);
            backend.Upload(tx, x);
            backend.Upload(tw, w);
            backend.Upload(tRows, rows);
            backend.Upload(tTargets, keptTargets);
            backend.Upload(dx, dxStart);
            backend.CrossEntropyForwardBackward(loss, dx, dw, tx, tw, tRows, tTargets, n, rows.Length, c, vocab, 0.25f);
            backend.CrossEntropyForwardBackward(lossOnly, null, null, tx, tw, tRows, tTargets, n, rows.Length, c, vocab, 0.25f);
            backend.CrossEntropyForwardBackward(lossOnly, null, null, tx, tw, tRows, tTargets, n, rows.Length, c, vocab, 0.25f);
            double[] once = new double[1], twice = new double[1];
            backend.Download(loss, once);
            backend.Download(lossOnly, twice);
            Assert.Equal(2 * once[0], twice[0]); // the loss adds into its tensor
            return (once[0], Read(backend, dx), Read(backend, dw));
        }

        using var cpu = new CpuBackend();
        using var chunked = new IlgpuBackend(_backend.Accelerator) { MaxLogitsPerChunk = 3 * vocab };
        var expected = Run(cpu);
        var actual = Run(chunked);
        Assert.True(double.IsFinite(actual.Loss) && Math.Abs(actual.Loss - expected.Loss) <= 1e-5 * expected.Loss, $"loss {actual.Loss} vs {expected.Loss}");
        Assert.All(actual.Dw, v => Assert.True(float.IsFinite(v), "dW reached by a masked row"));
        Check.Close(expected.Dx, actual.Dx, 1e-5, "dx");
        Check.Close(expected.Dw, actual.Dw, 1e-5, "dw");
        foreach (int r in masked) Assert.Equal(dxStart.AsSpan(r * c, c).ToArray(), actual.Dx.AsSpan(r * c, c).ToArray());
    }

    [Fact]
    public void UnknownKindIsRejected()
    {
        var error = Assert.Throws<ArgumentException>(() => IlgpuBackend.Create("opencl"));
        Assert.Equal("kind", error.ParamName);
    }
}
