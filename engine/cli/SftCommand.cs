using System.CommandLine;
using System.Diagnostics;
using Engine.Backends;
using Engine.Data;
using Engine.Eval;
using Engine.IO;
using Engine.Models;
using Engine.Tokenizers;
using Engine.Training;

namespace Engine.Cli;

/// <summary>
/// `engine sft`: supervised fine-tuning on chat data with the loss on assistant tokens only. With no files it runs the embedded
/// default: a tiny byte-level Llama-style base model, pretrained here for a few seconds on the built-in corpus, is fine-tuned on
/// the built-in TinyChat conversations, and answers held-out questions before and after.
/// </summary>
public static class SftCommand
{
    public static Command Create()
    {
        var modelDir = new Option<DirectoryInfo?>("--model") { Description = "Hugging Face model directory (config.json, model.safetensors, tokenizer.json); default: the built-in tiny byte-level model" };
        var chatTemplate = new Option<string?>("--chat-template") { Description = "chatml or llama3; default: the model's own when it is one of those" };
        var data = new Option<FileInfo?>("--data") { Description = "training conversations (JSONL: messages, prompt/completion, Alpaca or text); default: the built-in TinyChat set" };
        var evalData = new Option<FileInfo?>("--eval-data") { Description = "held-out conversations (JSONL); default: TinyChat's held-out set, or --val-split of --data" };
        var valSplit = new Option<double>("--val-split") { Description = "fraction of --data held out (seeded) when no --eval-data is given", DefaultValueFactory = _ => 0.05 };
        var steps = new Option<int>("--steps") { Description = "optimizer steps", DefaultValueFactory = _ => 500 };
        var batch = new Option<int>("--batch") { Description = "packed rows per micro-batch", DefaultValueFactory = _ => 8 };
        var accumulate = new Option<int>("--grad-accum") { Description = "micro-batches per optimizer step", DefaultValueFactory = _ => 1 };
        var maxLen = new Option<int>("--max-len") { Description = "tokens per packed row; longer examples are truncated (and counted)", DefaultValueFactory = _ => 256 };
        var lr = new Option<float>("--lr") { Description = "peak learning rate", DefaultValueFactory = _ => 2e-3f };
        var warmup = new Option<int>("--warmup") { Description = "linear warmup steps", DefaultValueFactory = _ => 20 };
        var schedule = new Option<ScheduleKind>("--schedule") { Description = "learning-rate decay after warmup", DefaultValueFactory = _ => ScheduleKind.Cosine };
        var evalEvery = new Option<int>("--eval-every") { Description = "evaluation loss every N steps", DefaultValueFactory = _ => 100 };
        var pretrain = new Option<int>("--pretrain-steps") { Description = "steps of pretraining on the built-in corpus that make the embedded base model", DefaultValueFactory = _ => 150 };
        var trainOnAll = new Option<bool>("--train-on-all") { Description = "loss on every token, not only the assistant's" };
        var seed = new Option<int>("--seed") { Description = "seed of the weights, the shuffling and the split", DefaultValueFactory = _ => 1 };
        var backend = CliOptions.Backend();
        var saveEvery = new Option<int>("--save-every") { Description = "write a resumable checkpoint every N steps (0: only when stopped early)", DefaultValueFactory = _ => 100 };
        var saveLimit = new Option<int>("--save-limit") { Description = "keep this many newest checkpoints", DefaultValueFactory = _ => 2 };
        var resume = new Option<DirectoryInfo?>("--resume") { Description = "continue a run exactly from a checkpoint-N directory, or from the newest one in a run's --out directory" };
        var output = new Option<string>("--out") { Description = "directory for metrics.jsonl, TensorBoard events, loss-curve.png, summary.json and the model or adapter", DefaultValueFactory = _ => "runs/sft" };
        var forgetData = new Option<FileInfo?>("--forget-data") { Description = "held-out text of another domain (JSONL) whose loss measures forgetting; default for the built-in model: unseen stories of its pretraining corpus" };
        var lora = new LoraCliOptions();

        var command = new Command("sft", "Supervised fine-tuning (the embedded default: a tiny model learns TinyChat)")
            { modelDir, chatTemplate, data, evalData, valSplit, steps, batch, accumulate, maxLen, lr, warmup, schedule, evalEvery, pretrain, trainOnAll, seed, backend, saveEvery, saveLimit, resume, output, forgetData };
        lora.AddTo(command);
        command.SetAction(r => Run(new Settings(r.GetValue(modelDir), r.GetValue(chatTemplate), r.GetValue(data), r.GetValue(evalData), r.GetValue(valSplit), r.GetValue(steps), r.GetValue(batch), r.GetValue(accumulate),
            r.GetValue(maxLen), r.GetValue(lr), r.GetValue(warmup), r.GetValue(schedule), r.GetValue(evalEvery), r.GetValue(pretrain),
            r.GetValue(trainOnAll), r.GetValue(seed), r.GetValue(backend)!, r.GetValue(saveEvery), r.GetValue(saveLimit), r.GetValue(resume), r.GetValue(output)!,
            r.GetValue(forgetData), lora.Read(r))));
        return command;
    }

    private sealed record Settings(DirectoryInfo? Model, string? ChatTemplate, FileInfo? Data, FileInfo? EvalData, double ValSplit, int Steps, int Rows, int Accumulate, int MaxLen, float Lr, int Warmup,
        ScheduleKind Schedule, int EvalEvery, int PretrainSteps, bool TrainOnAll, int Seed, string Backend, int SaveEvery, int SaveLimit, DirectoryInfo? Resume, string Output,
        FileInfo? ForgetData, LoraConfig? Lora);

    private static int Run(Settings s)
    {
        var (checkpoint, resumed, resumeAdapter, modelDir, builtIn) = Origin.Of(s);
        using var backend = BackendChoice.Create(s.Backend);
        using var model = modelDir is null
            ? new Transformer(backend, Presets.TinyLlama(new ByteChatTokenizer().VocabSize, s.MaxLen), s.Seed)
            : HfCheckpoint.Load(modelDir, backend);
        var template = modelDir is null ? ChatTemplate.ByName(s.ChatTemplate ?? "chatml", new ByteChatTokenizer()) : PretrainedTemplate(modelDir, s.ChatTemplate, model);
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
        Console.WriteLine($"data: {Describe(train.Stats)} for training; {evalExamples.Count} held out; template {template.Kind}, " +
                          $"loss on {(s.TrainOnAll ? "every token" : "assistant tokens")}, rows of {s.MaxLen} packed best-fit decreasing");

        Console.WriteLine($"model: {modelDir ?? "built-in"}, {model.Config.Family}, {model.ParameterCount:N0} parameters; backend: {backend.Name}");
        if (modelDir is null) Pretrain(model, s);
        string? baseModel = AttachLora(model, s, resumeAdapter ? checkpoint : null, modelDir, WriteTokenizer);
        var other = OtherDomain(s, builtIn, template);
        var shown = evalExamples.Where(e => e.Turns.Count(t => t.Role == ChatRole.Assistant) == 1).Take(3).ToList();
        var before = shown.Select(e => Evaluation.Answer(model, template, Evaluation.SplitLastAnswer(e).Prompt, 40)).ToList();
        // A resumed run keeps the scores of the model its run started from (a checkpoint of an older engine has none: measured now).
        var start = resumed?.Before ?? new Baseline(Evaluation.MeanLoss(model, eval.Epoch(0, s.Rows, s.Seed)),
            Evaluation.ExactMatch(model, template, evalExamples.Take(ExactMatchExamples), 40),
            other is null ? double.NaN : Evaluation.MeanLoss(model, other.Epoch(0, s.Rows, s.Seed)));

        using var trainer = new Trainer(model, new OptimizerConfig(), new LearningRateSchedule(s.Schedule, s.Lr, s.Warmup, s.Steps));
        long consumed = checkpoint is null ? 0 : TrainingCheckpoint.Restore(checkpoint, trainer, backend).MicroBatchesConsumed;
        if (checkpoint is not null) Console.WriteLine($"resuming {checkpoint}: step {trainer.StepCount}, {consumed} micro-batches consumed");
        using var metrics = new MetricsLog(s.Output, resume: checkpoint is not null);
        if (checkpoint is null) metrics.Eval(0, start.TargetLoss);
        string SaveCheckpoint() => TrainingCheckpoint.Save(s.Output, model, trainer, new TrainingState(trainer.StepCount, consumed, s.Seed, builtIn, start), s.SaveLimit, WriteTokenizer, baseModel);
        Console.WriteLine($"eval loss before: {start.TargetLoss:F4}");
        using var progress = new Progress(trainer.StepCount + 1, s.Steps, logEvery: 10);
        using var batches = Forever(train, s).Skip((int)consumed).GetEnumerator();
        var stepClock = new Stopwatch();
        int stepsRun = 0;
        (int Step, double Loss) lastEval = (trainer.StepCount, double.NaN);
        for (int step = trainer.StepCount + 1; step <= s.Steps && !progress.StopRequested; step++)
        {
            var micro = new List<Batch>();
            for (int i = 0; i < s.Accumulate && batches.MoveNext(); i++) micro.Add(batches.Current);
            consumed += micro.Count;
            stepClock.Start();
            var result = trainer.Step(micro);
            stepClock.Stop();
            stepsRun++;
            progress.Record(result);
            metrics.Train(result, progress.TokensPerSecond);
            bool evalNow = step % s.EvalEvery == 0 || step == s.Steps;
            double evalLoss = evalNow ? Evaluation.MeanLoss(model, eval.Epoch(0, s.Rows, s.Seed)) : double.NaN;
            if (evalNow)
            {
                metrics.Eval(step, evalLoss);
                lastEval = (step, evalLoss);
            }
            progress.Show(result, evalLoss);
            if ((s.SaveEvery > 0 && step % s.SaveEvery == 0) || progress.StopRequested) progress.WriteLine($"checkpoint: {SaveCheckpoint()}");
        }
        progress.Complete();

        Console.WriteLine();
        for (int i = 0; i < shown.Count; i++)
        {
            var (prompt, reference) = Evaluation.SplitLastAnswer(shown[i]);
            Console.WriteLine($"user:   {prompt.Last(t => t.Role == ChatRole.User).Content}");
            Console.WriteLine($"before: {before[i]}");
            Console.WriteLine($"after:  {Evaluation.Answer(model, template, prompt, 40)}");
            Console.WriteLine($"wanted: {reference}");
        }
        double exact = Evaluation.ExactMatch(model, template, evalExamples.Take(ExactMatchExamples), 40);
        string saved = SaveResult(model, s, baseModel, WriteTokenizer);
        var memory = MemoryReport.Of(model, trainer);
        // The loop evaluated the last step unless it stopped early.
        double targetAfter = lastEval.Step == trainer.StepCount && !double.IsNaN(lastEval.Loss) ? lastEval.Loss : Evaluation.MeanLoss(model, eval.Epoch(0, s.Rows, s.Seed));
        double otherAfter = other is null ? double.NaN : Evaluation.MeanLoss(model, other.Epoch(0, s.Rows, s.Seed));
        var summary = new FineTuneSummary(model.Lora is { } c ? $"LoRA r={c.Rank}" : "full", s.Lr, trainer.StepCount,
            stepsRun == 0 ? double.NaN : stepClock.Elapsed.TotalMilliseconds / stepsRun, memory,
            start.TargetLoss, targetAfter, start.ExactMatch, exact, Math.Min(ExactMatchExamples, evalExamples.Count),
            start.OtherLoss, otherAfter);
        summary.Write(s.Output);
        Console.WriteLine($"memory: {memory}");
        Console.WriteLine($"target: eval loss {summary.TargetLossBefore:F4} → {summary.TargetLossAfter:F4}, exact match {start.ExactMatch:P0} → {exact:P0} of {summary.ExactMatchExamples}" +
                          (other is null ? "" : $"; other domain (forgetting): loss {start.OtherLoss:F4} → {otherAfter:F4}"));
        Console.WriteLine($"saved {saved}; metrics in {s.Output} (summary.json), curve {metrics.SaveLossCurve("engine sft")}");
        return 0;
    }

    /// <summary>
    /// Where a run starts: a fresh run from --model (or the built-in model), or a checkpoint to resume: a full model directory, or a LoRA
    /// adapter (which holds the adapter only: its base is the model directory the adapter records, or --model, which must agree).
    /// A resume must keep the seed (it orders the data) and the LoRA settings.
    /// </summary>
    private sealed record Origin(string? Checkpoint, TrainingState? Resumed, bool ResumeAdapter, string? ModelDir, bool BuiltIn)
    {
        public static Origin Of(Settings s)
        {
            string? checkpoint = s.Resume is null ? null : TrainingCheckpoint.Find(s.Resume.FullName);
            var resumed = checkpoint is null ? null : TrainingCheckpoint.ReadState(checkpoint);
            if (resumed is not null && resumed.Seed != s.Seed)
                throw new ArgumentException($"{checkpoint} was trained with --seed {resumed.Seed}, which orders its data; resume it with that seed");
            bool resumeAdapter = checkpoint is not null && PeftAdapter.IsAdapter(checkpoint);
            if (checkpoint is not null && !resumeAdapter && s.Lora is not null)
                throw new ArgumentException($"{checkpoint} is a full fine-tuning checkpoint; resume it without --lora");
            if (resumeAdapter && s.Lora is { } asked && PeftAdapter.ReadConfig(checkpoint!) is var trained
                && (asked.Rank, asked.Alpha, asked.Dropout, asked.RsLora) != (trained.Rank, trained.Alpha, trained.Dropout, trained.RsLora))
                throw new ArgumentException($"{checkpoint} holds a LoRA adapter with r={trained.Rank} alpha={trained.Alpha} dropout={trained.Dropout} " +
                                            $"rslora={trained.RsLora}; resume it without other --lora options");
            string? modelDir = resumeAdapter ? AdapterBase(checkpoint!, s.Model) : checkpoint ?? s.Model?.FullName;
            return new Origin(checkpoint, resumed, resumeAdapter, modelDir, resumed?.BuiltInModel ?? s.Model is null);
        }
    }

    /// <summary>
    /// LoRA adapters from the checkpoint being resumed, or new ones for --lora; returns the base model directory adapters are recorded
    /// against: the model directory, or for the built-in model its base, written once here as {out}/base (it exists nowhere else).
    /// </summary>
    private static string? AttachLora(Transformer model, Settings s, string? adapterCheckpoint, string? modelDir, Action<string> writeTokenizer)
    {
        string? baseModel = modelDir;
        if (adapterCheckpoint is not null) PeftAdapter.Load(model, adapterCheckpoint);
        else if (s.Lora is { } config)
        {
            if (modelDir is null)
            {
                baseModel = Path.GetFullPath(Path.Combine(s.Output, "base"));
                HfCheckpoint.Save(model, baseModel);
                writeTokenizer(baseModel);
            }
            model.AddLora(config, s.Seed);
        }
        if (model.Lora is { } l)
            Console.WriteLine($"LoRA: r={l.Rank} alpha={l.Alpha} (scale {l.Scale:G3}{(l.RsLora ? ", rsLoRA" : "")}) dropout={l.Dropout} on {model.Adapters.Count} modules " +
                              $"({string.Join(",", l.Targets)}); {model.TrainableParameters.Sum(p => p.Value.Length):N0} trainable parameters, the base frozen");
        return baseModel;
    }

    /// <summary>Held-out examples answered greedily for the exact-match score, before and after.</summary>
    private const int ExactMatchExamples = 32;

    /// <summary>The result: a full fine-tune as a model directory {out}/model; a LoRA run as a PEFT adapter {out}/adapter on its base.</summary>
    private static string SaveResult(Transformer model, Settings s, string? baseDir, Action<string> writeTokenizer)
    {
        if (model.Adapters.Count == 0)
        {
            string dir = Path.Combine(s.Output, "model");
            HfCheckpoint.Save(model, dir);
            writeTokenizer(dir);
            return $"model to {dir}";
        }
        string adapter = Path.Combine(s.Output, "adapter");
        PeftAdapter.Save(model, adapter, baseDir);
        writeTokenizer(adapter);
        return $"adapter to {adapter} (base {baseDir}; `engine merge --model {baseDir} --adapter {adapter} --out DIR` makes one model)";
    }

    /// <summary>The base model directory of a LoRA checkpoint: the one its adapter_config.json records, or --model, which must agree.</summary>
    private static string AdapterBase(string checkpoint, DirectoryInfo? model)
    {
        string? recorded = PeftAdapter.BaseModelDirectory(checkpoint);
        if (model is null)
            return recorded ?? throw new ArgumentException($"{checkpoint} holds a LoRA adapter whose base model directory is not recorded or is gone; give it with --model");
        if (recorded is not null && Path.GetFullPath(recorded) != Path.GetFullPath(model.FullName))
            throw new ArgumentException($"{checkpoint} holds a LoRA adapter of {recorded}, not of --model {model.FullName}");
        return model.FullName;
    }

    /// <summary>Text of another domain whose loss shows forgetting: --forget-data, or for the built-in model unseen stories of its corpus.</summary>
    private static SftDataset? OtherDomain(Settings s, bool builtIn, ChatTemplate template)
    {
        if (s.ForgetData is not null) return SftDataset.FromExamples(SftJsonl.Read(s.ForgetData.FullName), template, s.MaxLen, trainOnAll: true);
        if (!builtIn) return null;
        var stories = TinyCorpus.Generate(stories: 64, seed: 1_000_003).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return SftDataset.FromExamples(stories.Select((story, i) => SftExample.PlainText(story + "\n", $"story {i}")), template, s.MaxLen, trainOnAll: true);
    }

    /// <summary>The model directory's tokenizer and chat template; its vocabulary must fit the embedding.</summary>
    private static ChatTemplate PretrainedTemplate(string modelDir, string? templateName, Transformer model)
    {
        var pretrained = TokenizerLoader.FromDirectory(modelDir);
        if (pretrained.Tokenizer.VocabSize > model.Config.VocabSize)
            throw new ArgumentException($"the tokenizer in {modelDir} has {pretrained.Tokenizer.VocabSize} tokens but the model's embedding has {model.Config.VocabSize} rows");
        return ChatTemplate.Resolve(templateName, pretrained.Config.ChatTemplate, pretrained.Tokenizer);
    }

    private static (List<SftExample> Train, List<SftExample> Eval) LoadData(Settings s)
    {
        if (s.Data is null) return ([.. TinyChat.TrainSet(), .. TinyInstructions.TrainExamples()], s.EvalData is null ? TinyChat.HeldOutSet() : SftJsonl.Read(s.EvalData.FullName));
        var all = SftJsonl.Read(s.Data.FullName);
        if (s.EvalData is not null) return (all, SftJsonl.Read(s.EvalData.FullName));
        var (trainPart, evalPart) = DataSplit.ByFraction(all, s.ValSplit, s.Seed);
        return (trainPart, evalPart);
    }

    /// <summary>The embedded base model: a few seconds of next-byte prediction on the built-in corpus.</summary>
    private static void Pretrain(Transformer model, Settings s)
    {
        if (s.PretrainSteps <= 0) return;
        var corpus = new RandomWindows(new ByteChatTokenizer().Encode(TinyCorpus.Generate(stories: 4000)), s.Rows, Math.Min(128, s.MaxLen), s.Seed);
        using var trainer = new Trainer(model, new OptimizerConfig(), new LearningRateSchedule(ScheduleKind.Cosine, 3e-3f, 20, s.PretrainSteps));
        var clock = Stopwatch.StartNew();
        double loss = 0;
        for (int i = 0; i < s.PretrainSteps; i++) loss = trainer.Step([corpus.Next()]).Loss;
        Console.WriteLine($"base model: pretrained {s.PretrainSteps} steps on the built-in corpus in {clock.Elapsed.TotalSeconds:F1} s (loss {loss:F3})");
    }

    /// <summary>Epoch after epoch of packed batches, reshuffled each epoch.</summary>
    private static IEnumerable<Batch> Forever(SftDataset data, Settings s)
    {
        for (int epoch = 0; ; epoch++)
            foreach (var batch in data.Epoch(epoch, s.Rows, s.Seed)) yield return batch;
    }

    private static string Describe(DatasetStats d) =>
        $"{d.Examples} examples, {d.Tokens:N0} tokens ({d.TargetTokens:N0} with loss)" +
        (d.Truncated > 0 ? $", {d.Truncated} truncated ({d.TokensCut:N0} tokens cut)" : "") +
        (d.DroppedWithoutTargets > 0 ? $", {d.DroppedWithoutTargets} dropped with no target left" : "");
}

/// <summary>The LoRA options of engine sft (PEFT's LoraConfig by another name): off unless --lora is given.</summary>
internal sealed class LoraCliOptions
{
    private readonly Option<bool> _enabled = new("--lora") { Description = "train LoRA adapters instead of every weight (the base model frozen)" };
    private readonly Option<int> _rank = new("--lora-r") { Description = "LoRA rank r", DefaultValueFactory = _ => 8 };
    private readonly Option<float> _alpha = new("--lora-alpha") { Description = "LoRA alpha: the update is scaled by alpha/r (alpha/√r with --rslora)", DefaultValueFactory = _ => 16f };
    private readonly Option<float> _dropout = new("--lora-dropout") { Description = "dropout on each adapter's input while training", DefaultValueFactory = _ => 0f };
    private readonly Option<string> _targets = new("--lora-targets")
    {
        Description = "comma-separated module names (q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj; GPT-2: c_attn,c_proj,c_fc) or all-linear",
        DefaultValueFactory = _ => LoraConfig.AllLinear,
    };
    private readonly Option<bool> _rsLora = new("--rslora") { Description = "rank-stabilised scaling alpha/√r (Kalajdzievski 2023)" };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { _enabled, _rank, _alpha, _dropout, _targets, _rsLora }) command.Options.Add(option);
    }

    /// <summary>The config when --lora is given, else null; LoRA options without --lora are an error, not a silent full fine-tune.</summary>
    public LoraConfig? Read(ParseResult r)
    {
        if (!r.GetValue(_enabled))
        {
            var given = new Option[] { _rank, _alpha, _dropout, _targets, _rsLora }.Where(o => r.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToList();
            if (given.Count > 0) throw new ArgumentException($"{string.Join(", ", given)} configure LoRA: add --lora");
            return null;
        }
        return new LoraConfig(r.GetValue(_rank), r.GetValue(_alpha),
            r.GetValue(_targets)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), r.GetValue(_dropout), r.GetValue(_rsLora));
    }
}
