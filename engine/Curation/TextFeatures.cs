using System.Runtime.CompilerServices;

namespace Engine.Curation;

/// <summary>One word of a text: the hash of its lower-cased letters and digits, and how many characters it has.</summary>
public readonly record struct Word(ulong Hash, int Length);

/// <summary>
/// The word and n-gram features every filter stage reads. A word is a maximal run of letters and digits, lower-cased; everything else
/// (punctuation, spaces, line breaks) only separates words, so two texts that differ in case, punctuation or spacing have the same words.
/// Hashes are 64-bit (FNV-1a over the characters, n-grams combined by SplitMix64): a collision among a million distinct texts has
/// probability about 3·10⁻⁸.
/// </summary>
public static class TextFeatures
{
    /// <summary>The words of text, in order, without allocating a string per word.</summary>
    public static Word[] Words(string text)
    {
        var words = new List<Word>(text.Length / 5 + 1);
        AddWords(text, words);
        return [.. words];
    }

    /// <summary>Appends the words of text to words (a list reused across texts allocates nothing once it is large enough).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AddWords(ReadOnlySpan<char> text, List<Word> words)
    {
        ulong hash = FnvOffset;
        int length = 0;
        foreach (char c in text)
        {
            if (char.IsLetterOrDigit(c))
            {
                // FNV-1a: h = (h ⊕ c) · prime, per UTF-16 unit of the lower-cased character.
                hash = (hash ^ char.ToLowerInvariant(c)) * FnvPrime;
                length++;
            }
            else if (length > 0)
            {
                words.Add(new Word(hash, length));
                (hash, length) = (FnvOffset, 0);
            }
        }
        if (length > 0) words.Add(new Word(hash, length));
    }

    /// <summary>The hash of a whole word sequence: equal for texts whose normalised words are equal.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static ulong SequenceHash(ReadOnlySpan<Word> words)
    {
        ulong hash = Mix((ulong)words.Length);
        foreach (var w in words) hash = Mix(hash ^ w.Hash);
        return hash;
    }

    /// <summary>The hashes of every run of n consecutive words; a text of fewer than n (but some) words gives one hash of all of them.</summary>
    public static ulong[] NGramHashes(ReadOnlySpan<Word> words, int n)
    {
        var hashes = new ulong[NGramCount(words.Length, n)];
        NGramHashes(words, n, hashes);
        return hashes;
    }

    /// <summary>The same, written to the first <see cref="NGramCount"/> entries of hashes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void NGramHashes(ReadOnlySpan<Word> words, int n, Span<ulong> hashes)
    {
        if (words.Length == 0) return;
        if (words.Length < n) hashes[0] = SequenceHash(words);
        else
            for (int i = 0; i + n <= words.Length; i++) hashes[i] = SequenceHash(words.Slice(i, n));
    }

    /// <summary>How many n-gram hashes a text of this many words has: none without words, one when it has fewer than n.</summary>
    public static int NGramCount(int words, int n) => words == 0 ? 0 : Math.Max(1, words - n + 1);

    /// <summary>SplitMix64's finaliser: a bijection of 64-bit values whose output bits each depend on every input bit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Mix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    private const ulong FnvOffset = 14695981039346656037UL, FnvPrime = 1099511628211UL;
}
