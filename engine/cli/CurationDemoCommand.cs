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
        var pretrain = new Option<int>("--pretrain-steps") { Description = "pretraining steps of the base model and of the teacher's base", DefaultValueFactory = _ => 150 };
        var maxNewTokens = new Option<int>("--max-new-tokens") { Description = "most tokens of a best-of-K sample and of a teacher's answer", DefaultValueFactory = _ => 48 };
        var backend = CliOptions.Backend();
        var command = new Command("demo", "The curation experiment: quality against quantity, rejection sampling, distillation (built-in model and data)")
            { output, steps, teacherSteps, k, rounds, pretrain, maxNewTokens, backend };
        command.SetAction(r =>
        {
            string dir = Directory.CreateDirectory(r.GetValue(output)!).FullName;
            var settings = new ExperimentSettings(dir, r.GetValue(steps), K: r.GetValue(k), Rounds: r.GetValue(rounds), TeacherSteps: r.GetValue(teacherSteps), PretrainSteps: r.GetValue(pretrain), Backend: r.GetValue(backend)!,
                MaxNewTokens: r.GetValue(maxNewTokens));
            if (settings.Steps < 2 || settings.K < 1 || settings.Rounds < 0 || settings.MaxNewTokens < 1)
                throw new ArgumentException("--steps ≥ 2, --k ≥ 1, --rounds ≥ 0 and --max-new-tokens ≥ 1 are needed");
            string filterTable = "";
            var clock = System.Diagnostics.Stopwatch.StartNew();
            void Save(IReadOnlyList<ArmResult> sofar)
            {
                File.WriteAllText(Path.Combine(dir, "results.md"), $"{filterTable}\n\n{CurationExperiment.Table(sofar)}\n\n(engine curate demo --steps {settings.Steps} " +
                    $"--teacher-steps {settings.TeacherSteps} --k {settings.K} --rounds {settings.Rounds} --pretrain-steps {settings.PretrainSteps} --max-new-tokens {settings.MaxNewTokens}: {sofar.Count} arms in {clock.Elapsed.TotalMinutes:F1} min)\n");
                CurationExperiment.Plot(sofar, Path.Combine(dir, "curation.png"));
            }
            var results = CurationExperiment.Run(settings, Console.Out, t => filterTable = t, Save);
            string table = CurationExperiment.Table(results);
            Console.WriteLine();
            Console.WriteLine(filterTable);
            Console.WriteLine();
            Console.WriteLine(table);
            Console.WriteLine($"wrote {Path.Combine(dir, "results.md")} and curation.png (rewritten after every arm) in {clock.Elapsed.TotalMinutes:F1} min");
            return 0;
        });
        return command;
    }
}
