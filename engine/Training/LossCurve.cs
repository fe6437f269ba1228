namespace Engine.Training;

/// <summary>The loss curve of a run as a PNG: training loss per step and, when there is one, the evaluation loss.</summary>
public static class LossCurve
{
    public static void Save(string path, IReadOnlyList<(int Step, double Loss)> train, IReadOnlyList<(int Step, double Loss)> eval, string title)
    {
        var plot = new ScottPlot.Plot();
        if (train.Count > 0)
        {
            var line = plot.Add.ScatterLine(train.Select(p => (double)p.Step).ToArray(), train.Select(p => p.Loss).ToArray());
            line.LegendText = "train";
        }
        if (eval.Count > 0)
        {
            var line = plot.Add.Scatter(eval.Select(p => (double)p.Step).ToArray(), eval.Select(p => p.Loss).ToArray());
            line.LegendText = "eval";
        }
        plot.Title(title);
        plot.XLabel("step");
        plot.YLabel("loss (nats per target token)");
        plot.ShowLegend();
        plot.SavePng(path, 800, 500);
    }
}
