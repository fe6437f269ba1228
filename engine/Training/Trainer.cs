using Engine.Autograd;
using Engine.Backends;
using Engine.Models;
using Engine.Tensors;

namespace Engine.Training;

/// <summary>AdamW and clipping settings; weight decay applies to matrices only (not biases, norms).</summary>
public sealed record OptimizerConfig(float WeightDecay = 0.1f, float Beta1 = 0.9f, float Beta2 = 0.95f, float Eps = 1e-8f, float ClipNorm = 1f);

/// <summary>What one optimizer step did. Loss is the mean over the step's target tokens.</summary>
public readonly record struct StepResult(int Step, double Loss, double GradNorm, float LearningRate, int Tokens, int TargetTokens);

/// <summary>
/// One optimizer step = forward and backward of every micro-batch (gradients accumulate), the loss normalised
/// by the target tokens of the whole step, clipping by global norm, AdamW, the next learning rate.
/// The trainer owns the gradient buffers and AdamW moments of the model's trainable parameters, and only of those:
/// a frozen parameter (LoRA's base model) costs no memory beyond its weights.
/// </summary>
public sealed class Trainer : IDisposable
{
    private readonly Transformer _model;
    private readonly OptimizerConfig _optimizer;
    private readonly LearningRateSchedule _schedule;
    private readonly Variable[] _trainable;
    private readonly Tensor[] _m, _v;
    private readonly Tape _tape;

    public Trainer(Transformer model, OptimizerConfig optimizer, LearningRateSchedule schedule)
    {
        _model = model;
        _optimizer = optimizer;
        _schedule = schedule;
        _trainable = model.TrainableParameters.ToArray();
        foreach (var p in _trainable) p.Grad ??= model.Backend.Allocate(DType.F32, p.Value.Shape);
        _m = _trainable.Select(p => model.Backend.Allocate(DType.F32, p.Value.Shape)).ToArray();
        _v = _trainable.Select(p => model.Backend.Allocate(DType.F32, p.Value.Shape)).ToArray();
        _tape = new Tape(model.Backend);
    }

    /// <summary>The model it trains.</summary>
    public Transformer Model => _model;

    /// <summary>Optimizer steps taken so far.</summary>
    public int StepCount { get; private set; }

    /// <summary>Each trainable parameter with its AdamW moments (m, v): what a checkpoint saves besides the weights.</summary>
    public IEnumerable<(Variable Parameter, Tensor M, Tensor V)> OptimizerState =>
        _trainable.Select((p, i) => (p, _m[i], _v[i]));

    /// <summary>Continues a run from a checkpoint whose moments were loaded into <see cref="OptimizerState"/> (<see cref="ResumePoint"/>).</summary>
    internal void RestoreStepCount(int stepCount)
    {
        if (stepCount < 0) throw new ArgumentException($"step count {stepCount} is negative");
        StepCount = stepCount;
    }

    public StepResult Step(IReadOnlyList<Batch> microBatches)
    {
        IBackend backend = _model.Backend;
        int targets = microBatches.Sum(b => b.TargetCount);
        if (targets == 0) throw new ArgumentException("the step's micro-batches have no target tokens (every loss mask is 0)");

        foreach (var p in _trainable) backend.Zero(p.Grad!);
        _tape.LossGradient = 1f / targets; // the loss of the step is Σ over its target tokens / their number, whatever the split
        double lossSum = 0;
        for (int micro = 0; micro < microBatches.Count; micro++)
        {
            lossSum += _model.Forward(_tape, microBatches[micro], DropoutSeeds.MicroBatch(StepCount, micro));
            _tape.Backward();
            _tape.Reset();
        }
        double loss = lossSum / targets;
        if (!double.IsFinite(loss)) throw new InvalidOperationException($"loss is {loss} at step {StepCount + 1}");

        double norm = Math.Sqrt(_trainable.Sum(p => backend.SumOfSquares(p.Grad!)));
        if (!double.IsFinite(norm)) throw new InvalidOperationException($"gradient norm is {norm} at step {StepCount + 1}");
        if (_optimizer.ClipNorm > 0 && norm > _optimizer.ClipNorm)
            foreach (var p in _trainable) backend.Scale(p.Grad!, (float)(_optimizer.ClipNorm / norm));

        StepCount++;
        float lr = _schedule.At(StepCount);
        for (int i = 0; i < _trainable.Length; i++)
        {
            float decay = _trainable[i].Value.Shape.Length >= 2 ? _optimizer.WeightDecay : 0;
            backend.AdamW(_trainable[i].Value, _trainable[i].Grad!, _m[i], _v[i],
                new AdamWStep(lr, _optimizer.Beta1, _optimizer.Beta2, _optimizer.Eps, decay, StepCount));
        }
        return new StepResult(StepCount, loss, norm, lr, microBatches.Sum(b => b.Tokens), targets);
    }

    public void Dispose()
    {
        _tape.Dispose();
        foreach (var t in _m.Concat(_v)) t.Dispose();
        foreach (var p in _trainable)
        {
            p.Grad?.Dispose();
            p.Grad = null;
        }
    }
}
