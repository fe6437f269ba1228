using System.Runtime.CompilerServices;

namespace Engine.Curation;

/// <summary>
/// The word 13-grams of an evaluation set (prompt and response of each row), as GPT-3 and the Tulu/OLMo decontamination do it: a
/// training row that shares one 13-gram with any evaluation row is contaminated. An evaluation text of fewer than 13 words contributes
/// its whole word sequence, found in a training text as any run of that many words.
/// </summary>
public sealed class Decontamination
{
    private readonly HashTable _grams = new();
    private readonly SortedSet<int> _shortLengths = [];

    public Decontamination(IEnumerable<string> evalTexts, int n = 13)
    {
        if (n < 1) throw new ArgumentException($"decontamination n-gram size is {n}, expected ≥ 1");
        N = n;
        foreach (string text in evalTexts)
        {
            var words = TextFeatures.Words(text);
            if (words.Length == 0) continue;
            if (words.Length < n) _shortLengths.Add(words.Length);
            foreach (ulong g in TextFeatures.NGramHashes(words, n)) _grams.GetOrAdd(g, out _);
        }
    }

    public int N { get; }

    /// <summary>Whether the text shares an n-gram (or holds a whole short evaluation text) with the evaluation set.</summary>
    public bool Contaminates(string text) => Contaminates(TextFeatures.Words(text));

    /// <summary>The same, on a text's words.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public bool Contaminates(ReadOnlySpan<Word> words)
    {
        if (HasRun(words, N)) return true;
        foreach (int length in _shortLengths)
        {
            if (length > words.Length) break;
            if (HasRun(words, length)) return true;
        }
        return false;
    }

    /// <summary>Whether a run of length consecutive words hashes (as NGramHashes does) to an evaluation n-gram or short text.</summary>
    private bool HasRun(ReadOnlySpan<Word> words, int length)
    {
        for (int i = 0; i + length <= words.Length; i++)
            if (_grams.Contains(TextFeatures.SequenceHash(words.Slice(i, length)))) return true;
        return false;
    }
}
