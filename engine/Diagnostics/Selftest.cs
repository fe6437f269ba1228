using System.Text.Json;
using Engine.Backends;
using Engine.Backends.Cpu;
using Engine.Backends.Ilgpu;
using Engine.Kernels;
using Engine.Tensors;
using ILGPU;
using ILGPU.Runtime;

namespace Engine.Diagnostics;

/// <summary>
/// The shapes the self-test draws. Small: ragged sizes (not multiples of any tile) for ILGPU's CPU simulator and the tests,
/// seconds in all. Realistic: GPT-2 124M widths at 2048 tokens, for a GPU (the CPU oracle then takes tens of seconds).
/// Matmuls are (rows, inDim, outDim), the fp32 and the bf16 kernels at each.
/// </summary>
public sealed record SelftestSizes(string Name, int Batch, int SeqLen, int Width, int Hidden, int Vocab, int Heads, int KvHeads, int HeadDim,
    int HeadRows, (int Rows, int InDim, int OutDim)[] MatMuls)
{
    public int Tokens => Batch * SeqLen;

    public static SelftestSizes Small { get; } = new("small", Batch: 2, SeqLen: 19, Width: 40, Hidden: 53, Vocab: 67, Heads: 4, KvHeads: 2,
        HeadDim: 12, HeadRows: 9, MatMuls: [(37, 43, 29), (32, 64, 48)]);

    public static SelftestSizes Realistic { get; } = new("realistic", Batch: 4, SeqLen: 512, Width: 768, Hidden: 3072, Vocab: 50257, Heads: 12,
        KvHeads: 4, HeadDim: 64, HeadRows: 512, MatMuls: [(1024, 768, 3072), (1000, 771, 3001)]);

    public static SelftestSizes Named(string name) => name switch
    {
        "small" => Small,
        "realistic" => Realistic,
        _ => throw new ArgumentException($"unknown self-test size '{name}': expected small or realistic"),
    };
}

/// <summary>One compared output: its norm-wise relative error against the oracle and the tolerance; Failure when the op threw.</summary>
public sealed record SelftestRow(string Op, string Output, string Shape, double Error, double Tolerance, string? Failure = null)
{
    public bool Passed => Failure is null && Error <= Tolerance;
}

/// <summary>
/// Kernel parity at chosen sizes: every op of <see cref="IBackend"/> runs on the same random inputs through the backend under test and
/// through <see cref="CpuBackend"/> (the oracle), and each output is compared by max|actual − expected| / max|expected|. Forward outputs
/// start as NaN (an unwritten element fails); gradients start as small random values (a backward that overwrites instead of
/// accumulating fails). On an <see cref="IlgpuBackend"/> the bf16 matmul kernel is checked too, against float64 references.
/// </summary>
public static class Selftest
{
    /// <summary>No reduction, or a sum over one row of a few thousand elements: a few float32 ulps (ε = 6e-8) of the largest value.</summary>
    public const double ShortSum = 1e-5;

    /// <summary>Sums over thousands of terms in another order (matmul k, attention keys, dW over all rows, the vocabulary): rounding grows like √terms·ε.</summary>
    public const double LongSum = 1e-4;

    /// <summary>bf16 operands against the float32 ones they were rounded from: 2⁻⁹ relative rounding per operand (METHOD.md: 1e-3 to 1e-2).</summary>
    public const double Bf16Operands = 1e-2;

    /// <summary>Scale of the random values gradients start from: comparable to the gradients, so a missing accumulation shows.</summary>
    private const float GradientStart = 0.1f;

    private sealed record Output(string Name, float[] Values, double Tolerance);

    /// <summary>The LoRA ranks checked at the matmul shapes, in turn: a ragged one (no 16-byte loads of the low-rank operands) and a typical one.</summary>
    private static readonly int[] LoraRanks = [3, 16];

    /// <summary>One op family at one shape: draws its inputs from the scope, runs forward and backward, returns the outputs to compare.</summary>
    private sealed record OpCheck(string Op, string Shape, Func<TensorScope, Output[]> Run);

    /// <summary>Runs every check (or those whose op <paramref name="include"/> accepts: "embedding", "layernorm", ..., "matmul bf16"),
    /// reporting each row as it completes.</summary>
    public static IReadOnlyList<SelftestRow> Run(IBackend backend, SelftestSizes sizes, int seed = 1, Func<string, bool>? include = null,
        Action<SelftestRow>? report = null)
    {
        var rows = new List<SelftestRow>();
        void Add(SelftestRow row)
        {
            rows.Add(row);
            report?.Invoke(row);
        }

        using var oracle = new CpuBackend();
        int checkSeed = seed;
        foreach (var check in Checks(sizes))
        {
            checkSeed++;
            if (include is not null && !include(check.Op)) continue;
            try
            {
                var expected = Outputs(oracle, check, checkSeed);
                var actual = Outputs(backend, check, checkSeed);
                for (int i = 0; i < expected.Length; i++)
                    Add(new SelftestRow(check.Op, expected[i].Name, check.Shape, RelativeError(expected[i].Values, actual[i].Values), expected[i].Tolerance));
            }
            catch (Exception e)
            {
                Add(new SelftestRow(check.Op, "-", check.Shape, double.NaN, 0, $"{e.GetType().Name}: {e.Message}"));
            }
        }
        if (backend is IlgpuBackend ilgpu && (include is null || include("matmul bf16")))
            foreach (var shape in sizes.MatMuls)
                foreach (var row in Bf16MatMul(ilgpu, shape, ++checkSeed)) Add(row);
        return rows;
    }

    /// <summary>0 when every row passed (and there was one), else 1.</summary>
    public static int ExitCode(IReadOnlyList<SelftestRow> rows) => rows.Count > 0 && rows.All(r => r.Passed) ? 0 : 1;

    public static string Header => $"{"op",-32} {"shape",-34} {"rel. error",10} {"tolerance",10}  result";

    public static string Format(SelftestRow r)
    {
        string error = double.IsNaN(r.Error) ? "-" : r.Error.ToString("0.00e+00");
        string result = r.Passed ? "PASS" : r.Failure is null ? "FAIL" : $"FAIL  {r.Failure}";
        return $"{r.Op + " " + r.Output,-32} {r.Shape,-34} {error,10} {r.Tolerance,10:0.0e+00}  {result}";
    }

    public static string ToJson(string backend, SelftestSizes sizes, IReadOnlyList<SelftestRow> rows) => JsonSerializer.Serialize(new
    {
        backend,
        sizes = sizes.Name,
        passed = ExitCode(rows) == 0,
        failed = rows.Count(r => !r.Passed),
        rows = rows.Select(r => new
        {
            op = r.Op, output = r.Output, shape = r.Shape, error = double.IsFinite(r.Error) ? r.Error : (double?)null,
            tolerance = r.Tolerance, passed = r.Passed, failure = r.Failure,
        }),
    }, new JsonSerializerOptions { WriteIndented = true });

    private static Output[] Outputs(IBackend backend, OpCheck check, int seed)
    {
        using var scope = new TensorScope(backend, seed);
        return check.Run(scope);
    }

    /// <summary>max|actual − expected| / max|expected| in float64; +∞ when actual has a NaN or the lengths differ.</summary>
    public static double RelativeError(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        var wide = new double[expected.Length];
        for (int i = 0; i < wide.Length; i++) wide[i] = expected[i];
        return RelativeError(wide, actual);
    }

    public static double RelativeError(ReadOnlySpan<double> expected, ReadOnlySpan<float> actual)
    {
        if (expected.Length != actual.Length) return double.PositiveInfinity;
        double maxDiff = 0, maxRef = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double d = Math.Abs(actual[i] - expected[i]);
            if (double.IsNaN(d)) return double.PositiveInfinity;
            maxDiff = Math.Max(maxDiff, d);
            maxRef = Math.Max(maxRef, Math.Abs(expected[i]));
        }
        return maxDiff / Math.Max(maxRef, 1e-30);
    }

    private static IEnumerable<OpCheck> Checks(SelftestSizes s)
    {
        int n = s.Tokens, c = s.Width, f = s.Hidden;
        string rows = $"n={n} c={c}";

        yield return new("embedding", $"n={n} c={c} vocab={s.Vocab}", t =>
        {
            var (ids, positions, wte, wpe, dy) = (t.Ints(n, s.Vocab), t.Ints(n, s.SeqLen), t.Uniform(s.Vocab, c), t.Uniform(s.SeqLen, c), t.Uniform(n, c));
            var (y, dwte, dwpe) = (t.Poisoned(n, c), t.Scaled(GradientStart, s.Vocab, c), t.Scaled(GradientStart, s.SeqLen, c));
            t.Backend.EmbeddingForward(y, ids, positions, wte, wpe, n, c);
            t.Backend.EmbeddingBackward(dwte, dwpe, dy, ids, positions, n, c);
            return [new("fwd y", t.Read(y), ShortSum), new("bwd dwte", t.Read(dwte), ShortSum), new("bwd dwpe", t.Read(dwpe), ShortSum)];
        });

        yield return new("layernorm", rows, t =>
        {
            var (x, w, b, dy) = (t.Scaled(3, n, c), t.Uniform(c), t.Uniform(c), t.Uniform(n, c));
            var (y, mean, rstd) = (t.Poisoned(n, c), t.Poisoned(n), t.Poisoned(n));
            var (dx, dw, db) = (t.Scaled(GradientStart, n, c), t.Scaled(GradientStart, c), t.Scaled(GradientStart, c));
            t.Backend.LayerNormForward(y, mean, rstd, x, w, b, n, c, 1e-5f);
            t.Backend.LayerNormBackward(dx, dw, db, dy, x, w, mean, rstd, n, c);
            return [new("fwd y", t.Read(y), ShortSum), new("fwd mean", t.Read(mean), ShortSum), new("fwd rstd", t.Read(rstd), ShortSum),
                new("bwd dx", t.Read(dx), ShortSum), new("bwd dw", t.Read(dw), LongSum), new("bwd db", t.Read(db), LongSum)];
        });

        yield return new("rmsnorm", rows, t =>
        {
            var (x, w, dy) = (t.Scaled(3, n, c), t.Uniform(c), t.Uniform(n, c));
            var (y, rstd, dx, dw) = (t.Poisoned(n, c), t.Poisoned(n), t.Scaled(GradientStart, n, c), t.Scaled(GradientStart, c));
            t.Backend.RmsNormForward(y, rstd, x, w, n, c, 1e-6f);
            t.Backend.RmsNormBackward(dx, dw, dy, x, w, rstd, n, c);
            return [new("fwd y", t.Read(y), ShortSum), new("fwd rstd", t.Read(rstd), ShortSum), new("bwd dx", t.Read(dx), ShortSum), new("bwd dw", t.Read(dw), LongSum)];
        });

        foreach (var (m, inDim, outDim) in s.MatMuls)
            yield return new("matmul", $"n={m} in={inDim} out={outDim}", t =>
            {
                var (x, w, bias, dy) = (t.Uniform(m, inDim), t.Uniform(outDim, inDim), t.Uniform(outDim), t.Uniform(m, outDim));
                var (y, dx, dw, db) = (t.Poisoned(m, outDim), t.Scaled(GradientStart, m, inDim), t.Scaled(GradientStart, outDim, inDim), t.Scaled(GradientStart, outDim));
                t.Backend.MatMulForward(y, x, w, bias, m, inDim, outDim);
                t.Backend.MatMulBackward(dx, dw, db, dy, x, w, m, inDim, outDim);
                return [new("fwd y", t.Read(y), LongSum), new("bwd dx", t.Read(dx), LongSum), new("bwd dw", t.Read(dw), LongSum), new("bwd db", t.Read(db), LongSum)];
            });

        // LoRA at each matmul shape, W and bias trainable so that every gradient is compared.
        for (int i = 0; i < s.MatMuls.Length; i++)
        {
            var (m, inDim, outDim) = s.MatMuls[i];
            int rank = LoraRanks[i % LoraRanks.Length];
            yield return new("lora", $"n={m} in={inDim} out={outDim} r={rank}", t =>
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

        yield return new("rope", $"n={n} heads={s.Heads} headDim={s.HeadDim}", t =>
        {
            var invFreq = t.Upload(CpuRope.InverseFrequencies(s.HeadDim, 10000), s.HeadDim / 2);
            var (positions, x, dy) = (t.Ints(n, s.SeqLen), t.Uniform(n, s.Heads, s.HeadDim), t.Uniform(n, s.Heads, s.HeadDim));
            var (y, dx) = (t.Poisoned(n, s.Heads, s.HeadDim), t.Scaled(GradientStart, n, s.Heads, s.HeadDim));
            t.Backend.RopeForward(y, x, positions, invFreq, n, s.Heads, s.HeadDim);
            t.Backend.RopeBackward(dx, dy, positions, invFreq, n, s.Heads, s.HeadDim);
            return [new("fwd y", t.Read(y), ShortSum), new("bwd dx", t.Read(dx), ShortSum)];
        });

        foreach (int kvHeads in new[] { s.Heads, s.KvHeads }.Distinct())
        {
            var a = new AttentionShape(s.Batch, s.SeqLen, s.Heads, kvHeads, s.HeadDim);
            yield return new("attention", $"B={a.Batch} T={a.SeqLen} H={a.Heads} KV={a.KvHeads} D={a.HeadDim}", t =>
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

        // Cached attention at both head layouts: row 0 continues a half-full cache with a few tokens, row 1 (and any later row) decodes one
        // token after left padding, so slots are ragged and some queries are padding.
        foreach (int kvHeads in new[] { s.Heads, s.KvHeads }.Distinct())
        {
            int cacheRows = s.Batch, capacity = s.SeqLen, newTokens = Math.Max(1, capacity / 4), width = kvHeads * s.HeadDim;
            var a = new CachedAttentionShape(cacheRows, newTokens, capacity, s.Heads, kvHeads, s.HeadDim);
            int[] slots = CachedSlots(cacheRows, newTokens, capacity);
            yield return new("cached attention", $"rows={cacheRows} new={newTokens} cap={capacity} H={s.Heads} KV={kvHeads} D={s.HeadDim}", t =>
            {
                var (q, k, v) = (t.Scaled(2, cacheRows, newTokens, s.Heads, s.HeadDim), t.Scaled(2, cacheRows, newTokens, width), t.Uniform(cacheRows, newTokens, width));
                var (kCache, vCache, output) = (t.Scaled(2, cacheRows, capacity, width), t.Uniform(cacheRows, capacity, width), t.Poisoned(cacheRows, newTokens, s.Heads, s.HeadDim));
                t.Backend.CachedAttentionForward(output, q, k, v, kCache, vCache, t.Ints(slots), a);
                return [new("fwd out", t.Read(output), LongSum), new("kCache", t.Read(kCache), ShortSum), new("vCache", t.Read(vCache), ShortSum)];
            });
        }

        yield return new("gelu", $"n={n} c={f}", t =>
        {
            var (x, dy, y, dx) = (t.Scaled(4, n, f), t.Uniform(n, f), t.Poisoned(n, f), t.Scaled(GradientStart, n, f));
            t.Backend.GeluForward(y, x);
            t.Backend.GeluBackward(dx, dy, x);
            return [new("fwd y", t.Read(y), ShortSum), new("bwd dx", t.Read(dx), ShortSum)];
        });

        yield return new("swiglu", $"n={n} c={f}", t =>
        {
            var (gate, up, dy, y) = (t.Scaled(4, n, f), t.Uniform(n, f), t.Uniform(n, f), t.Poisoned(n, f));
            var (dGate, dUp) = (t.Scaled(GradientStart, n, f), t.Scaled(GradientStart, n, f));
            t.Backend.SwiGluForward(y, gate, up);
            t.Backend.SwiGluBackward(dGate, dUp, dy, gate, up);
            return [new("fwd y", t.Read(y), ShortSum), new("bwd dgate", t.Read(dGate), ShortSum), new("bwd dup", t.Read(dUp), ShortSum)];
        });

        yield return new("elementwise", rows, t =>
        {
            var (a, b, y, dst, x) = (t.Uniform(n, c), t.Uniform(n, c), t.Poisoned(n, c), t.Uniform(n, c), t.Uniform(n, c));
            t.Backend.Add(y, a, b);
            t.Backend.Accumulate(dst, a);
            t.Backend.Scale(x, 0.37f);
            float sumOfSquares = (float)t.Backend.SumOfSquares(b);
            return [new("add y", t.Read(y), ShortSum), new("accumulate dst", t.Read(dst), ShortSum), new("scale x", t.Read(x), ShortSum),
                new("sumsq", [sumOfSquares], ShortSum)];
        });

        yield return new("dropout", rows, t =>
        {
            var (x, y, dy, dx) = (t.Uniform(n, c), t.Poisoned(n, c), t.Uniform(n, c), t.Scaled(GradientStart, n, c));
            t.Backend.DropoutForward(y, x, 0.25f, 1.5f, seed: 12345);
            t.Backend.DropoutBackward(dx, dy, 0.25f, 1.5f, seed: 12345);
            return [new("fwd y", t.Read(y), ShortSum), new("bwd dx", t.Read(dx), ShortSum)];
        });

        yield return new("adamw", $"params={f}x{c}", t =>
        {
            var (param, grad, m, v) = (t.Uniform(f, c), t.Uniform(f, c), t.Scaled(0.1f, f, c), t.Positive(f, c));
            t.Backend.AdamW(param, grad, m, v, new AdamWStep(1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, Step: 3));
            return [new("param", t.Read(param), ShortSum), new("m", t.Read(m), ShortSum), new("v", t.Read(v), ShortSum)];
        });

        yield return new("cross-entropy", $"rows={s.HeadRows} c={c} vocab={s.Vocab}", t =>
        {
            int r = s.HeadRows;
            var (x, w) = (t.Uniform(r, c), t.Uniform(s.Vocab, c));
            var targets = t.Ints(Enumerable.Range(0, r).Select(_ => t.NextInt(8) == 0 ? -1 : t.NextInt(s.Vocab)).ToArray());
            var (dx, dw) = (t.Scaled(GradientStart, r, c), t.Scaled(GradientStart, s.Vocab, c));
            double loss = t.Backend.CrossEntropyForwardBackward(dx, dw, x, w, targets, r, c, s.Vocab, gradScale: 0.5f);
            double lossOnly = t.Backend.CrossEntropyForwardBackward(null, null, x, w, targets, r, c, s.Vocab, gradScale: 0.5f);
            return [new("loss", [(float)loss], LongSum), new("loss (no grad)", [(float)lossOnly], LongSum),
                new("dx", t.Read(dx), LongSum), new("dw", t.Read(dw), LongSum)];
        });
    }

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

    /// <summary>Segment ids of packed rows: each row holds a few examples, a new one starting at a position with probability 3/seqLen.</summary>
    private static int[] PackedSegments(TensorScope t, int batch, int seqLen)
    {
        var segments = new int[batch * seqLen];
        for (int b = 0; b < batch; b++)
            for (int i = 1; i < seqLen; i++)
                segments[b * seqLen + i] = segments[b * seqLen + i - 1] + (t.NextInt(seqLen) < 3 ? 1 : 0);
        return segments;
    }

    /// <summary>
    /// The bf16 tensor-core matmul (no IBackend op yet: launched directly on the backend's accelerator), y = x·wᵀ with x, w rounded to bf16,
    /// against float64 products of the rounded inputs (only float32 accumulation differs) and of the float32 originals (bf16 rounding shows).
    /// </summary>
    private static List<SelftestRow> Bf16MatMul(IlgpuBackend backend, (int Rows, int InDim, int OutDim) shape, int seed)
    {
        var (n, inDim, outDim) = shape;
        string shapeText = $"n={n} in={inDim} out={outDim}";
        try
        {
            var rng = new Random(seed);
            float[] Draw(int length) => Enumerable.Range(0, length).Select(_ => 2 * rng.NextSingle() - 1).ToArray();
            float[] x = Draw(n * inDim), w = Draw(outDim * inDim);
            ushort[] xBits = new ushort[x.Length], wBits = new ushort[w.Length];
            Bf16.FromFloat(x, xBits);
            Bf16.FromFloat(w, wBits);
            float[] xRounded = new float[x.Length], wRounded = new float[w.Length];
            Bf16.ToFloat(xBits, xRounded);
            Bf16.ToFloat(wBits, wRounded);

            var accelerator = backend.Accelerator;
            using var xDevice = accelerator.Allocate1D(xBits);
            using var wDevice = accelerator.Allocate1D(wBits);
            using var y = backend.Allocate(DType.F32, n, outDim);
            backend.Upload(y, Enumerable.Repeat(float.NaN, n * outDim).ToArray());
            new MatMul(accelerator).ForwardBf16(IlgpuBackend.F(y), xDevice.AsContiguous(), wDevice.AsContiguous(), n, inDim, outDim);
            var actual = new float[n * outDim];
            backend.Download(y, actual);
            return
            [
                new("matmul bf16", "fwd y", shapeText, RelativeError(Float64Reference.MatMul(Wide(xRounded), Wide(wRounded), null, n, inDim, outDim), actual), LongSum),
                new("matmul bf16", "fwd y vs fp32 inputs", shapeText, RelativeError(Float64Reference.MatMul(Wide(x), Wide(w), null, n, inDim, outDim), actual), Bf16Operands),
            ];
        }
        catch (Exception e)
        {
            return [new("matmul bf16", "-", shapeText, double.NaN, 0, $"{e.GetType().Name}: {e.Message}")];
        }
    }

    private static double[] Wide(float[] values) => Array.ConvertAll(values, v => (double)v);
}
