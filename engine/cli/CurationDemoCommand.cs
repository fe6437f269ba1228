using System.CommandLine;
using Engine.Curation;

namespace Engine.Cli;

/// <summary>
/// `engine curate demo`: the curation experiment on the built-in model and data (<see cref="CurationExperiment"/>); writes results.md
/// (the filter's table by kind of noise and the arms' table) and curation.png (exact match per arm) to --out.
/// </summary>
public static class CurationDemoCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "directory for the data, the runs, results.md and curation.png", DefaultValueFactory = _ => "runs/curation-demo" };
        var steps = new Option<int>("--steps") { Description = "SFT steps of each arm (a best-of-K round: half)", DefaultValueFactory = _ => 150 };
        var teacherSteps = new Option<int>("--teacher-steps") { Description = "SFT steps of the teacher", DefaultValueFactory = _ => 300 };
        var k = new Option<int>("--k") { Description = "best-of-K samples per fresh prompt", DefaultValueFactory = _ => 8 };
        var rounds = new Option<int>("--rounds") { Description = "rejection-sampling fine-tuning rounds", DefaultValueFactory = _ => 2 };
        var backend = CliOptions.Backend();
        var command = new Command("demo", "The curation experiment: quality against quantity, rejection sampling, distillation (built-in model and data)")
            { output, steps, teacherSteps, k, rounds, backend };
        command.SetAction(r =>
        {
            string dir = Directory.CreateDirectory(r.GetValue(output)!).FullName;
            var settings = new ExperimentSettings(dir, r.GetValue(steps), K: r.GetValue(k), Rounds: r.GetValue(rounds), TeacherSteps: r.GetValue(teacherSteps), Backend: r.GetValue(backend)!);
            if (settings.Steps < 2 || settings.K < 1 || settings.Rounds < 0) throw new ArgumentException("--steps ≥ 2, --k ≥ 1 and --rounds ≥ 0 are needed");
            string filterTable = "";
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var results = CurationExperiment.Run(settings, Console.Out, table => filterTable = table);
            string table = CurationExperiment.Table(results);
            File.WriteAllText(Path.Combine(dir, "results.md"), $"{filterTable}\n\n{table}\n\n(engine curate demo --steps {settings.Steps} --teacher-steps {settings.TeacherSteps} --k {settings.K} --rounds {settings.Rounds}: {clock.Elapsed.TotalMinutes:F1} min)\n");
            CurationExperiment.Plot(results, Path.Combine(dir, "curation.png"));
            Console.WriteLine();
            Console.WriteLine(filterTable);
            Console.WriteLine();
            Console.WriteLine(table);
            Console.WriteLine($"wrote {Path.Combine(dir, "results.md")} and curation.png in {clock.Elapsed.TotalMinutes:F1} min");
            return 0;
        });
        return command;
    }
}
