using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Engine.Curation;

/// <summary>
/// MinHash signatures over word 5-grams with locality-sensitive hashing in bands, as datatrove's MinhashDedup does it (14 bands × 8 rows,
/// 5-grams): two texts whose sets of 5-grams have Jaccard similarity s agree in one band with probability s⁸ and are candidates when any
/// of the 14 bands agrees, probability 1 − (1 − s⁸)¹⁴: ≈ 0.92 at s = 0.8, 0.5 at s ≈ 0.69 (the usual threshold estimate
/// (1/14)^(1/8) ≈ 0.72), ≈ 0.05 at s = 0.5. Hash function i is
/// hᵢ(x) = aᵢ·x + bᵢ mod 2⁶⁴ over the 5-gram's 64-bit hash x, with aᵢ (odd) and bᵢ drawn from the seed; the signature keeps each
/// function's minimum over the text's 5-grams, and the fraction of equal entries of two signatures estimates their Jaccard similarity.
/// </summary>
public sealed class MinHash
{
    private readonly ulong[] _multipliers, _offsets;

    public MinHash(int bands = 14, int rowsPerBand = 8, int ngram = 5, int seed = 1)
    {
        if (bands < 1 || rowsPerBand < 1) throw new ArgumentException($"MinHash needs at least one band of one row, got {bands} × {rowsPerBand}");
        if (ngram < 1) throw new ArgumentException($"MinHash n-gram size is {ngram}, expected ≥ 1");
        (Bands, RowsPerBand, NGram) = (bands, rowsPerBand, ngram);
        var rng = new Random(seed);
        _multipliers = Enumerable.Range(0, bands * rowsPerBand).Select(_ => (ulong)rng.NextInt64() << 1 | 1).ToArray();
        _offsets = Enumerable.Range(0, bands * rowsPerBand).Select(_ => (ulong)rng.NextInt64()).ToArray();
    }

    public int Bands { get; }

    public int RowsPerBand { get; }

    public int NGram { get; }

    public int Length => _multipliers.Length;

    /// <summary>Hash function i of an n-gram's hash x: aᵢ·x + bᵢ mod 2⁶⁴.</summary>
    public ulong Hash(int i, ulong gram) => _multipliers[i] * gram + _offsets[i];

    /// <summary>The signature of a text's words: per hash function the minimum over its n-grams (all ulong.MaxValue for a text with no words).</summary>
    public ulong[] Signature(ReadOnlySpan<Word> words)
    {
        var signature = new ulong[Length];
        Signature(words, signature);
        return signature;
    }

    /// <summary>The same, written to signature (Length entries).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Signature(ReadOnlySpan<Word> words, Span<ulong> signature)
    {
        int count = TextFeatures.NGramCount(words.Length, NGram);
        ulong[] rented = ArrayPool<ulong>.Shared.Rent(count);
        var grams = rented.AsSpan(0, count);
        TextFeatures.NGramHashes(words, NGram, grams);
        int i = 0;
        // Four functions at a time (AVX2 has no 64-bit multiply or minimum instruction; the JIT composes them from 32-bit ones).
        if (Vector256.IsHardwareAccelerated)
            for (; i + Vector256<ulong>.Count <= Length; i += Vector256<ulong>.Count)
            {
                var a = Vector256.Create<ulong>(_multipliers.AsSpan(i));
                var b = Vector256.Create<ulong>(_offsets.AsSpan(i));
                var min = Vector256.Create(ulong.MaxValue);
                foreach (ulong x in grams) min = Vector256.Min(min, a * Vector256.Create(x) + b);
                min.CopyTo(signature[i..]);
            }
        for (; i < Length; i++)
        {
            signature[i] = ulong.MaxValue;
            foreach (ulong x in grams) signature[i] = Math.Min(signature[i], Hash(i, x));
        }
        ArrayPool<ulong>.Shared.Return(rented);
    }

    /// <summary>The fraction of positions where two signatures agree: an unbiased estimate of the Jaccard similarity of their n-gram sets.</summary>
    public static double EstimateJaccard(ReadOnlySpan<ulong> a, ReadOnlySpan<ulong> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"signatures of {a.Length} and {b.Length} hashes cannot be compared");
        int equal = 0;
        for (int i = 0; i < a.Length; i++) equal += a[i] == b[i] ? 1 : 0;
        return (double)equal / a.Length;
    }

    /// <summary>Each band's key: a hash of its RowsPerBand signature entries and its index, so equal keys mean an equal band.</summary>
    public ulong[] BandKeys(ReadOnlySpan<ulong> signature)
    {
        var keys = new ulong[Bands];
        BandKeys(signature, keys);
        return keys;
    }

    /// <summary>The same, written to keys (Bands entries).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void BandKeys(ReadOnlySpan<ulong> signature, Span<ulong> keys)
    {
        for (int band = 0; band < Bands; band++)
        {
            ulong key = TextFeatures.Mix((ulong)band);
            foreach (ulong v in signature.Slice(band * RowsPerBand, RowsPerBand)) key = TextFeatures.Mix(key ^ v);
            keys[band] = key;
        }
    }

    /// <summary>The probability that two texts of Jaccard similarity s become candidates: 1 − (1 − s^rows)^bands.</summary>
    public double CandidateProbability(double s) => 1 - Math.Pow(1 - Math.Pow(s, RowsPerBand), Bands);
}
