using System.CommandLine;
using Engine.Cli;

var root = new RootCommand("engine: supervised fine-tuning of transformer language models, on the CPU or an NVIDIA GPU");
root.Subcommands.Add(SftCommand.Create());
root.Subcommands.Add(TrainCommand.Create());
root.Subcommands.Add(GenerateCommand.Create());
root.Subcommands.Add(ChatCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(SelftestCommand.Create());
try
{
    return root.Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or InvalidDataException or Engine.Data.DataFormatException or Engine.IO.CheckpointFormatException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
