using System.Text.Json;
using Engine.Tokenizers;

namespace Engine.Tests.Tokenizers;

/// <summary>
/// Small Hugging Face tokenizer.json files written in the test: the 256 byte-level symbols with id = byte value (so
/// ASCII "a" is 97, a space "Ġ" is 32, "\n" "Ċ" is 10), a few merges from 256 up, and chat specials from 300 up.
/// </summary>
public static class TinyTokenizers
{
    /// <summary>Qwen2's / Llama-3's pre-tokenizer regex.</summary>
    public const string QwenPattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    public static readonly (string A, string B)[] HelloMerges =
        [("h", "e"), ("l", "l"), ("he", "ll"), ("hell", "o"), ("Ġ", "w"), ("o", "r"), ("Ġw", "or"), ("h", "i")];

    public static readonly (string Token, int Id)[] ChatSpecials =
    [
        ("<|im_start|>", 300), ("<|im_end|>", 301), ("<|begin_of_text|>", 302), ("<|start_header_id|>", 303),
        ("<|end_header_id|>", 304), ("<|eot_id|>", 305),
    ];

    /// <summary>GPT-2's byte → symbol table: printable Latin-1 bytes stand for themselves, the rest map to U+0100 upwards.</summary>
    public static string[] ByteSymbols()
    {
        var symbols = new string[256];
        int next = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            symbols[b] = ((char)(printable ? b : 256 + next++)).ToString();
        }
        return symbols;
    }

    /// <param name="preTokenizer">The "pre_tokenizer" JSON object; by default a Qwen2-style Sequence of Split and ByteLevel.</param>
    public static string Json((string A, string B)[] merges, (string Token, int Id)[] specials, bool mergesAsArrays = false, object? preTokenizer = null)
    {
        var vocab = new Dictionary<string, int>();
        string[] symbols = ByteSymbols();
        for (int b = 0; b < 256; b++) vocab[symbols[b]] = b;
        foreach (var (a, b) in merges) vocab.TryAdd(a + b, vocab.Count);
        preTokenizer ??= new Dictionary<string, object>
        {
            ["type"] = "Sequence",
            ["pretokenizers"] = new object[]
            {
                new Dictionary<string, object> { ["type"] = "Split", ["pattern"] = new Dictionary<string, string> { ["Regex"] = QwenPattern }, ["behavior"] = "Isolated", ["invert"] = false },
                new Dictionary<string, object> { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = false, ["use_regex"] = false },
            },
        };
        var document = new Dictionary<string, object?>
        {
            ["version"] = "1.0",
            ["added_tokens"] = specials.Select(s => new Dictionary<string, object> { ["id"] = s.Id, ["content"] = s.Token, ["special"] = true }).ToArray(),
            ["normalizer"] = null,
            ["pre_tokenizer"] = preTokenizer,
            ["decoder"] = new Dictionary<string, object> { ["type"] = "ByteLevel" },
            ["model"] = new Dictionary<string, object?>
            {
                ["type"] = "BPE",
                ["unk_token"] = null,
                ["vocab"] = vocab,
                ["merges"] = mergesAsArrays
                    ? merges.Select(m => (object)new[] { m.A, m.B }).ToArray()
                    : merges.Select(m => (object)$"{m.A} {m.B}").ToArray(),
            },
        };
        return JsonSerializer.Serialize(document);
    }

    /// <summary>The byte vocabulary, <see cref="HelloMerges"/> (ids 256..263: "he", "ll", "hell", "hello", "Ġw", "or", "Ġwor", "hi") and <see cref="ChatSpecials"/>.</summary>
    public static ITextTokenizer Chat() => HfTokenizerJson.Parse(Json(HelloMerges, ChatSpecials));
}
