using Engine.Backends;
using Engine.Kernels;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Kernels;

/// <summary>The embedding kernels on the CPU accelerator against CpuEmbedding (the oracle). Both add the same floats in the same order
/// (the backward sums each table element's rows in row order), so the results must be bit-identical.</summary>
[Collection(CpuAcceleratorCollection.Name)]
public class EmbeddingKernelTests(KernelFixture<Embedding> fixture) : IClassFixture<KernelFixture<Embedding>>
{
    readonly Embedding _embedding = fixture.Launcher;

    // c across the 128-column tile of the backward; a vocabulary small enough that ids repeat.
    [Theory]
    [InlineData(1, 1, 3, true)]
    [InlineData(7, 5, 4, false)]
    [InlineData(19, 130, 6, true)]
    public void ForwardMatchesCpu(int n, int c, int vocab, bool learnedPositions)
    {
        var (wte, ids, positions) = (TestData.Uniform(vocab * c, 1), TestData.Ints(n, 2, vocab), TestData.Ints(n, 3, n));
        var wpe = learnedPositions ? TestData.Uniform(n * c, 4) : [];
        var y = TestData.Poisoned(n * c);
        CpuEmbedding.Forward(y, ids, positions, wte, wpe, n, c);
        using DeviceArray<float> gy = fixture.Put(TestData.Poisoned(n * c)), gWte = fixture.Put(wte), gWpe = fixture.Put(wpe);
        using DeviceArray<int> gIds = fixture.Put(ids), gPositions = fixture.Put(positions);

        _embedding.Forward(gy.View, gIds.View, gPositions.View, gWte.View, gWpe.View, n, c);

        Assert.Equal(y, fixture.Get(gy));
    }

    [Theory]
    [InlineData(1, 1, 3)]
    [InlineData(7, 5, 4)]
    [InlineData(19, 130, 6)]
    public void BackwardAccumulatesAsCpu(int n, int c, int vocab)
    {
        var (dy, ids, positions) = (TestData.Uniform(n * c, 1), TestData.Ints(n, 2, vocab), TestData.Ints(n, 3, n));
        var (dwte, dwpe) = (TestData.Uniform(vocab * c, 4), TestData.Uniform(n * c, 5));
        using DeviceArray<float> gdy = fixture.Put(dy), gdWte = fixture.Put(dwte), gdWpe = fixture.Put(dwpe);
        using DeviceArray<int> gIds = fixture.Put(ids), gPositions = fixture.Put(positions);

        _embedding.Backward(gdWte.View, gdWpe.View, gdy.View, gIds.View, gPositions.View, n, c);
        CpuEmbedding.Backward(dwte, dwpe, dy, ids, positions, n, c);

        Assert.Equal(dwte, fixture.Get(gdWte));
        Assert.Equal(dwpe, fixture.Get(gdWpe));
    }

    [Fact]
    public void BackwardSkipsAnEmptyTable()
    {
        const int n = 9, c = 6, vocab = 3;
        var (dy, ids, positions) = (TestData.Uniform(n * c, 1), TestData.Ints(n, 2, vocab), TestData.Ints(n, 3, n));
        var (dwte, dwpe) = (TestData.Uniform(vocab * c, 4), TestData.Uniform(n * c, 5));
        using DeviceArray<float> gdy = fixture.Put(dy), gdWte = fixture.Put(dwte), gdWpe = fixture.Put(dwpe);
        using DeviceArray<int> gIds = fixture.Put(ids), gPositions = fixture.Put(positions);

        _embedding.Backward(gdWte.View, default, gdy.View, gIds.View, gPositions.View, n, c);
        _embedding.Backward(default, gdWpe.View, gdy.View, gIds.View, gPositions.View, n, c);
        _embedding.Backward(default, default, gdy.View, gIds.View, gPositions.View, n, c);
        CpuEmbedding.Backward(dwte, default, dy, ids, positions, n, c);
        CpuEmbedding.Backward(default, dwpe, dy, ids, positions, n, c);

        Assert.Equal(dwte, fixture.Get(gdWte));
        Assert.Equal(dwpe, fixture.Get(gdWpe));
    }

    [Fact]
    public void NoRowsIsANoOp()
    {
        var dwte = TestData.Uniform(12, 1);
        using DeviceArray<float> gdWte = fixture.Put(dwte), empty = fixture.Put(Array.Empty<float>());
        using var noIds = fixture.Put(Array.Empty<int>());
        _embedding.Forward(empty.View, noIds.View, noIds.View, gdWte.View, default, 0, 4);
        _embedding.Backward(gdWte.View, default, empty.View, noIds.View, noIds.View, 0, 4);
        Assert.Equal(dwte, fixture.Get(gdWte));
    }
}
