using Engine.Backends;

namespace Engine.Tensors;

/// <summary>F32: activations, weights, gradients; I32: token ids, positions, rows; F64: a few device scalars (a step's loss and squared gradient norm).</summary>
public enum DType { F32, I32, F64 }

/// <summary>
/// A shape, a dtype and a contiguous row-major range of storage owned by a backend.
/// A view shares its parent's storage; disposing a view releases nothing.
/// </summary>
public sealed class Tensor : IDisposable
{
    private readonly bool _ownsStorage;

    internal Tensor(IBackend backend, object storage, long offset, DType dtype, int[] shape, bool ownsStorage)
    {
        Backend = backend;
        Storage = storage;
        Offset = offset;
        DType = dtype;
        Shape = shape;
        Length = ElementCount(shape);
        _ownsStorage = ownsStorage;
    }

    public IBackend Backend { get; }

    /// <summary>The backend's own storage object (a float[], int[] or double[] on the CPU, a device buffer on ILGPU).</summary>
    public object Storage { get; }

    /// <summary>First element of this tensor within <see cref="Storage"/>.</summary>
    public long Offset { get; }

    public DType DType { get; }
    public int[] Shape { get; }
    public long Length { get; }

    /// <summary>A tensor over elements [start, start + product(shape)) of this one's storage.</summary>
    public Tensor View(long start, params int[] shape)
    {
        long length = ElementCount(shape);
        if (start < 0 || start + length > Length)
            throw new ArgumentOutOfRangeException(nameof(start), $"view [{start}, {start + length}) is outside a tensor of {Length} elements");
        return new Tensor(Backend, Storage, Offset + start, DType, shape, ownsStorage: false);
    }

    public void Dispose()
    {
        if (_ownsStorage) Backend.Release(this);
    }

    public override string ToString() => $"{DType}[{string.Join(", ", Shape)}]";

    public static long ElementCount(int[] shape)
    {
        long n = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"negative dimension in shape [{string.Join(", ", shape)}]");
            n *= d;
        }
        return n;
    }
}
