using Engine.Autograd;
using Engine.Data;
using Engine.Generation;
using Engine.Training;

namespace Engine.Curation;

/// <summary>
/// Scores an answer by a judge model's log-probability of it after the prompt (its tokens and the end-of-turn token, in the judge's own
/// chat template): the mean per token (logprob: length-normalised, so long answers are not penalised for being long) or the sum
/// (teacher: the teacher's log-likelihood of the whole answer). An answer passes when its score reaches MinScore (no threshold: all pass).
/// </summary>
public sealed class LogProbScorer(GenerationModel judge, ChatTemplate template, bool lengthNormalised, double? minScore) : ISampleScorer
{
    public string Name => lengthNormalised ? "logprob" : "teacher";

    public void Prepare(CurationRow row) { }

    public SampleScore[] Score(CurationRow row, IReadOnlyList<GeneratedReply> samples)
        => samples.Select(s =>
        {
            var (sum, tokens) = LogProbability(row.Prompt, s.Text);
            double score = lengthNormalised ? sum / tokens : sum;
            bool passed = minScore is not { } min || score >= min;
            return new SampleScore(score, passed, $"{Name} {score:F4}" + (minScore is { } m ? (passed ? $" ≥ {m}" : $" < {m}") : ""));
        }).ToArray();

    // log p(answer | prompt) = Σₜ log softmax(logits)[next token] over the answer's tokens and end of turn; returned with their count.
    public (double Sum, int Tokens) LogProbability(IReadOnlyList<ChatTurn> prompt, string answer)
    {
        int[] promptIds = template.RenderPrompt(prompt);
        int[] ids = [.. promptIds, .. template.Tokenizer.Encode(answer), template.EndOfTurnId];
        int context = judge.Model.Config.ContextLength, answerTokens = ids.Length - promptIds.Length;
        if (ids.Length - 1 > context) ids = ids[^(context + 1)..];   // the judge sees the last context tokens, as generation would
        int firstTarget = Math.Max(0, ids.Length - answerTokens - 1);
        var inputs = ids[..^1];
        var targets = Enumerable.Range(0, inputs.Length).Select(t => t >= firstTarget ? ids[t + 1] : -1).ToArray();
        using var tape = new Tape(judge.Model.Backend, recordGradients: false);
        double loss = judge.Model.Forward(tape, Batch.Unpacked(1, inputs.Length, inputs, targets));
        return (-loss, targets.Count(t => t >= 0));
    }
}
