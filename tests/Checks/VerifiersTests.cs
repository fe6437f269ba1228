using System.Text.Json;
using Engine.Checks;
using Engine.Data;
using Xunit;

namespace Engine.Tests.Checks;

/// <summary>Answer verifiers and the checks a JSONL row names.</summary>
public class VerifiersTests
{
    [Fact]
    public void ExactWithStripAndCaseOptions()
    {
        Assert.True(Verifiers.Exact("Paris").Evaluate("  Paris\n").Passed);
        Assert.False(Verifiers.Exact("Paris", strip: false).Evaluate(" Paris").Passed);
        Assert.False(Verifiers.Exact("Paris").Evaluate("paris").Passed);
        Assert.True(Verifiers.Exact("Paris", ignoreCase: true).Evaluate("PARIS").Passed);
    }

    [Fact]
    public void NumericComparesTheLastNumberWithinTolerance()
    {
        Assert.True(Verifiers.Numeric(1234.5).Evaluate("So the total is $1,234.50.").Passed);
        Assert.True(Verifiers.Numeric(-3).Evaluate("2 steps give -3").Passed);
        Assert.False(Verifiers.Numeric(10).Evaluate("10 then 11").Passed);
        Assert.True(Verifiers.Numeric(10, tolerance: 1).Evaluate("about 11").Passed);
        Assert.True(Verifiers.Numeric(1000, tolerance: 0, relativeTolerance: 0.01).Evaluate("1009").Passed);
        Assert.False(Verifiers.Numeric(1000, tolerance: 0, relativeTolerance: 0.01).Evaluate("1011").Passed);
        Assert.True(Verifiers.Numeric(0.001).Evaluate("1e-3").Passed);
        Assert.Equal("no number in \"none\"", Verifiers.Numeric(1).Evaluate("none").Reason);
    }

    [Fact]
    public void RegexMustMatchOrExtractsThenCompares()
    {
        Assert.True(Verifiers.Regex(@"^\d+$").Evaluate("42").Passed);
        Assert.False(Verifiers.Regex(@"^\d+$").Evaluate("42 apples").Passed);
        Assert.True(Verifiers.Regex(@"answer: (\w+)", expected: "yes", group: 1).Evaluate("my answer: yes").Passed);
        Assert.False(Verifiers.Regex(@"answer: (\w+)", expected: "yes", group: 1).Evaluate("my answer: no").Passed);
        Assert.True(Verifiers.Regex(@"ANSWER", ignoreCase: true).Evaluate("answer").Passed);
    }

    [Fact]
    public void JsonParsesAndHasRequiredKeys()
    {
        Assert.True(Verifiers.Json().Evaluate(" [1, 2] ").Passed);
        Assert.False(Verifiers.Json().Evaluate("{\"a\": 1").Passed);
        Assert.True(Verifiers.Json(["name", "age"]).Evaluate("{\"name\": \"x\", \"age\": 3}").Passed);
        Assert.Equal(new Verdict(false, "JSON object without age"), Verifiers.Json(["name", "age"]).Evaluate("{\"name\": \"x\"}"));
        Assert.False(Verifiers.Json(["name"]).Evaluate("[\"name\"]").Passed);
    }

    [Fact]
    public void AllNamesTheFirstFailingCheck()
    {
        var verdict = Check.All([Verifiers.Exact("4"), Instructions.Create("punctuation:no_comma")], "4");
        Assert.True(verdict.Passed);
        verdict = Check.All([Instructions.Create("punctuation:no_comma"), Verifiers.Exact("4")], "5");
        Assert.Equal("exact: \"5\" is not \"4\"", verdict.Reason);
    }

    private static IReadOnlyList<Check> Row(string json)
    {
        using var document = JsonDocument.Parse(json);
        return CheckSpec.FromRow(document.RootElement.Clone(), "rows.jsonl", 3);
    }

    [Fact]
    public void ARowsChecksFieldOrItsAnswer()
    {
        var checks = Row("""
            {"prompt": "q", "checks": [{"type": "exact", "value": "Paris", "ignore_case": true}, {"type": "numeric", "value": "42", "tolerance": 0.5},
              {"type": "regex", "pattern": "^P"}, {"type": "regex", "pattern": "is (\\w+)", "group": 1, "value": "x"}, {"type": "json", "required_keys": ["a"]},
              {"type": "ifeval", "id": "keywords:existence", "kwargs": {"keywords": ["sun"]}}, "punctuation:no_comma"]}
            """);
        Assert.Equal(["exact", "numeric", "regex", "regex", "json", "keywords:existence", "punctuation:no_comma"], checks.Select(c => c.Name));
        Assert.True(checks[1].Evaluate("42.4").Passed);
        Assert.True(checks[5].Evaluate("The Sun.").Passed);

        var answer = Row("""{"prompt": "2+2?", "answer": 4}""");
        Assert.Equal("exact", Assert.Single(answer).Name);
        Assert.True(answer[0].Evaluate(" 4 ").Passed);
    }

    [Theory]
    [InlineData("""{"prompt": "q"}""", "rows.jsonl:3: no \"checks\" list or \"answer\"")]
    [InlineData("""{"checks": []}""", "rows.jsonl:3: \"checks\" is not a non-empty list")]
    [InlineData("""{"checks": [{"type": "fuzzy"}]}""", "rows.jsonl:3: checks[0]: unknown type 'fuzzy'")]
    [InlineData("""{"checks": [{"value": "x"}]}""", "rows.jsonl:3: checks[0] has no \"type\" string")]
    [InlineData("""{"checks": [{"type": "exact"}]}""", "rows.jsonl:3: checks[0]: exact needs 'value'")]
    [InlineData("""{"checks": [{"type": "exact", "value": "x", "strip": "yes"}]}""", "rows.jsonl:3: checks[0]: 'strip' is \"yes\", expected true or false")]
    [InlineData("""{"checks": ["x", {"type": "numeric", "value": "many"}]}""", "rows.jsonl:3: checks[0]: unknown instruction id 'x'")]
    [InlineData("""{"checks": [{"type": "numeric", "value": "many"}]}""", "rows.jsonl:3: checks[0]: 'value' is \"many\", expected a number")]
    [InlineData("""{"checks": [{"type": "regex", "pattern": "("}]}""", "rows.jsonl:3: checks[0]: regex: pattern '(' does not parse")]
    [InlineData("""{"checks": [{"type": "json", "keys": ["a"]}]}""", "rows.jsonl:3: checks[0]: json takes no 'keys'")]
    [InlineData("""{"checks": [{"type": "ifeval", "id": "startend:end_checker", "kwargs": {"end_phrase": 3}}]}""", "rows.jsonl:3: checks[0]: startend:end_checker: kwarg 'end_phrase' is 3, expected a string")]
    public void BadSpecsNameTheRow(string json, string message)
        => Assert.StartsWith(message, Assert.Throws<DataFormatException>(() => Row(json)).Message);
}
