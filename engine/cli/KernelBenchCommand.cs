using System.CommandLine;
using Engine.Backends;
using Engine.Diagnostics;

namespace Engine.Cli;

/// <summary>`engine bench kernels`: times each kernel after warm-up (median of repeated runs) with its GFLOP/s or GB/s.</summary>
public static class KernelBenchCommand
{
    public static Command Create()
    {
        var backend = CliOptions.Backend();
        var size = new Option<string?>("--size") { Description = "gpu (issue 3's shapes), cpu or tiny; default: gpu on cuda, tiny on ilgpu-cpu, else cpu" };
        size.AcceptOnlyFromAmong("gpu", "cpu", "tiny");
        var only = new Option<string?>("--only") { Description = "comma-separated op-name prefixes to time (e.g. matmul,attention); default: all" };
        var warmup = new Option<int>("--warmup") { Description = "untimed runs of each op first", DefaultValueFactory = _ => 2 };
        var repeats = new Option<int>("--repeats") { Description = "timed samples of each op (the median is reported)", DefaultValueFactory = _ => 20 };
        var maxSeconds = new Option<double>("--max-seconds") { Description = "stop sampling an op after this long (at least 3 samples)", DefaultValueFactory = _ => 3 };
        var json = new Option<FileInfo?>("--json") { Description = "also write the rows to this file (the keys bench/gpu/compare.py reads)" };

        var command = new Command("kernels", "Time each kernel: median ms, GFLOP/s or GB/s, and a whole training step")
            { backend, size, only, warmup, repeats, maxSeconds, json };
        command.SetAction(r =>
        {
            using var device = BackendChoice.Create(r.GetValue(backend)!);
            string defaultSize = device.Name switch { "ilgpu-cuda" => "gpu", "ilgpu-cpu" => "tiny", _ => "cpu" };
            var sizes = KernelBenchSizes.Named(r.GetValue(size) ?? defaultSize);
            var options = new KernelBenchOptions(r.GetValue(warmup), r.GetValue(repeats), r.GetValue(maxSeconds));
            Console.WriteLine($"bench kernels: backend {device.Name}, {sizes.Name} sizes, {options.Repeats} samples (at most {options.MaxSecondsPerOp} s) after {options.Warmup} warm-up runs");
            if (device.Name == "cpu") Console.WriteLine($"matmul: {Engine.Backends.CpuMatMul.HostBlocking}");
            Console.WriteLine(KernelBench.Header);
            var rows = KernelBench.Run(device, sizes, options, CliOptions.OpFilter(r.GetValue(only)), row => Console.WriteLine(KernelBench.Format(row)));
            if (r.GetValue(json) is { } file) File.WriteAllText(file.FullName, KernelBench.ToJson(device.Name, sizes, rows));
            return rows.All(row => row.Failure is null) ? 0 : 1;
        });
        return command;
    }
}
