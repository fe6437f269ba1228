using System.Text.Json.Nodes;
using Engine.Backends;
using Engine.Data;
using Engine.Eval;
using Engine.Generation;
using Engine.IO;
using Engine.Jobs;
using Engine.Models;
using Engine.Tokenizers;

namespace Engine.Curation;

/// <summary>The experiment's sizes: SFT steps per run, the noisy pool, best-of-K's K, rounds and fresh prompts, the teacher's steps.</summary>
/// <param name="MaxNewTokens">Most tokens of a best-of-K sample and of a teacher's answer.</param>
public sealed record ExperimentSettings(string Output, int Steps = 150, int PoolSize = 1600, int K = 8, int Rounds = 2, int FreshPrompts = 160,
    int TeacherSteps = 300, int PretrainSteps = 150, string Backend = "cpu", int Seed = 1, int MaxNewTokens = 48);

/// <summary>One arm: what it trained on, and its summary (held-out loss and exact match before/after, forgetting); no summary for a
/// best-of-K round that verified no sample, so had nothing to train on.</summary>
public sealed record ArmResult(string Part, string Arm, int Examples, FineTuneSummary? Summary);

/// <summary>
/// The curation experiment (`engine curate demo`), on the built-in tiny model and TinyChat, every SFT run through <see cref="SftJob"/>
/// (the one training loop), all from one pretrained base model, evaluated on TinyChat's held-out set (loss, exact match on 32 greedy
/// answers) and on unseen stories of the base's corpus (forgetting):
/// 1. quality against quantity: a noisy pool 4× TinyChat's size (a third spoiled) trained on whole, filtered, and as a random subset
///    of the filtered size (which separates the filter's choice from the smaller size);
/// 2. rejection-sampling fine-tuning: the filtered model samples K answers to fresh prompts, the verifier keeps a correct one, and a
///    further SFT round trains on those, Rounds times;
/// 3. distillation: a teacher of 4× the parameters, trained twice as long on TinyChat, answers TinyChat's prompts; a student trained on
///    the teacher's answers against one trained on the original answers.
/// </summary>
public static class CurationExperiment
{
    public static List<ArmResult> Run(ExperimentSettings s, TextWriter log, Action<string>? filterReport = null, Action<IReadOnlyList<ArmResult>>? armFinished = null)
    {
        string data = Dir(s.Output, "data"), runs = Dir(s.Output, "runs");
        var tokenizer = new ByteChatTokenizer();
        string heldOut = Write(data, "heldout.jsonl", TinyChat.HeldOutSet().Select(e => SftRowJson.Line(SftRowJson.Row(e.Turns))));
        string forget = Write(data, "forget.jsonl", TinyCorpus.Generate(stories: 64, seed: 1_000_003).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(story => SftRowJson.Line(new JsonObject { ["text"] = story + "\n" })));
        string tinyChat = Write(data, "tinychat.jsonl", TinyChat.TrainSet().Select(e => SftRowJson.Line(SftRowJson.Row(e.Turns))));
        var results = new List<ArmResult>();
        // Each arm's results are reported as soon as it has trained, so a long run shows (and keeps) what it has measured so far.
        ArmResult Train(string part, string arm, string baseModel, string rows, int steps, float lr = 2e-3f)
        {
            log.WriteLine($"[{part}] training {arm} on {Path.GetFileName(rows)}");
            var summary = SftJob.Run(new SftSettings
            {
                Model = baseModel, Data = rows, EvalData = heldOut, ForgetData = forget, Steps = steps, LearningRate = lr, EvalEvery = steps, SaveEvery = 0,
                Backend = s.Backend, Seed = s.Seed, Output = Path.Combine(runs, arm),
            }).Summary;
            var result = new ArmResult(part, arm, File.ReadLines(rows).Count(), summary);
            log.WriteLine($"[{part}] {arm}: exact match {summary.ExactMatchBefore:P0} → {summary.ExactMatchAfter:P0}, loss {summary.TargetLossAfter:F3}, forgetting {summary.Forgetting:+0.000;-0.000}");
            results.Add(result);
            armFinished?.Invoke(results);
            return result;
        }
        string ModelOf(string arm) => Path.Combine(runs, arm, "model");

        string baseDir = Pretrained(Path.Combine(s.Output, "base"), Presets.TinyLlama(tokenizer.VocabSize, 256), s, log);

        // 1. Quality against quantity.
        var pool = NoisyPool.Generate(s.PoolSize, seed: 3);
        string poolFile = Write(data, "pool.jsonl", NoisyPool.Lines(pool));
        var rows = CurationRows.Read(poolFile);
        var evalTexts = CurationRows.Read(heldOut).Select(r => r.PromptText + "\n" + r.Response).ToList();
        var filtered = DataFilter.Run(rows, new FilterOptions(Quality: new QualityOptions(), Decontamination: new Decontamination(evalTexts)));
        string filteredFile = Write(data, "filtered.jsonl", filtered.Kept.Select(r => r.Json));
        filterReport?.Invoke(FilterTable(pool, filtered));
        var shuffled = rows.ToArray();
        new Random(s.Seed).Shuffle(shuffled);
        string randomFile = Write(data, "random-subset.jsonl", shuffled.Take(filtered.Kept.Count).Select(r => r.Json));
        Train("1 quality", "pool-all", baseDir, poolFile, s.Steps);
        Train("1 quality", "pool-random-subset", baseDir, randomFile, s.Steps);
        Train("1 quality", "pool-filtered", baseDir, filteredFile, s.Steps);

        // 2. Rejection-sampling fine-tuning from the filtered model.
        var seen = TinyChat.TrainSet().Concat(TinyChat.HeldOutSet()).Select(e => SftRowJson.Line(SftRowJson.Row(e.Turns))).ToHashSet();
        var fresh = TinyChat.Generate(s.FreshPrompts * 4, seed: 5).Where(e => !seen.Contains(SftRowJson.Line(SftRowJson.Row(e.Turns)))).Take(s.FreshPrompts).ToList();
        string promptsFile = Write(data, "fresh-prompts.jsonl", fresh.Select(e =>
        {
            var (prompt, reference) = Evaluation.SplitLastAnswer(e);
            return SftRowJson.Line(SftRowJson.Row(prompt, ("answer", reference)));
        }));
        string current = ModelOf("pool-filtered");
        for (int round = 1; round <= s.Rounds; round++)
        {
            using var backend = BackendChoice.Create(s.Backend);
            using var model = GenerationModel.Load(current, backend);
            var settings = new BestOfKSettings(current, s.K, KeepRule.Best, new SamplingOptions(Temperature: 1f, Seed: s.Seed + round, MaxNewTokens: s.MaxNewTokens), PromptsPerBatch: 8);
            var sampled = BestOfK.Run(model, model.ChatTemplate(null), CurationRows.Read(promptsFile, requireAnswer: false), new VerifierScorer(), settings);
            log.WriteLine($"[2 best-of-k] round {round}: acceptance {sampled.AcceptanceRate:P0}, pass@1 {sampled.PassAt1:P1}, pass@{s.K} {sampled.PassAtK:P1}, " +
                          $"{sampled.SamplesPerSecond:F1} samples/s");
            string part = $"2 best-of-k (acceptance {sampled.AcceptanceRate:P0}, pass@1 {sampled.PassAt1:P1}, pass@{s.K} {sampled.PassAtK:P1})";
            if (sampled.Kept.Count == 0)
            {
                log.WriteLine("[2 best-of-k] nothing verified: no round to train");
                results.Add(new ArmResult(part, $"rft-round-{round}", 0, null));
                armFinished?.Invoke(results);
                break;
            }
            string kept = Write(data, $"best-of-{s.K}-round-{round}.jsonl", sampled.Kept);
            var arm = Train(part, $"rft-round-{round}", current, kept, s.Steps / 2, lr: 1e-3f);
            current = ModelOf(arm.Arm);
        }

        // 3. Distillation from a teacher of 4× the parameters, trained twice as long.
        string teacherBase = Pretrained(Path.Combine(s.Output, "teacher-base"),
            ModelConfig.Llama(tokenizer.VocabSize, 256, layers: 4, dim: 256, heads: 8, kvHeads: 4, ffnDim: 704), s, log);
        Train("3 distillation", "teacher", teacherBase, tinyChat, s.TeacherSteps);
        string distilled = Path.Combine(data, "distilled.jsonl");
        using (var backend = BackendChoice.Create(s.Backend))
        using (var teacher = GenerationModel.Load(ModelOf("teacher"), backend))
        {
            var (appender, existing) = CurationOutput.OpenForAppend(distilled, force: true);
            using (appender)
            {
                var result = Distiller.Run(teacher, teacher.ChatTemplate(null), CurationRows.Read(tinyChat), new DistillSettings(ModelOf("teacher"), null,
                    new SamplingOptions(MaxNewTokens: s.MaxNewTokens), Batch: 16), appender, existing, () => false);
                log.WriteLine($"[3 distillation] the teacher answered {result.Written} prompts: {result.TokensPerSecond:N0} tokens/s");
            }
        }
        Train("3 distillation", "student-on-original", baseDir, tinyChat, s.Steps);
        Train("3 distillation", "student-on-teacher", baseDir, distilled, s.Steps);
        return results;
    }

    /// <summary>Per kind of noise in the pool: rows, and how many each stage removed.</summary>
    public static string FilterTable(List<(SftExample Example, string Kind)> pool, FilterResult result)
    {
        string Kind(CurationRow row) => pool[row.Line - 1].Kind;   // the pool file has one row per line, in pool order
        var lines = new List<string>
        {
            "| pool rows | count | " + string.Join(" | ", FilterResult.Stages.Take(4)) + " | kept |",
            "| --- | ---: | " + string.Join(" | ", FilterResult.Stages.Take(4).Select(_ => "---:")) + " | ---: |",
        };
        foreach (string kind in NoisyPool.Kinds)
        {
            int count = pool.Count(p => p.Kind == kind);
            var removed = FilterResult.Stages.Take(4).Select(stage => result.Removed.Count(r => r.Stage == stage && Kind(r.Row) == kind));
            lines.Add($"| {kind} | {count} | {string.Join(" | ", removed)} | {result.Kept.Count(r => Kind(r) == kind)} |");
        }
        return string.Join("\n", lines);
    }

    /// <summary>The experiment's results as a markdown table.</summary>
    public static string Table(IEnumerable<ArmResult> results)
    {
        var lines = new List<string>
        {
            "| part | arm | rows | held-out loss | exact match before → after | forgetting (Δ loss on unseen stories) |",
            "| --- | --- | ---: | ---: | ---: | ---: |",
        };
        lines.AddRange(results.Select(r => r.Summary is not { } m ? $"| {r.Part} | {r.Arm} | 0 | not trained: no sample verified | — | — |"
            : $"| {r.Part} | {r.Arm} | {r.Examples} | {m.TargetLossAfter:F3} | {m.ExactMatchBefore:P0} → {m.ExactMatchAfter:P0} | {m.Forgetting:+0.00;-0.00} |"));
        return string.Join("\n", lines);
    }

    /// <summary>Exact match after training of every trained arm, as a bar chart.</summary>
    public static void Plot(IReadOnlyList<ArmResult> arms, string path)
    {
        var results = arms.Where(r => r.Summary is not null).Select(r => (r.Arm, Summary: r.Summary!)).ToList();
        var plot = new ScottPlot.Plot();
        var bars = plot.Add.Bars(results.Select(r => r.Summary.ExactMatchAfter * 100).ToArray());
        foreach (var bar in bars.Bars) bar.Label = $"{bar.Value:0} %";
        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, results.Count).Select(i => (double)i).ToArray(), results.Select(r => r.Arm).ToArray());
        plot.Axes.Bottom.TickLabelStyle.Rotation = 30;
        plot.Axes.Bottom.TickLabelStyle.Alignment = ScottPlot.Alignment.MiddleLeft;
        plot.Axes.Bottom.MinimumSize = 120;
        plot.Axes.Right.MinimumSize = 90;   // room for the last rotated label
        plot.YLabel("held-out exact match after training (%)");
        plot.Title("Curation experiment (engine curate demo)");
        plot.Axes.SetLimitsY(0, Math.Max(10, 1.25 * results.Select(r => r.Summary.ExactMatchAfter * 100).DefaultIfEmpty(0).Max()));
        plot.SavePng(path, 900, 520);
    }

    /// <summary>A base model of this config pretrained on the built-in corpus (as engine sft's built-in base), saved with the byte tokenizer.</summary>
    private static string Pretrained(string directory, ModelConfig config, ExperimentSettings s, TextWriter log)
    {
        using var backend = BackendChoice.Create(s.Backend);
        using var model = new Transformer(backend, config, s.Seed);
        using (var pretraining = new CorpusPretraining(model, new PretrainSettings { Steps = s.PretrainSteps, Seed = s.Seed }))
        {
            var outcome = pretraining.Loop.Run();
            log.WriteLine($"base {Path.GetFileName(directory)}: {model.ParameterCount:N0} parameters, pretrained {s.PretrainSteps} steps (loss {outcome.Last?.Loss:F3})");
        }
        var tokenizer = new ByteChatTokenizer();
        HfCheckpoint.Save(model, directory, metadata: new ModelMetadata(tokenizer.SpecialIds));
        tokenizer.WriteHfFiles(directory);
        return directory;
    }

    private static string Dir(string parent, string name) => Directory.CreateDirectory(Path.Combine(parent, name)).FullName;

    private static string Write(string directory, string name, IEnumerable<string> lines)
    {
        string path = Path.Combine(directory, name);
        CurationOutput.WriteLines(path, lines);
        return path;
    }
}
