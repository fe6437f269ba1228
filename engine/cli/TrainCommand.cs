using System.CommandLine;
using Engine.Backends;
using Engine.Generation;
using Engine.Jobs;
using Engine.Models;
using Engine.Tokenizers;
using Engine.Training;

namespace Engine.Cli;

/// <summary>`engine train`: a tiny Llama-style model learns the generated corpus byte by byte, a prompt continued before and after.</summary>
public static class TrainCommand
{
    private const string Prompt = "Ada had five apples. Ada gave ";
    private const int SampleTokens = 60;

    public static Command Create()
    {
        var steps = new Option<int>("--steps") { Description = "optimizer steps", DefaultValueFactory = _ => 300 };
        var batch = new Option<int>("--batch") { Description = "rows per micro-batch", DefaultValueFactory = _ => 8 };
        var accumulate = new Option<int>("--grad-accum") { Description = "micro-batches per optimizer step", DefaultValueFactory = _ => 1 };
        var lr = new Option<float>("--lr") { Description = "peak learning rate", DefaultValueFactory = _ => CorpusPretraining.LearningRate };
        var warmup = new Option<int>("--warmup") { Description = "linear warmup steps", DefaultValueFactory = _ => CorpusPretraining.WarmupSteps };
        var seed = new Option<int>("--seed") { Description = "seed of the initial weights and the batches", DefaultValueFactory = _ => 1 };
        var logEvery = new Option<int>("--log-every") { Description = "print progress every N steps", DefaultValueFactory = _ => 10 };
        var backend = CliOptions.Backend();
        var precision = CliOptions.Precision();
        var output = new Option<string>("--out") { Description = "directory for metrics.jsonl, TensorBoard events and loss-curve.png", DefaultValueFactory = _ => "runs/train" };

        var command = new Command("train", "Pretrain a tiny model on the built-in corpus (a demo: next-byte prediction, a prompt continued before and after)")
            { steps, batch, accumulate, lr, warmup, seed, logEvery, backend, precision, output };
        command.SetAction(r => Run(new PretrainSettings
        {
            Steps = r.GetValue(steps), Rows = r.GetValue(batch), Accumulate = r.GetValue(accumulate), LearningRate = r.GetValue(lr),
            WarmupSteps = r.GetValue(warmup), Seed = r.GetValue(seed),
        }, r.GetValue(logEvery), r.GetValue(backend)!, r.GetValue(precision), r.GetValue(output)!));
        return command;
    }

    private static int Run(PretrainSettings settings, int logEvery, string backendName, string? precision, string outputDir)
    {
        using var backend = BackendChoice.Create(backendName, precision);
        using var model = new Transformer(backend, Presets.TinyLlama(Tokenizer.VocabSize, settings.WindowLength), settings.Seed);
        using var pretraining = new CorpusPretraining(model, settings);
        Console.WriteLine($"model: {model.Config.Family}, {model.ParameterCount:N0} parameters, {model.Config.Layers} layers, width {model.Config.Dim}; " +
                          $"corpus: {pretraining.CorpusTokens:N0} byte tokens; backend: {backend.Name}, matmuls {BackendChoice.PrecisionName(backend)}");
        Console.WriteLine($"before: {Prompt}{Sample(model)}");

        using var metrics = new MetricsLog(outputDir);
        metrics.Follow(pretraining.Loop);
        using var progress = new Progress(pretraining.Loop.FirstStep, settings.Steps, logEvery);
        progress.Follow(pretraining.Loop);
        var outcome = pretraining.Loop.Run(progress.Stop);
        progress.Complete();
        Console.WriteLine($"after:  {Prompt}{Sample(model)}");
        Console.WriteLine($"loss {outcome.First?.Loss ?? double.NaN:F4} -> {outcome.Last?.Loss ?? double.NaN:F4} in {pretraining.StepCount} steps, {progress.Elapsed.TotalSeconds:F1} s; " +
                          $"metrics in {outputDir}, curve {metrics.SaveLossCurve("engine train: tiny Llama on the built-in corpus")}");
        return 0;
    }

    private static string Sample(Transformer model)
        => Tokenizer.Decode(Generator.Generate(model, Tokenizer.Encode(Prompt), new SamplingOptions(MaxNewTokens: SampleTokens))).Split('\n')[0];

    private static readonly ByteChatTokenizer Tokenizer = new();
}
