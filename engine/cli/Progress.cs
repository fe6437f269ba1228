using System.Diagnostics;
using Engine.Training;

namespace Engine.Cli;

/// <summary>
/// What the training commands share while they run: the progress line (step, loss, learning rate, gradient norm, tokens/s, ETA),
/// and Ctrl-C meaning "stop after this step".
/// </summary>
public sealed class Progress : IDisposable
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly int _firstStep, _lastStep;
    private long _tokens;

    /// <summary>Steps firstStep..lastStep run in this process (a resumed run starts past 1).</summary>
    public Progress(int firstStep, int lastStep)
    {
        (_firstStep, _lastStep) = (firstStep, lastStep);
        Console.CancelKeyPress += OnCancel;
    }

    public bool StopRequested { get; private set; }

    public TimeSpan Elapsed => _clock.Elapsed;

    public double TokensPerSecond => _tokens / _clock.Elapsed.TotalSeconds;

    /// <summary>Counts a finished step's tokens.</summary>
    public void Record(StepResult step) => _tokens += step.Tokens;

    public string Line(StepResult step)
    {
        double secondsPerStep = _clock.Elapsed.TotalSeconds / (step.Step - _firstStep + 1);
        var eta = TimeSpan.FromSeconds(secondsPerStep * (_lastStep - step.Step));
        return $"step {step.Step,5}/{_lastStep}  loss {step.Loss,7:F4}  lr {step.LearningRate:E2}  grad-norm {step.GradNorm,6:F3}  " +
               $"{TokensPerSecond,8:N0} tok/s  ETA {eta:m\\:ss}";
    }

    private void OnCancel(object? sender, ConsoleCancelEventArgs e)
    {
        e.Cancel = true;
        StopRequested = true;
        Console.WriteLine("stopping after this step (Ctrl-C again to abort)");
        Console.CancelKeyPress -= OnCancel;
    }

    public void Dispose() => Console.CancelKeyPress -= OnCancel;
}
