namespace Engine.Eval;

/// <summary>One model's results on every task of a suite.</summary>
public sealed record ModelResults(string Label, IReadOnlyList<TaskResult> Tasks);

/// <summary>One model's value of a metric, its standard error, and its delta to the first model with that delta's standard error.</summary>
public sealed record Cell(double Value, double Error, double Delta, double DeltaError, bool Regressed);

/// <summary>One metric of one task across the models.</summary>
public sealed record ComparisonRow(string Task, string Kind, string Metric, bool Primary, bool HigherIsBetter, IReadOnlyList<Cell> Cells);

/// <summary>
/// Models side by side on the same suite: every metric of every task for each model, with its bootstrap standard error and, from the second
/// model on, the delta to the first (the base) with the paired standard error of that delta. A task's primary metric that moved the wrong
/// way by more than <see cref="Noise"/> standard errors of its delta is a regression.
/// </summary>
public static class EvalComparison
{
    /// <summary>Standard errors a worsening must exceed to count as a regression (two-sided 95 %).</summary>
    public const double Noise = 1.96;

    public static List<ComparisonRow> Compare(IReadOnlyList<ModelResults> models)
    {
        if (models.Count == 0) throw new ArgumentException("no models to compare");
        var first = models[0];
        foreach (var other in models.Skip(1))
            if (!other.Tasks.Select(t => (t.Task, t.Examples)).SequenceEqual(first.Tasks.Select(t => (t.Task, t.Examples))))
                throw new ArgumentException($"{other.Label} ran other tasks than {first.Label}");
        var rows = new List<ComparisonRow>();
        for (int t = 0; t < first.Tasks.Count; t++)
        {
            var task = first.Tasks[t];
            for (int m = 0; m < task.Metrics.Count; m++)
            {
                var baseline = task.Metrics[m];
                var cells = models.Select((model, index) =>
                {
                    var metric = model.Tasks[t].Metrics[m];
                    var (error, deltaError) = Bootstrap.StandardErrors(metric, index == 0 ? null : baseline);
                    double delta = index == 0 ? double.NaN : metric.Value - baseline.Value;
                    return new Cell(metric.Value, error, delta, deltaError, index > 0 && metric.Primary && Regressed(delta, deltaError, metric.HigherIsBetter));
                }).ToList();
                rows.Add(new ComparisonRow(task.Task, task.Kind, baseline.Name, baseline.Primary, baseline.HigherIsBetter, cells));
            }
        }
        return rows;
    }

    /// <summary>Worse (lower when higher is better, else higher) by more than Noise standard errors of the delta; with a zero standard
    /// error (every example moved alike) any worsening counts; an unknown one (fewer than two examples) never does.</summary>
    public static bool Regressed(double delta, double deltaError, bool higherIsBetter)
    {
        double worse = higherIsBetter ? -delta : delta;
        return !double.IsNaN(deltaError) && worse > 0 && worse > Noise * deltaError;
    }

    /// <summary>
    /// The gate of <c>--gate target=TASK[,TASK]</c>: the non-target tasks whose primary metric regressed in any model against the first.
    /// Target tasks are the ones the fine-tune meant to change; every other task must hold. Unknown task names are an error.
    /// </summary>
    public static List<string> GateFailures(IReadOnlyList<ComparisonRow> rows, IReadOnlyCollection<string> targets)
        => rows.Where(r => r.Primary && !targets.Contains(r.Task) && r.Cells.Any(c => c.Regressed)).Select(r => r.Task).Distinct().ToList();

    /// <summary>The target tasks of a gate spec "target=a,b", each of which must be one of the suite's tasks.</summary>
    public static HashSet<string> ParseGate(string spec, IReadOnlyCollection<string> tasks)
    {
        const string prefix = "target=";
        if (!spec.StartsWith(prefix, StringComparison.Ordinal) || spec.Length == prefix.Length)
            throw new ArgumentException($"--gate is \"{spec}\", expected target=TASK[,TASK...] (the tasks the fine-tune is meant to change)");
        var targets = spec[prefix.Length..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet();
        if (targets.FirstOrDefault(t => !tasks.Contains(t)) is { } unknown)
            throw new ArgumentException($"--gate names task '{unknown}', which the suite does not have (tasks: {string.Join(", ", tasks)})");
        return targets;
    }
}
