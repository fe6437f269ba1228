using System.Text;

namespace Engine.Tokenizers;

/// <summary>What a BPE model of tokenizer.json says beyond its vocabulary and merges.</summary>
/// <param name="UnknownToken">The token for a character outside the vocabulary (none: the character is dropped).</param>
/// <param name="FuseUnknown">Consecutive unknown characters become one unknown token.</param>
/// <param name="ByteFallback">A character outside the vocabulary becomes its UTF-8 bytes as <c>&lt;0xNN&gt;</c> tokens, when they all exist.</param>
/// <param name="IgnoreMerges">A word that is a vocabulary entry is that entry, whatever the merges would make of it.</param>
/// <param name="ContinuingSubwordPrefix">Written before every character but a word's first (e.g. "##").</param>
/// <param name="EndOfWordSuffix">Written after a word's last character (e.g. "&lt;/w&gt;").</param>
public sealed record BpeOptions(
    string? UnknownToken = null, bool FuseUnknown = false, bool ByteFallback = false, bool IgnoreMerges = false,
    string? ContinuingSubwordPrefix = null, string? EndOfWordSuffix = null);

/// <summary>
/// Byte-pair encoding as Hugging Face's BPE model does it: a word starts as its characters, then the adjacent pair with the
/// lowest merge rank (leftmost among equals) merges, again and again, until no pair of neighbours has a merge.
/// </summary>
public sealed class BpeModel
{
    private readonly Dictionary<string, int> _vocabulary;
    private readonly Dictionary<int, string> _tokens;
    private readonly Dictionary<(int Left, int Right), (int Rank, int Merged)> _merges = [];
    private readonly BpeOptions _options;
    private readonly int? _unknownId;

    /// <exception cref="InvalidDataException">A merge of tokens not in the vocabulary or one whose result is not, or an unknown token not in it.</exception>
    public BpeModel(Dictionary<string, int> vocabulary, IReadOnlyList<(string Left, string Right)> merges, BpeOptions options)
    {
        _vocabulary = vocabulary;
        _tokens = [];
        foreach (var (token, id) in vocabulary) _tokens.TryAdd(id, token);
        _options = options;
        int prefixLength = options.ContinuingSubwordPrefix?.Length ?? 0;
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (left, right) = merges[rank];
            string merged = left + (prefixLength > 0 && right.StartsWith(options.ContinuingSubwordPrefix!, StringComparison.Ordinal) ? right[prefixLength..] : right);
            if (!vocabulary.TryGetValue(left, out int a) || !vocabulary.TryGetValue(right, out int b) || !vocabulary.TryGetValue(merged, out int m))
                throw new InvalidDataException($"merge {rank} \"{left} {right}\" uses or makes a token that is not in the vocabulary");
            _merges[(a, b)] = (rank, m);
        }
        if (options.UnknownToken is { } unk)
            _unknownId = vocabulary.TryGetValue(unk, out int id) ? id : throw new InvalidDataException($"unk_token \"{unk}\" is not in the vocabulary");
    }

    public IReadOnlyDictionary<string, int> Vocabulary => _vocabulary;

    public string? IdToToken(int id) => _tokens.GetValueOrDefault(id);

    /// <summary>Appends the ids of one pre-tokenized word.</summary>
    public void Encode(string word, List<int> ids)
    {
        if (word.Length == 0) return;
        if (_options.IgnoreMerges && _vocabulary.TryGetValue(word, out int whole)) { ids.Add(whole); return; }
        var symbols = InitialSymbols(word);
        MergeAll(symbols);
        ids.AddRange(symbols);
    }

    /// <summary>The word's characters as ids (with prefix and suffix), byte tokens or unknown tokens for those not in the vocabulary.</summary>
    private List<int> InitialSymbols(string word)
    {
        var symbols = new List<int>(word.Length);
        bool pendingUnknown = false;
        for (int i = 0; i < word.Length;)
        {
            int length = char.IsHighSurrogate(word[i]) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]) ? 2 : 1;
            string symbol = word.Substring(i, length);
            if (i > 0 && _options.ContinuingSubwordPrefix is { } prefix) symbol = prefix + symbol;
            i += length;
            if (i == word.Length && _options.EndOfWordSuffix is { } suffix) symbol += suffix;
            if (_vocabulary.TryGetValue(symbol, out int id))
            {
                if (pendingUnknown) symbols.Add(_unknownId!.Value);
                pendingUnknown = false;
                symbols.Add(id);
                continue;
            }
            if (_options.ByteFallback && ByteIds(symbol) is { } byteIds) { symbols.AddRange(byteIds); continue; }
            if (_unknownId is null) continue;
            if (pendingUnknown && !_options.FuseUnknown) symbols.Add(_unknownId.Value);
            pendingUnknown = true;
        }
        if (pendingUnknown) symbols.Add(_unknownId!.Value);
        return symbols;
    }

    /// <summary>The ids of the symbol's UTF-8 bytes as &lt;0xNN&gt; tokens, or null when one is missing.</summary>
    private List<int>? ByteIds(string symbol)
    {
        var ids = new List<int>(4);
        foreach (byte b in Encoding.UTF8.GetBytes(symbol))
        {
            if (!_vocabulary.TryGetValue($"<0x{b:X2}>", out int id)) return null;
            ids.Add(id);
        }
        return ids;
    }

    /// <summary>
    /// Merges in rank order with a priority queue of (rank, position): a popped pair is applied unless one of its symbols
    /// has since merged with another, then the merged symbol's new pairs with its neighbours are queued.
    /// </summary>
    private void MergeAll(List<int> symbols)
    {
        int n = symbols.Count;
        if (n < 2) return;
        var next = new int[n];
        var previous = new int[n];
        var removed = new bool[n];
        for (int i = 0; i < n; i++) { next[i] = i + 1 < n ? i + 1 : -1; previous[i] = i - 1; }
        var queue = new PriorityQueue<(int Position, int Merged), (int Rank, int Position)>();
        for (int i = 0; i + 1 < n; i++) Enqueue(i, i + 1);
        while (queue.TryDequeue(out var top, out _))
        {
            int at = top.Position, right = next[at];
            if (removed[at] || right < 0) continue;
            if (!_merges.TryGetValue((symbols[at], symbols[right]), out var merge) || merge.Merged != top.Merged) continue;
            symbols[at] = merge.Merged;
            removed[right] = true;
            next[at] = next[right];
            if (next[right] >= 0) previous[next[right]] = at;
            if (previous[at] >= 0) Enqueue(previous[at], at);
            if (next[at] >= 0) Enqueue(at, next[at]);
        }
        int write = 0;
        for (int i = 0; i < n; i++) if (!removed[i]) symbols[write++] = symbols[i];
        symbols.RemoveRange(write, n - write);

        void Enqueue(int left, int right)
        {
            if (_merges.TryGetValue((symbols[left], symbols[right]), out var merge)) queue.Enqueue((left, merge.Merged), (merge.Rank, left));
        }
    }
}
