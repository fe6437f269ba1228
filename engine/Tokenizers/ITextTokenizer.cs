namespace Engine.Tokenizers;

/// <summary>
/// Text to token ids and back. Encode adds no BOS/EOS of its own (chat templates add what they need), and every
/// special or added token that appears in the text (e.g. <c>&lt;|im_start|&gt;</c>) encodes as its single id.
/// </summary>
public interface ITextTokenizer
{
    /// <summary>One more than the largest id the tokenizer can produce: the model's vocabulary must be at least this large.</summary>
    int VocabSize { get; }

    /// <summary>Special and added tokens by their text.</summary>
    IReadOnlyDictionary<string, int> SpecialTokens { get; }

    int[] Encode(string text);

    /// <summary>The text of the ids, special tokens written out.</summary>
    string Decode(IEnumerable<int> ids);

    /// <summary>The id of a special token, or of a vocabulary entry in the tokenizer's own spelling (e.g. "Ġworld"); null when absent.</summary>
    int? TokenToId(string token);
}
