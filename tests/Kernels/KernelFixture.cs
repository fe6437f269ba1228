using Engine.Tests.Support;
using ILGPU;
using ILGPU.Runtime;

namespace Engine.Tests.Kernels;

/// <summary>One CPU-accelerator context per test class (xUnit class fixture) and one launcher of type <typeparamref name="TLauncher"/>
/// whose kernels are loaded once; plus host ↔ device helpers.</summary>
public sealed class KernelFixture<TLauncher> : IDisposable where TLauncher : class
{
    public KernelFixture()
    {
        Context = Accelerators.CpuContext();
        Accelerator = Accelerators.Cpu(Context);
        Launcher = (TLauncher)Activator.CreateInstance(typeof(TLauncher), Accelerator)!;
    }

    public Context Context { get; }
    public Accelerator Accelerator { get; }
    public TLauncher Launcher { get; }

    /// <summary>A device copy of the data.</summary>
    public DeviceArray<T> Put<T>(T[] data) where T : unmanaged
    {
        var array = new DeviceArray<T>(Accelerator, data.Length);
        if (data.Length > 0) array.View.CopyFromCPU(data);
        return array;
    }

    /// <summary>Waits for the queued kernels, then copies the array back to the host.</summary>
    public T[] Get<T>(DeviceArray<T> array) where T : unmanaged => Get(array.View);

    /// <summary>Waits for the queued kernels, then copies the view back to the host.</summary>
    public T[] Get<T>(ArrayView<T> view) where T : unmanaged
    {
        Accelerator.Synchronize();
        var data = new T[view.Length];
        if (data.Length > 0) view.CopyToCPU(data);
        return data;
    }

    public void Dispose()
    {
        (Launcher as IDisposable)?.Dispose();
        Accelerator.Dispose();
        Context.Dispose();
    }
}

/// <summary>A device buffer of a given length (ILGPU has no empty buffers: an empty array keeps one unused element and views as empty).</summary>
public sealed class DeviceArray<T>(Accelerator accelerator, long length) : IDisposable where T : unmanaged
{
    readonly MemoryBuffer1D<T, Stride1D.Dense> _buffer = accelerator.Allocate1D<T>(Math.Max(1, length));

    public long Length { get; } = length;

    public ArrayView<T> View => Length == 0 ? ArrayView<T>.Empty : _buffer.AsContiguous().SubView(0, Length);

    public void Dispose() => _buffer.Dispose();
}
