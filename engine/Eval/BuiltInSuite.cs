using Engine.Checks;
using Engine.Data;

namespace Engine.Eval;

/// <summary>
/// The suite for the embedded default, so <c>engine eval --model runs/sft/model</c> needs no files: the target (TinyChat's 64 held-out
/// conversations, exact match of the last answer, and their loss), instruction following (TinyInstructions' 48 held-out prompts, scored as
/// IFEval scores), and forgetting (the loss on 64 unseen stories of the base model's own pretraining corpus).
/// </summary>
public static class BuiltInSuite
{
    public const string Name = "built-in";

    /// <summary>The tasks the main job's fine-tuning is meant to change; forgetting is the other one.</summary>
    public static IReadOnlyList<string> Targets { get; } = ["tinychat", "tinychat-loss", "instructions"];

    public static EvalSuite Create()
    {
        var heldOut = TinyChat.HeldOutSet();
        var instructions = TinyInstructions.HeldOutSet().Select((t, i) =>
            new IfEvalItem($"tiny-{i}", t.Prompt, t.Instructions.Select(x => Instructions.Create(x.Id, x.Kwargs)).ToList())).ToList();
        return new EvalSuite(Name,
        [
            new ExactTask("tinychat", heldOut.Select(e => Evaluation.SplitLastAnswer(e) is var (p, r) ? new ExactItem(p, r) : null!).ToList(), [], AnswerComparison.Exact, 0, MaxNewTokens: 48),
            new LossTask("tinychat-loss", heldOut),
            new IfEvalTask("instructions", instructions, MaxNewTokens: 64),
            new LossTask("stories", ForgettingStories()),
        ]);
    }

    /// <summary>Every metric of every task of the built-in suite on one model: task → metric → value (what engine sft records before and
    /// after fine-tuning in summary.json). Its prompts generate 64 at a time by default: the built-in model is small.</summary>
    public static Dictionary<string, Dictionary<string, double>> Scores(EvalModel model, EvalOptions? options = null) =>
        Create().Tasks.Select(t => TaskRunner.Run(t, model, options ?? new EvalOptions(Batch: 64)))
            .ToDictionary(r => r.Task, r => r.Metrics.ToDictionary(m => m.Name, m => m.Value));

    /// <summary>64 stories of the built-in corpus from a seed its pretraining never used: the base model's own domain, unseen.</summary>
    public static List<SftExample> ForgettingStories() =>
        TinyCorpus.Generate(stories: 64, seed: 1_000_003).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select((story, i) => SftExample.PlainText(story + "\n", $"story {i}")).ToList();
}
