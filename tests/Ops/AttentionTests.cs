using Engine.Backends;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Ops;

public sealed class AttentionTests
{
    private sealed record Shape(int Batch, int SeqLen, int Heads, int KvHeads, int HeadDim, int Window = 0)
    {
        public int QSize => Batch * SeqLen * Heads * HeadDim;
        public int KvSize => Batch * SeqLen * KvHeads * HeadDim;
        public int LseSize => Batch * Heads * SeqLen;
    }

    private sealed record Inputs(float[] Q, float[] K, float[] V, int[] Segments);

    private sealed record Result(float[] Output, float[] Lse);

    private sealed record Gradients(float[] Dq, float[] Dk, float[] Dv);

    /// <summary>
    /// Naive float64 attention: full score row over all keys, masked to earlier-or-same positions of the same segment and, with a window W, to
    /// keys j &gt; t − W (transformers' masking_utils.sliding_window_overlay: kv_idx &gt; q_idx − sliding_window).
    /// </summary>
    private static (double[] Output, double[] Lse) Reference(double[] q, double[] k, double[] v, int[] seg, Shape s)
    {
        int T = s.SeqLen, H = s.Heads, KV = s.KvHeads, D = s.HeadDim;
        var output = new double[s.QSize];
        var lse = new double[s.LseSize];
        var scores = new double[T];
        for (int b = 0; b < s.Batch; b++)
        for (int h = 0; h < H; h++)
        for (int t = 0; t < T; t++)
        {
            int g = h / (H / KV);
            double max = double.NegativeInfinity;
            for (int j = 0; j < T; j++)
            {
                scores[j] = double.NegativeInfinity;
                if (j > t || seg[b * T + j] != seg[b * T + t] || (s.Window > 0 && j <= t - s.Window)) continue;
                double dot = 0;
                for (int d = 0; d < D; d++) dot += q[((b * T + t) * H + h) * D + d] * k[((b * T + j) * KV + g) * D + d];
                scores[j] = dot / Math.Sqrt(D);
                max = Math.Max(max, scores[j]);
            }
            double sum = 0;
            for (int j = 0; j < T; j++) sum += Math.Exp(scores[j] - max);
            double logSum = max + Math.Log(sum);
            lse[(b * H + h) * T + t] = logSum;
            for (int j = 0; j < T; j++)
            {
                double p = Math.Exp(scores[j] - logSum);
                for (int d = 0; d < D; d++) output[((b * T + t) * H + h) * D + d] += p * v[((b * T + j) * KV + g) * D + d];
            }
        }
        return (output, lse);
    }

    private static Inputs RandomInputs(Shape s, int seed, int[]? segments = null) => new(
        TestData.Uniform(s.QSize, seed), TestData.Uniform(s.KvSize, seed + 1), TestData.Uniform(s.KvSize, seed + 2),
        segments ?? new int[s.Batch * s.SeqLen]);

    private static Result RunForward(Inputs x, Shape s)
    {
        float[] output = TestData.Poisoned(s.QSize), lse = TestData.Poisoned(s.LseSize);
        CpuAttention.Forward(output, lse, x.Q, x.K, x.V, x.Segments, s.Batch, s.SeqLen, s.Heads, s.KvHeads, s.HeadDim, s.Window);
        return new Result(output, lse);
    }

    private static Gradients RunBackward(Inputs x, Shape s, Result fwd, float[] dOutput)
    {
        var g = new Gradients(new float[s.QSize], new float[s.KvSize], new float[s.KvSize]);
        CpuAttention.Backward(g.Dq, g.Dk, g.Dv, dOutput, fwd.Output, fwd.Lse, x.Q, x.K, x.V, x.Segments,
            s.Batch, s.SeqLen, s.Heads, s.KvHeads, s.HeadDim, s.Window);
        return g;
    }

    private static void CheckForward(Inputs x, Shape s)
    {
        var fwd = RunForward(x, s);
        var (output, lse) = Reference(TestData.ToDouble(x.Q), TestData.ToDouble(x.K), TestData.ToDouble(x.V), x.Segments, s);
        Check.Close(output, fwd.Output, 1e-5, "output");
        Check.Close(lse, fwd.Lse, 1e-5, "lse");
    }

    private static void CheckBackward(Inputs x, Shape s)
    {
        float[] r = TestData.Uniform(s.QSize, 99);
        double[] q = TestData.ToDouble(x.Q), k = TestData.ToDouble(x.K), v = TestData.ToDouble(x.V);
        double[] dq = FiniteDifference.Gradient(a => FiniteDifference.Dot(Reference(a, k, v, x.Segments, s).Output, r), q);
        double[] dk = FiniteDifference.Gradient(a => FiniteDifference.Dot(Reference(q, a, v, x.Segments, s).Output, r), k);
        double[] dv = FiniteDifference.Gradient(a => FiniteDifference.Dot(Reference(q, k, a, x.Segments, s).Output, r), v);
        var g = RunBackward(x, s, RunForward(x, s), r);
        CloseOrZero(dq, g.Dq, "dq");
        CloseOrZero(dk, g.Dk, "dk");
        CloseOrZero(dv, g.Dv, "dv");
    }

    /// <summary>
    /// Relative comparison, except where the exact gradient is zero (dq and dk when every query sees a single key:
    /// the softmax is constant); there the float32 result is rounding noise and must stay within 1e-6 of zero.
    /// </summary>
    private static void CloseOrZero(double[] expected, float[] actual, string what)
    {
        if (expected.Max(Math.Abs) > 1e-9) Check.Close(expected, actual, 1e-5, what);
        else Assert.True(actual.Max(Math.Abs) <= 1e-6, $"{what}: expected zero, got max |{what}| = {actual.Max(Math.Abs):E3}");
    }

    /// <summary>Each row: segment 0 for its first two thirds, then segment 1.</summary>
    private static int[] TwoSegmentsPerRow(Shape s) => [.. Enumerable.Range(0, s.Batch * s.SeqLen).Select(i => i % s.SeqLen < 2 * s.SeqLen / 3 ? 0 : 1)];

    /// <summary>Row 0: three segments of 5, 4, 4 tokens; row 1: two segments of 7 and 6 (ids need not start at 0).</summary>
    private static readonly int[] PackedSegments = [0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4];

    /// <summary>Ids that come back after another segment: correctness must not rely on contiguous runs.</summary>
    private static readonly int[] InterleavedSegments = [0, 1, 0, 0, 1, 1, 0, 2, 1, 2, 7, 7, 7, 7, 3, 7, 3, 3];

    [Theory]
    [InlineData(2, 1, 2, 2, 4)]
    [InlineData(2, 5, 4, 4, 8)]
    [InlineData(2, 13, 4, 2, 16)]
    [InlineData(2, 33, 6, 1, 20)]
    [InlineData(1, 17, 3, 3, 8)]
    [InlineData(2, 37, 2, 1, 36)]
    [InlineData(2, 70, 4, 2, 64)]
    [InlineData(1, 45, 2, 2, 32)]
    public void Forward_MatchesReference(int batch, int seqLen, int heads, int kvHeads, int headDim)
    {
        var s = new Shape(batch, seqLen, heads, kvHeads, headDim);
        CheckForward(RandomInputs(s, seqLen * 7 + headDim), s);
    }

    [Theory]
    [InlineData(2, 1, 2, 1, 8)]
    [InlineData(2, 5, 4, 4, 8)]
    [InlineData(2, 13, 4, 2, 4)]
    [InlineData(2, 7, 6, 1, 20)]
    [InlineData(1, 9, 2, 2, 36)]
    public void Backward_MatchesFiniteDifferences(int batch, int seqLen, int heads, int kvHeads, int headDim)
    {
        var s = new Shape(batch, seqLen, heads, kvHeads, headDim);
        CheckBackward(RandomInputs(s, seqLen * 11 + headDim), s);
    }

    /// <summary>
    /// Shapes too large for element-wise finite differences (many key and headDim vectors per row): compare the
    /// gradient's projection on random directions u with (L(x + h·u) − L(x − h·u)) / 2h of the float64 reference.
    /// </summary>
    [Theory]
    [InlineData(2, 70, 4, 2, 64)]
    [InlineData(1, 100, 3, 1, 48)]
    public void Backward_MatchesDirectionalDerivatives(int batch, int seqLen, int heads, int kvHeads, int headDim)
    {
        var s = new Shape(batch, seqLen, heads, kvHeads, headDim);
        int[] segments = TwoSegmentsPerRow(s);
        var x = RandomInputs(s, seqLen + headDim, segments);
        float[] r = TestData.Uniform(s.QSize, 7);
        var g = RunBackward(x, s, RunForward(x, s), r);
        double[] q = TestData.ToDouble(x.Q), k = TestData.ToDouble(x.K), v = TestData.ToDouble(x.V);
        double Loss(double[] qq, double[] kk, double[] vv) => FiniteDifference.Dot(Reference(qq, kk, vv, segments, s).Output, r);
        var inputs = new (string Name, double[] X, float[] Gradient, Func<double[], double> L)[]
        {
            ("dq", q, g.Dq, a => Loss(a, k, v)), ("dk", k, g.Dk, a => Loss(q, a, v)), ("dv", v, g.Dv, a => Loss(q, k, a)),
        };
        foreach (var (name, input, gradient, loss) in inputs)
        {
            float[] u = TestData.Uniform(input.Length, name.Length + input.Length);
            const double h = 1e-4;
            double[] plus = [.. input.Select((a, i) => a + h * u[i])], minus = [.. input.Select((a, i) => a - h * u[i])];
            double numeric = (loss(plus) - loss(minus)) / (2 * h);
            double analytic = 0, magnitude = 0;
            for (int i = 0; i < input.Length; i++)
            {
                analytic += (double)gradient[i] * u[i];
                magnitude += Math.Abs((double)gradient[i] * u[i]);
            }
            double err = Math.Abs(numeric - analytic) / magnitude;
            Assert.True(err <= 1e-6, $"{name}·u: numeric {numeric:E6}, analytic {analytic:E6}, error {err:E3} of Σ|{name}·u| = {magnitude:E3}");
        }
    }

    /// <summary>Sliding windows: W = 1 (each query sees itself only), windows inside a block of query rows and across blocks, W = T − 1, and
    /// W ≥ T (no key is dropped: must equal unlimited attention), on one sequence and on packed segments.</summary>
    [Theory]
    [InlineData(2, 13, 4, 2, 8, 1)]
    [InlineData(2, 13, 4, 2, 8, 3)]
    [InlineData(1, 45, 2, 1, 20, 7)]
    [InlineData(2, 37, 2, 2, 36, 36)]
    [InlineData(2, 70, 4, 2, 16, 19)]
    [InlineData(1, 17, 3, 3, 8, 17)]
    [InlineData(1, 17, 3, 3, 8, 40)]
    public void Windowed_MatchesReference(int batch, int seqLen, int heads, int kvHeads, int headDim, int window)
    {
        var s = new Shape(batch, seqLen, heads, kvHeads, headDim, window);
        int[] packed = TwoSegmentsPerRow(s);
        CheckForward(RandomInputs(s, seqLen + window), s);
        CheckForward(RandomInputs(s, seqLen + window, packed), s);
        if (window >= seqLen)
        {
            var x = RandomInputs(s, 3, packed);
            Assert.Equal(RunForward(x, s with { Window = 0 }).Output, RunForward(x, s).Output);
        }
    }

    [Theory]
    [InlineData(2, 9, 2, 1, 8, 1)]
    [InlineData(2, 13, 4, 2, 4, 3)]
    [InlineData(1, 9, 2, 2, 12, 5)]
    [InlineData(1, 7, 2, 1, 8, 9)]
    public void Windowed_BackwardMatchesFiniteDifferences(int batch, int seqLen, int heads, int kvHeads, int headDim, int window)
    {
        var s = new Shape(batch, seqLen, heads, kvHeads, headDim, window);
        CheckBackward(RandomInputs(s, seqLen * 11 + window), s);
        CheckBackward(RandomInputs(s, seqLen * 13 + window, TwoSegmentsPerRow(s)), s);
    }

    [Fact]
    public void Windowed_InterleavedSegments_MatchReference()
    {
        var s = new Shape(2, 9, 2, 1, 8, 4);
        var x = RandomInputs(s, 16, InterleavedSegments);
        CheckForward(x, s);
        CheckBackward(x, s);
    }

    [Fact]
    public void Packed_MatchesReference()
    {
        var s = new Shape(2, 13, 4, 2, 8);
        var x = RandomInputs(s, 5, PackedSegments);
        CheckForward(x, s);
        CheckBackward(x, s);
    }

    [Fact]
    public void InterleavedSegments_MatchReference()
    {
        var s = new Shape(2, 9, 2, 1, 8);
        var x = RandomInputs(s, 6, InterleavedSegments);
        CheckForward(x, s);
        CheckBackward(x, s);
    }

    [Fact]
    public void Packed_SegmentsDoNotSeeEachOther()
    {
        var s = new Shape(2, 13, 4, 2, 8);
        var x = RandomInputs(s, 8, PackedSegments);
        var baseline = RunForward(x, s);
        foreach (int changed in PackedSegments.Distinct())
        {
            var perturbed = new Inputs((float[])x.Q.Clone(), (float[])x.K.Clone(), (float[])x.V.Clone(), x.Segments);
            for (int token = 0; token < x.Segments.Length; token++)
            {
                if (x.Segments[token] != changed) continue;
                for (int i = 0; i < s.Heads * s.HeadDim; i++) perturbed.Q[token * s.Heads * s.HeadDim + i] += 0.5f;
                for (int i = 0; i < s.KvHeads * s.HeadDim; i++)
                {
                    perturbed.K[token * s.KvHeads * s.HeadDim + i] -= 0.7f;
                    perturbed.V[token * s.KvHeads * s.HeadDim + i] *= -3f;
                }
            }
            var after = RunForward(perturbed, s);
            int unchangedTokens = 0;
            for (int token = 0; token < x.Segments.Length; token++)
            {
                if (x.Segments[token] == changed) continue;
                unchangedTokens++;
                int size = s.Heads * s.HeadDim;
                Assert.Equal(baseline.Output.AsSpan(token * size, size).ToArray(), after.Output.AsSpan(token * size, size).ToArray());
                int b = token / s.SeqLen, t = token % s.SeqLen;
                for (int h = 0; h < s.Heads; h++)
                    Assert.Equal(baseline.Lse[(b * s.Heads + h) * s.SeqLen + t], after.Lse[(b * s.Heads + h) * s.SeqLen + t]);
            }
            Assert.True(unchangedTokens > 0);
            Assert.NotEqual(baseline.Output, after.Output);
        }
    }

    [Fact]
    public void Packed_EqualsEachSegmentAlone()
    {
        const int first = 5, second = 8;
        var packedShape = new Shape(1, first + second, 6, 2, 16);
        int[] segments = [.. Enumerable.Repeat(0, first), .. Enumerable.Repeat(1, second)];
        var packed = RandomInputs(packedShape, 21, segments);
        float[] dOutput = TestData.Uniform(packedShape.QSize, 22);
        var packedFwd = RunForward(packed, packedShape);
        var packedGrad = RunBackward(packed, packedShape, packedFwd, dOutput);

        int qRow = packedShape.Heads * packedShape.HeadDim, kvRow = packedShape.KvHeads * packedShape.HeadDim;
        foreach (var (start, length) in new[] { (0, first), (first, second) })
        {
            var s = packedShape with { SeqLen = length };
            var alone = new Inputs(packed.Q[(start * qRow)..((start + length) * qRow)], packed.K[(start * kvRow)..((start + length) * kvRow)],
                packed.V[(start * kvRow)..((start + length) * kvRow)], new int[length]);
            var fwd = RunForward(alone, s);
            var grad = RunBackward(alone, s, fwd, dOutput[(start * qRow)..((start + length) * qRow)]);
            Check.Close(fwd.Output, packedFwd.Output.AsSpan(start * qRow, length * qRow), 1e-6, "output");
            for (int h = 0; h < s.Heads; h++)
                Check.Close(fwd.Lse.AsSpan(h * length, length), packedFwd.Lse.AsSpan(h * packedShape.SeqLen + start, length), 1e-6, "lse");
            Check.Close(grad.Dq, packedGrad.Dq.AsSpan(start * qRow, length * qRow), 1e-6, "dq");
            Check.Close(grad.Dk, packedGrad.Dk.AsSpan(start * kvRow, length * kvRow), 1e-6, "dk");
            Check.Close(grad.Dv, packedGrad.Dv.AsSpan(start * kvRow, length * kvRow), 1e-6, "dv");
        }
    }

    [Fact]
    public void Backward_Accumulates_AndSkipsEmptyGradients()
    {
        var s = new Shape(2, 11, 4, 2, 8);
        var x = RandomInputs(s, 31, [.. Enumerable.Repeat(0, 6), .. Enumerable.Repeat(1, 16)]);
        float[] dOutput = TestData.Uniform(s.QSize, 32);
        var fwd = RunForward(x, s);
        var once = RunBackward(x, s, fwd, dOutput);

        var twice = RunBackward(x, s, fwd, dOutput);
        CpuAttention.Backward(twice.Dq, twice.Dk, twice.Dv, dOutput, fwd.Output, fwd.Lse, x.Q, x.K, x.V, x.Segments,
            s.Batch, s.SeqLen, s.Heads, s.KvHeads, s.HeadDim);
        Check.Close(once.Dq.Select(g => 2 * g).ToArray(), twice.Dq, 1e-6, "2·dq");
        Check.Close(once.Dk.Select(g => 2 * g).ToArray(), twice.Dk, 1e-6, "2·dk");
        Check.Close(once.Dv.Select(g => 2 * g).ToArray(), twice.Dv, 1e-6, "2·dv");

        float[] dk = new float[s.KvSize], dv = new float[s.KvSize];
        CpuAttention.Backward(default, dk, dv, dOutput, fwd.Output, fwd.Lse, x.Q, x.K, x.V, x.Segments, s.Batch, s.SeqLen, s.Heads, s.KvHeads, s.HeadDim);
        Assert.Equal(once.Dk, dk);
        Assert.Equal(once.Dv, dv);

        float[] dq = new float[s.QSize];
        CpuAttention.Backward(dq, default, default, dOutput, fwd.Output, fwd.Lse, x.Q, x.K, x.V, x.Segments, s.Batch, s.SeqLen, s.Heads, s.KvHeads, s.HeadDim);
        Assert.Equal(once.Dq, dq);

        dv = new float[s.KvSize];
        CpuAttention.Backward(default, default, dv, dOutput, fwd.Output, fwd.Lse, x.Q, x.K, x.V, x.Segments, s.Batch, s.SeqLen, s.Heads, s.KvHeads, s.HeadDim);
        Assert.Equal(once.Dv, dv);
    }

    [Fact]
    public void MultiThreaded_IsBitIdenticalAcrossRuns()
    {
        var s = new Shape(4, 70, 4, 2, 16);
        int[] segments = [.. Enumerable.Range(0, s.Batch * s.SeqLen).Select(i => i / 23)];
        var x = RandomInputs(s, 41, segments);
        float[] dOutput = TestData.Uniform(s.QSize, 42);
        var fwd1 = RunForward(x, s);
        var fwd2 = RunForward(x, s);
        Assert.Equal(fwd1.Output, fwd2.Output);
        Assert.Equal(fwd1.Lse, fwd2.Lse);
        var g1 = RunBackward(x, s, fwd1, dOutput);
        var g2 = RunBackward(x, s, fwd1, dOutput);
        Assert.Equal(g1.Dq, g2.Dq);
        Assert.Equal(g1.Dk, g2.Dk);
        Assert.Equal(g1.Dv, g2.Dv);
    }

    [Fact]
    public void RejectsBadShapes()
    {
        var s = new Shape(1, 3, 6, 4, 4);
        var x = RandomInputs(s, 51);
        var e = Assert.Throws<ArgumentException>(() =>
            CpuAttention.Forward(new float[s.QSize], new float[s.LseSize], x.Q, x.K, x.V, x.Segments, 1, 3, 6, 4, 4));
        Assert.Equal("heads", e.ParamName);
        s = new Shape(1, 3, 4, 2, 4);
        x = RandomInputs(s, 52);
        e = Assert.Throws<ArgumentException>(() =>
            CpuAttention.Forward(new float[s.QSize], new float[s.LseSize], x.Q[1..], x.K, x.V, x.Segments, 1, 3, 4, 2, 4));
        Assert.Equal("q", e.ParamName);
        e = Assert.Throws<ArgumentException>(() =>
            CpuAttention.Forward(new float[s.QSize], new float[s.LseSize], x.Q, x.K, x.V, x.Segments, 1, 3, 4, 2, 4, window: -1));
        Assert.Equal("window", e.ParamName);
    }
}
