using System.Diagnostics;
using System.Text.Json;
using Engine.Backends;
using Engine.Models;
using Engine.Tensors;
using Engine.Training;

namespace Engine.Diagnostics;

/// <summary>
/// The shapes the kernel benchmark times. Gpu: issue 3's targets (fp32 and bf16 matmul 4096³, attention B8 H12 T1024 D64, the LM head
/// + cross-entropy over 8192 rows of a 50257 vocabulary at width 768, elementwise ops at GPT-2's 8192 × 768 and × 3072, AdamW over
/// 2²⁷ parameters, a GPT-2 124M training step at B8 T1024). Cpu: the same ops at sizes two cores finish in about a minute.
/// Tiny: seconds on ILGPU's CPU simulator (tests).
/// </summary>
public sealed record KernelBenchSizes(string Name, int MatMul, int AttentionBatch, int SeqLen, int Heads, int HeadDim, int Tokens, int Width,
    int Vocab, int HeadRows, int Parameters, int CopyElements, ModelConfig StepModel, int StepBatch)
{
    public static KernelBenchSizes Gpu { get; } = new("gpu", MatMul: 4096, AttentionBatch: 8, SeqLen: 1024, Heads: 12, HeadDim: 64, Tokens: 8192,
        Width: 768, Vocab: 50257, HeadRows: 8192, Parameters: 1 << 27, CopyElements: 1 << 27, ModelConfig.Gpt2(50257, 1024, 12, 768, 12), StepBatch: 8);

    public static KernelBenchSizes Cpu { get; } = new("cpu", MatMul: 1024, AttentionBatch: 1, SeqLen: 256, Heads: 12, HeadDim: 64, Tokens: 1024,
        Width: 768, Vocab: 50257, HeadRows: 64, Parameters: 1 << 22, CopyElements: 1 << 24, Presets.Bench("i"), StepBatch: 8);

    public static KernelBenchSizes Tiny { get; } = new("tiny", MatMul: 64, AttentionBatch: 1, SeqLen: 32, Heads: 2, HeadDim: 16, Tokens: 16,
        Width: 32, Vocab: 101, HeadRows: 8, Parameters: 4096, CopyElements: 4096, ModelConfig.Gpt2(64, 16, 1, 32, 2), StepBatch: 2);

    public static KernelBenchSizes Named(string name) => name switch
    {
        "gpu" => Gpu,
        "cpu" => Cpu,
        "tiny" => Tiny,
        _ => throw new ArgumentException($"unknown benchmark size '{name}': expected gpu, cpu or tiny"),
    };
}

/// <summary>How long to time each op: untimed runs first (ILGPU compiles a kernel at its first launch), then up to Repeats samples, each
/// of enough back-to-back runs to last MinSampleMs, while the op's time budget lasts (at least three samples).</summary>
public sealed record KernelBenchOptions(int Warmup = 2, int Repeats = 20, double MaxSecondsPerOp = 3, double MinSampleMs = 1);

/// <summary>One timed op: the median milliseconds per run and the FLOPs and bytes one run must do (Failure when it threw).</summary>
public sealed record KernelBenchRow(string Op, string Shape, double? Ms, double Flops, double Bytes, int Samples, double Tokens = 0, string? Failure = null)
{
    public double? GflopsPerSecond => Ms > 0 && Flops > 0 ? Flops / (Ms.Value * 1e6) : null;
    public double? GBytesPerSecond => Ms > 0 && Bytes > 0 ? Bytes / (Ms.Value * 1e6) : null;
    public double? TokensPerSecond => Ms > 0 && Tokens > 0 ? Tokens / (Ms.Value / 1000) : null;
}

/// <summary>
/// Times the benchmark cases of every <see cref="OpCases"/> entry, then a whole training step, after warm-up, synchronising by downloading
/// one element (the ILGPU backend's Download waits for the device; the CPU backend's ops are synchronous). FLOPs and bytes are the least
/// work each op must do, so GFLOP/s and GB/s compare with the card's ceilings.
/// </summary>
public static class KernelBench
{
    /// <summary>Times every op (or those <paramref name="include"/> accepts), reporting each row as it completes.</summary>
    public static IReadOnlyList<KernelBenchRow> Run(IBackend backend, KernelBenchSizes sizes, KernelBenchOptions options,
        Func<string, bool>? include = null, Action<KernelBenchRow>? report = null)
    {
        var rows = new List<KernelBenchRow>();
        var one = new float[1];
        int seed = 1;
        foreach (var c in OpCases.Families.SelectMany(family => family.Bench(sizes, backend as IlgpuBackend)).Append(Gpt2Step(sizes)))
        {
            seed++;
            if (include is not null && !include(c.Op)) continue;
            KernelBenchRow row;
            try
            {
                using var scope = new TensorScope(backend, seed, distinctValues: 1 << 20);
                var run = c.Setup(scope);
                var marker = scope.Own(backend.Allocate(DType.F32, 1));
                var (ms, samples) = Time(run, () => backend.Download(marker, one), options);
                row = new KernelBenchRow(c.Op, c.Shape, ms, c.Flops, c.Bytes, samples, c.Tokens);
            }
            catch (Exception e)
            {
                row = new KernelBenchRow(c.Op, c.Shape, null, c.Flops, c.Bytes, 0, c.Tokens, $"{e.GetType().Name}: {e.Message}");
            }
            rows.Add(row);
            report?.Invoke(row);
        }
        return rows;
    }

    public static string Header => $"{"op",-20} {"shape",-36} {"ms",10} {"GFLOP/s",9} {"GB/s",8}  notes";

    public static string Format(KernelBenchRow r)
    {
        static string Number(double? value, string format) => value is { } v ? v.ToString(format) : "-";
        string notes = r.Failure ?? (r.TokensPerSecond is { } tps ? $"{tps:N0} tokens/s" : "");
        return $"{r.Op,-20} {r.Shape,-36} {Number(r.Ms, "F3"),10} {Number(r.GflopsPerSecond, "F1"),9} {Number(r.GBytesPerSecond, "F1"),8}  {notes}";
    }

    public static string ToJson(string backend, KernelBenchSizes sizes, IReadOnlyList<KernelBenchRow> rows) => JsonSerializer.Serialize(new
    {
        source = "engine",
        backend,
        sizes = sizes.Name,
        results = rows.Select(r => new
        {
            op = r.Op, shape = r.Shape, ms = r.Ms, flops = r.Flops, bytes = r.Bytes, gflops = r.GflopsPerSecond, gbps = r.GBytesPerSecond,
            tokens_per_s = r.TokensPerSecond, samples = r.Samples, error = r.Failure,
        }),
    }, new JsonSerializerOptions { WriteIndented = true });

    /// <summary>Median milliseconds per run, and the samples taken.</summary>
    private static (double Ms, int Samples) Time(Action run, Action sync, KernelBenchOptions o)
    {
        const int MinSamples = 3;
        for (int i = 0; i < Math.Max(1, o.Warmup); i++) run();
        sync();
        var clock = Stopwatch.StartNew();
        run();
        sync();
        double once = clock.Elapsed.TotalMilliseconds;
        int inner = (int)Math.Clamp(Math.Ceiling(o.MinSampleMs / Math.Max(once, 1e-3)), 1, 1000);
        var samples = new List<double>();
        var budget = Stopwatch.StartNew();
        while (samples.Count < Math.Max(MinSamples, o.Repeats) && (samples.Count < MinSamples || budget.Elapsed.TotalSeconds < o.MaxSecondsPerOp))
        {
            clock.Restart();
            for (int i = 0; i < inner; i++) run();
            sync();
            samples.Add(clock.Elapsed.TotalMilliseconds / inner);
        }
        samples.Sort();
        int mid = samples.Count / 2;
        return (samples.Count % 2 == 1 ? samples[mid] : (samples[mid - 1] + samples[mid]) / 2, samples.Count);
    }

    /// <summary>A whole GPT-2 training step (forward, fused LM head, backward, clipping, AdamW) at the sizes' model and batch.</summary>
    private static BenchCase Gpt2Step(KernelBenchSizes s)
    {
        var model = s.StepModel;
        int stepTokens = s.StepBatch * model.ContextLength;
        // 6 FLOPs per token per matmul weight (forward 2, backward 4; the tied head counts once, positions are no matmul), plus attention.
        double matmulWeights = (double)model.Layers * (4.0 * model.Dim * model.Dim + 2.0 * model.Dim * model.FfnDim) + (double)model.VocabSize * model.Dim;
        double stepFlops = 6 * matmulWeights * stepTokens
            + model.Layers * 3.5 * 2.0 * s.StepBatch * model.Heads * model.ContextLength * model.ContextLength * model.HeadDim;
        return new("gpt2_step", $"L={model.Layers},C={model.Dim},H={model.Heads},V={model.VocabSize},B={s.StepBatch},T={model.ContextLength}",
            stepFlops, 0, t =>
            {
                var transformer = t.Own(new Transformer(t.Backend, model, seed: 1));
                var trainer = t.Own(new Trainer(transformer, new OptimizerConfig(), new LearningRateSchedule(ScheduleKind.Constant, 1e-4f, 0, int.MaxValue)));
                var batch = Batch.RandomTokens(s.StepBatch, model.ContextLength, model.VocabSize, seed: 1);
                return () => trainer.Step([batch]);
            }, Tokens: stepTokens);
    }
}
