using System.Diagnostics;
using System.Text.Json.Nodes;
using Engine.Autograd;
using Engine.Checks;
using Engine.Data;
using Engine.Generation;
using Engine.Models;
using Engine.Training;

namespace Engine.Eval;

/// <summary>A model as a suite sees it: a label for the tables, the weights (with any adapter attached), its chat template and the tokens
/// that end a reply.</summary>
public sealed record EvalModel(string Label, Transformer Model, ChatTemplate Template, IReadOnlyCollection<int> StopIds);

/// <summary>How generation-based tasks generate: Samples &gt; 1 adds K sampled answers per prompt at Temperature (pass@k, maj@k); Batch
/// rows generate at once with the KV cache; row g of a task draws from seed Seed + g whatever the batching.</summary>
public sealed record EvalOptions(int Samples = 1, float Temperature = 0.8f, int Seed = 1, int Batch = 16)
{
    public void Validate()
    {
        if (Samples < 1) throw new ArgumentException($"--samples is {Samples}, expected ≥ 1");
        if (Batch < 1) throw new ArgumentException($"--batch is {Batch}, expected ≥ 1");
        if (Samples > 1 && !(Temperature > 0)) throw new ArgumentException($"--samples {Samples} needs a --temperature > 0 (got {Temperature}): greedy samples are all the same");
    }
}

/// <summary>Runs one task of a suite on one model.</summary>
public static class TaskRunner
{
    public static TaskResult Run(EvalTask task, EvalModel model, EvalOptions options)
    {
        options.Validate();
        var clock = Stopwatch.StartNew();
        var (metrics, breakdown, samples) = task switch
        {
            ExactTask t => Exact(t, model, options),
            IfEvalTask t => IfEvalScores(t, model, options),
            LossTask t => Loss(t, model),
            ChoiceTask t => Choice(t, model),
            _ => throw new ArgumentException($"task {task.Name}: unknown kind {task.Kind}"),
        };
        foreach (var sample in samples) sample["model"] = model.Label;
        return new TaskResult(task.Name, task.Kind, task.Count, metrics, breakdown, samples, clock.Elapsed.TotalSeconds);
    }

    private static readonly IReadOnlyDictionary<string, double> None = new Dictionary<string, double>();

    private static (List<Metric>, IReadOnlyDictionary<string, double>, List<JsonObject>) Exact(ExactTask task, EvalModel model, EvalOptions options)
    {
        var prompts = task.Items.Select(i => model.Template.RenderPrompt(i.Prompt)).ToList();
        var greedy = Generate(model, prompts, new SamplingOptions(MaxNewTokens: task.MaxNewTokens, Seed: options.Seed), options.Batch);
        var checks = task.Items.Select(i => task.Comparison == AnswerComparison.Exact ? Verifiers.Exact(i.Reference)
            : Verifiers.Numeric(Verifiers.LastNumber(i.Reference)!.Value, task.Tolerance)).ToList();
        string Extract(string response) => AnswerFilters.Apply(task.Filters, [response]).FirstOrDefault() ?? "";
        var samples = new List<JsonObject>();
        var exact = new double[task.Count];
        for (int i = 0; i < task.Count; i++)
        {
            string extracted = Extract(greedy[i]);
            var verdict = checks[i].Evaluate(extracted);
            exact[i] = verdict.Passed ? 1 : 0;
            samples.Add(new JsonObject
            {
                ["task"] = task.Name, ["index"] = i, ["prompt"] = Last(task.Items[i].Prompt), ["response"] = greedy[i], ["extracted"] = extracted,
                ["reference"] = task.Items[i].Reference, ["passed"] = verdict.Passed, ["reason"] = verdict.Reason,
            });
        }
        var metrics = new List<Metric> { Metric.Mean("exact_match", exact, primary: true) };
        if (options.Samples == 1) return (metrics, None, samples);

        int k = options.Samples;
        var repeated = prompts.SelectMany(p => Enumerable.Repeat(p, k)).ToList();
        var sampled = Generate(model, repeated, new SamplingOptions(options.Temperature, Seed: options.Seed, MaxNewTokens: task.MaxNewTokens), options.Batch);
        double[] passAt1 = new double[task.Count], passAtK = new double[task.Count], majority = new double[task.Count];
        for (int i = 0; i < task.Count; i++)
        {
            var answers = sampled.Skip(i * k).Take(k).ToList();
            var extracted = answers.Select(Extract).ToList();
            int correct = extracted.Count(a => checks[i].Evaluate(a).Passed);
            passAt1[i] = PassAtK.Estimate(k, correct, 1);
            passAtK[i] = PassAtK.Estimate(k, correct, k);
            string vote = AnswerFilters.MajorityVote.Apply(extracted)[0];
            majority[i] = checks[i].Evaluate(vote).Passed ? 1 : 0;
            samples[i]["samples"] = new JsonArray(answers.Select(a => (JsonNode)JsonValue.Create(a)!).ToArray());
            samples[i]["samples_extracted"] = new JsonArray(extracted.Select(a => (JsonNode)JsonValue.Create(a)!).ToArray());
            samples[i]["samples_correct"] = correct;
            samples[i]["majority"] = vote;
        }
        metrics.Add(Metric.Mean("pass@1", passAt1));
        metrics.Add(Metric.Mean($"pass@{k}", passAtK));
        metrics.Add(Metric.Mean($"maj@{k}", majority));
        return (metrics, None, samples);
    }

    private static (List<Metric>, IReadOnlyDictionary<string, double>, List<JsonObject>) IfEvalScores(IfEvalTask task, EvalModel model, EvalOptions options)
    {
        var prompts = task.Items.Select(i => model.Template.RenderPrompt([new ChatTurn(ChatRole.User, i.Prompt)])).ToList();
        var responses = Generate(model, prompts, new SamplingOptions(MaxNewTokens: task.MaxNewTokens, Seed: options.Seed), options.Batch);
        var outcomes = task.Items.Zip(responses, (item, r) => IfEval.Evaluate(item.Instructions, r)).ToList();
        var samples = outcomes.Select((o, i) => new JsonObject
        {
            ["task"] = task.Name, ["index"] = i, ["key"] = task.Items[i].Key, ["prompt"] = task.Items[i].Prompt, ["response"] = responses[i],
            ["follow_all_instructions"] = o.PromptStrict, ["follow_all_instructions_loose"] = o.PromptLoose,
            ["instructions"] = new JsonArray(o.Ids.Select((id, j) => (JsonNode)new JsonObject
                { ["id"] = id, ["strict"] = o.Strict[j], ["loose"] = o.Loose[j], ["reason"] = o.StrictVerdicts[j].Reason }).ToArray()),
        }).ToList();
        var metrics = ScoreIfEval(outcomes);
        return (metrics, IfEvalBreakdown(outcomes), samples);
    }

    /// <summary>IFEval's four numbers: prompt-level (primary) and instruction-level accuracy, strict and loose.</summary>
    public static List<Metric> ScoreIfEval(IReadOnlyList<IfEvalOutcome> outcomes)
    {
        Metric Instructions(string name, Func<IfEvalOutcome, bool[]> followed) => new(name, true,
            outcomes.Select(o => (double)followed(o).Count(x => x)).ToArray(), outcomes.Select(o => (double)o.Ids.Count).ToArray());
        return
        [
            Metric.Mean("prompt_level_strict", outcomes.Select(o => o.PromptStrict ? 1.0 : 0.0), primary: true),
            Instructions("inst_level_strict", o => o.Strict),
            Metric.Mean("prompt_level_loose", outcomes.Select(o => o.PromptLoose ? 1.0 : 0.0)),
            Instructions("inst_level_loose", o => o.Loose),
        ];
    }

    /// <summary>Per instruction id, strict and loose accuracy ("id" and "id (loose)").</summary>
    public static IReadOnlyDictionary<string, double> IfEvalBreakdown(IReadOnlyList<IfEvalOutcome> outcomes)
    {
        var strict = IfEval.Accuracy(outcomes, loose: false).PerInstruction;
        var loose = IfEval.Accuracy(outcomes, loose: true).PerInstruction;
        return strict.SelectMany(p => new[] { (p.Key, p.Value), ($"{p.Key} (loose)", loose[p.Key]) }).ToDictionary(p => p.Item1, p => p.Item2);
    }

    private static (List<Metric>, IReadOnlyDictionary<string, double>, List<JsonObject>) Loss(LossTask task, EvalModel model)
    {
        int context = model.Model.Config.ContextLength;
        var sums = new double[task.Count];
        var tokens = new double[task.Count];
        var samples = new List<JsonObject>();
        using var tape = new Tape(model.Model.Backend, recordGradients: false);
        for (int i = 0; i < task.Count; i++)
        {
            var example = task.Examples[i];
            var sequence = TrainingSequence.FromTokenized(model.Template.Render(example, trainOnAll: example.IsPlainText));
            int length = Math.Min(sequence.Length, context);
            var batch = Batch.Unpacked(1, length, sequence.Ids[..length], sequence.Targets[..length]);
            tokens[i] = batch.TargetCount;
            sums[i] = tokens[i] == 0 ? 0 : model.Model.Forward(tape, batch);
            tape.Reset();
            samples.Add(new JsonObject { ["task"] = task.Name, ["index"] = i, ["origin"] = example.Origin, ["target_tokens"] = (int)tokens[i], ["loss"] = tokens[i] == 0 ? null : sums[i] / tokens[i] });
        }
        if (tokens.Sum() == 0) throw new ArgumentException($"task {task.Name}: no target tokens to measure a loss on");
        return ([new Metric("loss", false, sums, tokens, Primary: true), new Metric("perplexity", false, sums, tokens, Exponentiate: true)], None, samples);
    }

    private static (List<Metric>, IReadOnlyDictionary<string, double>, List<JsonObject>) Choice(ChoiceTask task, EvalModel model)
    {
        var tokenizer = model.Template.Tokenizer;
        int context = model.Model.Config.ContextLength;
        double[] accuracy = new double[task.Count], normalised = new double[task.Count];
        var samples = new List<JsonObject>();
        using var tape = new Tape(model.Model.Backend, recordGradients: false);
        for (int i = 0; i < task.Count; i++)
        {
            var item = task.Items[i];
            int[] prompt = task.Chat ? model.Template.RenderPrompt([new ChatTurn(ChatRole.User, item.Prompt)]) : tokenizer.Encode(item.Prompt);
            var logLikelihoods = item.Choices.Select(choice =>
            {
                int[] continuation = tokenizer.Encode(task.Chat ? choice : " " + choice);
                if (continuation.Length == 0) throw new ArgumentException($"task {task.Name}, row {i + 1}: an empty choice");
                int[] all = [.. prompt, .. continuation];
                if (all.Length > context) all = all[^context..];
                int first = Math.Max(all.Length - continuation.Length, 1);
                var targets = new int[all.Length - 1];
                for (int t = 0; t < targets.Length; t++) targets[t] = t + 1 >= first ? all[t + 1] : -1;
                double loss = model.Model.Forward(tape, Batch.Unpacked(1, all.Length - 1, all[..^1], targets));
                tape.Reset();
                return -loss;
            }).ToArray();
            int predicted = ArgMax(logLikelihoods);
            int predictedNorm = ArgMax(logLikelihoods.Select((ll, c) => ll / Math.Max(1, item.Choices[c].Length)).ToArray());
            accuracy[i] = predicted == item.Answer ? 1 : 0;
            normalised[i] = predictedNorm == item.Answer ? 1 : 0;
            samples.Add(new JsonObject
            {
                ["task"] = task.Name, ["index"] = i, ["prompt"] = item.Prompt, ["choices"] = new JsonArray(item.Choices.Select(c => (JsonNode)JsonValue.Create(c)!).ToArray()),
                ["loglikelihoods"] = new JsonArray(logLikelihoods.Select(ll => (JsonNode)JsonValue.Create(ll)!).ToArray()),
                ["answer"] = item.Answer, ["predicted"] = predicted, ["predicted_norm"] = predictedNorm,
            });
        }
        return ([Metric.Mean("acc", accuracy, primary: true), Metric.Mean("acc_norm", normalised)], None, samples);
    }

    private static int ArgMax(double[] values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
            if (values[i] > values[best]) best = i;
        return best;
    }

    /// <summary>Each prompt's reply, Batch prompts at a time with the KV cache; row g draws from Seed + g; the final stop token is dropped
    /// and the text trimmed.</summary>
    public static string[] Generate(EvalModel model, IReadOnlyList<int[]> prompts, SamplingOptions options, int batch)
    {
        var replies = new string[prompts.Count];
        for (int start = 0; start < prompts.Count; start += batch)
        {
            var chunk = prompts.Skip(start).Take(batch).Select(p => (IReadOnlyList<int>)p).ToList();
            var completions = Generator.Generate(model.Model, chunk, options with { Seed = options.Seed + start }, model.StopIds);
            for (int i = 0; i < chunk.Count; i++)
            {
                var ids = completions[i];
                if (ids.Count > 0 && model.StopIds.Contains(ids[^1])) ids.RemoveAt(ids.Count - 1);
                replies[start + i] = model.Template.Tokenizer.Decode(ids).Trim();
            }
        }
        return replies;
    }

    private static string Last(IReadOnlyList<ChatTurn> turns) => turns.LastOrDefault(t => t.Role == ChatRole.User)?.Content ?? turns.LastOrDefault()?.Content ?? "";
}
