using System.Globalization;
using System.Text;

namespace Engine.Eval;

/// <summary>
/// Fine-tuning runs side by side: what each learned (target loss and exact match, before → after) against what it forgot (loss on the
/// other domain, before → after) and what it cost (trainable parameters, gradient and optimizer memory, peak, time per step).
/// </summary>
public static class Tradeoff
{
    /// <summary>A Markdown table, one row per run. Memory is what the run allocated for weights, gradients and AdamW moments (the
    /// process's peak also holds the data, activations and, for the built-in model, its pretraining, so it is not compared here).</summary>
    public static string Table(IReadOnlyList<(string Name, FineTuneSummary Summary)> runs)
    {
        static string Mib(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("F2", CultureInfo.InvariantCulture);
        static string F(double x, string format = "F3") => double.IsNaN(x) ? "–" : x.ToString(format, CultureInfo.InvariantCulture);
        var text = new StringBuilder();
        text.AppendLine("| run | method | lr | trainable params | weights MiB | grad + optimizer MiB | ms/step | target loss | exact match | other-domain loss | target gain | forgetting |");
        text.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- | --- | ---: | ---: |");
        foreach (var (name, s) in runs)
        {
            var m = s.Memory;
            text.AppendLine($"| {name} | {s.Method} | {s.LearningRate.ToString("G3", CultureInfo.InvariantCulture)} | {m.TrainableParameters.ToString("N0", CultureInfo.InvariantCulture)} | {Mib(m.WeightBytes)} | " +
                            $"{Mib(m.GradientBytes + m.OptimizerBytes)} | {F(s.MeanStepMilliseconds, "F1")} | {F(s.TargetLossBefore)} → {F(s.TargetLossAfter)} | " +
                            $"{F(s.ExactMatchBefore, "P0")} → {F(s.ExactMatchAfter, "P0")} of {s.ExactMatchExamples} | {F(s.OtherLossBefore)} → {F(s.OtherLossAfter)} | " +
                            $"{F(s.TargetGain)} | {F(s.Forgetting)} |");
        }
        return text.ToString();
    }

    /// <summary>A PNG: target gain (loss fall on the task) against forgetting (loss rise on the other domain), one labelled point per run.</summary>
    public static void Plot(IReadOnlyList<(string Name, FineTuneSummary Summary)> runs, string path)
    {
        var plot = new ScottPlot.Plot();
        foreach (var (name, s) in runs)
        {
            var point = plot.Add.Scatter(new[] { s.Forgetting }, new[] { s.TargetGain });
            point.LegendText = $"{name} ({s.Method})";
            point.MarkerSize = 12;
        }
        plot.Title("learns less, forgets less?");
        plot.XLabel("forgetting: other-domain loss after − before (nats/token)");
        plot.YLabel("target gain: task loss before − after (nats/token)");
        plot.ShowLegend();
        plot.SavePng(path, 800, 500);
    }
}
