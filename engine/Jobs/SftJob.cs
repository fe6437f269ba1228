using System.Diagnostics;
using Engine.Backends;
using Engine.Data;
using Engine.Eval;
using Engine.IO;
using Engine.Models;
using Engine.Tokenizers;
using Engine.Training;

namespace Engine.Jobs;

/// <summary>
/// One supervised fine-tuning run, as `engine sft` runs it and as a library caller (a later round on curated data) calls it: the
/// backend and model (built-in, a model directory, or a checkpoint resumed), the chat template and data, the built-in base model's
/// pretraining, LoRA, the scores before (held-out loss, exact match, other-domain loss; for the built-in model the built-in eval suite), the <see cref="TrainingLoop"/> with metrics
/// and checkpoints, then the scores after, the model or adapter saved, summary.json and the loss curve.
/// </summary>
public static class SftJob
{
    /// <summary>Most tokens of a greedy answer (exact match, the sample answers).</summary>
    public const int AnswerTokens = 40;

    /// <summary>Held-out examples answered greedily for the exact-match score, before and after (the built-in model on its built-in data
    /// takes the suite's TinyChat score instead, over all 64).</summary>
    public const int ExactMatchExamples = 32;

    /// <summary>Held-out one-answer examples shown before and after.</summary>
    public const int SampleAnswers = 3;

    public static SftResult Run(SftSettings s, ISftObserver? observer = null)
    {
        observer ??= new Silent();
        var origin = RunOrigin.Of(s);
        string? modelDir = origin.ModelDirectory;
        using var backend = BackendChoice.Create(s.Backend, s.Precision);
        using var model = modelDir is null
            ? new Transformer(backend, Presets.TinyLlama(new ByteChatTokenizer().VocabSize, s.MaxLen), s.Seed)
            : HfCheckpoint.Load(modelDir, backend);
        var pretrained = modelDir is null ? null : PretrainedTokenizerOf(modelDir, model);
        var template = pretrained is null
            ? ChatTemplate.ByName(s.ChatTemplate ?? "chatml", new ByteChatTokenizer())
            : ChatTemplate.Resolve(s.ChatTemplate, pretrained.Config, pretrained.Tokenizer);
        var metadata = pretrained is null
            ? new ModelMetadata(((ByteChatTokenizer)template.Tokenizer).SpecialIds)
            : ModelMetadata.Of(modelDir!, pretrained.SpecialIds());
        void WriteTokenizer(string dir)
        {
            if (modelDir is null) ((ByteChatTokenizer)template.Tokenizer).WriteHfFiles(dir);
            else TokenizerLoader.CopyFiles(modelDir, dir);
        }
        if (s.MaxLen > model.Config.ContextLength)
            throw new ArgumentException($"--max-len {s.MaxLen} exceeds the model's context of {model.Config.ContextLength}");
        var (trainExamples, evalExamples) = LoadData(s);
        var train = SftDataset.FromExamples(trainExamples, template, s.MaxLen, s.TrainOnAll);
        var eval = SftDataset.FromExamples(evalExamples, template, s.MaxLen, s.TrainOnAll);
        observer.DataLoaded(train.Stats, evalExamples.Count, template.Name);
        observer.ModelReady(modelDir, model);

        if (modelDir is null) PretrainBase(model, s, observer);
        string? baseModel = AttachLora(model, s, origin.ResumesAdapter ? origin.Resume!.Checkpoint : null, modelDir, WriteTokenizer, metadata);
        if (model.Lora is not null) observer.LoraAttached(model);
        var other = OtherDomain(s, origin.BuiltIn, template);
        double TargetLoss() => Evaluation.MeanLoss(model, eval.Epoch(0, s.Rows, s.Seed));
        double OtherLoss() => other is null ? double.NaN : Evaluation.MeanLoss(model, other.Epoch(0, s.Rows, s.Seed));
        double ExactMatch() => Evaluation.ExactMatch(model, template, evalExamples.Take(ExactMatchExamples), AnswerTokens);
        var shown = evalExamples.Where(e => e.Turns.Count(t => t.Role == ChatRole.Assistant) == 1).Take(SampleAnswers).Select(Evaluation.SplitLastAnswer).ToList();
        var before = shown.Select(e => Evaluation.Answer(model, template, e.Prompt, AnswerTokens)).ToList();
        // The built-in model is also scored on the built-in eval suite (BuiltInSuite), before and after; on its own data the suite's
        // TinyChat exact match (the 64 held-out conversations) and its stories loss are the exact-match and forgetting scores, measured once.
        var suiteModel = new EvalModel("sft", model, template, [template.EndOfTurnId]);
        bool scoresFromSuite = origin.BuiltIn && s.Data is null && s.EvalData is null && s.ForgetData is null;
        Baseline Score(double targetLoss)
        {
            var suite = origin.BuiltIn ? BuiltInSuite.Scores(suiteModel) : null;
            return scoresFromSuite
                ? new Baseline(targetLoss, suite!["tinychat"]["exact_match"], suite["stories"]["loss"], suite)
                : new Baseline(targetLoss, ExactMatch(), OtherLoss(), suite);
        }
        int exactMatchCount = scoresFromSuite ? evalExamples.Count : Math.Min(ExactMatchExamples, evalExamples.Count);
        // A resumed run keeps the scores of the model its run started from (a checkpoint of an older engine has none: measured now).
        var start = origin.Resume?.State.Before ?? Score(TargetLoss());

        using var trainer = new Trainer(model, new OptimizerConfig(), new LearningRateSchedule(s.Schedule, s.LearningRate, s.WarmupSteps, s.Steps));
        var loop = new TrainingLoop(trainer, new LoopSettings { Steps = s.Steps, Accumulate = s.Accumulate, EvalEvery = s.EvalEvery, SaveEvery = s.SaveEvery },
            Forever(train, s), origin.Resume, TargetLoss,
            new CheckpointSettings(s.Output, s.SaveLimit, new TrainingState(0, 0, s.Seed, origin.BuiltIn, start), WriteTokenizer, baseModel, metadata));
        using var metrics = new MetricsLog(s.Output, resume: origin.Resume is not null);
        if (origin.Resume is null) metrics.Eval(0, start.TargetLoss);
        metrics.Follow(loop);
        LoopOutcome outcome;
        try
        {
            outcome = loop.Run(observer.TrainingStarts(loop, start, origin.Resume));
        }
        finally
        {
            observer.TrainingEnded();
        }

        var samples = shown.Select((e, i) => new AnswerSample(e.Prompt.Last(t => t.Role == ChatRole.User).Content, before[i],
            Evaluation.Answer(model, template, e.Prompt, AnswerTokens), e.Reference)).ToList();
        string saved = SaveResult(model, s, baseModel, WriteTokenizer, metadata);
        var memory = MemoryReport.Of(model, trainer);
        // The loop evaluated the last step unless it stopped early.
        var end = Score(outcome.LastEval is { } last && last.Step == trainer.StepCount ? last.Loss : TargetLoss());
        var summary = new FineTuneSummary(model.Lora is { } c ? $"LoRA r={c.Rank}" : "full", s.LearningRate, trainer.StepCount, outcome.MeanStepMilliseconds, memory,
            start.TargetLoss, end.TargetLoss, start.ExactMatch, end.ExactMatch, exactMatchCount, start.OtherLoss, end.OtherLoss, start.Suite, end.Suite);
        summary.Write(s.Output);
        return new SftResult(summary, samples, other is not null, saved, model.Adapters.Count > 0, baseModel, metrics.SaveLossCurve("engine sft"));
    }

    /// <summary>The built-in base model: a few seconds of next-byte prediction on the built-in corpus.</summary>
    private static void PretrainBase(Transformer model, SftSettings s, ISftObserver observer)
    {
        if (s.PretrainSteps <= 0) return;
        var clock = Stopwatch.StartNew();
        using var pretraining = new CorpusPretraining(model, new PretrainSettings
        {
            Steps = s.PretrainSteps, Rows = s.Rows, WindowLength = Math.Min(CorpusPretraining.WindowLength, s.MaxLen), Seed = s.Seed,
        });
        var outcome = pretraining.Loop.Run();
        observer.BasePretrained(s.PretrainSteps, clock.Elapsed, outcome.Last?.Loss ?? double.NaN);
    }

    /// <summary>
    /// LoRA adapters from the checkpoint being resumed, or new ones for settings' Lora; returns the base model directory adapters are recorded
    /// against: the model directory, or for the built-in model its base, written once here as {out}/base (it exists nowhere else).
    /// </summary>
    private static string? AttachLora(Transformer model, SftSettings s, string? adapterCheckpoint, string? modelDir, Action<string> writeTokenizer,
        ModelMetadata metadata)
    {
        string? baseModel = modelDir;
        if (adapterCheckpoint is not null) PeftAdapter.Load(model, adapterCheckpoint);
        else if (s.Lora is { } config)
        {
            if (modelDir is null)
            {
                baseModel = Path.GetFullPath(Path.Combine(s.Output, "base"));
                HfCheckpoint.Save(model, baseModel, metadata: metadata);
                writeTokenizer(baseModel);
            }
            model.AddLora(config, s.Seed);
        }
        return baseModel;
    }

    /// <summary>The result: a full fine-tune as a model directory {out}/model; a LoRA run as a PEFT adapter {out}/adapter on its base.</summary>
    private static string SaveResult(Transformer model, SftSettings s, string? baseDir, Action<string> writeTokenizer, ModelMetadata metadata)
    {
        bool adapter = model.Adapters.Count > 0;
        string dir = Path.Combine(s.Output, adapter ? "adapter" : "model");
        if (adapter) PeftAdapter.Save(model, dir, baseDir);
        else HfCheckpoint.Save(model, dir, metadata: metadata);
        writeTokenizer(dir);
        return dir;
    }

    /// <summary>Text of another domain whose loss shows forgetting: ForgetData, or for the built-in model unseen stories of its corpus.</summary>
    private static SftDataset? OtherDomain(SftSettings s, bool builtIn, ChatTemplate template)
    {
        if (s.ForgetData is not null) return SftDataset.FromExamples(SftDataFile.Read(s.ForgetData), template, s.MaxLen, trainOnAll: true);
        return builtIn ? SftDataset.FromExamples(BuiltInSuite.ForgettingStories(), template, s.MaxLen, trainOnAll: true) : null;
    }

    /// <summary>The model directory's tokenizer; its vocabulary must fit the embedding.</summary>
    private static PretrainedTokenizer PretrainedTokenizerOf(string modelDir, Transformer model)
    {
        var pretrained = TokenizerLoader.FromDirectory(modelDir);
        if (pretrained.Tokenizer.VocabSize > model.Config.VocabSize)
            throw new ArgumentException($"the tokenizer in {modelDir} has {pretrained.Tokenizer.VocabSize} tokens but the model's embedding has {model.Config.VocabSize} rows");
        return pretrained;
    }

    private static (List<SftExample> Train, List<SftExample> Eval) LoadData(SftSettings s)
    {
        if (s.Data is null) return ([.. TinyChat.TrainSet(), .. TinyInstructions.TrainExamples()], s.EvalData is null ? TinyChat.HeldOutSet() : SftDataFile.Read(s.EvalData));
        var all = SftDataFile.Read(s.Data);
        if (s.EvalData is not null) return (all, SftDataFile.Read(s.EvalData));
        var (trainPart, evalPart) = DataSplit.ByFraction(all, s.ValSplit, s.Seed);
        return (trainPart, evalPart);
    }

    /// <summary>Epoch after epoch of packed batches, reshuffled each epoch.</summary>
    private static IEnumerable<Batch> Forever(SftDataset data, SftSettings s)
    {
        for (int epoch = 0; ; epoch++)
            foreach (var batch in data.Epoch(epoch, s.Rows, s.Seed)) yield return batch;
    }

    private sealed class Silent : ISftObserver;
}
