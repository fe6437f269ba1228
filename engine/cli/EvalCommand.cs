using System.CommandLine;
using Engine.Backends;
using Engine.Data;
using Engine.Eval;
using Engine.Generation;
using Engine.Jobs;

namespace Engine.Cli;

/// <summary>
/// `engine eval`: both sides of a fine-tuned model, or of its base, without training: the target (mean loss per target token and greedy
/// exact match on held-out conversations) and, with --forget-data, the loss on text of another domain (forgetting, when compared with
/// the base's).
/// </summary>
public static class EvalCommand
{
    public static Command Create()
    {
        var model = ModelOptions.Model();
        var adapter = ModelOptions.Adapter();
        var chatTemplate = ModelOptions.ChatTemplate();
        var data = new Option<FileInfo>("--data") { Description = "held-out conversations of the target task (JSONL)", Required = true };
        var forgetData = new Option<FileInfo?>("--forget-data") { Description = "held-out text of another domain (JSONL); its loss measures forgetting" };
        var exactMatch = new Option<int>("--exact-match") { Description = "conversations of --data answered greedily for exact match (0: none)", DefaultValueFactory = _ => SftJob.ExactMatchExamples };
        var maxLen = new Option<int>("--max-len") { Description = "tokens per packed row; longer examples are truncated", DefaultValueFactory = _ => 256 };
        var batch = new Option<int>("--batch") { Description = "packed rows per batch", DefaultValueFactory = _ => 8 };
        var backend = CliOptions.Backend();
        var command = new Command("eval", "Measure a model (with --adapter, a LoRA fine-tune) on a task and, with --forget-data, on another domain")
            { model, adapter, chatTemplate, data, forgetData, exactMatch, maxLen, batch, backend };
        command.SetAction(r =>
        {
            using var device = BackendChoice.Create(r.GetValue(backend)!);
            using var loaded = GenerationModel.Load(r.GetValue(model)!.FullName, device, r.GetValue(adapter)?.FullName);
            var template = loaded.ChatTemplate(r.GetValue(chatTemplate));
            int rows = r.GetValue(batch), length = Math.Min(r.GetValue(maxLen), loaded.Model.Config.ContextLength);
            var examples = SftJsonl.Read(r.GetValue(data)!.FullName);
            double loss = Evaluation.MeanLoss(loaded.Model, SftDataset.FromExamples(examples, template, length).Epoch(0, rows, seed: 0));
            Console.WriteLine($"target: {examples.Count} examples of {r.GetValue(data)!.Name}, loss {loss:F4} per target token");
            int answered = Math.Min(r.GetValue(exactMatch), examples.Count);
            if (answered > 0)
                Console.WriteLine($"target: exact match {Evaluation.ExactMatch(loaded.Model, template, examples.Take(answered), SftJob.AnswerTokens):P0} of {answered} greedy answers");
            if (r.GetValue(forgetData) is { } other)
            {
                var text = SftDataset.FromExamples(SftJsonl.Read(other.FullName), template, length, trainOnAll: true);
                Console.WriteLine($"other domain: loss {Evaluation.MeanLoss(loaded.Model, text.Epoch(0, rows, seed: 0)):F4} per token of {other.Name}");
            }
            return 0;
        });
        return command;
    }
}
