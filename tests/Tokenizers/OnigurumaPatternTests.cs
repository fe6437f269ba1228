using Engine.Tokenizers;
using Xunit;

namespace Engine.Tests.Tokenizers;

public class OnigurumaPatternTests
{
    private static string[] Pieces(string pattern, string text)
    {
        var pieces = new List<TextPiece>();
        new SplitPreTokenizer(OnigurumaPattern.Compile(pattern), SplitBehavior.Isolated, false).Split(new TextPiece(text, true), pieces);
        return pieces.Select(p => p.Text).ToArray();
    }

    [Theory]
    [InlineData(@"[^\r\n\p{L}\p{N}]?+\p{L}+", @"(?>[^\r\n\p{L}\p{N}]?)\p{L}+")]
    [InlineData(@" ?[^\s\p{L}\p{N}]++[\r\n]*", @" ?(?>[^\s\p{L}\p{N}]+)[\r\n]*")]
    [InlineData(@"\p{N}{1,3}+|a*+", @"(?>\p{N}{1,3})|(?>a*)")]
    [InlineData(@"(ab)?+c", @"(?>(ab)?)c")]
    [InlineData(@"a+?b{2}\{x}", @"a+?b{2}\{x}")]
    [InlineData(@"[]a]++", @"(?>[]a]+)")]
    public void PossessiveQuantifiersBecomeAtomicGroups(string pattern, string expected)
    {
        Assert.Equal(expected, OnigurumaPattern.AtomicPossessives(pattern));
    }

    [Fact]
    public void Cl100kStylePatternCompilesAndSplits()
    {
        const string cl100k = @"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+";
        // Punctuation keeps its trailing newlines ( ?[^\s\p{L}\p{N}]++[\r\n]*); digits go in threes.
        Assert.Equal(["Hello", " world", "'s", " ", "123", "45", "!!\n"], Pieces(cl100k, "Hello world's 12345!!\n"));
    }

    [Fact]
    public void ClassesMatchWholeCodePointsBeyondTheBmp()
    {
        // 𝐀𝐁 are letters (Lu) beyond the BMP, 🙂 a symbol (So), 𝟏 a digit (Nd): .NET's own \p{L} sees only their surrogates.
        Assert.Equal(["𝐀𝐁", " x", " 🙂🙂", " ", "𝟏"], Pieces(@" ?\p{L}+| ?[^\s\p{L}\p{N}]+|\s+|\p{N}", "𝐀𝐁 x 🙂🙂 𝟏"));
        Assert.Equal(["a🙂", "b"], Pieces(@"..", "a🙂b"));
        Assert.Equal(["𝐀", "𝐁"], Pieces(@"\S", "𝐀𝐁"));
        Assert.Equal(["x", "🙂", "y"], Pieces(@"\w+", "x🙂y"));
    }

    [Fact]
    public void UnsupportedConstructsAreRefusedByName()
    {
        Assert.Contains("Han", Assert.Throws<NotSupportedException>(() => OnigurumaPattern.Compile(@"\p{Han}+")).Message);
        Assert.Contains("nested", Assert.Throws<NotSupportedException>(() => OnigurumaPattern.Compile(@"[a[b]]")).Message);
    }
}
