using System.Diagnostics;
using Engine.IO;

namespace Engine.Training;

/// <summary>How long a loop runs and how often it evaluates and checkpoints.</summary>
public sealed record LoopSettings
{
    /// <summary>The step the run ends at (a resumed run counts the steps before it).</summary>
    public required int Steps { get; init; }

    /// <summary>Micro-batches per optimizer step.</summary>
    public int Accumulate { get; init; } = 1;

    /// <summary>Evaluate after every N steps, and after the last; 0: after the last only (with no evaluator: never).</summary>
    public int EvalEvery { get; init; }

    /// <summary>Write a checkpoint after every N steps; 0: only when stopped early (with no checkpoint settings: never).</summary>
    public int SaveEvery { get; init; }
}

/// <summary>Where checkpoints go: the run directory, how many are kept, the run's state to record (its step and micro-batches consumed are
/// the loop's), files to add to each (a tokenizer) and, for a LoRA run, the base model directory its adapters belong to.</summary>
public sealed record CheckpointSettings(string RunDirectory, int Keep, TrainingState State, Action<string>? ExtraFiles = null, string? BaseModel = null,
    ModelMetadata? Metadata = null);

/// <summary>A finished step as the loop reports it: the trainer's result, tokens per second since the loop started, and the evaluation
/// loss when it evaluated after this step (NaN: it did not).</summary>
public sealed record StepReport(StepResult Step, double TokensPerSecond, double EvalLoss)
{
    public bool Evaluated => !double.IsNaN(EvalLoss);
}

/// <summary>What a loop did: steps run here, their time in the trainer, the first and last step, the newest evaluation (step, loss), and
/// whether a stop request ended it early.</summary>
public sealed record LoopOutcome(int StepsRun, TimeSpan StepTime, StepResult? First, StepResult? Last, (int Step, double Loss)? LastEval, bool Stopped)
{
    /// <summary>Mean time of a step in the trainer (NaN when none ran).</summary>
    public double MeanStepMilliseconds => StepsRun == 0 ? double.NaN : StepTime.TotalMilliseconds / StepsRun;
}

/// <summary>
/// The one training loop of the engine (engine sft, engine train, the built-in base model's pretraining, and any caller as a library):
/// from the trainer's next step to <see cref="LoopSettings.Steps"/>, each step takes <see cref="LoopSettings.Accumulate"/> micro-batches
/// of the data, runs <see cref="Trainer.Step"/>, evaluates on schedule and reports the step (<see cref="StepFinished"/>: metrics and
/// progress displays subscribe), then checkpoints on schedule (<see cref="CheckpointSaved"/>). A stop request is honoured after the
/// current step, which is then checkpointed. A non-finite loss or gradient throws from the trainer with the step named, before the
/// optimizer touches a weight and before any checkpoint of that step: the newest checkpoint stays the last good one.
/// A loop given a <see cref="ResumePoint"/> first restores the trainer from it and skips the micro-batches its run had consumed, so it
/// continues exactly where that run was.
/// </summary>
public sealed class TrainingLoop
{
    private readonly Trainer _trainer;
    private readonly LoopSettings _settings;
    private readonly IEnumerator<Batch> _data;
    private readonly Func<double>? _evaluate;
    private readonly CheckpointSettings? _checkpoints;
    private long _consumed;

    /// <summary>A loop over data (the run's whole order of micro-batches from its start); evaluate: the held-out loss of the model now.</summary>
    public TrainingLoop(Trainer trainer, LoopSettings settings, IEnumerable<Batch> data, ResumePoint? resume = null,
        Func<double>? evaluate = null, CheckpointSettings? checkpoints = null)
    {
        if (settings.Accumulate < 1) throw new ArgumentException($"{settings.Accumulate} micro-batches per step: at least 1 is needed");
        (_trainer, _settings, _evaluate, _checkpoints) = (trainer, settings, evaluate, checkpoints);
        if (resume is not null) (data, _consumed) = resume.Restore(trainer, data);
        _data = data.GetEnumerator();
        FirstStep = trainer.StepCount + 1;
    }

    /// <summary>The step this loop runs first: 1, or the step after a resumed checkpoint's.</summary>
    public int FirstStep { get; }

    public int LastStep => _settings.Steps;

    public event Action<StepReport>? StepFinished;

    /// <summary>A checkpoint was written: its directory.</summary>
    public event Action<string>? CheckpointSaved;

    public LoopOutcome Run(CancellationToken stop = default)
    {
        var clock = Stopwatch.StartNew();
        var stepClock = new Stopwatch();
        long tokens = 0;
        int stepsRun = 0;
        StepResult? first = null, last = null;
        (int, double)? lastEval = null;
        for (int step = FirstStep; step <= _settings.Steps && !stop.IsCancellationRequested; step++)
        {
            var micro = new List<Batch>();
            for (int i = 0; i < _settings.Accumulate && _data.MoveNext(); i++) micro.Add(_data.Current);
            _consumed += micro.Count;
            stepClock.Start();
            var result = _trainer.Step(micro);
            stepClock.Stop();
            stepsRun++;
            first ??= result;
            last = result;
            tokens += result.Tokens;

            bool evalNow = _evaluate is not null && ((_settings.EvalEvery > 0 && step % _settings.EvalEvery == 0) || step == _settings.Steps);
            double evalLoss = evalNow ? _evaluate!() : double.NaN;
            if (evalNow) lastEval = (step, evalLoss);
            StepFinished?.Invoke(new StepReport(result, tokens / clock.Elapsed.TotalSeconds, evalLoss));

            if (_checkpoints is not null && ((_settings.SaveEvery > 0 && step % _settings.SaveEvery == 0) || stop.IsCancellationRequested))
            {
                string saved = SaveCheckpoint(_checkpoints); // written whether or not anyone listens
                CheckpointSaved?.Invoke(saved);
            }
        }
        return new LoopOutcome(stepsRun, stepClock.Elapsed, first, last, lastEval, Stopped: stop.IsCancellationRequested && _trainer.StepCount < _settings.Steps);
    }

    private string SaveCheckpoint(CheckpointSettings c) =>
        TrainingCheckpoint.Save(c.RunDirectory, _trainer.Model, _trainer, c.State with { Step = _trainer.StepCount, MicroBatchesConsumed = _consumed },
            c.Keep, c.ExtraFiles, c.BaseModel, c.Metadata);
}
