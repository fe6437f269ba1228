using System.Text.Json.Nodes;
using Engine.Curation;
using Engine.Generation;
using Engine.Tests.Support;
using Xunit;

namespace Engine.Tests.Curation;

public sealed class BestOfKTests(TrainedChatModel trained) : TrainedChatModelTest(trained)
{
    private List<CurationRow> Prompts() => CurationRows.Read(Temp.File("prompts.jsonl", string.Join("\n",
        """{"prompt": "sky?", "answer": "blue"}""",
        """{"prompt": "cat?", "checks": [{"type": "regex", "pattern": "^me+o+w$"}]}""",
        """{"prompt": "hi", "answer": "a reply it never gives"}""") + "\n"), requireAnswer: false);

    private BestOfKResult Run(KeepRule keep, bool share = true)
    {
        using var model = Load();
        var settings = new BestOfKSettings("model", 8, keep, new SamplingOptions(Temperature: 1.5f, Seed: 2, MaxNewTokens: 10), PromptsPerBatch: 2, SharePrefill: share);
        return BestOfK.Run(model, model.ChatTemplate(null), Prompts(), new VerifierScorer(), settings);
    }

    private static string Answer(string line) => (string)JsonNode.Parse(line)!["messages"]!.AsArray()[^1]!["content"]!;

    [Fact]
    public void Keeps_only_verified_answers_and_drops_prompts_with_none()
    {
        var result = Run(KeepRule.Best);
        Assert.Equal(24, result.Samples);
        Assert.Equal(24, result.Kept.Count + result.Rejected.Count);
        Assert.Equal(["blue", "meow"], result.Kept.Select(Answer));
        Assert.Equal(2.0 / 3, result.AcceptanceRate, 12);
        Assert.Equal(2.0 / 3, result.PassAtK, 12);
        Assert.InRange(result.PassAt1, 1.0 / 24, 2.0 / 3);
        // The sampling is hot enough that some samples fail, and each rejection says why.
        Assert.Contains(result.Rejected, l => ((string)JsonNode.Parse(l)!["rejected"]!).StartsWith("failed: "));
        Assert.All(result.Rejected.Where(l => JsonNode.Parse(l)!["meta"]!["source"]!.ToString() == "prompts.jsonl:3"),
            l => Assert.StartsWith("failed: exact", (string)JsonNode.Parse(l)!["rejected"]!));
    }

    [Fact]
    public void All_passing_keeps_each_distinct_passing_answer()
    {
        var result = Run(KeepRule.AllPassing);
        Assert.Equal(result.Kept.Select(Answer).Distinct().Count(), result.Kept.Count);
        Assert.All(result.Kept, l => Assert.True((bool)JsonNode.Parse(l)!["meta"]!["passed"]!));
        int passing = result.Kept.Count + result.Rejected.Count(l => ((string)JsonNode.Parse(l)!["rejected"]!).StartsWith("passed, same text"));
        Assert.Equal(result.PassAt1 * 3 * 8, passing, 9);
    }

    [Fact]
    public void Shared_prefill_gives_the_same_rows_as_without()
    {
        var shared = Run(KeepRule.Best);
        var separate = Run(KeepRule.Best, share: false);
        Assert.Equal(separate.Kept, shared.Kept);
        Assert.Equal(separate.Rejected, shared.Rejected);
    }

    [Fact]
    public void A_verifier_spec_that_does_not_parse_names_its_row_before_sampling()
    {
        string path = Temp.File("bad.jsonl", "{\"prompt\": \"sky?\", \"answer\": \"blue\"}\n{\"prompt\": \"cat?\", \"checks\": [{\"type\": \"nonsense\"}]}\n");
        using var model = Load();
        var error = Assert.Throws<Engine.Data.DataFormatException>(() => BestOfK.Run(model, model.ChatTemplate(null), CurationRows.Read(path, requireAnswer: false),
            new VerifierScorer(), new BestOfKSettings("model", 2, KeepRule.Best, new SamplingOptions(Temperature: 1))));
        Assert.StartsWith("bad.jsonl:2:", error.Message);
    }

    [Fact]
    public void Logprob_scores_are_the_judges_mean_log_probability()
    {
        using var model = Load();
        var template = model.ChatTemplate(null);
        var scorer = new LogProbScorer(model, template, lengthNormalised: true, minScore: null);
        var prompt = new List<Engine.Data.ChatTurn> { new(Engine.Data.ChatRole.User, "sky?") };
        var (learned, tokens) = scorer.LogProbability(prompt, "blue");
        var (other, _) = scorer.LogProbability(prompt, "meow");
        Assert.Equal(5, tokens);   // four bytes and the end of turn
        Assert.True(learned > other, $"the trained answer scores {learned:F3}, another {other:F3}");
        Assert.True(learned < 0);
    }
}
