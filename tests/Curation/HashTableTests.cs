using Engine.Curation;
using Xunit;

namespace Engine.Tests.Curation;

public class HashTableTests
{
    /// <summary>Against a Dictionary: 20,000 adds and lookups of keys drawn from 5,000 (so most repeat), starting at 16 slots (so it
    /// grows ten times), keys that share their top bits (the slot's) and keys 0 and ulong.MaxValue; then emptied and refilled.</summary>
    [Fact]
    public void Holds_what_a_dictionary_holds_through_growth_and_clearing()
    {
        var rng = new Random(3);
        var pool = Enumerable.Range(0, 5000).Select(i => i % 5 == 0 ? (ulong)i : (ulong)rng.NextInt64() | (i % 7 == 0 ? 0xFFFF_0000_0000_0000UL : 0)).Append(0UL).Append(ulong.MaxValue).ToArray();
        var table = new HashTable();
        for (int round = 0; round < 2; round++)
        {
            var reference = new Dictionary<ulong, int>();
            for (int step = 0; step < 20_000; step++)
            {
                ulong key = pool[rng.Next(pool.Length)];
                bool had = reference.TryGetValue(key, out int old);
                Assert.Equal(had ? old : 0, table.ValueOf(key));
                Assert.Equal(had, table.Contains(key));
                ref int value = ref table.GetOrAdd(key, out bool existed);
                Assert.Equal((had, had ? old : 0), (existed, value));
                value = reference[key] = old + step;
            }
            Assert.Equal(reference.Count, table.Count);
            table.Clear();
            Assert.Equal(0, table.Count);
            Assert.All(pool, key => Assert.False(table.Contains(key)));
        }
    }
}
