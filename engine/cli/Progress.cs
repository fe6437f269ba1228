using System.Diagnostics;
using Engine.Training;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Engine.Cli;

/// <summary>
/// What the training commands share while they run: the progress (step, loss, learning rate, gradient norm, tokens/s, ETA, the latest
/// evaluation loss) and Ctrl-C meaning "stop after this step". On an interactive terminal the progress is a live display redrawn in
/// place after every step; otherwise (output redirected, CI, a dumb terminal) it is a plain line at the first step, every logEvery
/// steps, the last step and every evaluation, so that logs stay readable.
/// </summary>
public sealed class Progress : IDisposable
{
    private const string StopMessage = "stopping after this step (Ctrl-C again to abort)";

    private readonly IAnsiConsole _console;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly int _firstStep, _lastStep, _logEvery;
    /// <summary>One writer at a time: the training thread and the Ctrl-C handler.</summary>
    private readonly Lock _gate = new();
    private readonly TaskCompletionSource _finished = new();
    private readonly Task? _display;
    private LiveDisplayContext? _live;
    private StepResult? _latest;
    private double? _eval;
    private long _tokens;
    private readonly CancellationTokenSource _stop = new();

    /// <summary>Steps firstStep..lastStep run in this process (a resumed run starts past 1); console: the terminal unless given.</summary>
    public Progress(int firstStep, int lastStep, int logEvery, IAnsiConsole? console = null)
    {
        (_firstStep, _lastStep, _logEvery) = (firstStep, lastStep, Math.Max(1, logEvery));
        _console = console ?? AnsiConsole.Console;
        IsLive = _console.Profile.Capabilities is { Interactive: true, Ansi: true } && _console.Profile.Out.IsTerminal;
        // StartAsync runs synchronously up to the callback, which hands over the display's context and returns a task that
        // completes only in Complete: the display stays up while the caller's training loop runs on this thread.
        if (IsLive)
            _display = new LiveDisplay(_console, Render()).StartAsync(live =>
            {
                _live = live;
                return _finished.Task;
            });
        Console.CancelKeyPress += OnCancel;
    }

    /// <summary>True while the progress is a live display redrawn in place; false for plain lines.</summary>
    public bool IsLive { get; private set; }

    public bool StopRequested => _stop.IsCancellationRequested;

    /// <summary>Cancelled by the first Ctrl-C: the loop stops after its current step.</summary>
    public CancellationToken Stop => _stop.Token;

    public TimeSpan Elapsed => _clock.Elapsed;

    public double TokensPerSecond => _tokens / _clock.Elapsed.TotalSeconds;

    /// <summary>Shows every step the loop reports and a line for each checkpoint it writes.</summary>
    public void Follow(TrainingLoop loop)
    {
        loop.StepFinished += report =>
        {
            Record(report.Step);
            Show(report.Step, report.EvalLoss);
        };
        loop.CheckpointSaved += directory => WriteLine($"checkpoint: {directory}");
    }

    /// <summary>Counts a finished step's tokens.</summary>
    public void Record(StepResult step) => _tokens += step.Tokens;

    /// <summary>Shows a finished step, with the evaluation loss when it was measured after this step (NaN: not measured).</summary>
    public void Show(StepResult step, double evalLoss = double.NaN)
    {
        bool evaluated = !double.IsNaN(evalLoss);
        lock (_gate)
        {
            _latest = step;
            if (evaluated) _eval = evalLoss;
            if (IsLive)
            {
                if (evaluated) _console.Write(new Text($"step {step.Step}: eval loss {evalLoss:F4}\n"));
                _live!.UpdateTarget(Render());
            }
            else if (evaluated || step.Step == _firstStep || step.Step % _logEvery == 0 || step.Step == _lastStep)
                _console.Profile.Out.Writer.WriteLine(Line(step) + (evaluated ? $"  eval loss {evalLoss:F4}" : ""));
        }
    }

    /// <summary>A line of its own (above the live display while there is one).</summary>
    public void WriteLine(string text)
    {
        lock (_gate)
        {
            if (IsLive) _console.Write(new Text(text + "\n"));
            else _console.Profile.Out.Writer.WriteLine(text);
        }
    }

    /// <summary>Ends the live display, leaving its last state on the screen; later output is plain. Ctrl-C keeps meaning "stop" until Dispose.</summary>
    public void Complete()
    {
        lock (_gate)
        {
            if (!IsLive) return;
            _finished.SetResult();
            _display!.GetAwaiter().GetResult();
            IsLive = false;
        }
    }

    public void Dispose()
    {
        Console.CancelKeyPress -= OnCancel;
        Complete();
        _stop.Dispose();
    }

    /// <summary>The plain progress line of a step.</summary>
    private string Line(StepResult step) =>
        $"step {step.Step,5}/{_lastStep}  loss {step.Loss,7:F4}  lr {step.LearningRate:E2}  grad-norm {step.GradNorm,6:F3}  " +
        $"{TokensPerSecond,8:N0} tok/s  ETA {Duration(Remaining(step))}";

    private TimeSpan Remaining(StepResult step) =>
        TimeSpan.FromSeconds(_clock.Elapsed.TotalSeconds / (step.Step - _firstStep + 1) * (_lastStep - step.Step));

    /// <summary>m:ss, or h:mm:ss from an hour on.</summary>
    private static string Duration(TimeSpan t) => t.TotalHours >= 1 ? $"{(int)t.TotalHours}:{t:mm\\:ss}" : $"{t:m\\:ss}";

    /// <summary>The live display: a bar with the step, elapsed time and ETA; the step's numbers; the stop notice after a Ctrl-C.</summary>
    private Rows Render()
    {
        const int barWidth = 25;
        int step = _latest?.Step ?? _firstStep - 1;
        double done = _lastStep > 0 ? Math.Clamp((double)step / _lastStep, 0, 1) : 1;
        int filled = (int)Math.Round(done * barWidth);
        string eta = _latest is { } latest ? Duration(Remaining(latest)) : "?";
        var lines = new List<IRenderable>
        {
            new Markup($"step [bold]{step}[/]/{_lastStep} [green]{new string('━', filled)}[/][grey]{new string('━', barWidth - filled)}[/] " +
                       $"{100 * done,3:F0}%  elapsed {Duration(_clock.Elapsed)}  ETA {eta}"),
        };
        if (_latest is { } s)
            lines.Add(new Markup($"loss [bold]{s.Loss:F4}[/]  lr {s.LearningRate:E2}  grad-norm {s.GradNorm:F3}  {TokensPerSecond:N0} tok/s" +
                                 (_eval is { } eval ? $"  eval loss [bold]{eval:F4}[/]" : "")));
        if (StopRequested) lines.Add(new Markup($"[yellow]{StopMessage}[/]"));
        return new Rows(lines);
    }

    /// <summary>The first Ctrl-C asks for a stop after the current step; a second one ends the process (the cursor shown again).</summary>
    private void OnCancel(object? sender, ConsoleCancelEventArgs e)
    {
        lock (_gate)
        {
            if (StopRequested)
            {
                if (IsLive) _console.Cursor.Show();
                return;
            }
            e.Cancel = true;
            _stop.Cancel();
            if (IsLive) _live!.UpdateTarget(Render());
            else _console.Profile.Out.Writer.WriteLine(StopMessage);
        }
    }
}
