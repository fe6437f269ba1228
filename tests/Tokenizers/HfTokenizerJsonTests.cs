using Engine.Tokenizers;
using Xunit;

namespace Engine.Tests.Tokenizers;

public class HfTokenizerJsonTests
{
    // Ids in TinyTokenizers: bytes are themselves ('h' 104, 'l' 108, 'd' 100, '\n' 10), merges from 256:
    // he 256, ll 257, hell 258, hello 259, Ġw 260, or 261, Ġwor 262, hi 263; <|im_start|> 300, <|im_end|> 301.

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void MergesInEitherFormGiveTheSameHandCheckedIds(bool mergesAsArrays)
    {
        var tokenizer = HfTokenizerJson.Parse(TinyTokenizers.Json(TinyTokenizers.HelloMerges, TinyTokenizers.ChatSpecials, mergesAsArrays));
        // "hello" merges all the way; " world" is Ġ w o r l d: Ġw (rank 4), then or (5), then Ġwor (6), leaving l, d.
        Assert.Equal([259, 262, 108, 100], tokenizer.Encode("hello world"));
        Assert.Equal([256, 108, 112], tokenizer.Encode("help"));   // h e → he; no merge joins "he" with l or p
    }

    [Fact]
    public void SpecialTokensEncodeAsSingleIdsInsideText()
    {
        var tokenizer = TinyTokenizers.Chat();
        // "user" has no merges; "\n" is its own piece (the \s*[\r\n]+ branch) and byte 10.
        Assert.Equal([300, 117, 115, 101, 114, 10, 259, 301], tokenizer.Encode("<|im_start|>user\nhello<|im_end|>"));
        Assert.Equal([301, 301], tokenizer.Encode("<|im_end|><|im_end|>"));
        Assert.Equal(301, tokenizer.TokenToId("<|im_end|>"));
        Assert.Equal(260, tokenizer.TokenToId("Ġw"));
        Assert.Null(tokenizer.TokenToId("<|nope|>"));
        Assert.Equal(306, tokenizer.VocabSize);
    }

    [Fact]
    public void MultiByteCharactersBecomeTheirUtf8Bytes()
    {
        var tokenizer = TinyTokenizers.Chat();
        Assert.Equal([195, 169], tokenizer.Encode("é"));   // U+00E9 is C3 A9 in UTF-8
        Assert.Equal([240, 159, 153, 130], tokenizer.Encode("🙂"));
    }

    [Theory]
    [InlineData("hello world")]
    [InlineData("<|im_start|>user\nhi there, héllo 🙂\n\n  42<|im_end|>\n")]
    public void DecodeInvertsEncode(string text)
    {
        var tokenizer = TinyTokenizers.Chat();
        Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text)));
    }

    [Fact]
    public void ByteLevelWithItsOwnRegexSplitsLikeGpt2()
    {
        var byteLevel = new Dictionary<string, object> { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["use_regex"] = true };
        var tokenizer = HfTokenizerJson.Parse(TinyTokenizers.Json(TinyTokenizers.HelloMerges, [], preTokenizer: byteLevel));
        Assert.Equal([259, 262, 108, 100], tokenizer.Encode("hello world"));
        // GPT-2's regex keeps a leading space with its word: " hello" is Ġ h e l l o → Ġ hello (no merge joins Ġ and hello).
        Assert.Equal([32, 259], tokenizer.Encode(" hello"));
        Assert.Equal([259, 10, 10, 32, 32, 263], tokenizer.Encode("hello\n\n  hi"));
    }

    [Fact]
    public void UnsupportedAndMalformedFilesFailClearly()
    {
        string wordPiece = """{"model": {"type": "WordPiece", "vocab": {}}}""";
        Assert.Contains("WordPiece", Assert.Throws<NotSupportedException>(() => HfTokenizerJson.Parse(wordPiece, "x.json")).Message);
        Assert.StartsWith("x.json:", Assert.Throws<InvalidDataException>(() => HfTokenizerJson.Parse("{not json", "x.json")).Message);
        string badMerge = TinyTokenizers.Json([("h", "e")], []).Replace("\"h e\"", "\"h zz\"");
        Assert.Throws<InvalidDataException>(() => HfTokenizerJson.Parse(badMerge));
        string noByteLevel = """{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Whitespace"}}""";
        Assert.Throws<NotSupportedException>(() => HfTokenizerJson.Parse(noByteLevel));
    }

    [Fact]
    public void UnsupportedComponentsAreRefusedByName()
    {
        string Replace(string part, string json) => TinyTokenizers.Json(TinyTokenizers.HelloMerges, []).Replace("\"normalizer\":null", $"\"{part}\":{json}");
        Assert.Contains("normalizer Precompiled", Assert.Throws<NotSupportedException>(() => HfTokenizerJson.Parse(Replace("normalizer", """{"type":"Precompiled","precompiled_charsmap":""}"""), "x.json")).Message);
        Assert.Contains("Split behavior Sideways", Assert.Throws<NotSupportedException>(() => HfTokenizerJson.Parse(
            TinyTokenizers.Json(TinyTokenizers.HelloMerges, [], preTokenizer: new Dictionary<string, object>
                { ["type"] = "Split", ["pattern"] = new Dictionary<string, string> { ["String"] = " " }, ["behavior"] = "Sideways" }), "x.json")).Message);
        string dropout = TinyTokenizers.Json(TinyTokenizers.HelloMerges, []).Replace("\"unk_token\":null", "\"unk_token\":null,\"dropout\":0.1");
        Assert.Contains("dropout", Assert.Throws<NotSupportedException>(() => HfTokenizerJson.Parse(dropout, "x.json")).Message);
    }

    [Fact]
    public void SentencePieceStyleDirectoryLoadsFromTokenizerJson()
    {
        // Llama-2 style (byte fallback, Prepend/Replace normalizer, no ByteLevel) was refused before; now it loads and decodes back.
        using var dir = new Engine.Tests.Support.TempDirectory();
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Tokenizers", "Reference", "llama2.json"), Path.Combine(dir.Path, "tokenizer.json"));
        var tokenizer = TokenizerLoader.FromDirectory(dir.Path).Tokenizer;
        Assert.IsType<HfTokenizer>(tokenizer);
        const string text = "Hello world, 日本 🙂!";
        Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text)));
        Assert.Equal(1, tokenizer.TokenToId("<s>"));
    }
}
