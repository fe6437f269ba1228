using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Data;
using Engine.Generation;

namespace Engine.Curation;

/// <summary>How `engine curate distill` samples: n answers per prompt, Batch answers generated at once.</summary>
public sealed record DistillSettings(string Teacher, string? Adapter, SamplingOptions Sampling, int SamplesPerPrompt = 1, int Batch = 8)
{
    public void Validate()
    {
        Sampling.Validate();
        if (SamplesPerPrompt < 1) throw new ArgumentException($"--n is {SamplesPerPrompt}, expected ≥ 1 answers per prompt");
        if (Batch < 1) throw new ArgumentException($"--batch is {Batch}, expected ≥ 1");
    }
}

/// <summary>What a distill run did: answers written now, answers found already written (resume), and the tokens generated.</summary>
public sealed record DistillResult(int Written, int AlreadyThere, long CompletionTokens, TimeSpan Elapsed, bool Stopped)
{
    public double TokensPerSecond => CompletionTokens / Math.Max(Elapsed.TotalSeconds, 1e-9);
}

/// <summary>
/// Distillation: a teacher answers every prompt (n samples each, batched with the KV cache); each answer becomes an SFT row — the
/// prompt's turns and the answer as a <c>messages</c> conversation, the source row's <c>answer</c>/<c>checks</c> carried over, and
/// <c>meta</c>: teacher, adapter, sampling settings, the sample's seed and index, its source line, prompt and completion tokens, and
/// whether it ended at end of turn ("stop") or at the token limit ("length"). Rows are appended batch by batch; a sample already in the
/// output (same source line and index) is skipped, so an interrupted run continues where it stopped, losing and duplicating nothing.
/// </summary>
public static class Distiller
{
    public static DistillResult Run(GenerationModel teacher, ChatTemplate template, IReadOnlyList<CurationRow> prompts, DistillSettings settings,
        BatchAppender output, IEnumerable<string> existingLines, Func<bool> stopRequested, Action<int, int>? progress = null)
    {
        settings.Validate();
        var done = existingLines.Select(SampleKey).ToHashSet();
        var todo = prompts.SelectMany(p => Enumerable.Range(0, settings.SamplesPerPrompt).Select(j => (Row: p, Sample: j)))
            .Where(w => !done.Contains((w.Row.Where, w.Sample))).ToList();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int written = 0;
        long tokens = 0;
        foreach (var batch in todo.Chunk(settings.Batch))
        {
            if (stopRequested()) return new DistillResult(written, done.Count, tokens, clock.Elapsed, Stopped: true);
            var seeds = batch.Select(w => SampleSeeds.Of(settings.Sampling.Seed, w.Row.Line, w.Sample)).ToArray();
            var replies = teacher.Replies(template, batch.Select(w => w.Row.Prompt).ToList(), settings.Sampling, seeds);
            output.Append(batch.Select((w, i) => SftRowJson.Line(Row(w.Row, w.Sample, seeds[i], replies[i], settings))).ToList());
            written += batch.Length;
            tokens += replies.Sum(r => r.CompletionTokens);
            progress?.Invoke(done.Count + written, done.Count + todo.Count);
        }
        return new DistillResult(written, done.Count, tokens, clock.Elapsed, Stopped: false);
    }

    private static JsonObject Row(CurationRow source, int sample, int seed, GeneratedReply reply, DistillSettings s)
    {
        var o = s.Sampling;
        var meta = new JsonObject
        {
            ["teacher"] = s.Teacher, ["adapter"] = s.Adapter, ["temperature"] = o.Temperature, ["top_k"] = o.TopK, ["top_p"] = o.TopP,
            ["max_new_tokens"] = o.MaxNewTokens, ["seed"] = o.Seed, ["sample_seed"] = seed, ["sample"] = sample, ["source"] = source.Where,
            ["prompt_tokens"] = reply.PromptTokens, ["completion_tokens"] = reply.CompletionTokens, ["finish"] = reply.Stopped ? "stop" : "length",
        };
        return SftRowJson.Row([.. source.Prompt, new ChatTurn(ChatRole.Assistant, reply.Text)], [.. CarriedFields(source), ("meta", meta)]);
    }

    /// <summary>Whether two tokenizers agree: the same vocabulary size and the same ids for a probe of letters, digits, spaces,
    /// punctuation and accents. Distill writes text, so a teacher whose tokenizer differs from the student's is allowed (and said).</summary>
    public static bool SameTokenizer(Engine.Tokenizers.ITextTokenizer a, Engine.Tokenizers.ITextTokenizer b)
    {
        const string probe = "The quick brown fox: 12 + 30 = 42, isn't it? Ünïcödé too.";
        return a.VocabSize == b.VocabSize && a.Encode(probe).SequenceEqual(b.Encode(probe));
    }

    /// <summary>The source row's answer and checks (what best-of-k and evals verify against), copied into the new row.</summary>
    public static IEnumerable<(string, JsonNode?)> CarriedFields(CurationRow source)
    {
        var root = JsonNode.Parse(source.Json)!.AsObject();
        foreach (string name in new[] { "answer", "checks" })
            if (root[name] is { } value) yield return (name, value.DeepClone());
    }

    /// <summary>The (source, sample) of a row already written; a line that is not one of ours stops the run, naming it.</summary>
    private static (string Source, int Sample) SampleKey(string line)
    {
        try
        {
            var meta = JsonNode.Parse(line)?["meta"];
            return (meta!["source"]!.GetValue<string>(), meta["sample"]!.GetValue<int>());
        }
        catch (Exception e) when (e is JsonException or NullReferenceException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"the output to resume holds a line that is not a distilled row with meta.source and meta.sample: {line[..Math.Min(line.Length, 80)]}");
        }
    }
}
