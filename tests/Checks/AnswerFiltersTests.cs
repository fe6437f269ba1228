using System.Text.Json;
using Engine.Checks;
using Xunit;

namespace Engine.Tests.Checks;

/// <summary>lm-evaluation-harness's answer filters.</summary>
public class AnswerFiltersTests
{
    private static IReadOnlyList<string> Run(AnswerFilter filter, params string[] responses) => filter.Apply(responses);

    [Fact]
    public void RegexTakesTheSelectedMatchAndItsFirstNonEmptyGroup()
    {
        const string text = "first #### 12 then #### 34";
        Assert.Equal(["12"], Run(AnswerFilters.Regex(@"#### (\-?[0-9\.\,]+)"), text));
        Assert.Equal(["34"], Run(AnswerFilters.Regex(@"#### (\-?[0-9\.\,]+)", groupSelect: -1), text));
        Assert.Equal(["b"], Run(AnswerFilters.Regex(@"(x)?(b)"), "b"));
        Assert.Equal(["#### 12"], Run(AnswerFilters.Regex(@"#### \d+"), text));
        Assert.Equal(["[invalid]"], Run(AnswerFilters.Regex(@"answer: (\d+)"), text));
        Assert.Equal(["none"], Run(AnswerFilters.Regex(@"#### (\d+)", groupSelect: 5, fallback: "none"), text));
    }

    [Fact]
    public void RegexGroupPicksACaptureGroup()
        => Assert.Equal(["is"], Run(AnswerFilters.Regex(@"(\w+) (is) (\w+)", group: 2), "the sky is blue"));

    [Fact]
    public void TakeFirstKeepsTheFirstResponse() => Assert.Equal(["a"], Run(AnswerFilters.TakeFirst, "a", "b", "c"));

    [Fact]
    public void MajorityVoteKeepsTheMostCommonFirstSeenOnTies()
    {
        Assert.Equal(["b"], Run(AnswerFilters.MajorityVote, "a", "b", "b", "c"));
        Assert.Equal(["c"], Run(AnswerFilters.MajorityVote, "c", "a"));
    }

    [Fact]
    public void NormalisingFilters()
    {
        Assert.Equal(["x y"], Run(AnswerFilters.Strip, "  x y \n"));
        Assert.Equal(["hello world"], Run(AnswerFilters.Lowercase, "Hello WORLD"));
        Assert.Equal([" x", "y"], Run(AnswerFilters.RemoveWhitespace, "  x", " y"));
    }

    [Fact]
    public void FiltersApplyInOrderAndParseFromLmEvalsSpelling()
    {
        using var spec = JsonDocument.Parse("""[{"function": "regex", "regex_pattern": "answer is (\\w+)", "group_select": -1}, "lowercase", {"function": "take_first"}]""");
        var filters = spec.RootElement.EnumerateArray().Select(AnswerFilters.Parse).ToList();
        Assert.Equal(["blue"], AnswerFilters.Apply(filters, ["the answer is Red, no, the answer is BLUE", "the answer is green"]));
    }

    [Theory]
    [InlineData("""{"function": "regex"}""", "no \"regex_pattern\"")]
    [InlineData("""{"function": "regex", "regex_pattern": "("}""", "does not parse")]
    [InlineData("""{"function": "regex", "regex_pattern": "a", "group_select": "x"}""", "'group_select' is \"x\", expected an integer")]
    [InlineData("""{"function": "regex", "regex_pattern": "(a)", "group": 2}""", "has no group 2")]
    [InlineData("""{"function": "shout"}""", "unknown filter 'shout'")]
    [InlineData("""{"function": "strip", "x": 1}""", "filter 'strip' takes no 'x'")]
    public void BadFiltersAreNamed(string json, string message)
    {
        using var spec = JsonDocument.Parse(json);
        Assert.Contains(message, Assert.Throws<ArgumentException>(() => AnswerFilters.Parse(spec.RootElement)).Message);
    }
}
