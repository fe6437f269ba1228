using Engine.Autograd;
using Engine.Data;
using Engine.Generation;
using Engine.Models;
using Engine.Training;

namespace Engine.Eval;

/// <summary>Held-out measurements of a model: mean loss per target token, and exact-match accuracy of greedy answers.</summary>
public static class Evaluation
{
    /// <summary>Σ loss over every target token of the batches / their number (no gradients).</summary>
    public static double MeanLoss(Transformer model, IEnumerable<Batch> batches)
    {
        using var tape = new Tape(model.Backend, recordGradients: false);
        double sum = 0;
        long targets = 0;
        foreach (var batch in batches)
        {
            sum += model.Forward(tape, batch, 1f);
            targets += batch.TargetCount;
            tape.Reset();
        }
        return targets == 0 ? double.NaN : sum / targets;
    }

    /// <summary>The greedy answer to a conversation's turns up to (not including) its last assistant turn.</summary>
    public static string Answer(Transformer model, ChatTemplate template, IReadOnlyList<ChatTurn> promptTurns, int maxNewTokens)
    {
        var prompt = template.RenderPrompt(promptTurns);
        var ids = GreedyDecoder.Continue(model, prompt, maxNewTokens, template.EndOfTurnId);
        return template.Tokenizer.Decode(ids.Where(id => id != template.EndOfTurnId)).Trim();
    }

    /// <summary>Fraction of examples whose greedy answer equals the reference last assistant turn exactly.</summary>
    public static double ExactMatch(Transformer model, ChatTemplate template, IEnumerable<SftExample> examples, int maxNewTokens)
    {
        int total = 0, correct = 0;
        foreach (var example in examples)
        {
            var (prompt, reference) = SplitLastAnswer(example);
            total++;
            if (Answer(model, template, prompt, maxNewTokens) == reference.Trim()) correct++;
        }
        return total == 0 ? double.NaN : (double)correct / total;
    }

    /// <summary>The turns before the last assistant turn, and that turn's text.</summary>
    public static (IReadOnlyList<ChatTurn> Prompt, string Reference) SplitLastAnswer(SftExample example)
    {
        int last = example.Turns.ToList().FindLastIndex(t => t.Role == ChatRole.Assistant);
        if (last < 0) throw new ArgumentException($"example {example.Origin} has no assistant turn to compare against");
        return (example.Turns.Take(last).ToList(), example.Turns[last].Content);
    }
}
