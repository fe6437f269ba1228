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
/// The loss and the squared gradient norm are summed into two device scalars, which the clipping factor and AdamW read where they are;
/// the host reads both once, at the end of the step (on the ILGPU backend the step's only wait for the device).
/// </summary>
public sealed class Trainer : IDisposable
{
    private readonly Transformer _model;
    private readonly OptimizerConfig _optimizer;
    private readonly LearningRateSchedule _schedule;
    private readonly Variable[] _trainable;
    private readonly Tensor[] _grads, _m, _v;
    private readonly Tensor _sums, _loss, _sumOfSquares, _clipScale;
    private readonly Tape _tape;

    public Trainer(Transformer model, OptimizerConfig optimizer, LearningRateSchedule schedule)
    {
        _model = model;
        _optimizer = optimizer;
        _schedule = schedule;
        _trainable = model.TrainableParameters.ToArray();
        foreach (var p in _trainable) p.Grad ??= model.Backend.Allocate(DType.F32, p.Value.Shape);
        _grads = _trainable.Select(p => p.Grad!).ToArray();
        _m = _trainable.Select(p => model.Backend.Allocate(DType.F32, p.Value.Shape)).ToArray();
        _v = _trainable.Select(p => model.Backend.Allocate(DType.F32, p.Value.Shape)).ToArray();
        _sums = model.Backend.Allocate(DType.F64, 2);
        (_loss, _sumOfSquares) = (_sums.View(0, 1), _sums.View(1, 1));
        _clipScale = model.Backend.Allocate(DType.F32, 1);
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

        foreach (var g in _grads) backend.Zero(g);
        backend.Zero(_sums);
        _tape.LossGradient = 1f / targets; // the loss of the step is Σ over its target tokens / their number, whatever the split
        for (int micro = 0; micro < microBatches.Count; micro++)
        {
            _model.Forward(_tape, microBatches[micro], _loss, DropoutSeeds.MicroBatch(StepCount, micro));
            _tape.Backward();
            _tape.Reset();
        }

        // Clip and update from the device's numbers; a non-finite loss or norm makes the clip scale NaN, and AdamW then changes nothing.
        backend.SumOfSquares(_sumOfSquares, _grads);
        backend.ClipScale(_clipScale, _loss, _sumOfSquares, _optimizer.ClipNorm);
        int step = StepCount + 1;
        float lr = _schedule.At(step);
        for (int i = 0; i < _trainable.Length; i++)
        {
            float decay = _trainable[i].Value.Shape.Length >= 2 ? _optimizer.WeightDecay : 0;
            backend.AdamW(_trainable[i].Value, _grads[i], _clipScale, _m[i], _v[i],
                new AdamWStep(lr, _optimizer.Beta1, _optimizer.Beta2, _optimizer.Eps, decay, step));
        }

        Span<double> sums = stackalloc double[2];
        backend.Download(_sums, sums); // the step's one host read
        double loss = sums[0] / targets, norm = Math.Sqrt(sums[1]);
        if (!double.IsFinite(loss)) throw new InvalidOperationException($"loss is {loss} at step {step}");
        if (!double.IsFinite(norm)) throw new InvalidOperationException($"gradient norm is {norm} at step {step}");
        StepCount = step;
        return new StepResult(StepCount, loss, norm, lr, microBatches.Sum(b => b.Tokens), targets);
    }

    public void Dispose()
    {
        _tape.Dispose();
        foreach (var t in _m.Concat(_v)) t.Dispose();
        _sums.Dispose();
        _clipScale.Dispose();
        foreach (var p in _trainable)
        {
            p.Grad?.Dispose();
            p.Grad = null;
        }
    }
}
