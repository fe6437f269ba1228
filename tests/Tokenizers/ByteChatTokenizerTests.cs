using Engine.Tokenizers;
using Xunit;

namespace Engine.Tests.Tokenizers;

public class ByteChatTokenizerTests
{
    [Fact]
    public void BytesAndChatMlSpecials()
    {
        var tokenizer = new ByteChatTokenizer();
        Assert.Equal([256, 104, 195, 169, 257, 10, 258], tokenizer.Encode("<|im_start|>hé<|im_end|>\n<|endoftext|>"));
        Assert.Equal("<|im_start|>hé<|im_end|>\n<|endoftext|>", tokenizer.Decode(tokenizer.Encode("<|im_start|>hé<|im_end|>\n<|endoftext|>")));
        Assert.Equal([60, 124, 105, 109], tokenizer.Encode("<|im"));
        Assert.Equal(257, tokenizer.TokenToId("<|im_end|>"));
        Assert.Null(tokenizer.TokenToId("a"));
        Assert.Equal(259, tokenizer.VocabSize);
    }

    /// <summary>The written tokenizer.json loads through the Hugging Face path and gives exactly this tokenizer's ids; its config's chat_template renders as the built-in ChatML.</summary>
    [Fact]
    public void HfFilesReproduceTheSameIds()
    {
        string dir = Path.Combine(Path.GetTempPath(), "engine-bytechat-" + Guid.NewGuid().ToString("N"));
        try
        {
            var bytes = new ByteChatTokenizer();
            bytes.WriteHfFiles(dir);
            var loaded = TokenizerLoader.FromDirectory(dir);
            foreach (var text in new[] { "<|im_start|>user\nHi there, 2+2?<|im_end|>\n", "héllo wörld ✓ \t tabs", "<|endoftext|>" })
            {
                Assert.Equal(bytes.Encode(text), loaded.Tokenizer.Encode(text));
                Assert.Equal(text, loaded.Tokenizer.Decode(bytes.Encode(text)));
            }
            // The written chat_template is ChatML: rendered by the interpreter it gives the built-in's ids and loss mask.
            var own = Engine.Data.ChatTemplate.Resolve(null, loaded.Config, loaded.Tokenizer);
            var builtIn = Engine.Data.ChatTemplate.ByName("chatml", bytes);
            var example = Engine.Data.SftExample.Chat(new(Engine.Data.ChatRole.User, "Hi"), new(Engine.Data.ChatRole.Assistant, "Hello"));
            Assert.Equal(builtIn.Render(example).Ids, own.Render(example).Ids);
            Assert.Equal(builtIn.Render(example).Mask, own.Render(example).Mask);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}
