using System.Text;
using Engine.Tokenizers;
using Xunit;
using Engine.Tests.Support;

namespace Engine.Tests.Tokenizers;

public class TokenizerLoaderTests
{
    [Fact]
    public void Gpt2GivesTheKnownIds()
    {
        var gpt2 = TokenizerLoader.Gpt2();
        Assert.Equal([15496, 995], gpt2.Encode("Hello world"));
        Assert.Equal([383, 2068, 7586, 21831], gpt2.Encode(" The quick brown fox"));
        Assert.Equal([15496, 995, 50256], gpt2.Encode("Hello world<|endoftext|>"));
        Assert.Equal(50256, gpt2.TokenToId("<|endoftext|>"));
        Assert.Equal(50257, gpt2.VocabSize);
        Assert.Equal("Hello world", gpt2.Decode([15496, 995]));
    }

    [Fact]
    public void DirectoryWithTokenizerJsonReadsItsConfig()
    {
        using var dir = new TempDirectory();
        dir.File("tokenizer.json", TinyTokenizers.Json(TinyTokenizers.HelloMerges, TinyTokenizers.ChatSpecials));
        dir.File("tokenizer_config.json", """
            {"bos_token": null, "eos_token": {"content": "<|im_end|>", "special": true},
             "added_tokens_decoder": {"300": {"content": "<|im_start|>", "special": true}, "301": {"content": "<|im_end|>"}},
             "chat_template": "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"}
            """);
        var loaded = TokenizerLoader.FromDirectory(dir.Path);
        Assert.Equal([300, 259, 301], loaded.Tokenizer.Encode("<|im_start|>hello<|im_end|>"));
        Assert.Equal("<|im_end|>", loaded.Config.EosToken);
        Assert.Null(loaded.Config.BosToken);
        Assert.Equal("<|im_start|>", loaded.Config.AddedTokens[300]);
        Assert.Contains("<|im_start|>", loaded.Config.ChatTemplate);
    }

    [Fact]
    public void ChatTemplateListTakesTheDefault()
    {
        var config = TokenizerConfig.Parse("""{"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]}""");
        Assert.Equal("D", config.ChatTemplate);
        Assert.Throws<InvalidDataException>(() => TokenizerConfig.Parse("""{"chat_template": 3}"""));
    }

    [Fact]
    public void SentencePieceModelLoadsWithAddedTokens()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(Path.Combine(dir.Path, "tokenizer.model"), SentencePieceModel());
        dir.File("tokenizer_config.json", """{"added_tokens_decoder": {"16": {"content": "<|im_start|>", "special": true}}}""");
        var tokenizer = TokenizerLoader.FromDirectory(dir.Path).Tokenizer;
        // "hello world" → "▁hello▁world": ▁h, ll, ▁he, ▁hell, ▁hello merge by score; "▁world" has no merges.
        Assert.Equal([15, 3, 8, 7, 9, 6, 10], tokenizer.Encode("hello world"));
        Assert.Equal("hello world", tokenizer.Decode(tokenizer.Encode("hello world")));
        Assert.Equal(16, tokenizer.TokenToId("<|im_start|>"));
        Assert.Contains(16, tokenizer.Encode("<|im_start|>hello"));
        Assert.Equal(17, tokenizer.VocabSize);
    }

    [Fact]
    public void DirectoryWithoutATokenizerFails()
    {
        using var dir = new TempDirectory();
        Assert.Throws<FileNotFoundException>(() => TokenizerLoader.FromDirectory(dir.Path));
    }

    /// <summary>
    /// A SentencePiece BPE ModelProto written field by field (protobuf wire format): pieces (1), trainer_spec (2) with
    /// model_type BPE, normalizer_spec (3) with the defaults (dummy prefix, whitespace escaped as ▁).
    /// </summary>
    private static byte[] SentencePieceModel()
    {
        (string Piece, float Score, int Type)[] pieces =
        [
            ("<unk>", 0, 2), ("<s>", 0, 3), ("</s>", 0, 3), ("▁", -10, 1), ("h", -10, 1), ("e", -10, 1), ("l", -10, 1),
            ("o", -10, 1), ("w", -10, 1), ("r", -10, 1), ("d", -10, 1), ("▁h", -1, 1), ("ll", -2, 1), ("▁he", -3, 1),
            ("▁hell", -4, 1), ("▁hello", -5, 1),
        ];
        var model = new MemoryStream();
        foreach (var (piece, score, type) in pieces)
        {
            var p = new MemoryStream();
            Bytes(p, 1, Encoding.UTF8.GetBytes(piece));
            Tag(p, 2, 5);
            p.Write(BitConverter.GetBytes(score));
            Tag(p, 3, 0);
            Varint(p, (ulong)type);
            Bytes(model, 1, p.ToArray());
        }
        var trainer = new MemoryStream();
        Tag(trainer, 3, 0);
        Varint(trainer, 2);   // model_type = BPE
        Bytes(model, 2, trainer.ToArray());
        var normalizer = new MemoryStream();
        Bytes(normalizer, 1, Encoding.UTF8.GetBytes("identity"));
        Bytes(model, 3, normalizer.ToArray());
        return model.ToArray();

        static void Tag(Stream s, int field, int wireType) => Varint(s, (ulong)(field << 3 | wireType));
        static void Bytes(Stream s, int field, byte[] data) { Tag(s, field, 2); Varint(s, (ulong)data.Length); s.Write(data); }
        static void Varint(Stream s, ulong v)
        {
            for (; v >= 0x80; v >>= 7) s.WriteByte((byte)(v | 0x80));
            s.WriteByte((byte)v);
        }
    }
}
