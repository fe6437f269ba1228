using Engine.Backends;
using Engine.Kernels;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Kernels;

/// <summary>The cached-attention kernels on ILGPU's CPU accelerator against CpuCachedAttention, the oracle, on tiny ragged shapes.</summary>
[Collection(CpuAcceleratorCollection.Name)]
public sealed class CachedAttentionKernelTests(KernelFixture<CachedAttention> fixture) : IClassFixture<KernelFixture<CachedAttention>>
{
    private readonly CachedAttention _launcher = fixture.Launcher;

    /// <summary>Row r holds cached[r] tokens and brings fresh[r] ≤ newTokens new ones after newTokens − fresh[r] padding tokens.</summary>
    private static int[] Slots(int newTokens, int[] cached, int[] fresh)
    {
        var slots = new int[cached.Length * newTokens];
        for (int r = 0; r < cached.Length; r++)
            for (int i = 0; i < newTokens; i++)
                slots[r * newTokens + i] = i < newTokens - fresh[r] ? -1 : cached[r] + i - (newTokens - fresh[r]);
        return slots;
    }

    /// <summary>The last column is the sliding window (0 = unlimited).</summary>
    public static TheoryData<int, int, int, int, int[], int[], int> Shapes => new()
    {
        { 1, 1, 1, 1, [0], [1], 0 },                           // one key
        { 1, 9, 4, 2, [5, 0], [1, 1], 0 },                     // decode, GQA 4/2
        { 3, 13, 3, 1, [4, 0, 10], [3, 2, 1], 0 },             // ragged rows, GQA 3/1
        { 5, 75, 2, 2, [67, 30], [5, 2], 0 },                  // three key tiles of 32, the last partial
        { 2, 40, 4, 1, [33, 0, 6], [2, 0, 1], 0 },             // a row of padding only
        { 1, 9, 4, 2, [5, 0], [1, 1], 1 },                     // windows: each token sees itself only
        { 5, 75, 2, 2, [67, 30], [5, 2], 40 },                 // a window starting inside a tile, spanning two
        { 3, 13, 3, 1, [4, 0, 10], [3, 2, 1], 6 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void AppendAndForwardMatchTheCpuOp(int newTokens, int capacity, int heads, int kvHeads, int[] cached, int[] fresh, int window)
    {
        // headDim 5: lanes 5..31 own no output element; 40: lanes 0..7 own two.
        foreach (int headDim in new[] { 5, 40 })
        {
            int rows = cached.Length, width = kvHeads * headDim;
            int qSize = rows * newTokens * heads * headDim, kvSize = rows * newTokens * width, cacheSize = rows * capacity * width;
            int[] slots = Slots(newTokens, cached, fresh);
            float[] q = TestData.Uniform(qSize, 1, scale: 2f), k = TestData.Uniform(kvSize, 2), v = TestData.Uniform(kvSize, 3);
            float[] kCache = TestData.Uniform(cacheSize, 4), vCache = TestData.Uniform(cacheSize, 5);

            float[] expectedK = (float[])kCache.Clone(), expectedV = (float[])vCache.Clone(), expected = TestData.Poisoned(qSize);
            CpuCachedAttention.Append(expectedK, k, slots, rows, newTokens, capacity, width);
            CpuCachedAttention.Append(expectedV, v, slots, rows, newTokens, capacity, width);
            CpuCachedAttention.Forward(expected, q, expectedK, expectedV, slots, rows, newTokens, capacity, heads, kvHeads, headDim, window);

            using DeviceArray<float> output = fixture.Put(TestData.Poisoned(qSize)), qDevice = fixture.Put(q), kDevice = fixture.Put(k), vDevice = fixture.Put(v);
            using DeviceArray<float> kCacheDevice = fixture.Put(kCache), vCacheDevice = fixture.Put(vCache);
            using var slotsDevice = fixture.Put(slots);
            _launcher.Append(kCacheDevice.View, kDevice.View, slotsDevice.View, rows, newTokens, capacity, width);
            _launcher.Append(vCacheDevice.View, vDevice.View, slotsDevice.View, rows, newTokens, capacity, width);
            _launcher.Forward(output.View, qDevice.View, kCacheDevice.View, vCacheDevice.View, slotsDevice.View, rows, newTokens, capacity, heads, kvHeads, headDim, window);

            Assert.Equal(expectedK, fixture.Get(kCacheDevice));
            Assert.Equal(expectedV, fixture.Get(vCacheDevice));
            // Float32 both, summed in another order (online softmax over tiles of 32 keys against one softmax over the whole row).
            float[] actual = fixture.Get(output);
            Check.Close(expected, actual, 1e-5, $"output (headDim {headDim})");
            int headWidth = heads * headDim;
            for (int t = 0; t < slots.Length; t++)
                if (slots[t] < 0) Assert.All(actual.AsSpan(t * headWidth, headWidth).ToArray(), value => Assert.Equal(0f, value));
        }
    }
}
