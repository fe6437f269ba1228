using Engine.Checks;
using Xunit;

namespace Engine.Tests.Checks;

public class IfEvalTextTests
{
    [Theory]
    [InlineData("", 0)]
    [InlineData("Hello, world!", 2)]
    [InlineData("it's well-known_fact 3.14", 6)]
    public void WordsAreRunsOfWordCharacters(string text, int words) => Assert.Equal(words, IfEvalText.CountWords(text));

    [Theory]
    [InlineData("One. Two? Three!", 3)]
    [InlineData("Mr. Smith paid $3.50 at example.com today.", 1)]
    [InlineData("Wait... what", 2)]
    [InlineData("The U.S. is big. It is.", 2)]
    [InlineData("He said \"stop.\" Then left.", 2)]
    [InlineData("   ", 0)]
    public void SentencesFollowTheRuleBasedSplitter(string text, int sentences) => Assert.Equal(sentences, IfEvalText.CountSentences(text));

    [Theory]
    [InlineData("ABC", true)]
    [InlineData("ABC 123!", true)]
    [InlineData("123", false)]
    [InlineData("AbC", false)]
    public void IsUpperIsPythons(string text, bool upper) => Assert.Equal(upper, IfEvalText.IsUpper(text));

    [Theory]
    [InlineData("abc 1", true)]
    [InlineData("", false)]
    [InlineData("abC", false)]
    public void IsLowerIsPythons(string text, bool lower) => Assert.Equal(lower, IfEvalText.IsLower(text));
}
