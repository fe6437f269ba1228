using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Engine.Backends;

namespace Engine.Bench;

/// <summary>
/// The three products of a linear layer on the CPU: forward y = x·wᵀ, backward dx += dy·w and dw += dyᵀ·x,
/// each 2·n·inDim·outDim flops (the GFLOP/s column).
/// </summary>
[Config(typeof(MatMulBenchConfig))]
public class MatMulBench
{
    private float[] _x = [], _w = [], _y = [], _dy = [], _dx = [], _dw = [];

    public static IEnumerable<MatMulShape> Shapes =>
    [
        new(1024, 1024, 1024),
        new(1024, 128, 512),
        new(1024, 768, 3072),
        new(1024, 3072, 768),
        new(256, 768, 50257),
    ];

    [ParamsSource(nameof(Shapes))]
    public MatMulShape Shape { get; set; } = new(1, 1, 1);

    [GlobalSetup]
    public void Setup()
    {
        var (n, inDim, outDim) = (Shape.N, Shape.InDim, Shape.OutDim);
        _x = Uniform(n * inDim, 1);
        _w = Uniform(outDim * inDim, 2);
        _dy = Uniform(n * outDim, 3);
        _y = new float[n * outDim];
        _dx = new float[n * inDim];
        _dw = new float[outDim * inDim];
    }

    [Benchmark]
    public void Forward() => CpuMatMul.Forward(_y, _x, _w, default, Shape.N, Shape.InDim, Shape.OutDim);

    [Benchmark]
    public void BackwardDx() => CpuMatMul.Backward(_dx, default, default, _dy, _x, _w, Shape.N, Shape.InDim, Shape.OutDim);

    [Benchmark]
    public void BackwardDw() => CpuMatMul.Backward(default, _dw, default, _dy, _x, _w, Shape.N, Shape.InDim, Shape.OutDim);

    private static float[] Uniform(int n, int seed)
    {
        var rng = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
        return a;
    }
}

/// <summary>n rows × inDim → outDim.</summary>
public sealed record MatMulShape(int N, int InDim, int OutDim)
{
    public double Flops => 2.0 * N * InDim * OutDim;

    public override string ToString() => $"{N}x{InDim}x{OutDim}";
}

public sealed class MatMulBenchConfig : ManualConfig
{
    public MatMulBenchConfig() => AddColumn(new GflopsColumn());
}

/// <summary>2·n·inDim·outDim / mean time.</summary>
public sealed class GflopsColumn : IColumn
{
    public string Id => nameof(GflopsColumn);
    public string ColumnName => "GFLOP/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "2·n·inDim·outDim / mean time, in 10^9 flops per second";

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var report = summary[benchmarkCase];
        if (report?.ResultStatistics is not { } stats || benchmarkCase.Parameters["Shape"] is not MatMulShape shape) return "-";
        return (shape.Flops / stats.Mean).ToString("F1");
    }
}
