using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Engine.Backends;
using Engine.Diagnostics;
using Engine.IO;
using Engine.Models;
using Engine.Training;

namespace Engine.Cli;

/// <summary>`engine bench step`: times whole training steps (forward, loss, backward, AdamW) after a warm-up, of a preset shape, a custom one,
/// or a Hugging Face config.json's (random weights), and accounts for the memory they hold.</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var preset = new Option<string?>("--preset") { Description = "i, ii or iii: the baseline shapes of DESIGN.md" };
        var modelDir = new Option<string?>("--model") { Description = "a Hugging Face model directory: the shape of its config.json, random weights (with --seq, --batch)" };
        var family = new Option<string>("--family") { Description = "gpt2 or llama (custom shapes)", DefaultValueFactory = _ => "gpt2" };
        var vocab = new Option<int>("--vocab") { Description = "vocabulary size (custom shapes)", DefaultValueFactory = _ => 512 };
        var seq = new Option<int>("--seq") { Description = "tokens per row (custom shapes, --model)", DefaultValueFactory = _ => 128 };
        var batch = new Option<int>("--batch") { Description = "rows per step (custom shapes, --model)", DefaultValueFactory = _ => 8 };
        var layers = new Option<int>("--layers") { Description = "blocks (custom shapes)", DefaultValueFactory = _ => 4 };
        var dim = new Option<int>("--dim") { Description = "model width (custom shapes)", DefaultValueFactory = _ => 128 };
        var heads = new Option<int>("--heads") { Description = "attention heads (custom shapes)", DefaultValueFactory = _ => 4 };
        var steps = new Option<int>("--steps") { Description = "timed steps", DefaultValueFactory = _ => 10 };
        var warmup = new Option<int>("--warmup") { Description = "untimed steps first (the JIT tiers hot loops up over the first ~20 steps)", DefaultValueFactory = _ => 25 };
        var backend = CliOptions.Backend();
        var precision = CliOptions.Precision();
        var profile = new Option<bool>("--profile") { Description = "also print the time of the timed steps by op (exact on the CPU backend)" };
        var json = new Option<FileInfo?>("--json") { Description = "also write the result, with every step's time, to this file" };
        var lora = new LoraCliOptions();

        var step = new Command("step", "Time full training steps (full fine-tuning, or LoRA with --lora)")
            { preset, modelDir, family, vocab, seq, batch, layers, dim, heads, steps, warmup, backend, precision, profile, json };
        lora.AddTo(step);
        step.SetAction(r =>
        {
            string? name = r.GetValue(preset), directory = r.GetValue(modelDir);
            if (name is not null && directory is not null) throw new ArgumentException("--preset and --model both give the shape: pick one");
            if (name is not null || directory is not null)
            {
                var custom = new Option[] { family, vocab, layers, dim, heads }.Where(o => r.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToList();
                if (custom.Count > 0) throw new ArgumentException($"{string.Join(", ", custom)} set a custom shape: {(name is null ? "--model" : "--preset")} gives the shape");
            }
            if (directory is not null)
            {
                var config = HfConfig.Read(Path.Combine(directory, HfConfig.FileName));
                int seqLen = r.GetValue(seq);
                if (seqLen < 1 || seqLen > config.ContextLength)
                    throw new ArgumentException($"--seq {seqLen} is outside 1..{config.ContextLength}, the context of {Path.Combine(directory, HfConfig.FileName)}");
                return Run(Path.GetFileName(Path.TrimEndingDirectorySeparator(directory)), config, r.GetValue(batch), seqLen,
                    r.GetValue(steps), r.GetValue(warmup), r.GetValue(backend)!, r.GetValue(precision), r.GetValue(profile), r.GetValue(json), lora.Read(r));
            }
            var shape = name is not null
                ? Presets.Bench(name)
                : r.GetValue(family) switch
                {
                    "gpt2" => ModelConfig.Gpt2(r.GetValue(vocab), r.GetValue(seq), r.GetValue(layers), r.GetValue(dim), r.GetValue(heads)),
                    "llama" => ModelConfig.Llama(r.GetValue(vocab), r.GetValue(seq), r.GetValue(layers), r.GetValue(dim), r.GetValue(heads), r.GetValue(heads), 4 * r.GetValue(dim)),
                    var f => throw new ArgumentException($"unknown family '{f}': expected gpt2 or llama"),
                };
            int rows = name is not null ? Presets.BenchBatch(name) : r.GetValue(batch);
            return Run(name ?? "custom", shape, rows, shape.ContextLength, r.GetValue(steps), r.GetValue(warmup), r.GetValue(backend)!,
                r.GetValue(precision), r.GetValue(profile), r.GetValue(json), lora.Read(r));
        });

        var bench = new Command("bench", "Benchmarks");
        bench.Subcommands.Add(step);
        bench.Subcommands.Add(KernelBenchCommand.Create());
        bench.Subcommands.Add(PtxCommand.Create());
        return bench;
    }

    private static int Run(string name, ModelConfig config, int rows, int seqLen, int steps, int warmup, string backendName, string? precisionName,
        bool profile, FileInfo? json, LoraConfig? lora)
    {
        var inner = BackendChoice.Create(backendName, precisionName);
        string precision = BackendChoice.PrecisionName(inner);
        using var backend = profile ? new ProfilingBackend(inner) : inner;
        using var model = new Transformer(backend, config, seed: 1);
        if (lora is not null) model.AddLora(lora, seed: 1);
        using var trainer = new Trainer(model, new OptimizerConfig(), new LearningRateSchedule(ScheduleKind.Constant, 1e-4f, 0, steps + warmup));
        int tokens = rows * seqLen;
        var batch = Batch.RandomTokens(rows, seqLen, config.VocabSize, seed: 1);

        Console.WriteLine($"preset {name}: {config.Family} V{config.VocabSize} T{seqLen} B{rows} L{config.Layers} C{config.Dim} H{config.Heads} " +
                          $"KV{config.KvHeads} F{config.FfnDim}{(config.QkvBias ? " qkv-bias" : "")}{(config.TiedEmbeddings ? " tied" : "")}, " +
                          $"{model.ParameterCount:N0} parameters, backend {backend.Name}, matmuls {precision}, {Environment.ProcessorCount} threads" +
                          (lora is null ? "" : $"; LoRA r={lora.Rank} on {model.Adapters.Count} modules ({string.Join(",", lora.Targets)})"));
        for (int i = 0; i < warmup; i++) trainer.Step([batch]);
        (backend as ProfilingBackend)?.Reset();
        var cpu = inner as CpuBackend;
        cpu?.ResetPeak();
        long? betweenSteps = cpu?.Memory.Live;
        var times = new List<double>();
        var losses = new List<double>();
        for (int i = 0; i < steps; i++)
        {
            var clock = Stopwatch.StartNew();
            var result = trainer.Step([batch]);
            times.Add(clock.Elapsed.TotalMilliseconds);
            losses.Add(result.Loss);
            Console.WriteLine($"step {i + 1,3}: {times[^1],9:F1} ms  loss {result.Loss:F4}");
        }
        double median = Median(times);
        if (backend is ProfilingBackend profiler)
        {
            double total = times.Sum();
            Console.WriteLine($"{"op",-24} {"ms/step",9} {"share",6} {"calls/step",10}");
            foreach (var (op, ms, calls) in profiler.Totals)
                Console.WriteLine($"{op,-24} {ms / steps,9:F1} {ms / total,6:P0} {calls / steps,10}");
            double inOps = profiler.Totals.Sum(t => t.Ms);
            Console.WriteLine($"{"(outside backend ops)",-24} {(total - inOps) / steps,9:F1} {(total - inOps) / total,6:P0}");
        }
        double tokensPerSecond = tokens / (median / 1000);
        var memory = MemoryReport.Of(model, trainer);
        Console.WriteLine($"memory: {memory}");
        var tensors = cpu?.Memory;
        long? activations = tensors?.Peak - betweenSteps;
        if (tensors is { } t)
        {
            long expected = memory.WeightBytes + memory.GradientBytes + memory.OptimizerBytes + activations!.Value;
            Console.WriteLine($"tensors: {MemoryReport.Mib(betweenSteps!.Value)} between steps, {MemoryReport.Mib(t.Peak)} at the peak of a step (activations and temporaries " +
                              $"{MemoryReport.Mib(activations.Value)}), {MemoryReport.Mib(t.Held)} held with the pool's free arrays; weights + gradients + optimizer state + " +
                              $"activations = {MemoryReport.Mib(expected)}, peak process memory {memory.PeakProcessBytes / (double)expected:F2}× that");
        }
        if (json is not null)
            File.WriteAllText(json.FullName, JsonSerializer.Serialize(new
            {
                preset = name, family = config.Family.ToString(), vocab = config.VocabSize, seq = seqLen, batch = rows,
                layers = config.Layers, dim = config.Dim, heads = config.Heads, kv_heads = config.KvHeads, ffn = config.FfnDim,
                qkv_bias = config.QkvBias, tied = config.TiedEmbeddings, parameters = model.ParameterCount,
                backend = backend.Name, precision, threads = Environment.ProcessorCount, lora_rank = lora?.Rank,
                trainable_parameters = memory.TrainableParameters, weight_bytes = memory.WeightBytes, gradient_bytes = memory.GradientBytes,
                optimizer_bytes = memory.OptimizerBytes, peak_process_bytes = memory.PeakProcessBytes,
                tensor_bytes_between_steps = betweenSteps, tensor_bytes_peak = tensors?.Peak, activation_bytes = activations, tensor_bytes_held = tensors?.Held,
                step_ms_median = median, tokens_per_s = tokensPerSecond, step_ms = times, warmup_steps = warmup, losses,
            }, new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"preset={name} params={model.ParameterCount} step_ms_median={median:F1} tokens_per_s={tokensPerSecond:F0}");
        return 0;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
