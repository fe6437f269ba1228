using Engine.Backends;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Ops;

public sealed class CachedAttentionTests
{
    /// <summary>
    /// One call: row r already holds Cached[r] tokens in its cache and brings Fresh[r] ≤ NewTokens new ones, right-aligned after
    /// NewTokens − Fresh[r] padding tokens (Fresh[r] = 0: a row of padding only). Window: the sliding window, 0 = unlimited.
    /// </summary>
    public sealed record Case(int Rows, int NewTokens, int Capacity, int Heads, int KvHeads, int HeadDim, int[] Cached, int[] Fresh, int Window = 0)
    {
        public int QSize => Rows * NewTokens * Heads * HeadDim;
        public int KvSize => Rows * NewTokens * KvHeads * HeadDim;
        public int CacheSize => Rows * Capacity * KvHeads * HeadDim;
        public int Width => KvHeads * HeadDim;

        public int[] Slots()
        {
            var slots = new int[Rows * NewTokens];
            for (int r = 0; r < Rows; r++)
                for (int i = 0; i < NewTokens; i++)
                {
                    int fresh = i - (NewTokens - Fresh[r]);
                    slots[r * NewTokens + i] = fresh < 0 ? -1 : Cached[r] + fresh;
                }
            return slots;
        }

        public override string ToString() => $"rows={Rows} new={NewTokens} cap={Capacity} H={Heads} KV={KvHeads} D={HeadDim} cached=[{string.Join(",", Cached)}] fresh=[{string.Join(",", Fresh)}] W={Window}";
    }

    public static TheoryData<Case> Cases => new()
    {
        new Case(1, 1, 1, 1, 1, 1, [0], [1]),                               // one token at slot 0
        new Case(2, 1, 9, 4, 2, 8, [5, 0], [1, 1]),                         // decode, GQA 4/2
        new Case(3, 3, 13, 3, 1, 5, [4, 0, 10], [3, 2, 1]),                 // ragged rows, GQA 3/1, odd headDim
        new Case(2, 7, 11, 2, 2, 17, [0, 2], [7, 4]),                       // prefill, one row continuing
        new Case(4, 2, 6, 2, 1, 12, [3, 0, 4, 0], [2, 0, 2, 1]),            // a row of padding only
        new Case(2, 5, 40, 4, 4, 16, [33, 12], [5, 3]),                     // a long cache (more than one vector of keys)
        new Case(2, 1, 9, 4, 2, 8, [5, 0], [1, 1], Window: 1),              // windows: each token sees itself only
        new Case(3, 3, 13, 3, 1, 5, [4, 0, 10], [3, 2, 1], Window: 4),      // ragged rows: some windows start at slot 0, some later
        new Case(2, 5, 40, 4, 4, 16, [33, 12], [5, 3], Window: 20),
        new Case(2, 7, 11, 2, 2, 17, [0, 2], [7, 4], Window: 11),           // W ≥ every slot + 1: no key dropped
    };

    private sealed record Inputs(float[] Q, float[] K, float[] V, float[] KCache, float[] VCache, int[] Slots);

    /// <summary>
    /// Random q, new k, v and cache contents below each row's cached length; NaN everywhere a correct op never reads: cache slots from the
    /// row's cached length on (the new ones must be written before they are read), slots before every new token's window and the keys and
    /// values of padding tokens.
    /// </summary>
    private static Inputs RandomInputs(Case c, int seed)
    {
        float[] k = TestData.Uniform(c.KvSize, seed + 1), v = TestData.Uniform(c.KvSize, seed + 2);
        float[] kCache = TestData.Uniform(c.CacheSize, seed + 3), vCache = TestData.Uniform(c.CacheSize, seed + 4);
        int[] slots = c.Slots();
        for (int r = 0; r < c.Rows; r++)
        {
            kCache.AsSpan((r * c.Capacity + c.Cached[r]) * c.Width, (c.Capacity - c.Cached[r]) * c.Width).Fill(float.NaN);
            vCache.AsSpan((r * c.Capacity + c.Cached[r]) * c.Width, (c.Capacity - c.Cached[r]) * c.Width).Fill(float.NaN);
            int unseen = c.Window == 0 ? 0 : Math.Max(0, c.Cached[r] - c.Window + 1);
            kCache.AsSpan(r * c.Capacity * c.Width, unseen * c.Width).Fill(float.NaN);
            vCache.AsSpan(r * c.Capacity * c.Width, unseen * c.Width).Fill(float.NaN);
        }
        for (int t = 0; t < slots.Length; t++)
            if (slots[t] < 0)
            {
                k.AsSpan(t * c.Width, c.Width).Fill(float.NaN);
                v.AsSpan(t * c.Width, c.Width).Fill(float.NaN);
            }
        return new Inputs(TestData.Uniform(c.QSize, seed, scale: 2f), k, v, kCache, vCache, slots);
    }

    /// <summary>Naive float64 append: cache[r, slots[r,i], :] = src[r, i, :] for every slot ≥ 0.</summary>
    private static double[] ReferenceAppend(double[] cache, double[] src, int[] slots, Case c)
    {
        var result = (double[])cache.Clone();
        for (int t = 0; t < slots.Length; t++)
            if (slots[t] >= 0)
                Array.Copy(src, t * c.Width, result, ((t / c.NewTokens) * c.Capacity + slots[t]) * c.Width, c.Width);
        return result;
    }

    /// <summary>Naive float64 attention of each new query over cache slots j ≤ slot with j &gt; slot − W (W &gt; 0): full score row, softmax, weighted sum; 0 for padding.</summary>
    private static double[] ReferenceForward(double[] q, double[] kCache, double[] vCache, int[] slots, Case c)
    {
        int H = c.Heads, KV = c.KvHeads, D = c.HeadDim, T = c.NewTokens;
        var output = new double[c.QSize];
        for (int r = 0; r < c.Rows; r++)
        for (int i = 0; i < T; i++)
        for (int h = 0; h < H; h++)
        {
            int slot = slots[r * T + i], g = h / (H / KV);
            if (slot < 0) continue;
            var scores = new double[slot + 1];
            for (int j = 0; j <= slot; j++)
            {
                scores[j] = double.NegativeInfinity;
                if (c.Window > 0 && j <= slot - c.Window) continue;
                double dot = 0;
                for (int d = 0; d < D; d++) dot += q[((r * T + i) * H + h) * D + d] * kCache[((r * c.Capacity + j) * KV + g) * D + d];
                scores[j] = dot / Math.Sqrt(D);
            }
            double max = scores.Max(), sum = scores.Sum(s => Math.Exp(s - max));
            for (int j = 0; j <= slot; j++)
            {
                if (double.IsNegativeInfinity(scores[j])) continue;
                double p = Math.Exp(scores[j] - max) / sum;
                for (int d = 0; d < D; d++) output[((r * T + i) * H + h) * D + d] += p * vCache[((r * c.Capacity + j) * KV + g) * D + d];
            }
        }
        return output;
    }

    /// <summary>Append k and v, then Forward into a NaN-poisoned output: what CpuBackend.CachedAttentionForward does.</summary>
    private static float[] Run(Inputs x, Case c)
    {
        CpuCachedAttention.Append(x.KCache, x.K, x.Slots, c.Rows, c.NewTokens, c.Capacity, c.Width);
        CpuCachedAttention.Append(x.VCache, x.V, x.Slots, c.Rows, c.NewTokens, c.Capacity, c.Width);
        float[] output = TestData.Poisoned(c.QSize);
        CpuCachedAttention.Forward(output, x.Q, x.KCache, x.VCache, x.Slots, c.Rows, c.NewTokens, c.Capacity, c.Heads, c.KvHeads, c.HeadDim, c.Window);
        return output;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ForwardMatchesTheFloat64Reference(Case c)
    {
        var x = RandomInputs(c, seed: 7);
        var kCache = ReferenceAppend(TestData.ToDouble(x.KCache), TestData.ToDouble(x.K), x.Slots, c);
        var vCache = ReferenceAppend(TestData.ToDouble(x.VCache), TestData.ToDouble(x.V), x.Slots, c);
        var expected = ReferenceForward(TestData.ToDouble(x.Q), kCache, vCache, x.Slots, c);

        float[] output = Run(x, c);

        Check.Close(expected, output, 1e-5, "output");
        int headWidth = c.Heads * c.HeadDim;
        for (int t = 0; t < x.Slots.Length; t++)
            if (x.Slots[t] < 0) Assert.All(output.AsSpan(t * headWidth, headWidth).ToArray(), value => Assert.Equal(0f, value));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void AppendWritesExactlyTheNewSlots(Case c)
    {
        var x = RandomInputs(c, seed: 11);
        float[] cache = (float[])x.KCache.Clone();
        var expected = ReferenceAppend(TestData.ToDouble(cache), TestData.ToDouble(x.K), x.Slots, c).Select(d => (float)d).ToArray();
        CpuCachedAttention.Append(cache, x.K, x.Slots, c.Rows, c.NewTokens, c.Capacity, c.Width);
        Assert.Equal(expected, cache);
    }

    /// <summary>A sequence fed in two calls (a prefill of T − 3 tokens, then 3) gives what full causal attention over the sequence gives, with the same window.</summary>
    [Theory]
    [InlineData(9, 2, 2, 8, 0)]
    [InlineData(14, 4, 2, 6, 0)]
    [InlineData(37, 3, 1, 20, 0)]
    [InlineData(9, 2, 2, 8, 1)]
    [InlineData(14, 4, 2, 6, 5)]
    [InlineData(37, 3, 1, 20, 16)]
    public void PrefillThenDecodeEqualsFullAttention(int seqLen, int heads, int kvHeads, int headDim, int window)
    {
        float[] q = TestData.Uniform(seqLen * heads * headDim, 1, scale: 2f), k = TestData.Uniform(seqLen * kvHeads * headDim, 2);
        float[] v = TestData.Uniform(seqLen * kvHeads * headDim, 3);
        float[] expected = TestData.Poisoned(q.Length), lse = TestData.Poisoned(heads * seqLen);
        CpuAttention.Forward(expected, lse, q, k, v, new int[seqLen], 1, seqLen, heads, kvHeads, headDim, window);

        int capacity = seqLen + 2, width = kvHeads * headDim;
        float[] kCache = new float[capacity * width], vCache = new float[capacity * width], output = TestData.Poisoned(q.Length);
        foreach (var (first, count) in new[] { (0, seqLen - 3), (seqLen - 3, 3) })
        {
            int[] slots = Enumerable.Range(first, count).ToArray();
            var qPart = q.AsSpan(first * heads * headDim, count * heads * headDim);
            CpuCachedAttention.Append(kCache, k.AsSpan(first * width, count * width), slots, 1, count, capacity, width);
            CpuCachedAttention.Append(vCache, v.AsSpan(first * width, count * width), slots, 1, count, capacity, width);
            CpuCachedAttention.Forward(output.AsSpan(first * heads * headDim, count * heads * headDim), qPart, kCache, vCache, slots, 1, count, capacity, heads, kvHeads, headDim, window);
        }
        // Both are float32 with different summation orders (blocked vectors against one dot per key).
        Check.Close(expected, output, 1e-5, "output");
    }

    [Fact]
    public void ForwardIsBitIdenticalRunToRun()
    {
        var c = new Case(3, 4, 30, 4, 2, 24, [20, 3, 0], [4, 2, 4]);
        var first = Run(RandomInputs(c, seed: 5), c);
        var second = Run(RandomInputs(c, seed: 5), c);
        Assert.Equal(first, second);
    }

    [Fact]
    public void BadSlotsAndSizesAreRejectedNamingTheArgument()
    {
        var c = new Case(2, 2, 5, 2, 1, 4, [0, 0], [2, 2]);
        var x = RandomInputs(c, seed: 3);
        int[] tooFar = [0, 1, 4, 5], belowPadding = [0, -2, 0, 1];
        Assert.Equal("slots", Assert.Throws<ArgumentException>(() => CpuCachedAttention.Append(x.KCache, x.K, tooFar, 2, 2, 5, c.Width)).ParamName);
        Assert.Equal("slots", Assert.Throws<ArgumentException>(() =>
            CpuCachedAttention.Forward(new float[c.QSize], x.Q, x.KCache, x.VCache, belowPadding, 2, 2, 5, 2, 1, 4)).ParamName);
        Assert.Equal("output", Assert.Throws<ArgumentException>(() =>
            CpuCachedAttention.Forward(new float[c.QSize - 1], x.Q, x.KCache, x.VCache, x.Slots, 2, 2, 5, 2, 1, 4)).ParamName);
        Assert.Equal("kCache", Assert.Throws<ArgumentException>(() =>
            CpuCachedAttention.Forward(new float[c.QSize], x.Q, x.KCache[1..], x.VCache, x.Slots, 2, 2, 5, 2, 1, 4)).ParamName);
        Assert.Equal("heads", Assert.Throws<ArgumentException>(() =>
            CpuCachedAttention.Forward(new float[c.QSize], x.Q, x.KCache, x.VCache, x.Slots, 2, 2, 5, 3, 2, 4)).ParamName);
        Assert.Equal("window", Assert.Throws<ArgumentException>(() =>
            CpuCachedAttention.Forward(new float[c.QSize], x.Q, x.KCache, x.VCache, x.Slots, 2, 2, 5, 2, 1, 4, window: -2)).ParamName);
    }
}
