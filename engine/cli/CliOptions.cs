using System.CommandLine;
using Engine.Backends;

namespace Engine.Cli;

/// <summary>Options shared by several commands.</summary>
public static class CliOptions
{
    public static Option<string> Backend()
    {
        var option = new Option<string>("--backend")
        {
            Description = "auto (CUDA when a device is present, else cpu), cpu, cuda, or ilgpu-cpu (ILGPU's CPU simulator: tests, not speed)",
            DefaultValueFactory = _ => "auto",
        };
        option.AcceptOnlyFromAmong(BackendChoice.Names);
        return option;
    }

    /// <summary>--precision of the training commands: bf16 or fp32; not given (null): bf16 on CUDA, fp32 elsewhere (<see cref="BackendChoice.Create(string, string?)"/>).</summary>
    public static Option<string?> Precision()
    {
        var option = new Option<string?>("--precision")
        {
            Description = "what the matmuls multiply: bf16 (bf16 operands, fp32 sums, fp32 master weights and AdamW; ILGPU backends only) or fp32; " +
                          "default bf16 on cuda, fp32 on cpu and ilgpu-cpu",
        };
        option.AcceptOnlyFromAmong(BackendChoice.Precisions);
        return option;
    }

    /// <summary>The filter of an --only option: op names starting with one of its comma-separated prefixes; null (all ops) when not given.</summary>
    public static Func<string, bool>? OpFilter(string? only)
    {
        if (string.IsNullOrWhiteSpace(only)) return null;
        var prefixes = only.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return op => prefixes.Any(p => op.StartsWith(p, StringComparison.OrdinalIgnoreCase));
    }
}
