using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels;

/// <summary>Device scratch memory owned by a launcher: grown when a launch needs more, otherwise reused, so steady-state launches allocate nothing.</summary>
internal sealed class Scratch<T>(Accelerator accelerator) : IDisposable where T : unmanaged
{
    readonly Accelerator _accelerator = accelerator;
    MemoryBuffer1D<T, Stride1D.Dense>? _buffer;

    /// <summary>The first <paramref name="length"/> elements of the scratch buffer (contents undefined).</summary>
    public ArrayView<T> Get(long length)
    {
        if (_buffer is null || _buffer.Length < length)
        {
            if (_buffer is not null)
            {
                _accelerator.Synchronize(); // kernels queued earlier may still use the old buffer
                _buffer.Dispose();
            }
            _buffer = _accelerator.Allocate1D<T>(length);
        }
        return _buffer.AsContiguous().SubView(0, length);
    }

    public void Dispose()
    {
        _buffer?.Dispose();
        _buffer = null;
    }
}
