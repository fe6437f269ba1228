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
            sum += model.Forward(tape, batch);
            targets += batch.TargetCount;
            tape.Reset();
        }
        return targets == 0 ? double.NaN : sum / targets;
    }

    /// <summary>The greedy answer to a conversation's turns up to (not including) its last assistant turn.</summary>
    public static string Answer(Transformer model, ChatTemplate template, IReadOnlyList<ChatTurn> promptTurns, int maxNewTokens)
        => Answers(model, template, [promptTurns], maxNewTokens)[0];

    /// <summary>The greedy answers to several conversations, generated as one batch, trimmed and without the end-of-turn token.</summary>
    public static string[] Answers(Transformer model, ChatTemplate template, IReadOnlyList<IReadOnlyList<ChatTurn>> promptTurns, int maxNewTokens)
    {
        var prompts = promptTurns.Select(turns => (IReadOnlyList<int>)template.RenderPrompt(turns)).ToList();
        var completions = Generator.Generate(model, prompts, new SamplingOptions(MaxNewTokens: maxNewTokens), [template.EndOfTurnId]);
        return completions.Select(ids => template.Tokenizer.Decode(ids.Where(id => id != template.EndOfTurnId)).Trim()).ToArray();
    }

    /// <summary>Fraction of examples whose greedy answer equals the reference last assistant turn exactly (answered 8 at a time).</summary>
    public static double ExactMatch(Transformer model, ChatTemplate template, IEnumerable<SftExample> examples, int maxNewTokens)
    {
        int total = 0, correct = 0;
        foreach (var chunk in examples.Select(SplitLastAnswer).Chunk(8))
        {
            var answers = Answers(model, template, chunk.Select(c => c.Prompt).ToList(), maxNewTokens);
            total += chunk.Length;
            correct += chunk.Zip(answers).Count(pair => pair.Second == pair.First.Reference.Trim());
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
