using Engine.Backends;
using Engine.Kernels;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Kernels;

/// <summary>The attention kernels on ILGPU's CPU accelerator against CpuAttention, the oracle, on tiny ragged shapes.</summary>
public sealed class AttentionKernelTests(KernelFixture<Attention> fixture) : IClassFixture<KernelFixture<Attention>>
{
    private readonly Attention _attention = fixture.Launcher;

    public enum Layout { Single, Packed, Interleaved }

    private sealed record Shape(int Batch, int SeqLen, int Heads, int KvHeads, int HeadDim, int Window = 0)
    {
        public int QSize => Batch * SeqLen * Heads * HeadDim;
        public int KvSize => Batch * SeqLen * KvHeads * HeadDim;
        public int LseSize => Batch * Heads * SeqLen;
    }

    private sealed record Inputs(float[] Q, float[] K, float[] V, int[] Segments, float[] DOutput);

    private sealed record Gradients(float[] Dq, float[] Dk, float[] Dv);

    /// <summary>
    /// Single: one sequence per row. Packed: row 0 holds three segments, row 1 two (ids need not start at 0). Interleaved: ids that come
    /// back after another segment, so key ranges are not contiguous runs.
    /// </summary>
    private static int[] Segments(Shape s, Layout layout)
    {
        var ids = new int[s.Batch * s.SeqLen];
        for (int b = 0; b < s.Batch; b++)
        for (int t = 0; t < s.SeqLen; t++)
            ids[b * s.SeqLen + t] = layout switch
            {
                Layout.Packed when b % 2 == 0 => 3 * t / s.SeqLen,
                Layout.Packed => 5 + (2 * t >= s.SeqLen ? 1 : 0),
                Layout.Interleaved => (t * t + 3 * b) % 5 % 3,
                _ => 0,
            };
        return ids;
    }

    private static Inputs RandomInputs(Shape s, Layout layout, int seed) => new(
        TestData.Uniform(s.QSize, seed), TestData.Uniform(s.KvSize, seed + 1), TestData.Uniform(s.KvSize, seed + 2), Segments(s, layout),
        TestData.Uniform(s.QSize, seed + 3));

    private static (float[] Output, float[] Lse) CpuForward(Inputs x, Shape s)
    {
        float[] output = TestData.Poisoned(s.QSize), lse = TestData.Poisoned(s.LseSize);
        CpuAttention.Forward(output, lse, x.Q, x.K, x.V, x.Segments, s.Batch, s.SeqLen, s.Heads, s.KvHeads, s.HeadDim, s.Window);
        return (output, lse);
    }

    private (float[] Output, float[] Lse) DeviceForward(Inputs x, Shape s)
    {
        using DeviceArray<float> output = fixture.Put(TestData.Poisoned(s.QSize)), lse = fixture.Put(TestData.Poisoned(s.LseSize));
        using DeviceArray<float> q = fixture.Put(x.Q), k = fixture.Put(x.K), v = fixture.Put(x.V);
        using var segments = fixture.Put(x.Segments);
        _attention.Forward(output.View, lse.View, q.View, k.View, v.View, segments.View, s.Batch, s.SeqLen, s.Heads, s.KvHeads, s.HeadDim, s.Window);
        return (fixture.Get(output), fixture.Get(lse));
    }

    /// <summary>Runs the device backward into copies of the given starting gradients; a null start passes an empty view (not wanted).</summary>
    private Gradients DeviceBackward(Inputs x, Shape s, float[] output, float[] lse, float[]? dq, float[]? dk, float[]? dv)
    {
        using DeviceArray<float> dqBuffer = fixture.Put(dq ?? []), dkBuffer = fixture.Put(dk ?? []), dvBuffer = fixture.Put(dv ?? []);
        using DeviceArray<float> dOutput = fixture.Put(x.DOutput), outputBuffer = fixture.Put(output), lseBuffer = fixture.Put(lse);
        using DeviceArray<float> q = fixture.Put(x.Q), k = fixture.Put(x.K), v = fixture.Put(x.V);
        using var segments = fixture.Put(x.Segments);
        _attention.Backward(dqBuffer.View, dkBuffer.View, dvBuffer.View, dOutput.View, outputBuffer.View, lseBuffer.View,
            q.View, k.View, v.View, segments.View, s.Batch, s.SeqLen, s.Heads, s.KvHeads, s.HeadDim, s.Window);
        return new Gradients(fixture.Get(dqBuffer), fixture.Get(dkBuffer), fixture.Get(dvBuffer));
    }

    /// <summary>The last column is the sliding window (0 = unlimited).</summary>
    public static TheoryData<int, int, int, int, int, Layout, int> Shapes => new()
    {
        { 2, 1, 2, 2, 8, Layout.Single, 0 },        // one token: every row sees only itself
        { 2, 5, 4, 2, 16, Layout.Packed, 0 },       // GQA 4/2
        { 2, 19, 3, 1, 20, Layout.Packed, 0 },      // MQA 3/1, headDim not a multiple of the 8 lanes
        { 2, 40, 2, 2, 8, Layout.Packed, 0 },       // MHA, seqLen past one forward tile and two backward tiles
        { 1, 40, 4, 2, 16, Layout.Interleaved, 0 },
        { 1, 70, 2, 1, 8, Layout.Packed, 0 },       // the last query tiles skip whole key tiles of earlier segments
        { 1, 7, 2, 1, 3, Layout.Single, 0 },        // headDim below the lanes of a row: some lanes own nothing
        { 1, 19, 2, 1, AttentionKernels.MaxHeadDim, Layout.Packed, 0 },
        { 2, 40, 2, 1, 8, Layout.Single, 1 },       // windows: each row sees itself only
        { 1, 70, 2, 1, 8, Layout.Single, 5 },       // a window inside one tile: whole key and query tiles skipped
        { 2, 70, 4, 2, 16, Layout.Packed, 17 },     // a window across tile edges, within and across segments
        { 1, 40, 4, 2, 16, Layout.Interleaved, 9 },
        { 1, 40, 2, 2, 8, Layout.Single, 40 },      // W = T: nothing dropped
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Forward_MatchesCpu(int batch, int seqLen, int heads, int kvHeads, int headDim, Layout layout, int window)
    {
        var s = new Shape(batch, seqLen, heads, kvHeads, headDim, window);
        var x = RandomInputs(s, layout, seqLen * 7 + headDim);
        var expected = CpuForward(x, s);
        var actual = DeviceForward(x, s);
        Check.Close(expected.Output, actual.Output, 1e-5, "output");
        Check.Close(expected.Lse, actual.Lse, 1e-5, "lse");
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Backward_MatchesCpu(int batch, int seqLen, int heads, int kvHeads, int headDim, Layout layout, int window)
    {
        var s = new Shape(batch, seqLen, heads, kvHeads, headDim, window);
        var x = RandomInputs(s, layout, seqLen * 11 + headDim);
        var (output, lse) = CpuForward(x, s);
        var expected = new Gradients(new float[s.QSize], new float[s.KvSize], new float[s.KvSize]);
        CpuAttention.Backward(expected.Dq, expected.Dk, expected.Dv, x.DOutput, output, lse, x.Q, x.K, x.V, x.Segments,
            s.Batch, s.SeqLen, s.Heads, s.KvHeads, s.HeadDim, s.Window);
        var actual = DeviceBackward(x, s, output, lse, new float[s.QSize], new float[s.KvSize], new float[s.KvSize]);
        CloseOrZero(expected.Dq, actual.Dq, "dq");
        CloseOrZero(expected.Dk, actual.Dk, "dk");
        Check.Close(expected.Dv, actual.Dv, 1e-5, "dv");
    }

    /// <summary>
    /// Relative comparison, except where the exact gradient is zero (dq and dk when every query sees a single key: the softmax is constant);
    /// there both float32 results are rounding noise and must stay within 1e-6 of zero.
    /// </summary>
    private static void CloseOrZero(float[] expected, float[] actual, string what)
    {
        if (expected.Max(Math.Abs) > 1e-5) Check.Close(expected, actual, 1e-5, what);
        else Assert.True(actual.Max(Math.Abs) <= 1e-6, $"{what}: expected zero, got max |{what}| = {actual.Max(Math.Abs):E3}");
    }

    [Fact]
    public void Backward_AccumulatesIntoExistingGradients()
    {
        var s = new Shape(2, 19, 4, 2, 16);
        var x = RandomInputs(s, Layout.Packed, 61);
        var (output, lse) = DeviceForward(x, s);
        var fresh = DeviceBackward(x, s, output, lse, new float[s.QSize], new float[s.KvSize], new float[s.KvSize]);
        float[] dq = TestData.Uniform(s.QSize, 62), dk = TestData.Uniform(s.KvSize, 63), dv = TestData.Uniform(s.KvSize, 64);
        var accumulated = DeviceBackward(x, s, output, lse, dq, dk, dv);
        // The kernels add their finished register sums once, so start + fresh is the same float addition, bit for bit.
        Assert.Equal(dq.Zip(fresh.Dq, (a, b) => a + b), accumulated.Dq);
        Assert.Equal(dk.Zip(fresh.Dk, (a, b) => a + b), accumulated.Dk);
        Assert.Equal(dv.Zip(fresh.Dv, (a, b) => a + b), accumulated.Dv);
    }

    [Fact]
    public void Backward_SkipsEmptyGradients()
    {
        var s = new Shape(1, 19, 4, 2, 8);
        var x = RandomInputs(s, Layout.Packed, 71);
        var (output, lse) = DeviceForward(x, s);
        var all = DeviceBackward(x, s, output, lse, new float[s.QSize], new float[s.KvSize], new float[s.KvSize]);
        Assert.Equal(all.Dq, DeviceBackward(x, s, output, lse, new float[s.QSize], null, null).Dq);
        Assert.Equal(all.Dk, DeviceBackward(x, s, output, lse, null, new float[s.KvSize], null).Dk);
        Assert.Equal(all.Dv, DeviceBackward(x, s, output, lse, null, null, new float[s.KvSize]).Dv);
        var none = DeviceBackward(x, s, output, lse, null, null, null);
        Assert.Empty(none.Dq);
        Assert.Empty(none.Dk);
        Assert.Empty(none.Dv);
    }

    [Fact]
    public void ForwardAndBackward_AreBitIdenticalAcrossRuns()
    {
        var s = new Shape(2, 40, 4, 2, 20);
        var x = RandomInputs(s, Layout.Interleaved, 81);
        var first = DeviceForward(x, s);
        var second = DeviceForward(x, s);
        Assert.Equal(first.Output, second.Output);
        Assert.Equal(first.Lse, second.Lse);
        var g1 = DeviceBackward(x, s, first.Output, first.Lse, new float[s.QSize], new float[s.KvSize], new float[s.KvSize]);
        var g2 = DeviceBackward(x, s, first.Output, first.Lse, new float[s.QSize], new float[s.KvSize], new float[s.KvSize]);
        Assert.Equal(g1.Dq, g2.Dq);
        Assert.Equal(g1.Dk, g2.Dk);
        Assert.Equal(g1.Dv, g2.Dv);
    }

    [Fact]
    public void RejectsBadShapes()
    {
        var s = new Shape(1, 3, 2, 1, AttentionKernels.MaxHeadDim + 2);
        var x = RandomInputs(s, Layout.Single, 91);
        var e = Assert.Throws<ArgumentException>(() => DeviceForward(x, s));
        Assert.Equal("headDim", e.ParamName);
        s = new Shape(1, 3, 6, 4, 4);
        x = RandomInputs(s, Layout.Single, 92);
        e = Assert.Throws<ArgumentException>(() => DeviceForward(x, s));
        Assert.Equal("heads", e.ParamName);
    }
}
