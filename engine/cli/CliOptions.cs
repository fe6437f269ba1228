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
}
