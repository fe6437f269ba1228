using Engine.Backends;
using Engine.Tensors;

namespace Engine.Diagnostics;

/// <summary>
/// Tensors of one backend drawn from a seeded generator and released together: two scopes with the same seed, asked for the same
/// sequence of tensors, hold the same values on their backends (how the self-test feeds the oracle and the backend under test).
/// A tensor longer than <paramref name="distinctValues"/> repeats its first values (benchmarks: drawing gigabytes on the host is slow).
/// </summary>
internal sealed class TensorScope(IBackend backend, int seed, int distinctValues = int.MaxValue) : IDisposable
{
    private readonly Random _rng = new(seed);
    private readonly List<IDisposable> _owned = [];

    public IBackend Backend => backend;

    /// <summary>Uniform in [−scale, scale): never zeros, which hide unwritten outputs.</summary>
    public Tensor Scaled(float scale, params int[] shape) => Upload(Draw(shape, () => scale * (2 * _rng.NextSingle() - 1)), shape);

    /// <summary>Uniform in [−1, 1) as a host array, for inputs a backend holds in another form (bf16 bits).</summary>
    public float[] Values(int length) => Draw([length], () => 2 * _rng.NextSingle() - 1);

    public Tensor Uniform(params int[] shape) => Scaled(1f, shape);

    /// <summary>Uniform in [0.01, 1): AdamW's second moments.</summary>
    public Tensor Positive(params int[] shape) => Upload(Draw(shape, () => 0.01f + 0.99f * _rng.NextSingle()), shape);

    /// <summary>NaN everywhere: an output the op must overwrite completely.</summary>
    public Tensor Poisoned(params int[] shape) => Upload(Draw(shape, () => float.NaN), shape);

    /// <summary>Uniform integers in [0, max).</summary>
    public Tensor Ints(int count, int max) => Ints(Enumerable.Range(0, count).Select(_ => _rng.Next(max)).ToArray());

    public Tensor Ints(int[] values)
    {
        var t = Own(backend.Allocate(DType.I32, values.Length));
        backend.Upload(t, values);
        return t;
    }

    /// <summary>A uniform integer in [0, max) from this scope's generator.</summary>
    public int NextInt(int max) => _rng.Next(max);

    public float[] Read(Tensor t)
    {
        var data = new float[t.Length];
        backend.Download(t, data);
        return data;
    }

    /// <summary>A zero-filled float64 tensor (the optimizer's device scalars).</summary>
    public Tensor Doubles(int length) => Own(backend.Allocate(DType.F64, length));

    /// <summary>A float64 tensor read back, rounded to float32 for the comparison tables.</summary>
    public float[] ReadDoubles(Tensor t)
    {
        var data = new double[t.Length];
        backend.Download(t, data);
        return data.Select(v => (float)v).ToArray();
    }

    /// <summary>Disposed with the scope, newest first.</summary>
    public T Own<T>(T item) where T : IDisposable
    {
        _owned.Add(item);
        return item;
    }

    public void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
        _owned.Clear();
    }

    private float[] Draw(int[] shape, Func<float> next)
    {
        var data = new float[Tensor.ElementCount(shape)];
        int distinct = (int)Math.Min(data.Length, distinctValues);
        for (int i = 0; i < distinct; i++) data[i] = next();
        for (long i = distinct; i < data.Length; i += distinct)
            data.AsSpan(0, (int)Math.Min(distinct, data.Length - i)).CopyTo(data.AsSpan((int)i));
        return data;
    }

    public Tensor Upload(float[] data, params int[] shape)
    {
        var t = Own(backend.Allocate(DType.F32, shape));
        backend.Upload(t, data);
        return t;
    }
}
