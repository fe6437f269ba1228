using System.CommandLine;
using Engine.Data;
using Engine.IO;

namespace Engine.Cli;

/// <summary>
/// The `engine` command line, callable in process: parses the arguments, runs the command, and turns an error the user can fix
/// (bad data, a bad model directory, a bad option) into exit code 1 and one line `error: ...` instead of a stack trace.
/// </summary>
public static class EngineCli
{
    /// <summary>Runs one command line; parse errors and error lines go to error, the command's own report to the console.</summary>
    public static int Run(string[] args, TextWriter error)
    {
        var root = new RootCommand("engine: supervised fine-tuning of transformer language models, on the CPU or an NVIDIA GPU")
        {
            SftCommand.Create(), CurateCommand.Create(), TrainCommand.Create(), GenerateCommand.Create(), ChatCommand.Create(), BenchCommand.Create(), SelftestCommand.Create(), MergeCommand.Create(), TradeoffCommand.Create(), EvalCommand.Create(),
        };
        try
        {
            return root.Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false, Error = error });
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or InvalidDataException or DataFormatException or CheckpointFormatException)
        {
            error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }
}
