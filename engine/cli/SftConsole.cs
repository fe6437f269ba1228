using Engine.Backends;
using Engine.Data;
using Engine.Jobs;
using Engine.Models;
using Engine.Training;

namespace Engine.Cli;

/// <summary>engine sft's report on the console: a line for each stage of the run, the live progress of its loop, and the closing results.</summary>
internal sealed class SftConsole(SftSettings settings) : ISftObserver, IDisposable
{
    private Progress? _progress;

    public void DataLoaded(DatasetStats train, int heldOut, string template) =>
        Console.WriteLine($"data: {Describe(train)} for training; {heldOut} held out; template {template}, " +
                          $"loss on {(settings.TrainOnAll ? "every token" : "assistant tokens")}, rows of {settings.MaxLen} packed best-fit decreasing");

    public void ModelReady(string? modelDirectory, Transformer model) =>
        Console.WriteLine($"model: {modelDirectory ?? "built-in"}, {model.Config.Family}, {model.ParameterCount:N0} parameters; backend: {model.Backend.Name}, matmuls {BackendChoice.PrecisionName(model.Backend)}");

    public void BasePretrained(int steps, TimeSpan elapsed, double loss) =>
        Console.WriteLine($"base model: pretrained {steps} steps on the built-in corpus in {elapsed.TotalSeconds:F1} s (loss {loss:F3})");

    public void LoraAttached(Transformer model)
    {
        var l = model.Lora!;
        Console.WriteLine($"LoRA: r={l.Rank} alpha={l.Alpha} (scale {l.Scale:G3}{(l.RsLora ? ", rsLoRA" : "")}) dropout={l.Dropout} on {model.Adapters.Count} modules " +
                          $"({string.Join(",", l.Targets)}); {model.TrainableParameters.Sum(p => p.Value.Length):N0} trainable parameters, the base frozen");
    }

    public CancellationToken TrainingStarts(TrainingLoop loop, Baseline start, ResumePoint? resumed)
    {
        if (resumed is not null) Console.WriteLine($"resuming {resumed.Checkpoint}: step {resumed.State.Step}, {resumed.State.MicroBatchesConsumed} micro-batches consumed");
        Console.WriteLine($"eval loss before: {start.TargetLoss:F4}");
        _progress = new Progress(loop.FirstStep, loop.LastStep, logEvery: 10);
        _progress.Follow(loop);
        return _progress.Stop;
    }

    public void TrainingEnded() => _progress?.Complete();

    public void Finished(SftResult result)
    {
        var summary = result.Summary;
        Console.WriteLine();
        foreach (var sample in result.Samples)
        {
            Console.WriteLine($"user:   {sample.Question}");
            Console.WriteLine($"before: {sample.Before}");
            Console.WriteLine($"after:  {sample.After}");
            Console.WriteLine($"wanted: {sample.Wanted}");
        }
        Console.WriteLine($"memory: {summary.Memory}");
        Console.WriteLine($"target: eval loss {summary.TargetLossBefore:F4} → {summary.TargetLossAfter:F4}, exact match {summary.ExactMatchBefore:P0} → {summary.ExactMatchAfter:P0} of {summary.ExactMatchExamples}" +
                          (result.OtherDomainMeasured ? $"; other domain (forgetting): loss {summary.OtherLossBefore:F4} → {summary.OtherLossAfter:F4}" : ""));
        if (summary is { SuiteBefore: { } before, SuiteAfter: { } after })
            foreach (var (task, metrics) in after)
            {
                var (metric, value) = metrics.First();
                Console.WriteLine($"built-in suite: {task} {metric} {Eval.EvalReport.Format(before[task][metric], metric)} → {Eval.EvalReport.Format(value, metric)}");
            }
        string saved = result.IsAdapter
            ? $"adapter to {result.Saved} (base {result.BaseModel}; `engine merge --model {result.BaseModel} --adapter {result.Saved} --out DIR` makes one model)"
            : $"model to {result.Saved}";
        Console.WriteLine($"saved {saved}; metrics in {settings.Output} (summary.json), curve {result.LossCurve}");
    }

    public void Dispose() => _progress?.Dispose();

    private static string Describe(DatasetStats d) =>
        $"{d.Examples} examples, {d.Tokens:N0} tokens ({d.TargetTokens:N0} with loss)" +
        (d.Truncated > 0 ? $", {d.Truncated} truncated ({d.TokensCut:N0} tokens cut)" : "") +
        (d.DroppedWithoutTargets > 0 ? $", {d.DroppedWithoutTargets} dropped with no target left" : "");
}
