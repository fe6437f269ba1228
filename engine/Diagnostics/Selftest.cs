using System.Text.Json;
using Engine.Backends;
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
/// Kernel parity at chosen sizes: every op of <see cref="IBackend"/> runs the checks of its <see cref="OpCases"/> entry on the same random
/// inputs through the backend under test and through <see cref="CpuBackend"/> (the oracle), and each output is compared by
/// max|actual − expected| / max|expected|. On an <see cref="IlgpuBackend"/> a bf16 backend on the same accelerator is checked too: its linear
/// layer against float64 references, its fused LM head against the oracle at bf16 tolerance.
/// </summary>
public static class Selftest
{
    /// <summary>No reduction, or a sum over one row of a few thousand elements: a few float32 ulps (ε = 6e-8) of the largest value.</summary>
    public const double ShortSum = 1e-5;

    /// <summary>Sums over thousands of terms in another order (matmul k, attention keys, dW over all rows, the vocabulary): rounding grows like √terms·ε.</summary>
    public const double LongSum = 1e-4;

    /// <summary>bf16 operands against the float32 ones they were rounded from: 2⁻⁹ relative rounding per operand (METHOD.md: 1e-3 to 1e-2).</summary>
    public const double Bf16Operands = 1e-2;

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
        foreach (var family in OpCases.Families)
            foreach (var check in family.Checks(sizes))
            {
                checkSeed++;
                if (include is not null && !include(family.Name)) continue;
                try
                {
                    var expected = Outputs(oracle, check, checkSeed);
                    var actual = Outputs(backend, check, checkSeed);
                    for (int i = 0; i < expected.Length; i++)
                        Add(new SelftestRow(family.Name, expected[i].Name, check.Shape, RelativeError(expected[i].Values, actual[i].Values), expected[i].Tolerance));
                }
                catch (Exception e)
                {
                    Add(new SelftestRow(family.Name, "-", check.Shape, double.NaN, 0, $"{e.GetType().Name}: {e.Message}"));
                }
            }
        if (backend is IlgpuBackend ilgpu)
        {
            using var bf16 = new IlgpuBackend(ilgpu.Accelerator, Precision.Bf16);
            if (include is null || include("matmul bf16"))
                foreach (var shape in sizes.MatMuls)
                    foreach (var row in Bf16MatMul(bf16, shape, ++checkSeed)) Add(row);
            // The fused LM head at bf16 (its three matmuls on bf16 operands, the softmax and loss in fp32) against the fp32 oracle.
            foreach (var family in OpCases.Families.Where(f => f.Name == "cross-entropy"))
                foreach (var check in family.Checks(sizes))
                {
                    checkSeed++;
                    string name = family.Name + " bf16";
                    if (include is not null && !include(name)) continue;
                    try
                    {
                        var expected = Outputs(oracle, check, checkSeed);
                        var actual = Outputs(bf16, check, checkSeed);
                        for (int i = 0; i < expected.Length; i++)
                            Add(new SelftestRow(name, expected[i].Name, check.Shape, RelativeError(expected[i].Values, actual[i].Values), Bf16Operands));
                    }
                    catch (Exception e)
                    {
                        Add(new SelftestRow(name, "-", check.Shape, double.NaN, 0, $"{e.GetType().Name}: {e.Message}"));
                    }
                }
        }
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

    private static SelftestOutput[] Outputs(IBackend backend, SelftestCheck check, int seed)
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

    /// <summary>max|actual − expected| / max(max|expected|, tiny): a norm-wise relative error; infinite when the lengths differ or an element is NaN.</summary>
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

    /// <summary>
    /// A linear layer at bf16 (<see cref="Precision.Bf16"/>: y = x·Wᵀ + bias, dx += dy·W, dW += dyᵀ·x on bf16 operands, dbias += Σ dy in fp32),
    /// through the backend's ops, against float64 products of the bf16-rounded operands (only the fp32 sums differ) and of the fp32
    /// originals (bf16 rounding shows). The gradients start at random values; what the backward added is compared.
    /// </summary>
    private static List<SelftestRow> Bf16MatMul(IlgpuBackend backend, (int Rows, int InDim, int OutDim) shape, int seed)
    {
        var (n, inDim, outDim) = shape;
        string shapeText = $"n={n} in={inDim} out={outDim}";
        try
        {
            var rng = new Random(seed);
            float[] Draw(int length) => Enumerable.Range(0, length).Select(_ => 2 * rng.NextSingle() - 1).ToArray();
            float[] x = Draw(n * inDim), w = Draw(outDim * inDim), bias = Draw(outDim), dy = Draw(n * outDim);
            float[] dxStart = Draw(n * inDim), dwStart = Draw(outDim * inDim), dbStart = Draw(outDim);
            Tensor Put(float[] values, params int[] dims)
            {
                var t = backend.Allocate(DType.F32, dims);
                backend.Upload(t, values);
                return t;
            }
            float[] Added(Tensor t, float[] start)
            {
                var values = new float[t.Length];
                backend.Download(t, values);
                for (int i = 0; i < values.Length; i++) values[i] -= start[i];
                return values;
            }
            using Tensor xd = Put(x, n, inDim), wd = Put(w, outDim, inDim), biasd = Put(bias, outDim), dyd = Put(dy, n, outDim);
            using Tensor y = Put(Enumerable.Repeat(float.NaN, n * outDim).ToArray(), n, outDim);
            using Tensor dx = Put(dxStart, n, inDim), dw = Put(dwStart, outDim, inDim), db = Put(dbStart, outDim);
            backend.MatMulForward(y, xd, wd, biasd, n, inDim, outDim);
            backend.MatMulBackward(dx, dw, db, dyd, xd, wd, n, inDim, outDim);
            var actualY = new float[n * outDim];
            backend.Download(y, actualY);
            var (actualDx, actualDw, actualDb) = (Added(dx, dxStart), Added(dw, dwStart), Added(db, dbStart));

            var rows = new List<SelftestRow>();
            void Compare(string output, double[] rounded, double[] exact, float[] actual)
            {
                rows.Add(new("matmul bf16", output, shapeText, RelativeError(rounded, actual), LongSum));
                rows.Add(new("matmul bf16", output + " vs fp32", shapeText, RelativeError(exact, actual), Bf16Operands));
            }
            double[] x64 = Wide(x), w64 = Wide(w), dy64 = Wide(dy), xr = Rounded(x), wr = Rounded(w), dyr = Rounded(dy);
            Compare("fwd y", Float64Reference.MatMul(xr, wr, Wide(bias), n, inDim, outDim), Float64Reference.MatMul(x64, w64, Wide(bias), n, inDim, outDim), actualY);
            // dx = dy·W = dy·(Wᵀ)ᵀ; dW = dyᵀ·x = dyᵀ·(xᵀ)ᵀ: the forward's product over transposed operands.
            Compare("bwd dx", Float64Reference.MatMul(dyr, Float64Reference.Transpose(wr, outDim, inDim), null, n, outDim, inDim),
                Float64Reference.MatMul(dy64, Float64Reference.Transpose(w64, outDim, inDim), null, n, outDim, inDim), actualDx);
            Compare("bwd dw", Float64Reference.MatMul(Float64Reference.Transpose(dyr, n, outDim), Float64Reference.Transpose(xr, n, inDim), null, outDim, n, inDim),
                Float64Reference.MatMul(Float64Reference.Transpose(dy64, n, outDim), Float64Reference.Transpose(x64, n, inDim), null, outDim, n, inDim), actualDw);
            var dbias = new double[outDim];
            for (int r = 0; r < n; r++)
                for (int o = 0; o < outDim; o++) dbias[o] += dy64[(long)r * outDim + o];
            rows.Add(new("matmul bf16", "bwd db (fp32 dy)", shapeText, RelativeError(dbias, actualDb), LongSum));
            return rows;
        }
        catch (Exception e)
        {
            return [new("matmul bf16", "-", shapeText, double.NaN, 0, $"{e.GetType().Name}: {e.Message}")];
        }
    }

    /// <summary>Each value rounded to bf16, widened to float64.</summary>
    private static double[] Rounded(float[] values) => Array.ConvertAll(values, v => (double)Bf16.ToFloat(Bf16.FromFloat(v)));

    private static double[] Wide(float[] values) => Array.ConvertAll(values, v => (double)v);
}
