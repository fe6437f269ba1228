using Engine.Backends;
using Engine.Kernels;
using Engine.Tensors;
using ILGPU;
using ILGPU.Runtime;
using static Engine.Diagnostics.Selftest;

namespace Engine.Diagnostics;

/// <summary>One compared output of a self-test check and its tolerance.</summary>
internal sealed record SelftestOutput(string Name, float[] Values, double Tolerance);

/// <summary>One self-test check of an op family at one shape: draws its inputs from the scope, runs forward and backward, returns the outputs
/// to compare with the oracle's.</summary>
internal sealed record SelftestCheck(string Shape, Func<TensorScope, SelftestOutput[]> Run);

/// <summary>One benchmark case: the FLOPs and bytes one run must do, and a setup that draws the inputs and returns the run to time.</summary>
internal sealed record BenchCase(string Op, string Shape, double Flops, double Bytes, Func<TensorScope, Action> Setup, double Tokens = 0);

/// <summary>An op family of <see cref="IBackend"/>: its self-test checks (named by the family) and its benchmark cases (the ILGPU backend's
/// own kernels among them when it is given).</summary>
internal sealed record OpFamily(string Name, Func<SelftestSizes, IEnumerable<SelftestCheck>> Checks, Func<KernelBenchSizes, IlgpuBackend?, IEnumerable<BenchCase>> Bench);

/// <summary>
/// Every op family of <see cref="IBackend"/> in one table, its self-test checks beside its benchmark cases: `engine selftest` runs the checks,
/// `engine bench kernels` the cases, both in the table's order. An op added to IBackend gets its entry here.
/// Self-test inputs: forward outputs start as NaN (an unwritten element fails); gradients start as small random values (a backward that
/// overwrites instead of accumulating fails). Benchmark FLOPs and bytes: the least work an op must do, each input read once, each output
/// written once (an accumulated gradient is read and written). Benchmark op names and shapes are the keys bench/gpu/torch_baseline.py writes too.
/// </summary>
internal static class OpCases
{
    public static readonly OpFamily[] Families =
    [
        new("embedding", EmbeddingChecks, EmbeddingBench),
        new("layernorm", LayerNormChecks, LayerNormBench),
        new("rmsnorm", RmsNormChecks, RmsNormBench),
        new("matmul", MatMulChecks, MatMulBench),
        new("lora", LoraChecks, LoraBench),
        new("rope", RopeChecks, RopeBench),
        new("attention", AttentionChecks, AttentionBench),
        new("cached attention", CachedAttentionChecks, NoBench),
        new("gelu", GeluChecks, GeluBench),
        new("swiglu", SwiGluChecks, SwiGluBench),
        new("geglu", GeGluChecks, GeGluBench),
        new("elementwise", ElementwiseChecks, ElementwiseBench),
        new("dropout", DropoutChecks, NoBench),
        new("adamw", AdamWChecks, AdamWBench),
        new("cross-entropy", CrossEntropyChecks, CrossEntropyBench),
    ];

    /// <summary>Scale of the random values gradients start from: comparable to the gradients, so a missing accumulation shows.</summary>
    private const float GradientStart = 0.1f;

    /// <summary>The LoRA ranks checked at the matmul shapes, in turn: a ragged one (no 16-byte loads of the low-rank operands) and a typical one.</summary>
    private static readonly int[] LoraRanks = [3, 16];

    private const double Float = sizeof(float);

    private static IEnumerable<BenchCase> NoBench(KernelBenchSizes s, IlgpuBackend? ilgpu) => [];

    // ---- embedding ----

    private static IEnumerable<SelftestCheck> EmbeddingChecks(SelftestSizes s)
    {
        int n = s.Tokens, c = s.Width;
        yield return new($"n={n} c={c} vocab={s.Vocab}", t =>
        {
            var (ids, positions, wte, wpe, dy) = (t.Ints(n, s.Vocab), t.Ints(n, s.SeqLen), t.Uniform(s.Vocab, c), t.Uniform(s.SeqLen, c), t.Uniform(n, c));
            var (y, dwte, dwpe) = (t.Poisoned(n, c), t.Scaled(GradientStart, s.Vocab, c), t.Scaled(GradientStart, s.SeqLen, c));
            t.Backend.EmbeddingForward(y, ids, positions, wte, wpe, n, c);
            t.Backend.EmbeddingBackward(dwte, dwpe, dy, ids, positions, n, c);
            return [new("fwd y", t.Read(y), ShortSum), new("bwd dwte", t.Read(dwte), ShortSum), new("bwd dwpe", t.Read(dwpe), ShortSum)];
        });
    }

    private static IEnumerable<BenchCase> EmbeddingBench(KernelBenchSizes s, IlgpuBackend? ilgpu)
    {
        int n = s.Tokens, c = s.Width, v = s.Vocab;
        double nc = (double)n * c;
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
    }

    // ---- layernorm ----

    private static IEnumerable<SelftestCheck> LayerNormChecks(SelftestSizes s)
    {
        int n = s.Tokens, c = s.Width;
        yield return new($"n={n} c={c}", t =>
        {
            var (x, w, b, dy) = (t.Scaled(3, n, c), t.Uniform(c), t.Uniform(c), t.Uniform(n, c));
            var (y, mean, rstd) = (t.Poisoned(n, c), t.Poisoned(n), t.Poisoned(n));
            var (dx, dw, db) = (t.Scaled(GradientStart, n, c), t.Scaled(GradientStart, c), t.Scaled(GradientStart, c));
            t.Backend.LayerNormForward(y, mean, rstd, x, w, b, n, c, 1e-5f);
            t.Backend.LayerNormBackward(dx, dw, db, dy, x, w, mean, rstd, n, c);
            return [new("fwd y", t.Read(y), ShortSum), new("fwd mean", t.Read(mean), ShortSum), new("fwd rstd", t.Read(rstd), ShortSum),
                new("bwd dx", t.Read(dx), ShortSum), new("bwd dw", t.Read(dw), LongSum), new("bwd db", t.Read(db), LongSum)];
        });
    }

    private static IEnumerable<BenchCase> LayerNormBench(KernelBenchSizes s, IlgpuBackend? ilgpu)
    {
        int n = s.Tokens, c = s.Width;
        double nc = (double)n * c;
        string tokens = $"N={n},C={c}";
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
    }

    // ---- rmsnorm ----

    private static IEnumerable<SelftestCheck> RmsNormChecks(SelftestSizes s)
    {
        int n = s.Tokens, c = s.Width;
        yield return new($"n={n} c={c}", t =>
        {
            var (x, w, dy) = (t.Scaled(3, n, c), t.Uniform(c), t.Uniform(n, c));
            var (y, rstd, dx, dw) = (t.Poisoned(n, c), t.Poisoned(n), t.Scaled(GradientStart, n, c), t.Scaled(GradientStart, c));
            t.Backend.RmsNormForward(y, rstd, x, w, n, c, 1e-6f);
            t.Backend.RmsNormBackward(dx, dw, dy, x, w, rstd, n, c);
            return [new("fwd y", t.Read(y), ShortSum), new("fwd rstd", t.Read(rstd), ShortSum), new("bwd dx", t.Read(dx), ShortSum), new("bwd dw", t.Read(dw), LongSum)];
        });
    }

    private static IEnumerable<BenchCase> RmsNormBench(KernelBenchSizes s, IlgpuBackend? ilgpu)
    {
        int n = s.Tokens, c = s.Width;
        double nc = (double)n * c;
        string tokens = $"N={n},C={c}";
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
    }

    // ---- matmul ----

    private static IEnumerable<SelftestCheck> MatMulChecks(SelftestSizes s)
    {
        foreach (var (m, inDim, outDim) in s.MatMuls)
            yield return new($"n={m} in={inDim} out={outDim}", t =>
            {
                var (x, w, bias, dy) = (t.Uniform(m, inDim), t.Uniform(outDim, inDim), t.Uniform(outDim), t.Uniform(m, outDim));
                var (y, dx, dw, db) = (t.Poisoned(m, outDim), t.Scaled(GradientStart, m, inDim), t.Scaled(GradientStart, outDim, inDim), t.Scaled(GradientStart, outDim));
                t.Backend.MatMulForward(y, x, w, bias, m, inDim, outDim);
                t.Backend.MatMulBackward(dx, dw, db, dy, x, w, m, inDim, outDim);
                return [new("fwd y", t.Read(y), LongSum), new("bwd dx", t.Read(dx), LongSum), new("bwd dw", t.Read(dw), LongSum), new("bwd db", t.Read(db), LongSum)];
            });
    }

    private static IEnumerable<BenchCase> MatMulBench(KernelBenchSizes s, IlgpuBackend? ilgpu)
    {
        int m = s.MatMul;
        double mm = (double)m * m;
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
    }

    // ---- lora ----

    /// <summary>LoRA at each matmul shape, W and bias trainable so that every gradient is compared.</summary>
    private static IEnumerable<SelftestCheck> LoraChecks(SelftestSizes s)
    {
        for (int i = 0; i < s.MatMuls.Length; i++)
        {
            var (m, inDim, outDim) = s.MatMuls[i];
            int rank = LoraRanks[i % LoraRanks.Length];
            yield return new($"n={m} in={inDim} out={outDim} r={rank}", t =>
            {
                var (x, w, bias, loraA, loraB, dy) = (t.Uniform(m, inDim), t.Uniform(outDim, inDim), t.Uniform(outDim), t.Uniform(rank, inDim),
                    t.Uniform(outDim, rank), t.Uniform(m, outDim));
                var (y, h) = (t.Poisoned(m, outDim), t.Poisoned(m, rank));
                var (dx, dw, dbias) = (t.Scaled(GradientStart, m, inDim), t.Scaled(GradientStart, outDim, inDim), t.Scaled(GradientStart, outDim));
                var (dLoraA, dLoraB) = (t.Scaled(GradientStart, rank, inDim), t.Scaled(GradientStart, outDim, rank));
                float scale = 2f / MathF.Sqrt(rank);
                t.Backend.LoraForward(y, h, x, w, bias, loraA, loraB, scale, m, inDim, outDim, rank);
                t.Backend.LoraBackward(dx, dw, dbias, dLoraA, dLoraB, dy, x, w, loraA, loraB, h, scale, m, inDim, outDim, rank);
                return [new("fwd y", t.Read(y), LongSum), new("fwd h", t.Read(h), LongSum), new("bwd dx", t.Read(dx), LongSum),
                    new("bwd dw", t.Read(dw), LongSum), new("bwd dbias", t.Read(dbias), LongSum), new("bwd dA", t.Read(dLoraA), LongSum),
                    new("bwd dB", t.Read(dLoraB), LongSum)];
            });
        }
    }

    /// <summary>LoRA on a frozen C × C weight (the usual fine-tune): forward x·Wᵀ, x·Aᵀ, h·Bᵀ; backward dB, dh, dA and dx = dy·W + dh·A.</summary>
    private static IEnumerable<BenchCase> LoraBench(KernelBenchSizes s, IlgpuBackend? ilgpu)
    {
        const int loraRank = 16;
        const float loraScale = 2f;
        int n = s.Tokens, c = s.Width;
        double nc = (double)n * c, loraSide = (double)loraRank * c;
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
    }

    // ---- rope ----

    private static IEnumerable<SelftestCheck> RopeChecks(SelftestSizes s)
    {
        int n = s.Tokens;
        yield return new($"n={n} heads={s.Heads} headDim={s.HeadDim}", t =>
        {
            var invFreq = t.Upload(CpuRope.InverseFrequencies(s.HeadDim, 10000), s.HeadDim / 2);
            var (positions, x, dy) = (t.Ints(n, s.SeqLen), t.Uniform(n, s.Heads, s.HeadDim), t.Uniform(n, s.Heads, s.HeadDim));
            var (y, dx) = (t.Poisoned(n, s.Heads, s.HeadDim), t.Scaled(GradientStart, n, s.Heads, s.HeadDim));
            t.Backend.RopeForward(y, x, positions, invFreq, n, s.Heads, s.HeadDim);
            t.Backend.RopeBackward(dx, dy, positions, invFreq, n, s.Heads, s.HeadDim);
            return [new("fwd y", t.Read(y), ShortSum), new("bwd dx", t.Read(dx), ShortSum)];
        });
    }

    private static IEnumerable<BenchCase> RopeBench(KernelBenchSizes s, IlgpuBackend? ilgpu)
    {
        int n = s.Tokens, c = s.Width, heads = c / s.HeadDim;
        double nc = (double)n * c;
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
    }

    // ---- attention ----

    /// <summary>Both head layouts, then grouped heads with a sliding window of a third of the sequence (the window skips whole key tiles).</summary>
    private static IEnumerable<SelftestCheck> AttentionChecks(SelftestSizes s)
    {
        foreach (var (kvHeads, window) in new[] { (s.Heads, 0), (s.KvHeads, 0), (s.KvHeads, s.SeqLen / 3) }.Distinct())
        {
            var a = new AttentionShape(s.Batch, s.SeqLen, s.Heads, kvHeads, s.HeadDim, window);
            yield return new($"B={a.Batch} T={a.SeqLen} H={a.Heads} KV={a.KvHeads} D={a.HeadDim}{WindowName(window)}", t =>
            {
                var q = t.Scaled(2, a.Batch, a.SeqLen, a.Heads, a.HeadDim);
                var (k, v) = (t.Scaled(2, a.Batch, a.SeqLen, a.KvHeads, a.HeadDim), t.Uniform(a.Batch, a.SeqLen, a.KvHeads, a.HeadDim));
                var (dOut, segments) = (t.Uniform(a.Batch, a.SeqLen, a.Heads, a.HeadDim), t.Ints(PackedSegments(t, a.Batch, a.SeqLen)));
                var (output, lse) = (t.Poisoned(a.Batch, a.SeqLen, a.Heads, a.HeadDim), t.Poisoned(a.Batch, a.Heads, a.SeqLen));
                var dq = t.Scaled(GradientStart, a.Batch, a.SeqLen, a.Heads, a.HeadDim);
                var (dk, dv) = (t.Scaled(GradientStart, a.Batch, a.SeqLen, a.KvHeads, a.HeadDim), t.Scaled(GradientStart, a.Batch, a.SeqLen, a.KvHeads, a.HeadDim));
                t.Backend.AttentionForward(output, lse, q, k, v, segments, a);
                t.Backend.AttentionBackward(dq, dk, dv, dOut, output, lse, q, k, v, segments, a);
                return [new("fwd out", t.Read(output), LongSum), new("fwd lse", t.Read(lse), LongSum),
                    new("bwd dq", t.Read(dq), LongSum), new("bwd dk", t.Read(dk), LongSum), new("bwd dv", t.Read(dv), LongSum)];
            });
        }
    }

    /// <summary>Segment ids of packed rows: each row holds a few examples, a new one starting at a position with probability 3/seqLen.</summary>
    private static int[] PackedSegments(TensorScope t, int batch, int seqLen)
    {
        var segments = new int[batch * seqLen];
        for (int b = 0; b < batch; b++)
            for (int i = 1; i < seqLen; i++)
                segments[b * seqLen + i] = segments[b * seqLen + i - 1] + (t.NextInt(seqLen) < 3 ? 1 : 0);
        return segments;
    }

    private static IEnumerable<BenchCase> AttentionBench(KernelBenchSizes s, IlgpuBackend? ilgpu)
    {
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
    }

    // ---- cached attention ----

    /// <summary>Cached attention at both head layouts, then with a sliding window of a third of the cache: row 0 continues a half-full cache with a
    /// few tokens, row 1 (and any later row) decodes one token after left padding, so slots are ragged and some queries are padding.</summary>
    private static IEnumerable<SelftestCheck> CachedAttentionChecks(SelftestSizes s)
    {
        foreach (var (kvHeads, window) in new[] { (s.Heads, 0), (s.KvHeads, 0), (s.KvHeads, s.SeqLen / 3) }.Distinct())
        {
            int cacheRows = s.Batch, capacity = s.SeqLen, newTokens = Math.Max(1, capacity / 4), width = kvHeads * s.HeadDim;
            var a = new CachedAttentionShape(cacheRows, newTokens, capacity, s.Heads, kvHeads, s.HeadDim, window);
            int[] slots = CachedSlots(cacheRows, newTokens, capacity);
            yield return new($"rows={cacheRows} new={newTokens} cap={capacity} H={s.Heads} KV={kvHeads} D={s.HeadDim}{WindowName(window)}", t =>
            {
                var (q, k, v) = (t.Scaled(2, cacheRows, newTokens, s.Heads, s.HeadDim), t.Scaled(2, cacheRows, newTokens, width), t.Uniform(cacheRows, newTokens, width));
                var (kCache, vCache, output) = (t.Scaled(2, cacheRows, capacity, width), t.Uniform(cacheRows, capacity, width), t.Poisoned(cacheRows, newTokens, s.Heads, s.HeadDim));
                t.Backend.CachedAttentionForward(output, q, k, v, kCache, vCache, t.Ints(slots), a);
                return [new("fwd out", t.Read(output), LongSum), new("kCache", t.Read(kCache), ShortSum), new("vCache", t.Read(vCache), ShortSum)];
            });
        }
    }

    private static string WindowName(int window) => window == 0 ? "" : $" W={window}";

    /// <summary>Slots [rows, newTokens] of the cached-attention check: row 0 writes newTokens tokens from the middle of the cache on; row r ≥ 1
    /// one token at slot capacity − r after newTokens − 1 padding tokens (−1).</summary>
    private static int[] CachedSlots(int rows, int newTokens, int capacity)
    {
        var slots = new int[rows * newTokens];
        Array.Fill(slots, -1);
        for (int i = 0; i < newTokens; i++) slots[i] = capacity / 2 + i;
        for (int r = 1; r < rows; r++) slots[r * newTokens + newTokens - 1] = capacity - r;
        return slots;
    }

    // ---- gelu ----

    private static IEnumerable<SelftestCheck> GeluChecks(SelftestSizes s)
    {
        int n = s.Tokens, f = s.Hidden;
        yield return new($"n={n} c={f}", t =>
        {
            var (x, dy, y, dx) = (t.Scaled(4, n, f), t.Uniform(n, f), t.Poisoned(n, f), t.Scaled(GradientStart, n, f));
            t.Backend.GeluForward(y, x);
            t.Backend.GeluBackward(dx, dy, x);
            return [new("fwd y", t.Read(y), ShortSum), new("bwd dx", t.Read(dx), ShortSum)];
        });
    }

    private static IEnumerable<BenchCase> GeluBench(KernelBenchSizes s, IlgpuBackend? ilgpu)
    {
        int n = s.Tokens, f = 4 * s.Width;
        double nf = (double)n * f;
        string hidden = $"N={n},C={f}";
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
    }

    // ---- swiglu ----

    private static IEnumerable<SelftestCheck> SwiGluChecks(SelftestSizes s)
    {
        int n = s.Tokens, f = s.Hidden;
        yield return new($"n={n} c={f}", t =>
        {
            var (gate, up, dy, y) = (t.Scaled(4, n, f), t.Uniform(n, f), t.Uniform(n, f), t.Poisoned(n, f));
            var (dGate, dUp) = (t.Scaled(GradientStart, n, f), t.Scaled(GradientStart, n, f));
            t.Backend.SwiGluForward(y, gate, up);
            t.Backend.SwiGluBackward(dGate, dUp, dy, gate, up);
            return [new("fwd y", t.Read(y), ShortSum), new("bwd dgate", t.Read(dGate), ShortSum), new("bwd dup", t.Read(dUp), ShortSum)];
        });
    }

    private static IEnumerable<BenchCase> SwiGluBench(KernelBenchSizes s, IlgpuBackend? ilgpu)
    {
        int n = s.Tokens, f = 4 * s.Width;
        double nf = (double)n * f;
        string hidden = $"N={n},C={f}";
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
    }

    // ---- geglu ----

    private static IEnumerable<SelftestCheck> GeGluChecks(SelftestSizes s)
    {
        int n = s.Tokens, f = s.Hidden;
        yield return new($"n={n} c={f}", t =>
        {
            var (gate, up, dy, y) = (t.Scaled(4, n, f), t.Uniform(n, f), t.Uniform(n, f), t.Poisoned(n, f));
            var (dGate, dUp) = (t.Scaled(GradientStart, n, f), t.Scaled(GradientStart, n, f));
            t.Backend.GeGluForward(y, gate, up);
            t.Backend.GeGluBackward(dGate, dUp, dy, gate, up);
            return [new("fwd y", t.Read(y), ShortSum), new("bwd dgate", t.Read(dGate), ShortSum), new("bwd dup", t.Read(dUp), ShortSum)];
        });
    }

    private static IEnumerable<BenchCase> GeGluBench(KernelBenchSizes s, IlgpuBackend? ilgpu)
    {
        int n = s.Tokens, f = 4 * s.Width;
        double nf = (double)n * f;
        string hidden = $"N={n},C={f}";
        yield return new("geglu_fwd", hidden, 0, Float * 3 * nf, t =>
        {
            var (gate, up, y) = (t.Scaled(4, n, f), t.Uniform(n, f), t.Uniform(n, f));
            return () => t.Backend.GeGluForward(y, gate, up);
        });
        yield return new("geglu_bwd", hidden, 0, Float * 7 * nf, t =>
        {
            var (gate, up, dy, dGate, dUp) = (t.Scaled(4, n, f), t.Uniform(n, f), t.Uniform(n, f), t.Uniform(n, f), t.Uniform(n, f));
            return () => t.Backend.GeGluBackward(dGate, dUp, dy, gate, up);
        });
    }

    // ---- elementwise (and the optimizer's reductions) ----

    private static IEnumerable<SelftestCheck> ElementwiseChecks(SelftestSizes s)
    {
        int n = s.Tokens, c = s.Width;
        yield return new($"n={n} c={c}", t =>
        {
            var (a, b, y, dst, x) = (t.Uniform(n, c), t.Uniform(n, c), t.Poisoned(n, c), t.Uniform(n, c), t.Uniform(n, c));
            t.Backend.Add(y, a, b);
            t.Backend.Accumulate(dst, a);
            t.Backend.Scale(x, 0.37f);
            var sumOfSquares = t.Doubles(1);
            t.Backend.SumOfSquares(sumOfSquares, [b, a]);
            return [new("add y", t.Read(y), ShortSum), new("accumulate dst", t.Read(dst), ShortSum), new("scale x", t.Read(x), ShortSum),
                new("sumsq", t.ReadDoubles(sumOfSquares), ShortSum)];
        });
    }

    /// <summary>A copy (the memory-bandwidth yardstick), then the elementwise ops.</summary>
    private static IEnumerable<BenchCase> ElementwiseBench(KernelBenchSizes s, IlgpuBackend? ilgpu)
    {
        int n = s.Tokens, c = s.Width;
        double nc = (double)n * c;
        string tokens = $"N={n},C={c}";
        yield return new("copy", $"N={s.CopyElements}", 0, 2 * Float * s.CopyElements, t =>
        {
            var (src, dst) = (t.Uniform(s.CopyElements), t.Uniform(s.CopyElements));
            return () => t.Backend.Copy(dst, src);
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
            var (x, sum) = (t.Uniform(n, c), t.Doubles(1));
            return () => t.Backend.SumOfSquares(sum, [x]);
        });
    }

    // ---- dropout ----

    private static IEnumerable<SelftestCheck> DropoutChecks(SelftestSizes s)
    {
        int n = s.Tokens, c = s.Width;
        yield return new($"n={n} c={c}", t =>
        {
            var (x, y, dy, dx) = (t.Uniform(n, c), t.Poisoned(n, c), t.Uniform(n, c), t.Scaled(GradientStart, n, c));
            t.Backend.DropoutForward(y, x, 0.25f, 1.5f, seed: 12345);
            t.Backend.DropoutBackward(dx, dy, 0.25f, 1.5f, seed: 12345);
            return [new("fwd y", t.Read(y), ShortSum), new("bwd dx", t.Read(dx), ShortSum)];
        });
    }

    // ---- adamw ----

    /// <summary>The optimizer as the trainer runs it: Σg² over two tensors into a device scalar, the clipping factor from it (the norm of
    /// these gradients is far above 1: clipped), AdamW from the clipped gradient; then a gradient holding a NaN, which must leave the
    /// parameters and moments as they were.</summary>
    private static IEnumerable<SelftestCheck> AdamWChecks(SelftestSizes s)
    {
        int c = s.Width, f = s.Hidden;
        yield return new($"params={f}x{c}+{c}", t =>
        {
            var (param, grad, m, v, bias) = (t.Uniform(f, c), t.Uniform(f, c), t.Scaled(0.1f, f, c), t.Positive(f, c), t.Uniform(c));
            var (sums, scale) = (t.Doubles(2), t.Poisoned(1));
            t.Backend.SumOfSquares(sums.View(1, 1), [grad, bias]);
            t.Backend.ClipScale(scale, sums.View(0, 1), sums.View(1, 1), maxNorm: 1f);
            t.Backend.AdamW(param, grad, scale, m, v, new AdamWStep(1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, Step: 3));
            return [new("sumsq", t.ReadDoubles(sums), ShortSum), new("clip scale", t.Read(scale), ShortSum),
                new("param", t.Read(param), ShortSum), new("m", t.Read(m), ShortSum), new("v", t.Read(v), ShortSum)];
        });
        yield return new($"params={c}, a NaN gradient", t =>
        {
            var grad = Enumerable.Range(0, c).Select(i => i == c / 2 ? float.NaN : 0.5f).ToArray();
            var (param, g, m, v, sums, scale) = (t.Uniform(c), t.Upload(grad, c), t.Scaled(0.1f, c), t.Positive(c), t.Doubles(2), t.Poisoned(1));
            t.Backend.SumOfSquares(sums.View(1, 1), [g]);
            t.Backend.ClipScale(scale, sums.View(0, 1), sums.View(1, 1), maxNorm: 1f);
            t.Backend.AdamW(param, g, scale, m, v, new AdamWStep(1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, Step: 3));
            return [new("param (skipped)", t.Read(param), ShortSum), new("m (skipped)", t.Read(m), ShortSum), new("v (skipped)", t.Read(v), ShortSum)];
        });
    }

    private static IEnumerable<BenchCase> AdamWBench(KernelBenchSizes s, IlgpuBackend? ilgpu)
    {
        yield return new("adamw", $"P={s.Parameters}", 0, Float * 7 * s.Parameters, t =>
        {
            var (p, g, m1, m2) = (t.Uniform(s.Parameters), t.Uniform(s.Parameters), t.Scaled(0.1f, s.Parameters), t.Positive(s.Parameters));
            var scale = t.Upload([1f], 1);
            int step = 0;
            return () => t.Backend.AdamW(p, g, scale, m1, m2, new AdamWStep(1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, ++step));
        });
    }

    // ---- cross-entropy (the fused LM head) ----

    private static IEnumerable<SelftestCheck> CrossEntropyChecks(SelftestSizes s)
    {
        int c = s.Width;
        yield return new($"rows={s.HeadRows} c={c} vocab={s.Vocab}", t =>
        {
            int r = s.HeadRows;
            var (x, w) = (t.Uniform(r, c), t.Uniform(s.Vocab, c));
            var (keptRows, keptTargets) = LossRows.Keep(Enumerable.Range(0, r).Select(_ => t.NextInt(8) == 0 ? -1 : t.NextInt(s.Vocab)).ToArray());
            var (rows, targets, kept) = (t.Ints(keptRows), t.Ints(keptTargets), keptRows.Length);
            var (dx, dw, loss, lossOnly) = (t.Scaled(GradientStart, r, c), t.Scaled(GradientStart, s.Vocab, c), t.Doubles(1), t.Doubles(1));
            t.Backend.CrossEntropyForwardBackward(loss, dx, dw, x, w, rows, targets, r, kept, c, s.Vocab, gradScale: 0.5f);
            t.Backend.CrossEntropyForwardBackward(lossOnly, null, null, x, w, rows, targets, r, kept, c, s.Vocab, gradScale: 0.5f);
            return [new("loss", t.ReadDoubles(loss), LongSum), new("loss (no grad)", t.ReadDoubles(lossOnly), LongSum),
                new("dx", t.Read(dx), LongSum), new("dw", t.Read(dw), LongSum)];
        });
    }

    /// <summary>The fused LM head + cross-entropy with every row kept (pretraining; masked rows cost nothing): three matmuls of r × c × v; its bytes are the logits, written once and read once. Then, on
    /// the ILGPU backend, the softmax/loss/gradient pass alone over materialised logits (in place): read once, written once.</summary>
    private static IEnumerable<BenchCase> CrossEntropyBench(KernelBenchSizes s, IlgpuBackend? ilgpu)
    {
        int c = s.Width, r = s.HeadRows, v = s.Vocab;
        double logits = (double)r * v;
        yield return new("cross_entropy_fused", $"rows={r},C={c},V={v}", 6.0 * r * c * v, 2 * Float * logits, t =>
        {
            var (x, w, dx, dw, rows, targets) = (t.Uniform(r, c), t.Scaled(0.1f, v, c), t.Uniform(r, c), t.Uniform(v, c), t.Ints(Enumerable.Range(0, r).ToArray()), t.Ints(r, v));
            var loss = t.Doubles(1);
            return () => t.Backend.CrossEntropyForwardBackward(loss, dx, dw, x, w, rows, targets, r, r, c, v, 1f / r);
        });
        if (ilgpu is not null)
            yield return new("cross_entropy_rows", $"rows={r},V={v}", 0, 2 * Float * logits, t =>
            {
                var (z, loss, targets) = (t.Scaled(8, r, v), t.Uniform(r), t.Ints(r, v));
                var kernels = new CrossEntropy(ilgpu.Accelerator);
                return () => kernels.SoftmaxRows(IlgpuBackend.F(loss), IlgpuBackend.F(z), IlgpuBackend.I(targets), r, v, wantGrad: true, 1f / r);
            });
    }
}
