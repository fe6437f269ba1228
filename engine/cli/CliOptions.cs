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

    /// <summary>The filter of an --only option: op names starting with one of its comma-separated prefixes; null (all ops) when not given.</summary>
    public static Func<string, bool>? OpFilter(string? only)
    {
        if (string.IsNullOrWhiteSpace(only)) return null;
        var prefixes = only.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return op => prefixes.Any(p => op.StartsWith(p, StringComparison.OrdinalIgnoreCase));
    }
}
