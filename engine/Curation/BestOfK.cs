using System.Text.Json.Nodes;
using Engine.Data;
using Engine.Generation;

namespace Engine.Curation;

/// <summary>Which samples of a prompt become training rows: the best-scoring one that passes, or every distinct one that passes.</summary>
public enum KeepRule { Best, AllPassing }

/// <summary>How `engine curate best-of-k` samples and keeps: K samples per prompt, PromptsPerBatch prompts (K·that rows) at a time.</summary>
public sealed record BestOfKSettings(string Model, int K, KeepRule Keep, SamplingOptions Sampling, int PromptsPerBatch = 4, bool SharePrefill = true)
{
    public void Validate()
    {
        Sampling.Validate();
        if (K < 1) throw new ArgumentException($"--k is {K}, expected ≥ 1 samples per prompt");
        if (PromptsPerBatch < 1) throw new ArgumentException($"--batch is {PromptsPerBatch}, expected ≥ 1 prompts");
    }
}

/// <summary>
/// The outcome of best-of-K: kept rows, rejected samples with reasons, and the statistics: acceptance rate (prompts with at least one
/// kept sample), pass@1 (the mean over prompts of passing samples / K, the unbiased estimate from K samples) and pass@K (prompts with any
/// passing sample), the mean score, and the samples per second of generation.
/// </summary>
public sealed record BestOfKResult(List<string> Kept, List<string> Rejected, int Prompts, int PromptsAccepted, double PassAt1, double PassAtK, double MeanScore,
    int Samples, TimeSpan GenerationTime)
{
    public double AcceptanceRate => (double)PromptsAccepted / Prompts;

    public double SamplesPerSecond => Samples / Math.Max(GenerationTime.TotalSeconds, 1e-9);
}

/// <summary>
/// Rejection sampling (best-of-K): the model samples K answers per prompt (sharing each prompt's prefill), a scorer scores each,
/// and the kept ones become SFT rows (the prompt's turns and the answer, the source's answer/checks, and <c>meta</c>: model, sample,
/// seed, scorer, score, reason); a prompt with no passing sample is dropped. Every sample not kept is a rejected row with its reason.
/// </summary>
public static class BestOfK
{
    public static BestOfKResult Run(GenerationModel model, ChatTemplate template, IReadOnlyList<CurationRow> prompts, ISampleScorer scorer, BestOfKSettings settings,
        Action<int, int>? progress = null)
    {
        settings.Validate();
        foreach (var row in prompts) scorer.Prepare(row);
        var (kept, rejected) = (new List<string>(), new List<string>());
        int accepted = 0, samples = 0;
        double passAt1 = 0, passAtK = 0, scoreSum = 0;
        var generation = new System.Diagnostics.Stopwatch();
        foreach (var batch in prompts.Chunk(settings.PromptsPerBatch))
        {
            var seeds = batch.SelectMany(row => Enumerable.Range(0, settings.K).Select(j => SampleSeeds.Of(settings.Sampling.Seed, row.Line, j))).ToArray();
            generation.Start();
            var replies = model.Replies(template, batch.Select(r => r.Prompt).ToList(), settings.Sampling, seeds, settings.K, settings.SharePrefill);
            generation.Stop();
            samples += replies.Length;
            for (int p = 0; p < batch.Length; p++)
            {
                var row = batch[p];
                var mine = replies.Skip(p * settings.K).Take(settings.K).ToList();
                var scores = scorer.Score(row, mine);
                var chosen = Choose(mine, scores, settings.Keep);
                int passing = scores.Count(s => s.Passed);
                passAt1 += (double)passing / settings.K;
                passAtK += passing > 0 ? 1 : 0;
                scoreSum += scores.Sum(s => s.Score);
                accepted += chosen.Count > 0 ? 1 : 0;
                for (int j = 0; j < mine.Count; j++)
                {
                    string line = SftRowJson.Line(Row(row, j, seeds[p * settings.K + j], mine[j], scores[j], scorer, settings,
                        chosen.Contains(j) ? null : RejectionReason(j, mine, scores, chosen)));
                    (chosen.Contains(j) ? kept : rejected).Add(line);
                }
            }
            progress?.Invoke(Math.Min(prompts.Count, samples / settings.K), prompts.Count);
        }
        return new BestOfKResult(kept, rejected, prompts.Count, accepted, passAt1 / prompts.Count, passAtK / prompts.Count, scoreSum / Math.Max(samples, 1), samples, generation.Elapsed);
    }

    /// <summary>The kept samples' indices: the passing one of highest score (the first of equals), or every passing sample whose text no
    /// earlier passing sample has.</summary>
    private static HashSet<int> Choose(List<GeneratedReply> samples, SampleScore[] scores, KeepRule keep)
    {
        var passing = Enumerable.Range(0, samples.Count).Where(j => scores[j].Passed).ToList();
        if (passing.Count == 0) return [];
        if (keep == KeepRule.Best) return [passing.MaxBy(j => (scores[j].Score, -j))];
        var seen = new HashSet<string>();
        return passing.Where(j => seen.Add(samples[j].Text)).ToHashSet();
    }

    private static string RejectionReason(int j, List<GeneratedReply> samples, SampleScore[] scores, HashSet<int> chosen)
    {
        if (!scores[j].Passed) return $"failed: {scores[j].Reason}";
        int same = chosen.Where(k => k < j && samples[k].Text == samples[j].Text).DefaultIfEmpty(-1).Min();
        return same >= 0 ? $"passed, same text as sample {same}" : $"passed, not the best of {samples.Count} ({scores[j].Reason})";
    }

    private static JsonObject Row(CurationRow source, int sample, int seed, GeneratedReply reply, SampleScore score, ISampleScorer scorer, BestOfKSettings s, string? rejected)
    {
        var meta = new JsonObject
        {
            ["model"] = s.Model, ["k"] = s.K, ["sample"] = sample, ["sample_seed"] = seed, ["temperature"] = s.Sampling.Temperature, ["top_p"] = s.Sampling.TopP,
            ["top_k"] = s.Sampling.TopK, ["max_new_tokens"] = s.Sampling.MaxNewTokens, ["source"] = source.Where, ["scorer"] = scorer.Name, ["score"] = score.Score,
            ["passed"] = score.Passed, ["reason"] = score.Reason, ["completion_tokens"] = reply.CompletionTokens, ["finish"] = reply.Stopped ? "stop" : "length",
        };
        var extra = Distiller.CarriedFields(source).ToList();
        if (rejected is not null) extra.Add(("rejected", rejected));
        extra.Add(("meta", meta));
        return SftRowJson.Row([.. source.Prompt, new ChatTurn(ChatRole.Assistant, reply.Text)], [.. extra]);
    }
}
