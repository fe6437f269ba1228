using System.Text.Json;

namespace Engine.Training;

/// <summary>
/// A run's metrics: one JSON object per line in metrics.jsonl, the same scalars in a TensorBoard event file,
/// and loss-curve.png when the run ends.
/// </summary>
public sealed class MetricsLog : IDisposable
{
    private readonly StreamWriter _jsonl;
    private readonly TensorBoardWriter _tensorBoard;
    private readonly List<(int, double)> _train = new(), _eval = new();
    private readonly string _directory;

    /// <summary>A fresh metrics.jsonl, or appended to when resuming a run.</summary>
    public MetricsLog(string directory, bool resume = false)
    {
        _directory = directory;
        Directory.CreateDirectory(directory);
        _jsonl = new StreamWriter(Path.Combine(directory, "metrics.jsonl"), append: resume);
        _tensorBoard = new TensorBoardWriter(Path.Combine(directory, "tensorboard"));
    }

    /// <summary>Logs every step the loop reports, and its evaluation when it made one.</summary>
    public void Follow(TrainingLoop loop) => loop.StepFinished += report =>
    {
        Train(report.Step, report.TokensPerSecond);
        if (report.Evaluated) Eval(report.Step.Step, report.EvalLoss);
    };

    public void Train(StepResult step, double tokensPerSecond)
    {
        _train.Add((step.Step, step.Loss));
        Write(step.Step, new()
        {
            ["loss"] = step.Loss, ["learning_rate"] = step.LearningRate, ["grad_norm"] = step.GradNorm,
            ["tokens"] = step.Tokens, ["target_tokens"] = step.TargetTokens, ["tokens_per_s"] = tokensPerSecond,
        });
    }

    public void Eval(int step, double loss)
    {
        _eval.Add((step, loss));
        Write(step, new() { ["eval_loss"] = loss });
    }

    /// <summary>Writes loss-curve.png and returns its path.</summary>
    public string SaveLossCurve(string title)
    {
        string path = Path.Combine(_directory, "loss-curve.png");
        LossCurve.Save(path, _train, _eval, title);
        return path;
    }

    private void Write(int step, Dictionary<string, double> values)
    {
        var line = new Dictionary<string, object> { ["step"] = step };
        foreach (var (name, value) in values)
        {
            line[name] = value;
            _tensorBoard.Scalar(name, step, value);
        }
        _jsonl.WriteLine(JsonSerializer.Serialize(line));
        _jsonl.Flush();
        _tensorBoard.Flush();
    }

    public void Dispose()
    {
        _jsonl.Dispose();
        _tensorBoard.Dispose();
    }
}
