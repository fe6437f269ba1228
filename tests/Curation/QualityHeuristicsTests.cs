using Engine.Curation;
using Xunit;

namespace Engine.Tests.Curation;

public class QualityHeuristicsTests
{
    private static readonly QualityOptions Defaults = new();

    private static string? Reject(string response, string prompt = "Tell me about rivers.", bool stopped = false, QualityOptions? options = null)
        => QualityHeuristics.Reject(prompt, response, stopped, options ?? Defaults);

    [Fact]
    public void A_good_answer_passes_every_rule() => Assert.Null(Reject("Rivers carry water from the hills to the sea, and many towns grew up along them."));

    [Theory]
    [InlineData("", "empty")]
    [InlineData("   \n ", "empty")]
    public void Empty_responses_fail(string response, string reason) => Assert.StartsWith(reason, Reject(response));

    [Fact]
    public void Truncated_responses_fail()
    {
        Assert.StartsWith("truncated", Reject("Rivers carry water from the hills to the"));
        Assert.StartsWith("truncated", Reject("A complete sentence.", stopped: true));
        Assert.Null(Reject("tac"));                       // a one-word answer needs no full stop
        Assert.Null(Reject("He said \"rivers flow.\""));  // a closing quote ends a sentence too
        Assert.Null(Reject("Rivers carry water from the hills to the", options: Defaults with { UnterminatedWords = 0 }));
    }

    [Fact]
    public void Length_bounds()
    {
        var bounds = Defaults with { MinWords = 3, MaxWords = 6 };
        Assert.StartsWith("too short", Reject("Two words.", options: bounds));
        Assert.StartsWith("too long", Reject("This answer has far too many words in it.", options: bounds));
        Assert.Null(Reject("Four words are fine.", options: bounds));
    }

    [Fact]
    public void Duplicate_line_fraction_above_threshold_fails()
    {
        Assert.Equal(0.5, QualityHeuristics.DuplicateLineFraction("a\nb\na\na"));
        Assert.Contains("lines repeat", Reject("First point.\nSecond point.\nFirst point.\nFirst point."));
        var linesOnly = Defaults with { TopBigramFraction = 1, DuplicateFiveGramFraction = 1 };
        Assert.Null(Reject("First point.\nSecond point.\nThird point.\nFirst point.", options: linesOnly));  // 1 of 4 = 0.25
    }

    [Fact]
    public void Top_bigram_fraction_above_threshold_fails()
    {
        // "the sea" 3 times, 6 characters each: 18 of 47 word characters (its 3 × 5 of "sea is" is less).
        var words = TextFeatures.Words("the sea is wide and the sea is deep and the sea is cold today");
        Assert.Equal(18.0 / 47, QualityHeuristics.TopBigramFraction(words), 12);
        Assert.Contains("2-gram", Reject("the sea is wide and the sea is deep and the sea is cold today."));
        Assert.Equal(0, QualityHeuristics.TopBigramFraction(TextFeatures.Words("every pair here is different")));
    }

    [Fact]
    public void Duplicated_5gram_fraction_above_threshold_fails()
    {
        var words = TextFeatures.Words("one two three four five six one two three four five");
        // Words 0..4 and 6..10 are covered by the repeated 5-gram "one two three four five": all 41 characters but six's 3.
        Assert.Equal(38.0 / 41, QualityHeuristics.DuplicateNGramFraction(words, 5), 12);
        Assert.Contains("5-grams", Reject("The answer is seven and more. The answer is seven and more. The answer is seven and more.", options: Defaults with { TopBigramFraction = 1 }));
        Assert.Equal(0, QualityHeuristics.DuplicateNGramFraction(TextFeatures.Words("a b c d e f g h i j"), 5));
    }

    [Fact]
    public void A_response_that_repeats_the_prompt_fails()
    {
        Assert.Equal("the response repeats the prompt", Reject("What is the capital of Norland? Maybe.", prompt: "What is the capital of Norland?"));
        Assert.Null(Reject("The capital of Norland is Vesk.", prompt: "What is the capital of Norland?"));
    }
}
