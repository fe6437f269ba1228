using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ScottPlot;

namespace Engine.Eval;

/// <summary>The outputs of an eval run: eval.json (everything), eval.md (the table), eval.png (grouped bars) and samples.jsonl.</summary>
public static class EvalReport
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>A value as a suite's tables print it: accuracies as percentages, losses with 4 decimals.</summary>
    public static string Format(double value, string metric) => double.IsNaN(value) ? "–"
        : IsFraction(metric) ? (value * 100).ToString("F1", CultureInfo.InvariantCulture) + "%"
        : value.ToString("F4", CultureInfo.InvariantCulture);

    /// <summary>"value ± error", then for later models "(Δ delta ± error)" and a regression mark.</summary>
    public static string FormatCell(Cell cell, string metric, bool first)
    {
        string text = $"{Format(cell.Value, metric)} ± {Format(cell.Error, metric)}";
        if (first) return text;
        string sign = cell.Delta >= 0 ? "+" : "";
        string delta = IsFraction(metric) ? sign + (cell.Delta * 100).ToString("F1", CultureInfo.InvariantCulture) + " pts" : sign + cell.Delta.ToString("F4", CultureInfo.InvariantCulture);
        string error = IsFraction(metric) ? (cell.DeltaError * 100).ToString("F1", CultureInfo.InvariantCulture) : cell.DeltaError.ToString("F4", CultureInfo.InvariantCulture);
        return $"{text} (Δ {delta} ± {error}){(cell.Regressed ? " REGRESSED" : "")}";
    }

    private static bool IsFraction(string metric) => metric is not ("loss" or "perplexity");

    public static JsonObject Json(string suite, IReadOnlyList<ModelResults> models, IReadOnlyList<ComparisonRow> rows, IReadOnlyCollection<string>? targets, IReadOnlyList<string> failures)
    {
        static JsonNode? Number(double x) => double.IsFinite(x) ? JsonValue.Create(x) : null;
        var tasks = new JsonArray();
        foreach (var group in rows.GroupBy(r => r.Task))
        {
            var results = models.Select(m => m.Tasks.First(t => t.Task == group.Key)).ToList();
            tasks.Add(new JsonObject
            {
                ["task"] = group.Key, ["kind"] = group.First().Kind, ["examples"] = results[0].Examples,
                ["seconds"] = new JsonArray(results.Select(r => Number(r.Seconds)).ToArray()),
                ["examples_per_s"] = new JsonArray(results.Select(r => Number(r.Examples / r.Seconds)).ToArray()),
                ["metrics"] = new JsonArray(group.Select(row => (JsonNode)new JsonObject
                {
                    ["name"] = row.Metric, ["primary"] = row.Primary, ["higher_is_better"] = row.HigherIsBetter,
                    ["values"] = new JsonArray(row.Cells.Select((c, i) => (JsonNode)new JsonObject
                    {
                        ["model"] = models[i].Label, ["value"] = Number(c.Value), ["stderr"] = Number(c.Error),
                        ["delta"] = Number(c.Delta), ["delta_stderr"] = Number(c.DeltaError), ["regressed"] = c.Regressed,
                    }).ToArray()),
                }).ToArray()),
                ["breakdown"] = results[0].Breakdown.Count == 0 ? null : new JsonObject(models.Select((m, i) =>
                    KeyValuePair.Create(m.Label, (JsonNode?)new JsonObject(results[i].Breakdown.Select(p => KeyValuePair.Create(p.Key, Number(p.Value))))))),
            });
        }
        return new JsonObject
        {
            ["suite"] = suite, ["models"] = new JsonArray(models.Select(m => (JsonNode)JsonValue.Create(m.Label)!).ToArray()),
            ["regression_rule"] = $"primary metric worse than the first model's by more than {EvalComparison.Noise} paired bootstrap standard errors ({Bootstrap.Resamples} resamples)",
            ["tasks"] = tasks,
            ["gate"] = targets is null ? null : new JsonObject
            {
                ["targets"] = new JsonArray(targets.Select(t => (JsonNode)JsonValue.Create(t)!).ToArray()),
                ["regressed"] = new JsonArray(failures.Select(t => (JsonNode)JsonValue.Create(t)!).ToArray()),
                ["passed"] = failures.Count == 0,
            },
        };
    }

    public static string Markdown(string suite, IReadOnlyList<ModelResults> models, IReadOnlyList<ComparisonRow> rows)
    {
        var text = new StringBuilder();
        text.AppendLine($"# eval: {suite}");
        text.AppendLine();
        text.AppendLine($"| task | metric | {string.Join(" | ", models.Select(m => m.Label))} |");
        text.AppendLine($"| --- | --- |{string.Concat(models.Select(_ => " ---: |"))}");
        foreach (var row in rows)
            text.AppendLine($"| {row.Task} | {row.Metric}{(row.Primary ? " *" : "")} | {string.Join(" | ", row.Cells.Select((c, i) => FormatCell(c, row.Metric, i == 0)))} |");
        text.AppendLine();
        text.AppendLine($"\\* primary metric. Value ± bootstrap standard error ({Bootstrap.Resamples} resamples of the examples); Δ is the change from " +
                        $"{models[0].Label} ± its paired standard error; REGRESSED: the primary metric got worse by more than {EvalComparison.Noise} of those.");
        return text.ToString();
    }

    /// <summary>Grouped bars: one group per task (its primary metric), one bar per model, ± one standard error; accuracies on the left,
    /// losses on the right (their scales differ).</summary>
    public static void Plot(IReadOnlyList<ModelResults> models, IReadOnlyList<ComparisonRow> rows, string path)
    {
        var panels = rows.Where(r => r.Primary).GroupBy(r => IsFraction(r.Metric)).OrderByDescending(g => g.Key).ToList();
        ScottPlot.IMultiplot multiplot = new ScottPlot.Multiplot();
        multiplot.AddPlots(panels.Count);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Columns();
        var palette = new ScottPlot.Palettes.Category10();
        for (int p = 0; p < panels.Count; p++)
        {
            var plot = multiplot.GetPlot(p);
            var primary = panels[p].ToList();
            for (int m = 0; m < models.Count; m++)
            {
                var color = palette.GetColor(m);
                plot.Add.Bars(primary.Select((row, t) => new ScottPlot.Bar
                {
                    Position = t * (models.Count + 1) + m, Value = Finite(row.Cells[m].Value), Error = Finite(row.Cells[m].Error), FillColor = color,
                }).ToList());
                if (p == 0) plot.Legend.ManualItems.Add(new ScottPlot.LegendItem { LabelText = models[m].Label, FillColor = color });
            }
            var ticks = primary.Select((row, t) => new ScottPlot.Tick(t * (models.Count + 1) + (models.Count - 1) / 2.0, $"{row.Task}\n{row.Metric}")).ToArray();
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks);
            plot.Axes.Margins(bottom: 0);
            plot.Title(panels[p].Key ? "accuracy (higher is better) ± 1 s.e." : "loss per token (lower is better) ± 1 s.e.");
            if (p == 0) plot.ShowLegend(ScottPlot.Alignment.UpperLeft);
        }
        multiplot.SavePng(path, 450 * panels.Count + 100, 500);
    }

    private static double Finite(double x) => double.IsFinite(x) ? x : 0;

    /// <summary>Writes eval.json, eval.md and eval.png into directory (created) and returns their paths.</summary>
    public static string[] Write(string directory, string suite, IReadOnlyList<ModelResults> models, IReadOnlyList<ComparisonRow> rows,
        IReadOnlyCollection<string>? targets, IReadOnlyList<string> failures)
    {
        Directory.CreateDirectory(directory);
        string json = Path.Combine(directory, "eval.json"), md = Path.Combine(directory, "eval.md"), png = Path.Combine(directory, "eval.png");
        WriteText(json, Json(suite, models, rows, targets, failures).ToJsonString(Indented));
        WriteText(md, Markdown(suite, models, rows));
        Plot(models, rows, png);
        return [json, md, png];
    }

    /// <summary>Every sample of every task and model, one JSON object a line.</summary>
    public static string WriteSamples(string directory, IReadOnlyList<ModelResults> models)
    {
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, "samples.jsonl");
        WriteText(path, string.Concat(models.SelectMany(m => m.Tasks).SelectMany(t => t.Samples).Select(s => s.ToJsonString() + "\n")));
        return path;
    }

    private static void WriteText(string path, string text) => IO.AtomicFile.Write(path, stream => stream.Write(Encoding.UTF8.GetBytes(text)));
}
