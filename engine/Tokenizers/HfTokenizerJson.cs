using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace Engine.Tokenizers;

/// <summary>
/// Builds a Microsoft.ML.Tokenizers byte-level <see cref="BpeTokenizer"/> from a Hugging Face tokenizer.json (GPT-2, Llama-3,
/// Qwen2 style), which the library cannot read itself: model.vocab, model.merges (as "a b" strings or [a, b] pairs), the
/// pre-tokenizer's Split regexes (or ByteLevel's built-in GPT-2 regex) and added_tokens, each of which encodes as one id.
/// </summary>
public static class HfTokenizerJson
{
    /// <summary>The regex ByteLevel applies when its use_regex is true (GPT-2's).</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    public static MlTextTokenizer Load(string path) => Parse(File.ReadAllText(path), path);

    /// <param name="source">Names the file in error messages.</param>
    /// <exception cref="InvalidDataException">The JSON is malformed or inconsistent (a merge of tokens not in the vocabulary).</exception>
    /// <exception cref="NotSupportedException">A valid tokenizer of a kind this reader does not build (WordPiece, Unigram, non-byte-level BPE).</exception>
    public static MlTextTokenizer Parse(string json, string source = "tokenizer.json")
    {
        JsonDocument document;
        try { document = JsonDocument.Parse(json); }
        catch (JsonException e) { throw new InvalidDataException($"{source}: not valid JSON ({e.Message})", e); }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{source}: no \"model\" object");
            string modelType = OptionalString(model, "type", source) ?? "BPE";
            if (modelType != "BPE")
                throw new NotSupportedException($"{source}: model type {modelType} is not supported (byte-level BPE only; use tokenizer.model for SentencePiece)");

            var vocab = ReadVocab(model, source);
            var merges = ReadMerges(model, source);
            var specials = ReadAddedTokens(root, source);
            var splitPatterns = new List<string>();
            bool byteLevel = ReadPreTokenizer(root.TryGetProperty("pre_tokenizer", out var pre) ? pre : default, splitPatterns, source)
                || (root.TryGetProperty("decoder", out var decoder) && IsType(decoder, "ByteLevel"));
            if (!byteLevel)
                throw new NotSupportedException($"{source}: a BPE tokenizer without ByteLevel is not supported (use tokenizer.model for SentencePiece-style vocabularies)");
            CheckNormalizer(root.TryGetProperty("normalizer", out var normalizer) ? normalizer : default, source);

            var options = new BpeOptions(vocab)
            {
                Merges = merges,
                ByteLevel = true,
                SpecialTokens = specials,
                PreTokenizer = new HfPreTokenizer(splitPatterns, specials.Keys),
                UnknownToken = OptionalString(model, "unk_token", source),
                ContinuingSubwordPrefix = NonEmpty(OptionalString(model, "continuing_subword_prefix", source)),
                EndOfWordSuffix = NonEmpty(OptionalString(model, "end_of_word_suffix", source)),
            };
            BpeTokenizer bpe;
            try { bpe = BpeTokenizer.Create(options); }
            catch (InvalidOperationException e) { throw new InvalidDataException($"{source}: {e.Message}", e); }
            int vocabSize = Math.Max(vocab.Count == 0 ? 0 : vocab.Values.Max(), specials.Count == 0 ? 0 : specials.Values.Max()) + 1;
            return new MlTextTokenizer(bpe, vocab, specials, vocabSize);
        }
    }

    private static Dictionary<string, int> ReadVocab(JsonElement model, string source)
    {
        if (!model.TryGetProperty("vocab", out var vocab) || vocab.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{source}: model.vocab is missing or not an object");
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in vocab.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out int id) || id < 0)
                throw new InvalidDataException($"{source}: model.vocab[\"{entry.Name}\"] is not a non-negative integer id");
            result[entry.Name] = id;
        }
        return result;
    }

    /// <summary>Merges as "a b" strings, whichever of the two forms the file uses.</summary>
    private static List<string> ReadMerges(JsonElement model, string source)
    {
        var result = new List<string>();
        if (!model.TryGetProperty("merges", out var merges) || merges.ValueKind == JsonValueKind.Null) return result;
        if (merges.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"{source}: model.merges is not an array");
        int index = 0;
        foreach (var merge in merges.EnumerateArray())
        {
            string a, b;
            if (merge.ValueKind == JsonValueKind.String)
            {
                string text = merge.GetString()!;
                int space = text.IndexOf(' ');
                if (space <= 0 || space == text.Length - 1 || text.IndexOf(' ', space + 1) >= 0)
                    throw new InvalidDataException($"{source}: model.merges[{index}] \"{text}\" is not two tokens separated by one space");
                (a, b) = (text[..space], text[(space + 1)..]);
            }
            else if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2
                && merge[0].ValueKind == JsonValueKind.String && merge[1].ValueKind == JsonValueKind.String)
            {
                (a, b) = (merge[0].GetString()!, merge[1].GetString()!);
                if (a.Length == 0 || b.Length == 0 || a.Contains(' ') || b.Contains(' '))
                    throw new InvalidDataException($"{source}: model.merges[{index}] has an empty token or one containing a space");
            }
            else throw new InvalidDataException($"{source}: model.merges[{index}] is neither \"a b\" nor [\"a\", \"b\"]");
            result.Add($"{a} {b}");
            index++;
        }
        return result;
    }

    /// <summary>Every added token (special or not): Hugging Face matches them all in the text before pre-tokenization.</summary>
    private static Dictionary<string, int> ReadAddedTokens(JsonElement root, string source)
    {
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        if (!root.TryGetProperty("added_tokens", out var added) || added.ValueKind == JsonValueKind.Null) return result;
        if (added.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"{source}: added_tokens is not an array");
        foreach (var token in added.EnumerateArray())
        {
            if (token.ValueKind != JsonValueKind.Object
                || !token.TryGetProperty("id", out var id) || id.ValueKind != JsonValueKind.Number || !id.TryGetInt32(out int value) || value < 0
                || !token.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String)
                throw new InvalidDataException($"{source}: an added_tokens entry lacks an integer \"id\" or a string \"content\"");
            result[content.GetString()!] = value;
        }
        return result;
    }

    /// <summary>Collects the Split regexes in order; true when a ByteLevel step is present.</summary>
    private static bool ReadPreTokenizer(JsonElement pre, List<string> patterns, string source)
    {
        if (pre.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null) return false;
        string type = OptionalString(pre, "type", source) ?? "";
        switch (type)
        {
            case "Sequence":
                bool byteLevel = false;
                if (pre.TryGetProperty("pretokenizers", out var steps) && steps.ValueKind == JsonValueKind.Array)
                    foreach (var step in steps.EnumerateArray()) byteLevel |= ReadPreTokenizer(step, patterns, source);
                return byteLevel;
            case "ByteLevel":
                if (pre.TryGetProperty("add_prefix_space", out var prefix) && prefix.ValueKind == JsonValueKind.True)
                    throw new NotSupportedException($"{source}: ByteLevel with add_prefix_space = true is not supported");
                if (!pre.TryGetProperty("use_regex", out var useRegex) || useRegex.ValueKind != JsonValueKind.False) patterns.Add(Gpt2Pattern);
                return true;
            case "Split":
                string behavior = OptionalString(pre, "behavior", source) ?? "Isolated";
                if (behavior != "Isolated" || (pre.TryGetProperty("invert", out var invert) && invert.ValueKind == JsonValueKind.True))
                    throw new NotSupportedException($"{source}: Split with behavior {behavior} (or invert) is not supported, only Isolated");
                if (!pre.TryGetProperty("pattern", out var pattern) || pattern.ValueKind != JsonValueKind.Object)
                    throw new InvalidDataException($"{source}: Split has no pattern");
                if (OptionalString(pattern, "Regex", source) is { } regex) patterns.Add(regex);
                else if (OptionalString(pattern, "String", source) is { } literal) patterns.Add(System.Text.RegularExpressions.Regex.Escape(literal));
                else throw new InvalidDataException($"{source}: Split pattern has neither Regex nor String");
                return false;
            case "Digits":
                patterns.Add(pre.TryGetProperty("individual_digits", out var single) && single.ValueKind == JsonValueKind.True ? @"\p{N}" : @"\p{N}+");
                return false;
            default:
                throw new NotSupportedException($"{source}: pre-tokenizer {type} is not supported (Sequence, ByteLevel, Split, Digits are)");
        }
    }

    /// <summary>
    /// Accepts no normalizer or NFC. NFC is not applied: the engine runs with invariant globalization, where .NET's
    /// normalization does nothing; text already in NFC (nearly all text) tokenizes the same.
    /// </summary>
    private static void CheckNormalizer(JsonElement normalizer, string source)
    {
        if (normalizer.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null) return;
        string type = OptionalString(normalizer, "type", source) ?? "";
        if (type == "NFC") return;
        if (type == "Sequence" && normalizer.TryGetProperty("normalizers", out var steps) && steps.ValueKind == JsonValueKind.Array)
        {
            foreach (var step in steps.EnumerateArray()) CheckNormalizer(step, source);
            return;
        }
        throw new NotSupportedException($"{source}: normalizer {type} is not supported (only NFC)");
    }

    private static bool IsType(JsonElement element, string type)
        => element.ValueKind == JsonValueKind.Object && element.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() == type;

    private static string? OptionalString(JsonElement element, string name, string source)
    {
        if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind != JsonValueKind.String) throw new InvalidDataException($"{source}: \"{name}\" is not a string");
        return value.GetString();
    }

    private static string? NonEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
}
