using System.CommandLine;
using Engine.Backends;
using Engine.Data;
using Engine.Generation;
using Engine.Models;
using Engine.Tokenizers;
using Engine.Training;

namespace Engine.Cli;

/// <summary>`engine train`: the main job's embedded default: a tiny Llama-style model learns the generated corpus byte by byte.</summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var steps = new Option<int>("--steps") { Description = "optimizer steps", DefaultValueFactory = _ => 300 };
        var batch = new Option<int>("--batch") { Description = "rows per micro-batch", DefaultValueFactory = _ => 8 };
        var accumulate = new Option<int>("--grad-accum") { Description = "micro-batches per optimizer step", DefaultValueFactory = _ => 1 };
        var lr = new Option<float>("--lr") { Description = "peak learning rate", DefaultValueFactory = _ => 3e-3f };
        var warmup = new Option<int>("--warmup") { Description = "linear warmup steps", DefaultValueFactory = _ => 20 };
        var seed = new Option<int>("--seed") { Description = "seed of the initial weights and the batches", DefaultValueFactory = _ => 1 };
        var logEvery = new Option<int>("--log-every") { Description = "print progress every N steps", DefaultValueFactory = _ => 10 };
        var backend = CliOptions.Backend();
        var output = new Option<string>("--out") { Description = "directory for metrics.jsonl, TensorBoard events and loss-curve.png", DefaultValueFactory = _ => "runs/train" };

        var command = new Command("train", "Pretrain a tiny model on the built-in corpus (a demo: next-byte prediction, a prompt continued before and after)")
            { steps, batch, accumulate, lr, warmup, seed, logEvery, backend, output };
        command.SetAction(r => Run(r.GetValue(steps), r.GetValue(batch), r.GetValue(accumulate), r.GetValue(lr),
            r.GetValue(warmup), r.GetValue(seed), r.GetValue(logEvery), r.GetValue(backend)!, r.GetValue(output)!));
        return command;
    }

    private static int Run(int steps, int rows, int accumulate, float lr, int warmup, int seed, int logEvery, string backendName, string outputDir)
    {
        var config = Presets.TinyLlama(Tokenizer.VocabSize);
        int[] tokens = Tokenizer.Encode(TinyCorpus.Generate(stories: 4000));
        using var backend = BackendChoice.Create(backendName);
        using var model = new Transformer(backend, config, seed);
        using var trainer = new Trainer(model, new OptimizerConfig(), new LearningRateSchedule(ScheduleKind.Cosine, lr, warmup, steps));
        var batches = new RandomWindows(tokens, rows, config.ContextLength, seed);

        Console.WriteLine($"model: {config.Family}, {model.ParameterCount:N0} parameters, {config.Layers} layers, width {config.Dim}; " +
                          $"corpus: {tokens.Length:N0} byte tokens; backend: {backend.Name}");
        const string prompt = "Ada had five apples. Ada gave ";
        Console.WriteLine($"before: {prompt}{Sample(model, prompt)}");

        using var metrics = new MetricsLog(outputDir);
        using var progress = new Progress(1, steps, logEvery);
        double firstLoss = double.NaN, lastLoss = double.NaN;
        for (int s = 1; s <= steps && !progress.StopRequested; s++)
        {
            var micro = Enumerable.Range(0, accumulate).Select(_ => batches.Next()).ToArray();
            var result = trainer.Step(micro);
            progress.Record(result);
            if (s == 1) firstLoss = result.Loss;
            lastLoss = result.Loss;
            metrics.Train(result, progress.TokensPerSecond);
            progress.Show(result);
        }
        progress.Complete();
        Console.WriteLine($"after:  {prompt}{Sample(model, prompt)}");
        Console.WriteLine($"loss {firstLoss:F4} -> {lastLoss:F4} in {trainer.StepCount} steps, {progress.Elapsed.TotalSeconds:F1} s; " +
                          $"metrics in {outputDir}, curve {metrics.SaveLossCurve("engine train: tiny Llama on the built-in corpus")}");
        return 0;
    }

    private static string Sample(Transformer model, string prompt)
        => Tokenizer.Decode(Generator.Generate(model, Tokenizer.Encode(prompt), new SamplingOptions(MaxNewTokens: 60))).Split('\n')[0];

    private static readonly ByteChatTokenizer Tokenizer = new();
}
