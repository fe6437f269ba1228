using Engine.Checks;
using Engine.Data;
using Engine.Eval;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Eval;

public sealed class SuiteFileTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void ReadsEveryKindWithItsOptions()
    {
        _temp.File("qa.jsonl", """{"prompt": "2+2?", "completion": "The answer is 4."}""" + "\n" + """{"prompt": "3+3?", "completion": "It is 6"}""");
        _temp.File("if.jsonl", """{"key": 5, "prompt": "Shout.", "instruction_id_list": ["change_case:english_capital"], "kwargs": [{}]}""");
        _temp.File("mc.jsonl", """{"prompt": "Sky?", "choices": ["blue", "green"], "answer": 0}""");
        string path = _temp.File("suite.json", """
            {"name": "mine", "tasks": [
              {"name": "math", "kind": "exact", "data": "qa.jsonl", "filters": [{"function": "regex", "regex_pattern": "(-?\\d+)", "group_select": -1}], "compare": "numeric", "tolerance": 0.5, "max_new_tokens": 20, "limit": 1},
              {"name": "if", "kind": "ifeval", "data": "if.jsonl"},
              {"name": "text", "kind": "loss", "data": "qa.jsonl"},
              {"name": "mc", "kind": "choice", "data": "mc.jsonl", "chat": false}]}
            """);
        var suite = SuiteFile.Read(path);
        Assert.Equal("mine", suite.Name);
        Assert.Equal(["exact", "ifeval", "loss", "choice"], suite.Tasks.Select(t => t.Kind));
        var math = Assert.IsType<ExactTask>(suite.Tasks[0]);
        Assert.Equal((1, AnswerComparison.Numeric, 0.5, 20), (math.Count, math.Comparison, math.Tolerance, math.MaxNewTokens));
        Assert.Equal(["4"], AnswerFilters.Apply(math.Filters, ["2 + 2 = 4"]));
        Assert.Equal("5", Assert.IsType<IfEvalTask>(suite.Tasks[1]).Items[0].Key);
        Assert.Equal(2, suite.Tasks[2].Count);
        var mc = Assert.IsType<ChoiceTask>(suite.Tasks[3]);
        Assert.False(mc.Chat);
        Assert.Equal(["blue", "green"], mc.Items[0].Choices);
    }

    [Theory]
    [InlineData("""{"tasks": []}""", "suite.json: expected an object with a non-empty \"tasks\" list")]
    [InlineData("""{"tasks": [{"kind": "loss", "data": "qa.jsonl"}]}""", "suite.json: task 1: no \"name\" string")]
    [InlineData("""{"tasks": [{"name": "a", "kind": "loss", "data": "qa.jsonl"}, {"name": "a", "kind": "loss", "data": "qa.jsonl"}]}""", "two tasks are named 'a'")]
    [InlineData("""{"tasks": [{"name": "a", "kind": "exact", "data": "qa.jsonl", "compare": "fuzzy"}]}""", "task 'a': \"compare\" is \"fuzzy\"")]
    [InlineData("""{"tasks": [{"name": "a", "kind": "exact", "data": "qa.jsonl", "limit": 0}]}""", "task 'a': \"limit\" is 0, expected a whole number > 0")]
    [InlineData("""{"tasks": [{"name": "a", "kind": "exact", "data": "qa.jsonl", "compare": "numeric"}]}""", "task 'a': qa.jsonl:1: the reference answer has no number")]
    [InlineData("""{"tasks": [{"name": "a", "kind": "choice", "data": "qa.jsonl"}]}""", "task 'a': qa.jsonl:1: \"choices\" is not a list of at least two strings")]
    [InlineData("""{"tasks": [{"name": "a", "kind": "exact", "data": "qa.jsonl", "filters": [{"function": "regex"}]}]}""", "task 'a': regex filter: no \"regex_pattern\"")]
    public void BadSuitesNameFileAndTask(string json, string message)
    {
        _temp.File("qa.jsonl", """{"prompt": "hi", "completion": "hello"}""");
        var e = Assert.Throws<InvalidDataException>(() => SuiteFile.Read(_temp.File("suite.json", json)));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void BuiltInSuiteHasTheTargetInstructionsAndForgetting()
    {
        var suite = BuiltInSuite.Create();
        Assert.Equal(["tinychat", "tinychat-loss", "instructions", "stories"], suite.Tasks.Select(t => t.Name));
        Assert.Equal([64, 64, 48, 64], suite.Tasks.Select(t => t.Count));
        Assert.Empty(BuiltInSuite.Targets.Except(suite.Tasks.Select(t => t.Name)));
    }

    /// <summary>Every written instruction-following answer follows its instructions strictly, and none of the held-out prompts is trained on.</summary>
    [Fact]
    public void TinyInstructionsAnswersFollowTheirInstructions()
    {
        var train = TinyInstructions.TrainSet();
        var heldOut = TinyInstructions.HeldOutSet();
        Assert.Empty(heldOut.Select(t => t.Prompt).Intersect(train.Select(t => t.Prompt)));
        foreach (var t in train.Concat(heldOut))
        {
            var outcome = IfEval.Evaluate(t.Instructions.Select(x => Instructions.Create(x.Id, x.Kwargs)).ToList(), t.Response);
            Assert.True(outcome.PromptStrict, $"{t.Prompt} → {t.Response}: {string.Join("; ", outcome.StrictVerdicts.Select(v => v.Reason))}");
        }
        Assert.True(heldOut.Select(t => t.Instructions[0].Id).Distinct().Count() >= 7, "the held-out set covers the instruction types");
    }
}
