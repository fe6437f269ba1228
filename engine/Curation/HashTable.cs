using System.Numerics;
using System.Runtime.CompilerServices;

namespace Engine.Curation;

/// <summary>
/// A table from 64-bit hashes (the words', n-grams' and MinHash bands' of <see cref="TextFeatures"/>) to ints, for the filter's hot
/// loops: open addressing with linear probing at most half full, Fibonacci hashing to a slot. Emptying it is O(1) (each slot is stamped
/// with the generation that filled it), so one table serves row after row. The BCL's Dictionary would do as well once optimised, but in
/// a run of about a second most of its calls run its unoptimised first tier; this one is compiled optimised from its first call.
/// </summary>
internal sealed class HashTable
{
    private ulong[] _keys = [];
    private int[] _values = [], _stamps = [];
    private int _generation, _shift;

    /// <param name="capacity">Keys it holds before it grows.</param>
    public HashTable(int capacity = 0) => Allocate(capacity);

    public int Count { get; private set; }

    /// <summary>Empties the table.</summary>
    public void Clear()
    {
        Count = 0;
        if (++_generation == int.MaxValue) Allocate(_keys.Length / 2);
    }

    /// <summary>The value under key, added as 0 when missing (existed says which).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public ref int GetOrAdd(ulong key, out bool existed)
    {
        if (2 * (Count + 1) > _keys.Length) Grow();
        int slot = Slot(key);
        for (; _stamps[slot] == _generation; slot = (slot + 1) & (_keys.Length - 1))
            if (_keys[slot] == key)
            {
                existed = true;
                return ref _values[slot];
            }
        (_stamps[slot], _keys[slot], _values[slot]) = (_generation, key, 0);
        Count++;
        existed = false;
        return ref _values[slot];
    }

    /// <summary>The value under key, or 0 when missing.</summary>
    public int ValueOf(ulong key) => Find(key) is var slot and >= 0 ? _values[slot] : 0;

    public bool Contains(ulong key) => Find(key) >= 0;

    /// <summary>The slot holding key, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int Find(ulong key)
    {
        for (int slot = Slot(key); _stamps[slot] == _generation; slot = (slot + 1) & (_keys.Length - 1))
            if (_keys[slot] == key) return slot;
        return -1;
    }

    // slot = ⌊key · 2⁶⁴/φ mod 2⁶⁴ / 2^shift⌋: the top log₂(size) bits of the product, which each depend on every bit of the key.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Slot(ulong key) => (int)((key * 0x9E3779B97F4A7C15UL) >> _shift);

    /// <summary>Empty arrays of 2·capacity slots (a power of two, at least 16), generation 1.</summary>
    private void Allocate(int capacity)
    {
        int size = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, 2 * capacity));
        (_keys, _values, _stamps) = (new ulong[size], new int[size], new int[size]);
        (_generation, _shift, Count) = (1, 64 - BitOperations.Log2((uint)size), 0);
    }

    /// <summary>Twice the slots, the entries moved over.</summary>
    private void Grow()
    {
        var (keys, values, stamps, generation) = (_keys, _values, _stamps, _generation);
        Allocate(keys.Length);
        for (int i = 0; i < keys.Length; i++)
            if (stamps[i] == generation) GetOrAdd(keys[i], out _) = values[i];
    }
}
