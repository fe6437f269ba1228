using System.Diagnostics;
using System.Text.Json;
using Engine.Backends;
using Engine.Backends.Cpu;
using Engine.Backends.Ilgpu;
using Engine.Kernels;
using Engine.Models;
using Engine.Tensors;
using ILGPU;
using ILGPU.Runtime;
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
/// Times every kernel of a backend after warm-up, synchronising by downloading one element (the ILGPU backend's Download waits for
/// the device; the CPU backend's ops are synchronous). FLOPs and bytes are counted per op as the least work it must do: each input read
/// once, each output written once (an accumulated gradient is read and written), so GFLOP/s and GB/s compare with the card's ceilings.
/// Op names and shape strings are the keys bench/gpu/torch_baseline.py writes too.
/// </summary>
public static class KernelBench
{
    private const double Float = sizeof(float);

    private sealed record BenchCase(string Op, string Shape, double Flops, double Bytes, Func<TensorScope, Action> Setup, double Tokens = 0);

    /// <summary>Times every op (or those <paramref name="include"/> accepts), reporting each row as it completes.</summary>
    public static IReadOnlyList<KernelBenchRow> Run(IBackend backend, KernelBenchSizes sizes, KernelBenchOptions options,
        Func<string, bool>? include = null, Action<KernelBenchRow>? report = null)
    {
        var rows = new List<KernelBenchRow>();
        var one = new float[1];
        int seed = 1;
        foreach (var c in Cases(backend, sizes))
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

    private static IEnumerable<BenchCase> Cases(IBackend backend, KernelBenchSizes s)
    {
        var ilgpu = backend as IlgpuBackend;
        int m = s.MatMul, n = s.Tokens, c = s.Width, f = 4 * s.Width, r = s.HeadRows, v = s.Vocab;
        double mm = (double)m * m, nc = (double)n * c, nf = (double)n * f, logits = (double)r * v;
        string tokens = $"N={n},C={c}", hidden = $"N={n},C={f}";

        yield return new("copy", $"N={s.CopyElements}", 0, 2 * Float * s.CopyElements, t =>
        {
            var (src, dst) = (t.Uniform(s.CopyElements), t.Uniform(s.CopyElements));
            return () => t.Backend.Copy(dst, src);
        });

        string matmul = $"n={m},in={m},out={m}";
        yield return new("matmul_fp32_fwd", matmul, 2 * mm * m, 3 * Float * mm, t =>
        {
            var (x, w, y) = (t.Uniform(m, m), t.Uniform(m, m), t.Uniform(m, m));
            return () => t.Backend.MatMulForward(y, x, w, null, m, m, m);
        });
        yield return new("matmul_fp32_bwd", matmul, 4 * mm * m, 7 * Float * mm, t =>
        {
            var (x, w, dy, dx, dw) = (t.Uniform(m, m), t.Uniform(m, m), t.Uniform(m, m), t.Uniform(m, m), t.Uniform(m, m));
            return () => t.Backend.MatMulBackward(dx, dw, null, dy, x, w, m, m, m);
        });
        if (ilgpu is not null)
            yield return new("matmul_bf16_fwd", matmul, 2 * mm * m, (2 * 2 + Float) * mm, t =>
            {
                var accelerator = ilgpu.Accelerator;
                ushort[] Bits()
                {
                    var bits = new ushort[m * m];
                    Bf16.FromFloat(t.Values(m * m), bits);
                    return bits;
                }
                var (x, w) = (t.Own(accelerator.Allocate1D(Bits())), t.Own(accelerator.Allocate1D(Bits())));
                var y = t.Uniform(m, m);
                var kernels = new MatMul(accelerator);
                return () => kernels.ForwardBf16(IlgpuBackend.F(y), x.AsContiguous(), w.AsContiguous(), m, m, m);
            });

        var a = new AttentionShape(s.AttentionBatch, s.SeqLen, s.Heads, s.Heads, s.HeadDim);
        double qSize = (double)a.Batch * a.SeqLen * a.Heads * a.HeadDim, lseSize = (double)a.Batch * a.Heads * a.SeqLen;
        double attentionFlops = 2.0 * a.Batch * a.Heads * a.SeqLen * a.SeqLen * a.HeadDim; // 4·B·H·T²·D, halved by the causal mask
        string attention = $"B={a.Batch},T={a.SeqLen},H={a.Heads},D={a.HeadDim}";
        Tensor[] AttentionInputs(TensorScope t) =>
        [
            t.Scaled(2, a.Batch, a.SeqLen, a.Heads, a.HeadDim), t.Scaled(2, a.Batch, a.SeqLen, a.Heads, a.HeadDim),
            t.Uniform(a.Batch, a.SeqLen, a.Heads, a.HeadDim), t.Ints(new int[a.Batch * a.SeqLen]),
            t.Uniform(a.Batch, a.SeqLen, a.Heads, a.HeadDim), t.Uniform(a.Batch, a.Heads, a.SeqLen),
        ];
        yield return new("attention_fwd", attention, attentionFlops, Float * (4 * qSize + lseSize), t =>
        {
            var x = AttentionInputs(t);
            return () => t.Backend.AttentionForward(x[4], x[5], x[0], x[1], x[2], x[3], a);
        });
        yield return new("attention_bwd", attention, 2.5 * attentionFlops, Float * (11 * qSize + lseSize), t =>
        {
            var x = AttentionInputs(t);
            t.Backend.AttentionForward(x[4], x[5], x[0], x[1], x[2], x[3], a);
            var (dOut, dq, dk, dv) = (t.Uniform(a.Batch, a.SeqLen, a.Heads, a.HeadDim), t.Uniform(a.Batch, a.SeqLen, a.Heads, a.HeadDim),
                t.Uniform(a.Batch, a.SeqLen, a.Heads, a.HeadDim), t.Uniform(a.Batch, a.SeqLen, a.Heads, a.HeadDim));
            return () => t.Backend.AttentionBackward(dq, dk, dv, dOut, x[4], x[5], x[0], x[1], x[2], x[3], a);
        });

        // The fused LM head + cross-entropy: three matmuls of r × c × v; its bytes are the logits, written once and read once.
        yield return new("cross_entropy_fused", $"rows={r},C={c},V={v}", 6.0 * r * c * v, 2 * Float * logits, t =>
        {
            var (x, w, dx, dw, targets) = (t.Uniform(r, c), t.Scaled(0.1f, v, c), t.Uniform(r, c), t.Uniform(v, c), t.Ints(r, v));
            return () => t.Backend.CrossEntropyForwardBackward(dx, dw, x, w, targets, r, c, v, 1f / r);
        });
        // The softmax/loss/gradient pass alone over materialised logits (in place): read once, written once.
        if (ilgpu is not null)
            yield return new("cross_entropy_rows", $"rows={r},V={v}", 0, 2 * Float * logits, t =>
            {
                var (z, loss, targets) = (t.Scaled(8, r, v), t.Uniform(r), t.Ints(r, v));
                var kernels = new CrossEntropy(ilgpu.Accelerator);
                return () => kernels.SoftmaxRows(IlgpuBackend.F(loss), IlgpuBackend.F(z), IlgpuBackend.I(targets), r, v, wantGrad: true, 1f / r);
            });

        // LoRA on a frozen C × C weight (the usual fine-tune): forward x·Wᵀ, x·Aᵀ, h·Bᵀ; backward dB, dh, dA and dx = dy·W + dh·A.
        const int loraRank = 16;
        const float loraScale = 2f;
        double loraSide = (double)loraRank * c;
        string lora = $"n={n},in={c},out={c},r={loraRank}";
        yield return new("lora_fwd", lora, 2 * nc * c + 4 * nc * loraRank, Float * (2 * nc + (double)c * c + 2 * loraSide + (double)n * loraRank), t =>
        {
            var (x, w, loraA, loraB, y, h) = (t.Uniform(n, c), t.Uniform(c, c), t.Uniform(loraRank, c), t.Uniform(c, loraRank), t.Uniform(n, c), t.Uniform(n, loraRank));
            return () => t.Backend.LoraForward(y, h, x, w, null, loraA, loraB, loraScale, n, c, c, loraRank);
        });
        yield return new("lora_bwd", lora, 2 * nc * c + 8 * nc * loraRank, Float * (4 * nc + (double)c * c + 6 * loraSide + (double)n * loraRank), t =>
        {
            var (x, w, loraA, loraB, h) = (t.Uniform(n, c), t.Uniform(c, c), t.Uniform(loraRank, c), t.Uniform(c, loraRank), t.Uniform(n, loraRank));
            var (dy, dx, dLoraA, dLoraB) = (t.Uniform(n, c), t.Uniform(n, c), t.Uniform(loraRank, c), t.Uniform(c, loraRank));
            return () => t.Backend.LoraBackward(dx, null, null, dLoraA, dLoraB, dy, x, w, loraA, loraB, h, loraScale, n, c, c, loraRank);
        });

        yield return new("layernorm_fwd", tokens, 0, Float * (2 * nc + 2 * c + 2 * n), t =>
        {
            var (x, w, b, y, mean, rstd) = (t.Uniform(n, c), t.Uniform(c), t.Uniform(c), t.Uniform(n, c), t.Uniform(n), t.Uniform(n));
            return () => t.Backend.LayerNormForward(y, mean, rstd, x, w, b, n, c, 1e-5f);
        });
        yield return new("layernorm_bwd", tokens, 0, Float * (4 * nc + 5 * c + 2 * n), t =>
        {
            var (x, w, b, y, mean, rstd) = (t.Uniform(n, c), t.Uniform(c), t.Uniform(c), t.Uniform(n, c), t.Uniform(n), t.Uniform(n));
            t.Backend.LayerNormForward(y, mean, rstd, x, w, b, n, c, 1e-5f);
            var (dy, dx, dw, db) = (t.Uniform(n, c), t.Uniform(n, c), t.Uniform(c), t.Uniform(c));
            return () => t.Backend.LayerNormBackward(dx, dw, db, dy, x, w, mean, rstd, n, c);
        });
        yield return new("rmsnorm_fwd", tokens, 0, Float * (2 * nc + c + n), t =>
        {
            var (x, w, y, rstd) = (t.Uniform(n, c), t.Uniform(c), t.Uniform(n, c), t.Uniform(n));
            return () => t.Backend.RmsNormForward(y, rstd, x, w, n, c, 1e-6f);
        });
        yield return new("rmsnorm_bwd", tokens, 0, Float * (4 * nc + 3 * c + n), t =>
        {
            var (x, w, y, rstd) = (t.Uniform(n, c), t.Uniform(c), t.Uniform(n, c), t.Uniform(n));
            t.Backend.RmsNormForward(y, rstd, x, w, n, c, 1e-6f);
            var (dy, dx, dw) = (t.Uniform(n, c), t.Uniform(n, c), t.Uniform(c));
            return () => t.Backend.RmsNormBackward(dx, dw, dy, x, w, rstd, n, c);
        });
        yield return new("gelu_fwd", hidden, 0, Float * 2 * nf, t =>
        {
            var (x, y) = (t.Scaled(4, n, f), t.Uniform(n, f));
            return () => t.Backend.GeluForward(y, x);
        });
        yield return new("gelu_bwd", hidden, 0, Float * 4 * nf, t =>
        {
            var (x, dy, dx) = (t.Scaled(4, n, f), t.Uniform(n, f), t.Uniform(n, f));
            return () => t.Backend.GeluBackward(dx, dy, x);
        });
        yield return new("swiglu_fwd", hidden, 0, Float * 3 * nf, t =>
        {
            var (gate, up, y) = (t.Scaled(4, n, f), t.Uniform(n, f), t.Uniform(n, f));
            return () => t.Backend.SwiGluForward(y, gate, up);
        });
        yield return new("swiglu_bwd", hidden, 0, Float * 7 * nf, t =>
        {
            var (gate, up, dy, dGate, dUp) = (t.Scaled(4, n, f), t.Uniform(n, f), t.Uniform(n, f), t.Uniform(n, f), t.Uniform(n, f));
            return () => t.Backend.SwiGluBackward(dGate, dUp, dy, gate, up);
        });

        int heads = c / s.HeadDim;
        string rope = $"N={n},H={heads},D={s.HeadDim}";
        Tensor[] RopeInputs(TensorScope t) =>
            [t.Upload(CpuRope.InverseFrequencies(s.HeadDim, 10000), s.HeadDim / 2), t.Ints(n, s.SeqLen), t.Uniform(n, heads, s.HeadDim), t.Uniform(n, heads, s.HeadDim)];
        yield return new("rope_fwd", rope, 0, Float * 2 * nc, t =>
        {
            var x = RopeInputs(t);
            return () => t.Backend.RopeForward(x[3], x[2], x[1], x[0], n, heads, s.HeadDim);
        });
        yield return new("rope_bwd", rope, 0, Float * 3 * nc, t =>
        {
            var x = RopeInputs(t);
            return () => t.Backend.RopeBackward(x[3], x[2], x[1], x[0], n, heads, s.HeadDim);
        });

        string embedding = $"N={n},C={c},V={v}";
        Tensor[] EmbeddingInputs(TensorScope t) => [t.Ints(n, v), t.Ints(n, s.SeqLen), t.Uniform(v, c), t.Uniform(s.SeqLen, c), t.Uniform(n, c)];
        yield return new("embedding_fwd", embedding, 0, Float * 3 * nc, t =>
        {
            var x = EmbeddingInputs(t);
            return () => t.Backend.EmbeddingForward(x[4], x[0], x[1], x[2], x[3], n, c);
        });
        yield return new("embedding_bwd", embedding, 0, Float * 5 * nc, t =>
        {
            var x = EmbeddingInputs(t);
            return () => t.Backend.EmbeddingBackward(x[2], x[3], x[4], x[0], x[1], n, c);
        });

        yield return new("add", tokens, 0, Float * 3 * nc, t =>
        {
            var (x, y, z) = (t.Uniform(n, c), t.Uniform(n, c), t.Uniform(n, c));
            return () => t.Backend.Add(z, x, y);
        });
        yield return new("accumulate", tokens, 0, Float * 3 * nc, t =>
        {
            var (x, y) = (t.Uniform(n, c), t.Uniform(n, c));
            return () => t.Backend.Accumulate(y, x);
        });
        yield return new("scale", tokens, 0, Float * 2 * nc, t =>
        {
            var x = t.Uniform(n, c);
            return () => t.Backend.Scale(x, 0.999f);
        });
        yield return new("sum_of_squares", tokens, 0, Float * nc, t =>
        {
            var x = t.Uniform(n, c);
            return () => t.Backend.SumOfSquares(x);
        });
        yield return new("adamw", $"P={s.Parameters}", 0, Float * 7 * s.Parameters, t =>
        {
            var (p, g, m1, m2) = (t.Uniform(s.Parameters), t.Uniform(s.Parameters), t.Scaled(0.1f, s.Parameters), t.Positive(s.Parameters));
            int step = 0;
            return () => t.Backend.AdamW(p, g, m1, m2, new AdamWStep(1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, ++step));
        });

        var model = s.StepModel;
        int stepTokens = s.StepBatch * model.ContextLength;
        // 6 FLOPs per token per matmul weight (forward 2, backward 4; the tied head counts once, positions are no matmul), plus attention.
        double matmulWeights = (double)model.Layers * (4.0 * model.Dim * model.Dim + 2.0 * model.Dim * model.FfnDim) + (double)model.VocabSize * model.Dim;
        double stepFlops = 6 * matmulWeights * stepTokens
            + model.Layers * 3.5 * 2.0 * s.StepBatch * model.Heads * model.ContextLength * model.ContextLength * model.HeadDim;
        yield return new("gpt2_step", $"L={model.Layers},C={model.Dim},H={model.Heads},V={model.VocabSize},B={s.StepBatch},T={model.ContextLength}",
            stepFlops, 0, t =>
            {
                var transformer = t.Own(new Transformer(t.Backend, model, seed: 1));
                var trainer = t.Own(new Trainer(transformer, new OptimizerConfig(), new LearningRateSchedule(ScheduleKind.Constant, 1e-4f, 0, int.MaxValue)));
                var batch = Batch.RandomTokens(s.StepBatch, model.ContextLength, model.VocabSize, seed: 1);
                return () => trainer.Step([batch]);
            }, Tokens: stepTokens);
    }
}
