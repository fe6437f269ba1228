using Microsoft.ML.Tokenizers;

namespace Engine.Tokenizers;

/// <summary>An <see cref="ITextTokenizer"/> over a Microsoft.ML.Tokenizers tokenizer (BPE, SentencePiece or Tiktoken).</summary>
public sealed class MlTextTokenizer : ITextTokenizer
{
    private readonly Tokenizer _inner;
    private readonly IReadOnlyDictionary<string, int> _vocabulary;

    /// <param name="vocabulary">Regular vocabulary entries for <see cref="TokenToId"/> (may be empty when the library does not expose them).</param>
    public MlTextTokenizer(Tokenizer inner, IReadOnlyDictionary<string, int> vocabulary, IReadOnlyDictionary<string, int> specialTokens, int vocabSize)
    {
        _inner = inner;
        _vocabulary = vocabulary;
        SpecialTokens = specialTokens;
        VocabSize = vocabSize;
    }

    public int VocabSize { get; }

    public IReadOnlyDictionary<string, int> SpecialTokens { get; }

    public int[] Encode(string text) => text.Length == 0 ? [] : [.. _inner.EncodeToIds(text)];

    public string Decode(IEnumerable<int> ids) => _inner.Decode(ids);

    public int? TokenToId(string token)
        => SpecialTokens.TryGetValue(token, out int id) || _vocabulary.TryGetValue(token, out id) ? id : null;
}
