using System.CommandLine;
using System.CommandLine.Parsing;
using Engine.Backends;
using Engine.Checks;
using Engine.Data;
using Engine.Eval;
using Engine.Generation;
using Engine.IO;
using Engine.Jobs;
using Spectre.Console;

namespace Engine.Cli;

/// <summary>
/// `engine eval`: models side by side on a suite of tasks (exact match with lm-eval's filters, IFEval instruction following, held-out loss,
/// multiple choice), each with its standard error and its delta to the first model; a regression flag, and with --gate an exit code that
/// refuses a fine-tune which got worse on a task it was not meant to change. `engine eval ifeval` scores given responses without a model.
/// </summary>
public static class EvalCommand
{
    /// <summary>The exit code of a run whose --gate failed (bad input is 1).</summary>
    public const int GateFailed = 2;

    public static Command Create()
    {
        var model = new Option<string[]>("--model") { Description = "a model directory; repeat for models side by side (the first is the base the others are compared with)", Arity = ArgumentArity.OneOrMore };
        var adapter = new Option<string[]>("--adapter") { Description = "a PEFT LoRA adapter applied (unmerged) to the --model just before it", Arity = ArgumentArity.OneOrMore };
        var suite = new Option<FileInfo?>("--suite") { Description = "a suite file (JSON, docs/EVAL.md); default: the built-in suite of the embedded model, or --data" };
        var data = new Option<FileInfo?>("--data") { Description = "instead of a suite: held-out conversations (JSONL) scored by exact match and loss" };
        var forgetData = new Option<FileInfo?>("--forget-data") { Description = "with --data: held-out text of another domain (JSONL) whose loss measures forgetting" };
        var exactMatch = new Option<int>("--exact-match") { Description = "with --data: conversations answered greedily for exact match", DefaultValueFactory = _ => SftJob.ExactMatchExamples };
        var output = new Option<string>("--out") { Description = "directory for eval.json, eval.md, eval.png (and samples.jsonl)", DefaultValueFactory = _ => "runs/eval" };
        var samples = new Option<int>("--samples") { Description = "K sampled answers per exact-task prompt besides the greedy one: pass@1, pass@K, maj@K", DefaultValueFactory = _ => 1 };
        var temperature = new Option<float>("--temperature") { Description = "temperature of the --samples answers", DefaultValueFactory = _ => 0.8f };
        var seed = new Option<int>("--seed") { Description = "seed of the sampled answers", DefaultValueFactory = _ => 1 };
        var batch = new Option<int>("--batch") { Description = "prompts generated at once", DefaultValueFactory = _ => 16 };
        var gate = new Option<string?>("--gate") { Description = "target=TASK[,TASK]: exit 2 when any other task regressed beyond its noise in any model" };
        var logSamples = new Option<bool>("--log-samples") { Description = "write samples.jsonl: every prompt, response, extracted answer and verdict" };
        var chatTemplate = ModelOptions.ChatTemplate();
        var backend = CliOptions.Backend();
        var command = new Command("eval", "Models side by side on a suite: what improved, what regressed, and a gate that refuses a model that forgot")
            { model, adapter, suite, data, forgetData, exactMatch, output, samples, temperature, seed, batch, gate, logSamples, chatTemplate, backend };
        command.Subcommands.Add(IfEvalCommand());
        command.SetAction(r =>
        {
            var pairs = ModelPairs(r);
            var evalSuite = r.GetValue(suite) is { } file ? SuiteFile.Read(file.FullName)
                : r.GetValue(data) is { } target ? QuickSuite(target, r.GetValue(forgetData), r.GetValue(exactMatch))
                : BuiltInSuite.Create();
            var targets = r.GetValue(gate) is { } spec ? EvalComparison.ParseGate(spec, evalSuite.Tasks.Select(t => t.Name).ToList()) : null;
            var options = new EvalOptions(r.GetValue(samples), r.GetValue(temperature), r.GetValue(seed), r.GetValue(batch));
            options.Validate();
            Console.WriteLine($"suite {evalSuite.Name}: {string.Join(", ", evalSuite.Tasks.Select(t => $"{t.Name} ({t.Kind}, {t.Count})"))}");

            using var device = BackendChoice.Create(r.GetValue(backend)!);
            var results = new List<ModelResults>();
            foreach (var (dir, adapterDir, label) in pairs)
            {
                using var loaded = Load(dir, adapterDir, device);
                var evalModel = new EvalModel(label, loaded.Model, loaded.ChatTemplate(r.GetValue(chatTemplate)), StopIds(loaded, r.GetValue(chatTemplate)));
                var tasks = evalSuite.Tasks.Select(t =>
                {
                    var result = TaskRunner.Run(t, evalModel, options);
                    Console.WriteLine($"{label}: {t.Name} {result.Primary.Name} {EvalReport.Format(result.Primary.Value, result.Primary.Name)} ({result.Examples} in {result.Seconds:F1} s, {result.Examples / result.Seconds:F1} examples/s)");
                    return result;
                }).ToList();
                results.Add(new ModelResults(label, tasks));
            }
            var rows = EvalComparison.Compare(results);
            var failures = targets is null ? [] : EvalComparison.GateFailures(rows, targets);
            Show(results, rows);
            string dirOut = r.GetValue(output)!;
            var written = EvalReport.Write(dirOut, evalSuite.Name, results, rows, targets, failures).ToList();
            if (r.GetValue(logSamples)) written.Add(EvalReport.WriteSamples(dirOut, results));
            Console.WriteLine($"wrote {string.Join(", ", written)}");
            if (targets is null) return 0;
            Console.WriteLine(failures.Count == 0
                ? $"gate passed: no task other than {string.Join(", ", targets)} regressed"
                : $"gate failed: {string.Join(", ", failures)} regressed beyond {EvalComparison.Noise} standard errors");
            return failures.Count == 0 ? 0 : GateFailed;
        });
        return command;
    }

    /// <summary>`engine eval ifeval`: Google's IFEval scoring of a responses file against its data, no model.</summary>
    private static Command IfEvalCommand()
    {
        var data = new Option<FileInfo>("--data") { Description = "IFEval prompts (input_data.jsonl: key, prompt, instruction_id_list, kwargs)", Required = true };
        var responses = new Option<FileInfo>("--responses") { Description = "responses (JSONL: prompt, response), one per prompt of --data", Required = true };
        var output = new Option<string?>("--out") { Description = "directory for eval.json and eval.md (and samples.jsonl with --log-samples)" };
        var logSamples = new Option<bool>("--log-samples") { Description = "write samples.jsonl: every prompt, response and each instruction's verdict" };
        var command = new Command("ifeval", "Score given responses as IFEval does (strict and loose, prompt- and instruction-level, per instruction), without a model")
            { data, responses, output, logSamples };
        command.SetAction(r =>
        {
            var items = IfEvalData.ReadPrompts(r.GetValue(data)!.FullName);
            var answers = IfEvalData.ReadResponses(r.GetValue(responses)!.FullName, items, r.GetValue(data)!.Name);
            var outcomes = items.Zip(answers, (item, a) => IfEval.Evaluate(item.Instructions, a)).ToList();
            var samples = outcomes.Select((o, i) => new System.Text.Json.Nodes.JsonObject
            {
                ["key"] = items[i].Key, ["prompt"] = items[i].Prompt, ["response"] = answers[i],
                ["follow_all_instructions"] = o.PromptStrict, ["follow_instruction_list"] = new System.Text.Json.Nodes.JsonArray(o.Strict.Select(x => (System.Text.Json.Nodes.JsonNode)x).ToArray()),
                ["follow_instruction_list_loose"] = new System.Text.Json.Nodes.JsonArray(o.Loose.Select(x => (System.Text.Json.Nodes.JsonNode)x).ToArray()),
            }).ToList();
            var result = new TaskResult("ifeval", "ifeval", items.Count, TaskRunner.ScoreIfEval(outcomes), TaskRunner.IfEvalBreakdown(outcomes), samples, 0);
            var models = new List<ModelResults> { new(r.GetValue(responses)!.Name, [result]) };
            var rows = EvalComparison.Compare(models);
            Show(models, rows);
            var table = new Table().AddColumn("instruction").AddColumn("strict").AddColumn("loose");
            foreach (var id in result.Breakdown.Keys.Where(k => !k.EndsWith(" (loose)", StringComparison.Ordinal)))
                table.AddRow(id, EvalReport.Format(result.Breakdown[id], "acc"), EvalReport.Format(result.Breakdown[$"{id} (loose)"], "acc"));
            AnsiConsole.Write(table);
            if (r.GetValue(output) is { } dir)
            {
                var written = EvalReport.Write(dir, "ifeval", models, rows, null, []).ToList();
                if (r.GetValue(logSamples)) written.Add(EvalReport.WriteSamples(dir, models));
                Console.WriteLine($"wrote {string.Join(", ", written)}");
            }
            return 0;
        });
        return command;
    }

    /// <summary>The --model directories in order, each with the --adapter that follows it (if any) and a label for the tables.</summary>
    private static List<(string Model, string? Adapter, string Label)> ModelPairs(ParseResult r)
    {
        var pairs = new List<(string Model, string? Adapter, string Label)>();
        var tokens = r.Tokens;
        for (int i = 0; i + 1 < tokens.Count; i++)
        {
            if (tokens[i].Type != TokenType.Option || tokens[i + 1].Type != TokenType.Argument) continue;
            if (tokens[i].Value == "--model") pairs.Add((tokens[i + 1].Value, null, tokens[i + 1].Value));
            else if (tokens[i].Value == "--adapter")
            {
                if (pairs.Count == 0) throw new ArgumentException($"--adapter {tokens[i + 1].Value} comes before any --model: give the base it applies to first");
                if (pairs[^1].Adapter is not null) throw new ArgumentException($"--model {pairs[^1].Model} has two adapters ({pairs[^1].Adapter}, {tokens[i + 1].Value}); give the model again for the second");
                pairs[^1] = (pairs[^1].Model, tokens[i + 1].Value, tokens[i + 1].Value);
            }
        }
        if (pairs.Count == 0) throw new ArgumentException("give at least one --model DIR to evaluate");
        return pairs.Select((p, i) => pairs.Count(q => q.Label == p.Label) > 1 ? (p.Model, p.Adapter, $"{p.Label} #{i + 1}") : p).ToList();
    }

    /// <summary>A model directory with its adapter; an adapter that records another existing base directory is refused.</summary>
    private static GenerationModel Load(string model, string? adapter, IBackend device)
    {
        if (adapter is not null)
        {
            if (!PeftAdapter.IsAdapter(adapter)) throw new ArgumentException($"--adapter {adapter} is not a PEFT adapter directory (no adapter_config.json)");
            if (PeftAdapter.BaseModelDirectory(adapter) is { } recorded && Path.GetFullPath(recorded).TrimEnd('/') != Path.GetFullPath(model).TrimEnd('/'))
                throw new ArgumentException($"--adapter {adapter} was trained on the base {recorded}, not on --model {model}");
        }
        return GenerationModel.Load(model, device, adapter);
    }

    private static int[] StopIds(GenerationModel model, string? template)
        => new[] { model.ChatTemplate(template).EndOfTurnId, model.EosId }.OfType<int>().Distinct().ToArray();

    /// <summary>The suite of --data: exact match on its first conversations and loss on all, with --forget-data's loss as the other domain.</summary>
    private static EvalSuite QuickSuite(FileInfo data, FileInfo? forget, int exactMatch)
    {
        var examples = SftJsonl.Read(data.FullName);
        var tasks = new List<EvalTask>
        {
            new ExactTask("target", examples.Take(exactMatch).Select(e => Evaluation.SplitLastAnswer(e) is var (p, a) ? new ExactItem(p, a) : null!).ToList(), [], AnswerComparison.Exact, 0, 64),
            new LossTask("target-loss", examples),
        };
        if (forget is not null) tasks.Add(new LossTask("other", SftJsonl.Read(forget.FullName)));
        return new EvalSuite(data.Name, tasks);
    }

    /// <summary>The table on the terminal: a row per task and metric, a column per model.</summary>
    private static void Show(IReadOnlyList<ModelResults> models, IReadOnlyList<ComparisonRow> rows)
    {
        var table = new Table().AddColumn("task").AddColumn("metric");
        foreach (var m in models) table.AddColumn(new TableColumn(Markup.Escape(m.Label)).RightAligned());
        foreach (var row in rows)
            table.AddRow([Markup.Escape(row.Task), Markup.Escape(row.Metric + (row.Primary ? " *" : "")),
                .. row.Cells.Select((c, i) => c.Regressed ? $"[red]{Markup.Escape(EvalReport.FormatCell(c, row.Metric, i == 0))}[/]" : Markup.Escape(EvalReport.FormatCell(c, row.Metric, i == 0)))]);
        AnsiConsole.Write(table);
    }
}
