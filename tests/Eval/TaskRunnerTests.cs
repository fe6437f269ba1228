using Engine.Checks;
using Engine.Data;
using Engine.Eval;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Eval;

/// <summary>Each task kind on a tiny model that answers four questions exactly.</summary>
public sealed class TaskRunnerTests(TrainedChatModel trained) : IClassFixture<TrainedChatModel>
{
    private TaskResult Run(EvalTask task, EvalOptions? options = null) => TaskRunner.Run(task, trained.AsEvalModel(), options ?? new EvalOptions(Batch: 3));

    private static double Value(TaskResult result, string metric) => result.Metrics.Single(m => m.Name == metric).Value;

    [Fact]
    public void ExactMatchComparesTheFilteredGreedyAnswer()
    {
        Assert.Equal(1.0, Value(Run(new ExactTask("all", TrainedChatModel.Items(), [], AnswerComparison.Exact, 0, 12)), "exact_match"));
        // two references changed: half right
        var items = TrainedChatModel.Items(a => a is "blue" or "meow" ? "wrong" : a);
        var half = Run(new ExactTask("half", items, [], AnswerComparison.Exact, 0, 12));
        Assert.Equal(0.5, Value(half, "exact_match"));
        Assert.Equal([true, true, false, false], half.Samples.Select(s => (bool)s["passed"]!));
        // a regex extracts "hello" from "hello!", lower-cased; only the first item's reference is "hello"
        var filtered = Run(new ExactTask("regex", TrainedChatModel.Items(a => a == "hello!" ? "hello" : a),
            [AnswerFilters.Regex(@"(\w+)!"), AnswerFilters.Lowercase], AnswerComparison.Exact, 0, 12));
        Assert.Equal(["hello", "[invalid]", "[invalid]", "[invalid]"], filtered.Samples.Select(s => (string)s["extracted"]!));
        Assert.Equal(0.25, Value(filtered, "exact_match"));
    }

    [Fact]
    public void NumericComparisonWithinTolerance()
    {
        var items = new List<ExactItem> { new([new ChatTurn(ChatRole.User, "2+2?")], "4.0004") };
        Assert.Equal(1.0, Value(Run(new ExactTask("close", items, [], AnswerComparison.Numeric, 1e-3, 12)), "exact_match"));
        Assert.Equal(0.0, Value(Run(new ExactTask("far", items, [], AnswerComparison.Numeric, 1e-4, 12)), "exact_match"));
    }

    [Fact]
    public void SamplesGivePassAtKAndMajorityReproducibly()
    {
        var task = new ExactTask("sampled", TrainedChatModel.Items(), [], AnswerComparison.Exact, 0, 12);
        var options = new EvalOptions(Samples: 4, Temperature: 1.5f, Seed: 3, Batch: 5);
        var first = Run(task, options);
        Assert.Equal(["exact_match", "pass@1", "pass@4", "maj@4"], first.Metrics.Select(m => m.Name));
        Assert.True(Value(first, "pass@4") >= Value(first, "pass@1"));
        foreach (var sample in first.Samples)
        {
            int correct = (int)sample["samples_correct"]!;
            Assert.Equal(4, sample["samples"]!.AsArray().Count);
            Assert.Equal(correct / 4.0, first.Metrics[1].Numerators[(int)sample["index"]!], 12);
        }
        // the same seed gives the same samples whatever the batching
        var again = Run(task, options with { Batch = 16 });
        Assert.Equal(first.Samples.Select(s => s["samples"]!.ToJsonString()), again.Samples.Select(s => s["samples"]!.ToJsonString()));
    }

    [Fact]
    public void LossIsThePerTokenMeanOverExamples()
    {
        var examples = TrainedChatModel.Pairs.Select(p => SftExample.Chat(new ChatTurn(ChatRole.User, p.Question), new ChatTurn(ChatRole.Assistant, p.Answer)))
            .Append(SftExample.PlainText("the sky is blue\n")).ToList();
        var result = Run(new LossTask("loss", examples));
        double reference = Evaluation.MeanLoss(trained.Model, SftDataset.FromExamples(examples.Take(4), trained.Template, 64).Epoch(0, 4, 0));
        var loss = result.Metrics[0];
        double chatOnly = loss.Numerators.Take(4).Sum() / loss.Denominators.Take(4).Sum();
        Assert.Equal(reference, chatOnly, 1e-4);
        Assert.Equal(Math.Exp(loss.Value), Value(result, "perplexity"), 12);
        Assert.Equal(15.0 + 1, loss.Denominators[4]); // plain text: every token after the first is a target, and the end token
    }

    [Fact]
    public void ChoicePicksTheMostLikelyOption()
    {
        var items = new List<ChoiceItem> { new("hi", ["meow", "hello!"], 1), new("cat?", ["meow", "blue"], 0), new("sky?", ["meow", "blue"], 0) };
        var result = Run(new ChoiceTask("choice", items, Chat: true));
        Assert.Equal([1, 0, 1], result.Samples.Select(s => (int)s["predicted"]!));
        Assert.Equal(2.0 / 3, Value(result, "acc"), 12);
    }

    [Fact]
    public void IfEvalScoresTheGeneratedResponse()
    {
        // "hi" is answered "hello!": no comma (followed), not all capitals (not followed)
        var item = new IfEvalItem("1", "hi", [Instructions.Create("punctuation:no_comma"), Instructions.Create("change_case:english_capital")]);
        var result = Run(new IfEvalTask("if", [item], 12));
        Assert.Equal(0.0, Value(result, "prompt_level_strict"));
        Assert.Equal(0.5, Value(result, "inst_level_strict"));
        Assert.Equal(1.0, result.Breakdown["punctuation:no_comma"]);
        Assert.Equal("hello!", (string)result.Samples[0]["response"]!);
    }
}
