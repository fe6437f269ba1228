using Engine.Kernels;

using Engine.Tensors;

namespace Engine.Backends;

/// <summary>
/// The host backend: tensors are float[]/int[]/double[] arrays, ops are the span functions (CpuGelu, CpuMatMul, ...) of the op family files
/// of this folder. This file holds the memory; each op's IBackend method stands in its op family's file (a partial class), after the span
/// function it calls and before IlgpuBackend's.
/// Released arrays go back to a pool (<see cref="BufferPool{TBuffer}"/>), so a training step's activations reuse the last step's memory.
/// </summary>
public sealed partial class CpuBackend : IBackend
{
    /// <summary>float32 and int32 alike.</summary>
    private const int ElementBytes = 4;

    private readonly BufferPool<Array> _pool = new();

    /// <summary>Guarded by _pool's lock: see <see cref="Memory"/>.</summary>
    private long _liveBytes, _peakLiveBytes, _heldBytes;

    /// <summary>The bytes of tensors handed out and not yet released, the most there were at once since <see cref="ResetPeak"/>,
    /// and all the backend holds (those and the pool's free arrays), each counted at its array's pooled capacity.</summary>
    public TensorMemory Memory
    {
        get { lock (_pool) return new TensorMemory(_liveBytes, _peakLiveBytes, _heldBytes); }
    }

    /// <summary>Starts a new peak from the bytes live now.</summary>
    public void ResetPeak()
    {
        lock (_pool) _peakLiveBytes = _liveBytes;
    }

    public string Name => "cpu";

    public Tensor Allocate(DType dtype, params int[] shape) => Rent(dtype, shape, zeroed: true);

    /// <summary>A pooled array as it was left (a new one is zero anyway): no pass over memory the op then overwrites.</summary>
    public Tensor AllocateUninitialized(DType dtype, params int[] shape) => Rent(dtype, shape, zeroed: false);

    private Tensor Rent(DType dtype, int[] shape, bool zeroed)
    {
        long length = Tensor.ElementCount(shape);
        long capacity = PoolBuckets.Capacity(length);
        if (capacity > Array.MaxLength) throw new ArgumentException($"a tensor of shape [{string.Join(", ", shape)}] is too large for the CPU backend");
        Array? storage;
        lock (_pool)
        {
            storage = _pool.Take(dtype, capacity);
            if (storage is null) _heldBytes += capacity * ElementBytes;
            _liveBytes += (storage?.LongLength ?? capacity) * ElementBytes;
            _peakLiveBytes = Math.Max(_peakLiveBytes, _liveBytes);
        }
        bool reused = storage is not null;
        storage ??= dtype switch { DType.F32 => new float[capacity], DType.I32 => new int[capacity], _ => new double[capacity] };
        var tensor = new Tensor(this, storage, 0, dtype, shape, ownsStorage: true);
        if (zeroed && reused) Zero(tensor);
        return tensor;
    }

    public void Release(Tensor tensor)
    {
        var storage = (Array)tensor.Storage;
        lock (_pool)
        {
            _pool.Return(tensor.DType, storage.LongLength, storage);
            _liveBytes -= storage.LongLength * ElementBytes;
        }
    }

    public void Dispose()
    {
        lock (_pool) _pool.Clear();
    }

    /// <summary>The elements of a float32 tensor (or an empty span for null).</summary>
    public static Span<float> F(Tensor? t)
    {
        if (t is null) return default;
        if (t.Storage is not float[] a) throw new ArgumentException($"{t} is not a float32 tensor of the CPU backend");
        return a.AsSpan((int)t.Offset, (int)t.Length);
    }

    /// <summary>The elements of an int32 tensor.</summary>
    public static Span<int> I(Tensor t)
    {
        if (t.Storage is not int[] a) throw new ArgumentException($"{t} is not an int32 tensor of the CPU backend");
        return a.AsSpan((int)t.Offset, (int)t.Length);
    }

    /// <summary>The elements of a float64 tensor.</summary>
    public static Span<double> D(Tensor t)
    {
        if (t.Storage is not double[] a) throw new ArgumentException($"{t} is not a float64 tensor of the CPU backend");
        return a.AsSpan((int)t.Offset, (int)t.Length);
    }

    public void Upload(Tensor dst, ReadOnlySpan<float> src) => src.CopyTo(F(dst));
    public void Upload(Tensor dst, ReadOnlySpan<int> src) => src.CopyTo(I(dst));
    public void Download(Tensor src, Span<float> dst) => F(src).CopyTo(dst);
    public void Download(Tensor src, Span<double> dst) => D(src).CopyTo(dst);

    public void Zero(Tensor tensor)
    {
        if (tensor.DType == DType.F32) CpuElementwise.Zero(F(tensor));
        else if (tensor.DType == DType.I32) I(tensor).Clear();
        else D(tensor).Clear();
    }

    public void Copy(Tensor dst, Tensor src)
    {
        if (src.DType == DType.F32) F(src).CopyTo(F(dst));
        else if (src.DType == DType.I32) I(src).CopyTo(I(dst));
        else D(src).CopyTo(D(dst));
    }
}

/// <summary>A backend's tensor memory in bytes: live now, the peak of live, and held in all (live and pooled free arrays).</summary>
public readonly record struct TensorMemory(long Live, long Peak, long Held);
