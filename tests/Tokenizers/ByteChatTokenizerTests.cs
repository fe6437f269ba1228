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
}
