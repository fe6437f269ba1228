using Engine.Backends;
using Engine.Tensors;

namespace Engine.Autograd;

/// <summary>
/// The manual autograd. Each op called through the tape runs its forward and pushes its backward;
/// <see cref="Backward"/> replays them in reverse, and each backward accumulates into its inputs' gradients.
/// Activations and their gradients are owned by the tape and go back to the backend's pool on <see cref="Reset"/>. A parameter's
/// gradient is not: it belongs to the trainer, which keeps it across the micro-batches of a step (see docs/ARCHITECTURE.md).
/// </summary>
public sealed class Tape(IBackend backend, bool recordGradients = true) : IDisposable
{
    private readonly List<Action> _backward = new();
    private readonly List<Tensor> _owned = new();
    private readonly List<Variable> _activationsWithGrad = new();

    public IBackend Backend { get; } = backend;

    /// <summary>False for evaluation and generation: nothing requires a gradient, nothing is pushed.</summary>
    public bool RecordGradients { get; } = recordGradients;

    /// <summary>
    /// The gradient the loss, the tape's root, is seeded with: dL/d(summed loss). The trainer sets it to 1 / target tokens of the whole
    /// optimizer step before each step's forwards; the fused loss op reads it (it writes its gradients during the forward).
    /// </summary>
    public float LossGradient { get; set; } = 1f;

    /// <summary>A zero-filled tensor that lives until <see cref="Reset"/>.</summary>
    public Tensor Allocate(DType dtype, params int[] shape)
    {
        var t = Backend.Allocate(dtype, shape);
        _owned.Add(t);
        return t;
    }

    /// <summary>An op's output, not zero-filled (its forward overwrites every element): it requires a gradient when any input does.</summary>
    public Variable Result(int[] shape, params Variable?[] inputs)
    {
        bool requiresGrad = RecordGradients && inputs.Any(v => v is { RequiresGrad: true });
        var value = Backend.AllocateUninitialized(DType.F32, shape);
        _owned.Add(value);
        return new Variable(value, requiresGrad) { IsActivation = true };
    }

    /// <summary>The gradient buffer of v: an activation's is allocated (zeroed) the first time a backward writes to it; a parameter's
    /// must have been given by its owner.</summary>
    public Tensor GradOf(Variable v)
    {
        if (v.Grad is null)
        {
            if (!v.IsActivation)
                throw new InvalidOperationException($"{v.Name} requires a gradient but has no gradient buffer: its trainer allocates it before the first step");
            v.Grad = Allocate(DType.F32, v.Value.Shape);
            _activationsWithGrad.Add(v);
        }
        return v.Grad;
    }

    /// <summary>v's gradient when v needs one, else null (the backward then skips that work).</summary>
    public Tensor? GradIfNeeded(Variable? v) => v is { RequiresGrad: true } && RecordGradients ? GradOf(v) : null;

    public void OnBackward(Action backward) => _backward.Add(backward);

    /// <summary>Runs every pushed backward, newest first, then forgets them.</summary>
    public void Backward()
    {
        for (int i = _backward.Count - 1; i >= 0; i--) _backward[i]();
        _backward.Clear();
    }

    /// <summary>Drops pushed backwards and releases every activation and activation gradient.</summary>
    public void Reset()
    {
        _backward.Clear();
        foreach (var v in _activationsWithGrad) v.Grad = null;
        _activationsWithGrad.Clear();
        foreach (var t in _owned) t.Dispose();
        _owned.Clear();
    }

    public void Dispose() => Reset();
}
