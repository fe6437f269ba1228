using System.CommandLine;
using Engine.Jobs;
using Engine.Training;

namespace Engine.Cli;

/// <summary>
/// `engine sft`: supervised fine-tuning on chat data with the loss on assistant tokens only (<see cref="SftJob"/>). With no files it runs
/// the embedded default: a tiny byte-level Llama-style base model, pretrained here for a few seconds on the built-in corpus, is
/// fine-tuned on the built-in TinyChat conversations, and answers held-out questions before and after.
/// </summary>
public static class SftCommand
{
    private static readonly SftSettings Defaults = new();

    public static Command Create()
    {
        var modelDir = new Option<DirectoryInfo?>("--model") { Description = "Hugging Face model directory (config.json, model.safetensors, tokenizer.json); default: the built-in tiny byte-level model" };
        var chatTemplate = ModelOptions.ChatTemplate();
        var data = new Option<FileInfo?>("--data") { Description = "training conversations (JSONL or .parquet: messages, prompt/completion, Alpaca or text); default: the built-in TinyChat set" };
        var evalData = new Option<FileInfo?>("--eval-data") { Description = "held-out conversations (JSONL or .parquet); default: TinyChat's held-out set, or --val-split of --data" };
        var valSplit = new Option<double>("--val-split") { Description = "fraction of --data held out (seeded) when no --eval-data is given", DefaultValueFactory = _ => Defaults.ValSplit };
        var steps = new Option<int>("--steps") { Description = "optimizer steps", DefaultValueFactory = _ => Defaults.Steps };
        var batch = new Option<int>("--batch") { Description = "packed rows per micro-batch", DefaultValueFactory = _ => Defaults.Rows };
        var accumulate = new Option<int>("--grad-accum") { Description = "micro-batches per optimizer step", DefaultValueFactory = _ => Defaults.Accumulate };
        var maxLen = new Option<int>("--max-len") { Description = "tokens per packed row; longer examples are truncated (and counted)", DefaultValueFactory = _ => Defaults.MaxLen };
        var lr = new Option<float>("--lr") { Description = "peak learning rate", DefaultValueFactory = _ => Defaults.LearningRate };
        var warmup = new Option<int>("--warmup") { Description = "linear warmup steps", DefaultValueFactory = _ => Defaults.WarmupSteps };
        var schedule = new Option<ScheduleKind>("--schedule") { Description = "learning-rate decay after warmup", DefaultValueFactory = _ => Defaults.Schedule };
        var evalEvery = new Option<int>("--eval-every") { Description = "evaluation loss every N steps", DefaultValueFactory = _ => Defaults.EvalEvery };
        var pretrain = new Option<int>("--pretrain-steps") { Description = "steps of pretraining on the built-in corpus that make the embedded base model", DefaultValueFactory = _ => Defaults.PretrainSteps };
        var trainOnAll = new Option<bool>("--train-on-all") { Description = "loss on every token, not only the assistant's" };
        var seed = new Option<int>("--seed") { Description = "seed of the weights, the shuffling and the split", DefaultValueFactory = _ => Defaults.Seed };
        var backend = CliOptions.Backend();
        var precision = CliOptions.Precision();
        var saveEvery = new Option<int>("--save-every") { Description = "write a resumable checkpoint every N steps (0: only when stopped early)", DefaultValueFactory = _ => Defaults.SaveEvery };
        var saveLimit = new Option<int>("--save-limit") { Description = "keep this many newest checkpoints", DefaultValueFactory = _ => Defaults.SaveLimit };
        var resume = new Option<DirectoryInfo?>("--resume") { Description = "continue a run exactly from a checkpoint-N directory, or from the newest one in a run's --out directory" };
        var output = new Option<string>("--out") { Description = "directory for metrics.jsonl, TensorBoard events, loss-curve.png, summary.json and the model or adapter", DefaultValueFactory = _ => Defaults.Output };
        var forgetData = new Option<FileInfo?>("--forget-data") { Description = "held-out text of another domain (JSONL or .parquet) whose loss measures forgetting; default for the built-in model: unseen stories of its pretraining corpus" };
        var lora = new LoraCliOptions();

        var command = new Command("sft", "Supervised fine-tuning (the embedded default: a tiny model learns TinyChat)")
            { modelDir, chatTemplate, data, evalData, valSplit, steps, batch, accumulate, maxLen, lr, warmup, schedule, evalEvery, pretrain, trainOnAll, seed, backend, precision, saveEvery, saveLimit, resume, output, forgetData };
        lora.AddTo(command);
        command.SetAction(r =>
        {
            var settings = new SftSettings
            {
                Model = r.GetValue(modelDir)?.FullName, ChatTemplate = r.GetValue(chatTemplate), Data = r.GetValue(data)?.FullName, EvalData = r.GetValue(evalData)?.FullName,
                ValSplit = r.GetValue(valSplit), Steps = r.GetValue(steps), Rows = r.GetValue(batch), Accumulate = r.GetValue(accumulate), MaxLen = r.GetValue(maxLen),
                LearningRate = r.GetValue(lr), WarmupSteps = r.GetValue(warmup), Schedule = r.GetValue(schedule), EvalEvery = r.GetValue(evalEvery),
                PretrainSteps = r.GetValue(pretrain), TrainOnAll = r.GetValue(trainOnAll), Seed = r.GetValue(seed), Backend = r.GetValue(backend)!, Precision = r.GetValue(precision),
                SaveEvery = r.GetValue(saveEvery), SaveLimit = r.GetValue(saveLimit), Resume = r.GetValue(resume)?.FullName, Output = r.GetValue(output)!,
                ForgetData = r.GetValue(forgetData)?.FullName, Lora = lora.Read(r),
            };
            using var console = new SftConsole(settings);
            console.Finished(SftJob.Run(settings, console));
            return 0;
        });
        return command;
    }
}
