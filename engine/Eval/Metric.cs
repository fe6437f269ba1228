using System.Text.Json.Nodes;

namespace Engine.Eval;

/// <summary>
/// One metric of a task as per-example parts: its value is Σ numerators / Σ denominators (accuracy: correct / 1 per example; loss: an
/// example's summed loss / its target tokens), so a bootstrap can resample examples and recompute it exactly (<see cref="Bootstrap"/>).
/// Exponentiate reports exp(value) (perplexity from loss). Primary marks the metric that decides regressions and the gate.
/// </summary>
public sealed record Metric(string Name, bool HigherIsBetter, double[] Numerators, double[] Denominators, bool Primary = false, bool Exponentiate = false)
{
    public double Value => Of(Enumerable.Range(0, Numerators.Length));

    /// <summary>The metric over the examples at indices (with repeats: a bootstrap resample).</summary>
    public double Of(IEnumerable<int> indices)
    {
        double numerator = 0, denominator = 0;
        foreach (int i in indices)
        {
            numerator += Numerators[i];
            denominator += Denominators[i];
        }
        double ratio = denominator == 0 ? double.NaN : numerator / denominator;
        return Exponentiate ? Math.Exp(ratio) : ratio;
    }

    /// <summary>A metric whose every example counts 1 in the denominator: a mean of per-example scores.</summary>
    public static Metric Mean(string name, IEnumerable<double> scores, bool primary = false)
    {
        var values = scores.ToArray();
        return new Metric(name, true, values, values.Select(_ => 1.0).ToArray(), primary);
    }
}

/// <summary>What one task measured on one model: its metrics, per-instruction accuracy for IFEval, every sample for --log-samples, and
/// how long it took.</summary>
public sealed record TaskResult(string Task, string Kind, int Examples, IReadOnlyList<Metric> Metrics, IReadOnlyDictionary<string, double> Breakdown,
    IReadOnlyList<JsonObject> Samples, double Seconds)
{
    public Metric Primary => Metrics.First(m => m.Primary);
}
