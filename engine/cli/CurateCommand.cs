using System.CommandLine;
using Engine.Backends;
using Engine.Curation;
using Engine.Generation;
using Engine.Tokenizers;

namespace Engine.Cli;

/// <summary>
/// `engine curate`: SFT data curation in the trainer's binary. distill (a teacher answers prompts), best-of-k (the model samples K
/// answers per prompt, a scorer keeps the best or every passing one), filter (quality, duplicates, decontamination, diversity),
/// pool (a noisy synthetic pool to try them on) and demo (the experiment: quality against quantity, rejection sampling, distillation).
/// </summary>
public static class CurateCommand
{
    public static Command Create() => new("curate", "SFT data curation: distill, best-of-k, filter, pool, demo")
        { Filter(), Distill(), BestOfKCommand(), Pool(), CurationDemoCommand.Create() };

    private static Command Filter()
    {
        var data = new Option<FileInfo>("--data") { Description = "the SFT rows to filter (JSONL: messages, prompt/completion, Alpaca or text)", Required = true };
        var output = new Option<FileInfo>("--out") { Description = "the rows kept, each line as read", Required = true };
        var force = new Option<bool>("--force") { Description = "replace --out (and --explain) when it exists" };
        var target = new Option<int?>("--target") { Description = "keep this many rows: greedy k-center selection over prompt embeddings (default: all survivors)" };
        var explain = new Option<FileInfo?>("--explain") { Description = "write every removed row with its stage and reason (JSONL)" };
        var evalData = new Option<FileInfo[]>("--eval-data") { Description = "evaluation rows (JSONL, repeatable): training rows sharing a 13-gram with one are dropped" };
        var embedModel = new Option<DirectoryInfo?>("--embed-model") { Description = "embed prompts for --target with this model's mean-pooled hidden states (default: hashed n-grams)" };
        var noExact = new Option<bool>("--no-exact-dedup") { Description = "keep exact duplicates" };
        var noNear = new Option<bool>("--no-near-dedup") { Description = "keep near duplicates (MinHash 14 bands × 8 rows over word 5-grams)" };
        var noQuality = new Option<bool>("--no-quality") { Description = "skip the response quality rules" };
        var minWords = new Option<int>("--min-words") { Description = "fewest words in a response", DefaultValueFactory = _ => 1 };
        var maxWords = new Option<int>("--max-words") { Description = "most words in a response", DefaultValueFactory = _ => 2000 };
        var unterminated = new Option<int>("--unterminated-words") { Description = "a response of at least this many words not ending in terminal punctuation is truncated (0: off)", DefaultValueFactory = _ => 3 };
        var dupLine = new Option<double>("--max-dup-line-frac") { Description = "most lines repeating an earlier line", DefaultValueFactory = _ => 0.3 };
        var top2 = new Option<double>("--max-top-2gram-frac") { Description = "most characters covered by the most frequent repeated 2-gram", DefaultValueFactory = _ => 0.2 };
        var dup5 = new Option<double>("--max-dup-5gram-frac") { Description = "most characters inside repeated 5-grams", DefaultValueFactory = _ => 0.15 };
        var allowEcho = new Option<bool>("--allow-prompt-repeat") { Description = "keep responses that repeat the prompt" };
        var seed = new Option<int>("--seed") { Description = "seed of the MinHash functions", DefaultValueFactory = _ => 1 };
        var backend = CliOptions.Backend();
        var command = new Command("filter", "Keep high-quality responses and diverse prompts: quality rules, exact and near duplicates, decontamination, k-center")
            { data, output, force, target, explain, evalData, embedModel, noExact, noNear, noQuality, minWords, maxWords, unterminated, dupLine, top2, dup5, allowEcho, seed, backend };
        command.SetAction(r =>
        {
            string outPath = r.GetValue(output)!.FullName, dataPath = r.GetValue(data)!.FullName;
            CurationOutput.CheckCanWrite(outPath, r.GetValue(force));
            if (r.GetValue(explain) is { } e) CurationOutput.CheckCanWrite(e.FullName, r.GetValue(force));
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var rows = CurationRows.Read(dataPath);
            var read = clock.Elapsed;
            var evalTexts = (r.GetValue(evalData) ?? []).SelectMany(f => CurationRows.Read(f.FullName)).Select(x => x.PromptText + "\n" + x.Response).ToList();
            var quality = new QualityOptions(r.GetValue(minWords), r.GetValue(maxWords), r.GetValue(unterminated), r.GetValue(dupLine), r.GetValue(top2), r.GetValue(dup5), !r.GetValue(allowEcho));
            using var device = r.GetValue(embedModel) is null ? null : BackendChoice.Create(r.GetValue(backend)!);
            using var embedder = r.GetValue(embedModel) is { } dir ? GenerationModel.Load(dir.FullName, device!) : null;
            var result = DataFilter.Run(rows, new FilterOptions(!r.GetValue(noExact), !r.GetValue(noNear), r.GetValue(noQuality) ? null : quality,
                evalTexts.Count == 0 ? null : new Decontamination(evalTexts), r.GetValue(target),
                embedder is null ? null : texts => ModelEmbedding.Embed(embedder.Model, embedder.Tokenizer.Tokenizer, texts), r.GetValue(seed)));
            CurationOutput.WriteLines(outPath, result.Kept.Select(x => x.Utf8));
            if (r.GetValue(explain) is { } ex) CurationOutput.Write(ex.FullName, stream => FilterReport.WriteExplanation(result, stream));
            FilterReport.Write(result, Console.Out);
            var total = clock.Elapsed;
            var cpu = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
            Console.WriteLine($"time: {total.TotalSeconds:F2} s ({rows.Count / total.TotalSeconds:N0} rows/s; process CPU time {cpu.TotalSeconds:F2} s): read and parse {read.TotalSeconds:F2} s, " +
                              string.Join(", ", result.StageTimes.Select(t => $"{t.Key} {t.Value.TotalSeconds:F2} s")));
            Console.WriteLine($"wrote {outPath}" + (r.GetValue(explain) is { } x2 ? $" and {x2.FullName}" : ""));
            return 0;
        });
        return command;
    }

    private static Command Distill()
    {
        var teacher = new Option<DirectoryInfo>("--teacher") { Description = "the teacher: a Hugging Face model directory", Required = true };
        var adapter = ModelOptions.Adapter();
        var student = new Option<DirectoryInfo?>("--student") { Description = "the student's model directory, to compare tokenizers (distill writes text, so they may differ)" };
        var chatTemplate = ModelOptions.ChatTemplate();
        var prompts = new Option<FileInfo>("--prompts") { Description = "prompts (JSONL in any format the engine reads; an existing answer is ignored)", Required = true };
        var output = new Option<FileInfo>("--out") { Description = "the distilled SFT rows (JSONL: messages and meta)", Required = true };
        var n = new Option<int>("--n") { Description = "answers per prompt", DefaultValueFactory = _ => 1 };
        var batch = new Option<int>("--batch") { Description = "answers generated at once (and appended to --out at once)", DefaultValueFactory = _ => 8 };
        var resume = new Option<bool>("--resume") { Description = "continue an interrupted run: answers already in --out are skipped" };
        var force = new Option<bool>("--force") { Description = "replace --out when it exists" };
        var sampling = new SamplingCliOptions(temperature: 0.7f);
        var backend = CliOptions.Backend();
        var command = new Command("distill", "A teacher answers prompts; its answers become SFT rows with provenance")
            { teacher, adapter, student, chatTemplate, prompts, output, n, batch, resume, force, backend };
        sampling.AddTo(command);
        command.SetAction(r =>
        {
            var settings = new DistillSettings(r.GetValue(teacher)!.FullName, r.GetValue(adapter)?.FullName, sampling.Read(r), r.GetValue(n), r.GetValue(batch));
            settings.Validate();
            string outPath = r.GetValue(output)!.FullName;
            CurationOutput.CheckCanWrite(outPath, r.GetValue(resume), r.GetValue(force));
            var rows = CurationRows.Read(r.GetValue(prompts)!.FullName, requireAnswer: false);
            using var device = BackendChoice.Create(r.GetValue(backend)!);
            using var model = GenerationModel.Load(settings.Teacher, device, settings.Adapter);
            if (r.GetValue(student) is { } s && !Distiller.SameTokenizer(TokenizerLoader.FromDirectory(s.FullName).Tokenizer, model.Tokenizer.Tokenizer))
                Console.WriteLine($"note: the teacher's tokenizer differs from the student's ({s.FullName}); distill writes text, so the student reads the answers with its own tokenizer");
            var template = model.ChatTemplate(r.GetValue(chatTemplate));
            var (appender, existing) = CurationOutput.OpenForAppend(outPath, r.GetValue(force));
            using (appender)
            using (var stop = new StopOnCtrlC())
            {
                var result = Distiller.Run(model, template, rows, settings, appender, existing, () => stop.Requested,
                    (done, all) => Console.Error.Write($"\r{done}/{all} answers"));
                Console.Error.WriteLine();
                Console.WriteLine($"distill: {rows.Count} prompts × {settings.SamplesPerPrompt}: {result.Written} answers written, {result.AlreadyThere} already in {outPath}" +
                                  $"; {result.CompletionTokens:N0} tokens in {result.Elapsed.TotalSeconds:F1} s ({result.TokensPerSecond:N0} tokens/s)" +
                                  (result.Stopped ? "; stopped: run again with --resume to continue" : ""));
            }
            return 0;
        });
        return command;
    }

    private static Command BestOfKCommand()
    {
        var model = ModelOptions.Model();
        var adapter = ModelOptions.Adapter();
        var chatTemplate = ModelOptions.ChatTemplate();
        var prompts = new Option<FileInfo>("--prompts") { Description = "prompts with their \"answer\" or \"checks\" (JSONL)", Required = true };
        var k = new Option<int>("--k") { Description = "samples per prompt", DefaultValueFactory = _ => 8 };
        var score = new Option<string>("--score") { Description = "verifier (the row's checks/answer), logprob (mean log-probability under --judge), teacher (--judge's total log-probability)", DefaultValueFactory = _ => "verifier" };
        score.AcceptOnlyFromAmong("verifier", "logprob", "teacher");
        var judge = new Option<DirectoryInfo?>("--judge") { Description = "the model that scores for logprob (default: --model itself) and teacher (required)" };
        var minScore = new Option<double?>("--min-score") { Description = "logprob/teacher: a sample passes when its score reaches this (default: every sample passes)" };
        var keep = new Option<string>("--keep") { Description = "best (one per prompt) or all-passing (every distinct passing sample)", DefaultValueFactory = _ => "best" };
        keep.AcceptOnlyFromAmong("best", "all-passing");
        var output = new Option<FileInfo>("--out") { Description = "the kept SFT rows (JSONL: messages and meta)", Required = true };
        var rejected = new Option<FileInfo?>("--rejected") { Description = "write every sample not kept, with the reason (JSONL)" };
        var force = new Option<bool>("--force") { Description = "replace --out (and --rejected) when it exists" };
        var batch = new Option<int>("--batch") { Description = "prompts sampled at once (K rows each)", DefaultValueFactory = _ => 4 };
        var noShare = new Option<bool>("--no-prefill-sharing") { Description = "run each sample's prompt itself (to measure what sharing saves; the samples are the same)" };
        var sampling = new SamplingCliOptions(temperature: 1f);
        var backend = CliOptions.Backend();
        var command = new Command("best-of-k", "Rejection sampling: K samples per prompt, a scorer keeps the best or every passing one")
            { model, adapter, chatTemplate, prompts, k, score, judge, minScore, keep, output, rejected, force, batch, noShare, backend };
        sampling.AddTo(command);
        command.SetAction(r =>
        {
            var settings = new BestOfKSettings(r.GetValue(model)!.FullName, r.GetValue(k), r.GetValue(keep) == "best" ? KeepRule.Best : KeepRule.AllPassing, sampling.Read(r),
                r.GetValue(batch), !r.GetValue(noShare));
            settings.Validate();
            string outPath = r.GetValue(output)!.FullName;
            CurationOutput.CheckCanWrite(outPath, r.GetValue(force));
            if (r.GetValue(rejected) is { } rej) CurationOutput.CheckCanWrite(rej.FullName, r.GetValue(force));
            var rows = CurationRows.Read(r.GetValue(prompts)!.FullName, requireAnswer: false);
            using var device = BackendChoice.Create(r.GetValue(backend)!);
            using var sampler = GenerationModel.Load(settings.Model, device, r.GetValue(adapter)?.FullName);
            var template = sampler.ChatTemplate(r.GetValue(chatTemplate));
            string scorerName = r.GetValue(score)!;
            if (scorerName == "teacher" && r.GetValue(judge) is null) throw new ArgumentException("--score teacher needs --judge DIR, the teacher that scores");
            using var judgeModel = scorerName != "verifier" && r.GetValue(judge) is { } j ? GenerationModel.Load(j.FullName, device) : null;
            ISampleScorer scorer = scorerName == "verifier" ? new VerifierScorer()
                : new LogProbScorer(judgeModel ?? sampler, (judgeModel ?? sampler).ChatTemplate(r.GetValue(chatTemplate)), scorerName == "logprob", r.GetValue(minScore));
            var result = BestOfK.Run(sampler, template, rows, scorer, settings, (done, all) => Console.Error.Write($"\r{done}/{all} prompts"));
            Console.Error.WriteLine();
            CurationOutput.WriteLines(outPath, result.Kept);
            if (r.GetValue(rejected) is { } rj) CurationOutput.WriteLines(rj.FullName, result.Rejected);
            Console.WriteLine($"best-of-{settings.K} ({scorer.Name}, keep {r.GetValue(keep)}): {result.Prompts} prompts, acceptance {result.AcceptanceRate:P1}, " +
                              $"pass@1 {result.PassAt1:P1}, pass@{settings.K} {result.PassAtK:P1}, mean score {result.MeanScore:F4}");
            Console.WriteLine($"{result.Samples} samples in {result.GenerationTime.TotalSeconds:F1} s ({result.SamplesPerSecond:F1} samples/s, prefill {(settings.SharePrefill ? "shared" : "not shared")}); " +
                              $"{result.Kept.Count} rows kept to {outPath}" + (r.GetValue(rejected) is { } rr ? $", {result.Rejected.Count} rejected to {rr.FullName}" : ""));
            return 0;
        });
        return command;
    }

    private static Command Pool()
    {
        var rows = new Option<int>("--rows") { Description = "rows to write", DefaultValueFactory = _ => 1600 };
        var noise = new Option<double>("--noise") { Description = "fraction of rows spoiled (wrong, truncated, duplicated or repetitive answers)", DefaultValueFactory = _ => 1.0 / 3 };
        var seed = new Option<int>("--seed") { Description = "seed of the conversations and the noise", DefaultValueFactory = _ => 3 };
        var output = new Option<FileInfo>("--out") { Description = "the pool (JSONL: messages and a \"noise\" field naming what was done to the row)", Required = true };
        var force = new Option<bool>("--force") { Description = "replace --out when it exists" };
        var command = new Command("pool", "Write a noisy synthetic SFT pool from the built-in TinyChat generator (for trying and timing the filter)") { rows, noise, seed, output, force };
        command.SetAction(r =>
        {
            if (r.GetValue(rows) < 1) throw new ArgumentException($"--rows is {r.GetValue(rows)}, expected ≥ 1");
            if (!(r.GetValue(noise) is >= 0 and <= 1)) throw new ArgumentException($"--noise is {r.GetValue(noise)}, expected a fraction in [0, 1]");
            string outPath = r.GetValue(output)!.FullName;
            CurationOutput.CheckCanWrite(outPath, r.GetValue(force));
            var pool = NoisyPool.Generate(r.GetValue(rows), r.GetValue(seed), r.GetValue(noise));
            CurationOutput.WriteLines(outPath, NoisyPool.Lines(pool));
            Console.WriteLine($"wrote {pool.Count:N0} rows to {outPath}: " + string.Join(", ", NoisyPool.Kinds.Select(k => $"{pool.Count(p => p.Kind == k):N0} {k}")));
            return 0;
        });
        return command;
    }
}

/// <summary>Ctrl-C once: stop after the current batch (the output stays whole); twice: abort.</summary>
internal sealed class StopOnCtrlC : IDisposable
{
    private volatile bool _requested;

    public StopOnCtrlC() => Console.CancelKeyPress += OnCancel;

    public bool Requested => _requested;

    public void Dispose() => Console.CancelKeyPress -= OnCancel;

    private void OnCancel(object? sender, ConsoleCancelEventArgs e)
    {
        e.Cancel = !_requested;
        _requested = true;
        Console.Error.WriteLine("\nstopping after this batch (Ctrl-C again to abort)");
    }
}
