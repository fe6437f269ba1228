namespace Engine.Tokenizers;

/// <summary>
/// A Hugging Face tokenizer.json pipeline, organised as the Rust tokenizers library is: added tokens are cut out of the
/// raw text, each piece between them is normalized (then normalized added tokens are cut out), pre-tokenized into words,
/// and each word encoded by the BPE model; decoding maps ids to tokens and runs the decoder. No post-processor runs: Encode
/// adds no BOS/EOS (chat templates write what they need).
/// </summary>
public sealed class HfTokenizer : ITextTokenizer
{
    private readonly BpeModel _model;
    private readonly INormalizer? _normalizer;
    private readonly IPreTokenizer? _preTokenizer;
    private readonly IDecoder? _decoder;
    private readonly AddedTokenMatcher _rawTokens, _normalizedTokens;
    private readonly Dictionary<int, string> _addedById = [];

    public HfTokenizer(BpeModel model, IReadOnlyList<AddedToken> addedTokens, INormalizer? normalizer, IPreTokenizer? preTokenizer, IDecoder? decoder)
    {
        _model = model;
        _normalizer = normalizer;
        _preTokenizer = preTokenizer;
        _decoder = decoder;
        var specials = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var token in addedTokens)
        {
            specials[token.Content] = token.Id;
            // A normalized token decodes as its normalized content, as the reference does.
            _addedById[token.Id] = token.Normalized && normalizer is not null ? normalizer.Normalize(token.Content) : token.Content;
        }
        SpecialTokens = specials;
        _rawTokens = new AddedTokenMatcher(addedTokens.Where(t => !t.Normalized).Select(t => (t.Content, t)));
        _normalizedTokens = new AddedTokenMatcher(addedTokens.Where(t => t.Normalized).Select(t => (normalizer?.Normalize(t.Content) ?? t.Content, t)));
        int maxId = Math.Max(model.Vocabulary.Count == 0 ? -1 : model.Vocabulary.Values.Max(), _addedById.Count == 0 ? -1 : _addedById.Keys.Max());
        VocabSize = maxId + 1;
    }

    public int VocabSize { get; }

    /// <summary>Every added token (special or not) by its content.</summary>
    public IReadOnlyDictionary<string, int> SpecialTokens { get; }

    public int[] Encode(string text)
    {
        var ids = new List<int>(text.Length / 3 + 4);
        var words = new List<TextPiece>();
        foreach (var (start, end, id) in _rawTokens.Split(text))
        {
            if (id is int added) { ids.Add(added); continue; }
            string normalized = _normalizer?.Normalize(text[start..end]) ?? text[start..end];
            foreach (var (nStart, nEnd, nId) in _normalizedTokens.Split(normalized))
            {
                if (nId is int normalizedAdded) { ids.Add(normalizedAdded); continue; }
                var piece = new TextPiece(normalized[nStart..nEnd], start == 0 && nStart == 0);
                words.Clear();
                if (_preTokenizer is null) words.Add(piece);
                else _preTokenizer.Split(piece, words);
                foreach (var word in words) _model.Encode(word.Text, ids);
            }
        }
        return [.. ids];
    }

    /// <summary>The decoder's text of the ids' tokens, added tokens included; ids no token has are skipped.</summary>
    public string Decode(IEnumerable<int> ids)
    {
        var tokens = new List<string>();
        foreach (int id in ids)
            if (_addedById.TryGetValue(id, out var added) || (added = _model.IdToToken(id)) is not null) tokens.Add(added);
        return _decoder is null ? string.Join(" ", tokens) : string.Concat(_decoder.Decode(tokens));
    }

    public int? TokenToId(string token)
        => SpecialTokens.TryGetValue(token, out int id) || _model.Vocabulary.TryGetValue(token, out id) ? id : null;
}
