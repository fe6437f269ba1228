using Engine.Tokenizers;
using Xunit;

namespace Engine.Tests.Tokenizers;

public class HfPreTokenizerTests
{
    private static string[] Pieces(HfPreTokenizer pre, string text) => pre.PreTokenize(text).Select(p => text.Substring(p.Offset, p.Length)).ToArray();

    [Theory]
    [InlineData(@"[^\r\n\p{L}\p{N}]?+\p{L}+", @"(?>[^\r\n\p{L}\p{N}]?)\p{L}+")]
    [InlineData(@" ?[^\s\p{L}\p{N}]++[\r\n]*", @" ?(?>[^\s\p{L}\p{N}]+)[\r\n]*")]
    [InlineData(@"\p{N}{1,3}+|a*+", @"(?>\p{N}{1,3})|(?>a*)")]
    [InlineData(@"(ab)?+c", @"(?>(ab)?)c")]
    [InlineData(@"a+?b{2}\{x}", @"a+?b{2}\{x}")]
    [InlineData(@"[]a]++", @"(?>[]a]+)")]
    public void PossessiveQuantifiersBecomeAtomicGroups(string pattern, string expected)
    {
        Assert.Equal(expected, HfPreTokenizer.DotNetPattern(pattern));
    }

    [Fact]
    public void Cl100kStylePatternCompilesAndSplits()
    {
        const string cl100k = @"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+";
        var pre = new HfPreTokenizer([cl100k], []);
        // Punctuation keeps its trailing newlines ( ?[^\s\p{L}\p{N}]++[\r\n]*); digits go in threes.
        Assert.Equal(["Hello", " world", "'s", " ", "123", "45", "!!\n"], Pieces(pre, "Hello world's 12345!!\n"));
    }

    [Fact]
    public void AddedTokensComeOutWholeAndGapsAreKept()
    {
        // A digits-only split keeps the text between matches as pieces of their own: nothing is dropped.
        var pre = new HfPreTokenizer([@"\p{N}"], ["<|a|>", "<|a|>x"]);
        Assert.Equal(["ab", "1", "2", "<|a|>x", "c", "<|a|>", "3"], Pieces(pre, "ab12<|a|>xc<|a|>3"));
    }

    [Fact]
    public void SplitsApplyInSequence()
    {
        var pre = new HfPreTokenizer([@"\s+", @"\p{N}"], []);
        Assert.Equal(["ab", " ", "1", "2", "c"], Pieces(pre, "ab 12c"));
    }
}
