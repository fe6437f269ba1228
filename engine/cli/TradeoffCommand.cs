using System.CommandLine;
using Engine.Eval;

namespace Engine.Cli;

/// <summary>`engine tradeoff`: the summaries of several engine sft runs as one table and one plot of target gain against forgetting.</summary>
public static class TradeoffCommand
{
    public static Command Create()
    {
        var runs = new Argument<DirectoryInfo[]>("runs") { Description = "the --out directories of engine sft runs (each holds summary.json)", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--out") { Description = "directory for tradeoff.md and tradeoff.png", DefaultValueFactory = _ => "runs/tradeoff" };
        var command = new Command("tradeoff", "Compare fine-tuning runs: what each learned, what it forgot, what it cost") { runs, output };
        command.SetAction(r =>
        {
            var summaries = r.GetValue(runs)!.Select(d => (d.Name, FineTuneSummary.Read(d.FullName))).ToList();
            string dir = r.GetValue(output)!;
            Directory.CreateDirectory(dir);
            string table = Tradeoff.Table(summaries);
            File.WriteAllText(Path.Combine(dir, "tradeoff.md"), table);
            Tradeoff.Plot(summaries, Path.Combine(dir, "tradeoff.png"));
            Console.Write(table);
            Console.WriteLine($"wrote {Path.Combine(dir, "tradeoff.md")} and {Path.Combine(dir, "tradeoff.png")}");
            return 0;
        });
        return command;
    }
}
