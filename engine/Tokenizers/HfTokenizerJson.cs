using System.Text.Json;
using System.Text.RegularExpressions;
using Engine.Tokenizers.Unicode;

namespace Engine.Tokenizers;

/// <summary>
/// Reads a Hugging Face tokenizer.json into an <see cref="HfTokenizer"/>: the BPE model (vocab, merges as "a b" strings or
/// [a, b] pairs, byte_fallback, ignore_merges, unk_token, fuse_unk, subword prefix and suffix), added_tokens, and the
/// normalizer, pre-tokenizer and decoder components listed in docs/FORMATS.md. Anything else is refused by name.
/// </summary>
public static class HfTokenizerJson
{
    public static HfTokenizer Load(string path) => Parse(File.ReadAllText(path), path);

    /// <param name="source">Names the file in error messages.</param>
    /// <exception cref="InvalidDataException">The JSON is malformed or inconsistent (a merge of tokens not in the vocabulary).</exception>
    /// <exception cref="NotSupportedException">A valid tokenizer with a part this reader does not build (WordPiece, Unigram, a Precompiled normalizer, ...).</exception>
    public static HfTokenizer Parse(string json, string source = "tokenizer.json")
        {
        JsonDocument document;
        try { document = JsonDocument.Parse(json); }
        catch (JsonException e) { throw new InvalidDataException($"{source}: not valid JSON ({e.Message})", e); }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{source}: no \"model\" object");
            var reader = new ComponentReader(source);
            var bpe = reader.Model(model);
            var normalizer = reader.Normalizer(Property(root, "normalizer"));
            return new HfTokenizer(bpe, ReadAddedTokens(root, source), normalizer, reader.PreTokenizer(Property(root, "pre_tokenizer")), reader.Decoder(Property(root, "decoder")));
        }
    }

    private static JsonElement Property(JsonElement element, string name) => element.TryGetProperty(name, out var value) ? value : default;

    /// <summary>The components of one file, each error naming the file.</summary>
    private sealed class ComponentReader(string source)
        {
        public BpeModel Model(JsonElement model)
        {
            string type = OptionalString(model, "type", source) ?? "BPE";
            if (type != "BPE")
                throw new NotSupportedException($"{source}: model type {type} is not supported (BPE only; use tokenizer.model for SentencePiece Unigram)");
            if (Property(model, "dropout") is { ValueKind: JsonValueKind.Number } dropout && dropout.GetDouble() > 0)
                throw new NotSupportedException($"{source}: BPE dropout is not supported (tokenization would be random)");
            var options = new BpeOptions(
                UnknownToken: OptionalString(model, "unk_token", source),
                FuseUnknown: Flag(model, "fuse_unk"),
                ByteFallback: Flag(model, "byte_fallback"),
                IgnoreMerges: Flag(model, "ignore_merges"),
                ContinuingSubwordPrefix: NonEmpty(OptionalString(model, "continuing_subword_prefix", source)),
                EndOfWordSuffix: NonEmpty(OptionalString(model, "end_of_word_suffix", source)));
            try { return new BpeModel(ReadVocab(model, source), ReadMerges(model, source), options); }
            catch (InvalidDataException e) { throw new InvalidDataException($"{source}: {e.Message}", e); }
        }

        public INormalizer? Normalizer(JsonElement n) => Component<INormalizer>(n, "normalizer", type => type switch
        {
            "NFC" => new UnicodeNormalizer(NormalForm.Nfc),
            "NFD" => new UnicodeNormalizer(NormalForm.Nfd),
            "NFKC" => new UnicodeNormalizer(NormalForm.Nfkc),
            "NFKD" => new UnicodeNormalizer(NormalForm.Nfkd),
            "Lowercase" => new LowercaseNormalizer(),
            "Strip" => new StripNormalizer(Flag(n, "strip_left"), Flag(n, "strip_right")),
            "Prepend" => new PrependNormalizer(RequiredString(n, "prepend", type)),
            "Replace" => new ReplaceNormalizer(Pattern(n, type), RequiredString(n, "content", type)),
            "Sequence" => new SequenceNormalizer(Steps(n, "normalizers", Normalizer)),
            _ => throw new NotSupportedException($"{source}: normalizer {type} is not supported (NFC, NFD, NFKC, NFKD, Lowercase, Strip, Prepend, Replace, Sequence are)"),
        });

        public IPreTokenizer? PreTokenizer(JsonElement p) => Component<IPreTokenizer>(p, "pre-tokenizer", type => type switch
        {
            "Split" => new SplitPreTokenizer(Pattern(p, type), Behavior(p), Flag(p, "invert")),
            "Digits" => new DigitsPreTokenizer(Flag(p, "individual_digits")),
            "Metaspace" => new MetaspacePreTokenizer(Replacement(p), Scheme(p), !p.TryGetProperty("split", out var split) || split.ValueKind != JsonValueKind.False),
            "ByteLevel" => new ByteLevelPreTokenizer(Flag(p, "add_prefix_space"),
                p.TryGetProperty("use_regex", out var useRegex) && useRegex.ValueKind == JsonValueKind.False ? null : OnigurumaPattern.Compile(ByteLevelPreTokenizer.Gpt2Pattern)),
            "Sequence" => new SequencePreTokenizer(Steps(p, "pretokenizers", PreTokenizer)),
            _ => throw new NotSupportedException($"{source}: pre-tokenizer {type} is not supported (Split, Digits, Metaspace, ByteLevel, Sequence are)"),
        });

        public IDecoder? Decoder(JsonElement d) => Component<IDecoder>(d, "decoder", type => type switch
        {
            "ByteLevel" => new ByteLevelDecoder(),
            "ByteFallback" => new ByteFallbackDecoder(),
            "Fuse" => new FuseDecoder(),
            "Strip" => new StripDecoder(Character(d, "content", type), Count(d, "start", type), Count(d, "stop", type)),
            "Replace" => new ReplaceDecoder(Pattern(d, type), RequiredString(d, "content", type)),
            "Metaspace" => new MetaspaceDecoder(Replacement(d), Scheme(d)),
            "Sequence" => new SequenceDecoder(Steps(d, "decoders", Decoder)),
            _ => throw new NotSupportedException($"{source}: decoder {type} is not supported (ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace, Sequence are)"),
        });

        /// <summary>Null for a missing or null component, else what <paramref name="build"/> makes of its "type".</summary>
        private T? Component<T>(JsonElement element, string what, Func<string, T> build) where T : class
        {
            if (element.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null) return null;
            return element.ValueKind == JsonValueKind.Object && OptionalString(element, "type", source) is { } type
                ? build(type) : throw new InvalidDataException($"{source}: a {what} without a \"type\"");
        }

        /// <summary>A pattern object {"String": literal} or {"Regex": Oniguruma regex} as a .NET regex.</summary>
        private Regex Pattern(JsonElement element, string type)
        {
            if (!element.TryGetProperty("pattern", out var pattern) || pattern.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{source}: {type} has no pattern");
            if (OptionalString(pattern, "String", source) is { } literal) return new Regex(Regex.Escape(literal), RegexOptions.CultureInvariant);
            if (OptionalString(pattern, "Regex", source) is not { } regex) throw new InvalidDataException($"{source}: {type} pattern has neither Regex nor String");
            try { return OnigurumaPattern.Compile(regex); }
            catch (ArgumentException e) { throw new InvalidDataException($"{source}: {type} regex {regex} does not compile ({e.Message})", e); }
            catch (NotSupportedException e) { throw new NotSupportedException($"{source}: {e.Message}", e); }
        }

        private SplitBehavior Behavior(JsonElement element)
        {
            string behavior = OptionalString(element, "behavior", source) ?? "Isolated";
            return Enum.TryParse<SplitBehavior>(behavior, ignoreCase: false, out var value) && Enum.IsDefined(value)
                ? value : throw new NotSupportedException($"{source}: Split behavior {behavior} is not supported (Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous are)");
        }

        /// <summary>prepend_scheme ("always", "first", "never"), or the older add_prefix_space (true: always).</summary>
        private PrependScheme Scheme(JsonElement element)
        {
            if (OptionalString(element, "prepend_scheme", source) is { } scheme)
                return scheme switch
                {
                    "always" => PrependScheme.Always,
                    "first" => PrependScheme.First,
                    "never" => PrependScheme.Never,
                    _ => throw new InvalidDataException($"{source}: Metaspace prepend_scheme {scheme} is not always, first or never"),
                };
            return element.TryGetProperty("add_prefix_space", out var add) && add.ValueKind == JsonValueKind.False ? PrependScheme.Never : PrependScheme.Always;
        }

        private char Replacement(JsonElement element) => element.TryGetProperty("replacement", out _) ? Character(element, "replacement", "Metaspace") : '▁';

        private char Character(JsonElement element, string name, string type)
        {
            string value = RequiredString(element, name, type);
            return value.Length == 1 ? value[0] : throw new NotSupportedException($"{source}: {type} {name} \"{value}\" is not one UTF-16 character");
        }

        private int Count(JsonElement element, string name, string type)
            => element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int n) && n >= 0
                ? n : throw new InvalidDataException($"{source}: {type} needs a non-negative integer \"{name}\"");

        private string RequiredString(JsonElement element, string name, string type)
            => OptionalString(element, name, source) ?? throw new InvalidDataException($"{source}: {type} needs a string \"{name}\"");

        /// <summary>The steps of a Sequence, each read by <paramref name="read"/>; a missing array or a null step is an error.</summary>
        private T[] Steps<T>(JsonElement element, string name, Func<JsonElement, T?> read) where T : class
            => element.TryGetProperty(name, out var steps) && steps.ValueKind == JsonValueKind.Array
                ? steps.EnumerateArray().Select(step => read(step) ?? throw new InvalidDataException($"{source}: a null step in a Sequence's \"{name}\"")).ToArray()
                : throw new InvalidDataException($"{source}: Sequence needs an array \"{name}\"");
    }

    private static bool Flag(JsonElement element, string name) => element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.True;

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

    /// <summary>Merges as pairs, whichever of the two forms ("a b" or ["a", "b"]) the file uses.</summary>
    private static List<(string Left, string Right)> ReadMerges(JsonElement model, string source)
        {
        var result = new List<(string Left, string Right)>();
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
            result.Add((a, b));
            index++;
        }
        return result;
    }

    /// <summary>Every added token (special or not): Hugging Face matches them all in the text before the model sees it.</summary>
    private static List<AddedToken> ReadAddedTokens(JsonElement root, string source)
        {
        var result = new List<AddedToken>();
        if (!root.TryGetProperty("added_tokens", out var added) || added.ValueKind == JsonValueKind.Null) return result;
        if (added.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"{source}: added_tokens is not an array");
        foreach (var token in added.EnumerateArray())
        {
            if (token.ValueKind != JsonValueKind.Object
                || !token.TryGetProperty("id", out var id) || id.ValueKind != JsonValueKind.Number || !id.TryGetInt32(out int value) || value < 0
                || !token.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String)
                throw new InvalidDataException($"{source}: an added_tokens entry lacks an integer \"id\" or a string \"content\"");
            // A token without the flag is normalized unless it is special, as the reference's AddedToken defaults.
            bool normalized = token.TryGetProperty("normalized", out var n) ? n.ValueKind == JsonValueKind.True : !Flag(token, "special");
            result.Add(new AddedToken(value, content.GetString()!, normalized, Flag(token, "lstrip"), Flag(token, "rstrip"), Flag(token, "single_word")));
        }
        return result;
    }

    private static string? OptionalString(JsonElement element, string name, string source)
        {
        if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind != JsonValueKind.String) throw new InvalidDataException($"{source}: \"{name}\" is not a string");
        return value.GetString();
    }

    private static string? NonEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
}
