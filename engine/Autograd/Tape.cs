using Engine.Backends;
using Engine.Tensors;

namespace Engine.Autograd;

/// <summary>
/// The manual autograd. Each op called through the tape runs its forward and pushes its backward;
/// <see cref="Backward"/> replays them in reverse, and each backward accumulates into its inputs' gradients.
/// Activations and their gradients are owned by the tape and go back to the backend's pool on <see cref="Reset"/>; so does a gradient
/// the tape had to give a parameter that came without one (no trainer), and that parameter's Grad is cleared with it.
/// </summary>
public sealed class Tape(IBackend backend, bool recordGradients = true) : IDisposable
{
    private readonly List<Action> _backward = new();
    private readonly List<Tensor> _owned = new();
    private readonly List<Variable> _given = new();

    public IBackend Backend { get; } = backend;

    /// <summary>False for evaluation and generation: nothing requires a gradient, nothing is pushed.</summary>
    public bool RecordGradients { get; } = recordGradients;

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
        return new Variable(value, requiresGrad);
    }

    /// <summary>The gradient buffer of v, allocated (zeroed) the first time a backward writes to it.</summary>
    public Tensor GradOf(Variable v)
    {
        if (v.Grad is null)
        {
            v.Grad = Allocate(DType.F32, v.Value.Shape);
            _given.Add(v);
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

    /// <summary>Drops pushed backwards and releases every activation and every gradient the tape allocated.</summary>
    public void Reset()
    {
        _backward.Clear();
        foreach (var v in _given) v.Grad = null;
        _given.Clear();
        foreach (var t in _owned) t.Dispose();
        _owned.Clear();
    }

    public void Dispose() => Reset();
}
