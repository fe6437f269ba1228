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
/// max|actual − expected| / max|expected|. On an <see cref="IlgpuBackend"/> the bf16 matmul kernel is checked too, against float64 references.
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
