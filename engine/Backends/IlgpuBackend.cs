using Engine.Tensors;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace Engine.Backends;

/// <summary>
/// The device backend: tensors are ILGPU buffers (<c>MemoryBuffer1D&lt;float, int or double, Stride1D.Dense&gt;</c>, a tensor being the range
/// [Offset, Offset + Length) of one), ops are the kernels of Engine.Kernels, launched in order on the accelerator's default stream. This file
/// holds the memory; each op's IBackend method stands in its op family's file (a partial class), after CpuBackend's.
/// Only Download waits for the device (counted: <see cref="Synchronizations"/>); uploads are queued on the stream, and the loss and the
/// gradient norm stay on the device, so a training step waits once. Released buffers go back to a pool keyed by (dtype, length),
/// so a training step allocates nothing after the first. At <see cref="Engine.Backends.Precision.Bf16"/> the linear layers' matmuls and the LM
/// head's run on bf16 operands with fp32 sums (<see cref="Bf16MatMul"/>), reading bf16 copies of the weights (<see cref="Bf16Weights"/>).
/// </summary>
/// <remarks>
/// Two ways to get one: <see cref="Create"/> makes and owns a context and accelerator ("cuda": the first CUDA device;
/// "ilgpu-cpu": ILGPU's CPU simulator with warps of 32 and groups of up to 256 threads), disposing them with the backend;
/// the public constructor runs on an accelerator the caller made and still owns (its device must allow groups of 256 threads). Several
/// backends may share one accelerator (the self-test runs a bf16 one beside the fp32 one).
/// </remarks>
public sealed partial class IlgpuBackend : IBackend
{
    readonly Context? _ownedContext;
    readonly Accelerator _accelerator;
    readonly bool _ownsAccelerator;
    readonly BufferPool<MemoryBuffer> _pool = new();
    readonly List<MemoryBuffer> _allocated = new();
    long _synchronizations;
    readonly List<IDisposable> _launchers = new();

    /// <summary>A backend on an accelerator the caller owns (and disposes after this backend).</summary>
    public IlgpuBackend(Accelerator accelerator, Precision precision = Precision.Fp32) : this(accelerator, precision, ownedContext: null, ownsAccelerator: false) { }

    IlgpuBackend(Accelerator accelerator, Precision precision, Context? ownedContext, bool ownsAccelerator)
    {
        _accelerator = accelerator;
        _ownedContext = ownedContext;
        _ownsAccelerator = ownsAccelerator;
        Precision = precision;
    }

    /// <summary>Whether a CUDA device (and its driver) is present.</summary>
    public static bool CudaAvailable()
    {
        try
        {
            using var context = Context.Create(builder => builder.Cuda());
            return context.GetCudaDevices().Count > 0;
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or NotSupportedException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>A backend that owns its context and accelerator: kind "cuda" (the first CUDA device) or "ilgpu-cpu" (the CPU simulator).</summary>
    public static IlgpuBackend Create(string kind, Precision precision = Precision.Fp32)
    {
        var context = kind switch
        {
            "cuda" => Context.Create(builder => builder.Cuda().EnableAlgorithms()),
            "ilgpu-cpu" => Context.Create(builder => builder.CPU(new CPUDevice(32, 8, 1)).EnableAlgorithms()),
            _ => throw new ArgumentException($"unknown ILGPU backend kind '{kind}' (expected 'cuda' or 'ilgpu-cpu')", nameof(kind)),
        };
        try
        {
            Accelerator accelerator;
            if (kind == "cuda")
            {
                if (context.GetCudaDevices().Count == 0) throw new InvalidOperationException("no CUDA device found");
                accelerator = context.CreateCudaAccelerator(0);
            }
            else accelerator = context.CreateCPUAccelerator(0);
            return new IlgpuBackend(accelerator, precision, context, ownsAccelerator: true);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    public string Name => _accelerator.AcceleratorType == AcceleratorType.Cuda ? "ilgpu-cuda" : "ilgpu-cpu";

    /// <summary>What the matmuls multiply: fp32, or bf16 operands with fp32 sums.</summary>
    public Precision Precision { get; }

    /// <summary>The accelerator the kernels run on.</summary>
    public Accelerator Accelerator => _accelerator;

    /// <summary>How many times this backend has waited for the device (each Download: the host reads); the launchers' scratch buffers also
    /// wait once when they grow, which happens in the first steps only.</summary>
    public long Synchronizations => Interlocked.Read(ref _synchronizations);

    // ---- memory ----

    public Tensor Allocate(DType dtype, params int[] shape)
    {
        var tensor = AllocateUninitialized(dtype, shape);
        Zero(tensor);
        return tensor;
    }

    /// <summary>A pooled buffer as the last user left it: for op outputs, which every forward overwrites.</summary>
    public Tensor AllocateUninitialized(DType dtype, params int[] shape)
    {
        long length = Tensor.ElementCount(shape);
        long bufferLength = PoolBuckets.Capacity(length); // at least 1: ILGPU has no empty buffers
        MemoryBuffer? buffer;
        lock (_pool) buffer = _pool.Take(dtype, bufferLength);
        if (buffer is null)
        {
            buffer = dtype switch
            {
                DType.F32 => _accelerator.Allocate1D<float>(bufferLength),
                DType.I32 => _accelerator.Allocate1D<int>(bufferLength),
                _ => _accelerator.Allocate1D<double>(bufferLength),
            };
            lock (_pool) _allocated.Add(buffer);
        }
        return new Tensor(this, buffer, 0, dtype, shape, ownsStorage: true);
    }

    public void Release(Tensor tensor)
    {
        Written(tensor);
        var buffer = (MemoryBuffer)tensor.Storage;
        lock (_pool) _pool.Return(tensor.DType, buffer.Length, buffer);
    }

    /// <summary>Waits for the queued work, then frees every buffer this backend allocated (tensors still held become invalid),
    /// and the context and accelerator when it owns them.</summary>
    public void Dispose()
    {
        WaitForDevice();
        lock (_launchers)
        {
            foreach (var launcher in _launchers) launcher.Dispose();
            _launchers.Clear();
        }
        _bf16Weights?.Dispose();
        lock (_pool)
        {
            foreach (var buffer in _allocated) buffer.Dispose();
            _allocated.Clear();
            _pool.Clear();
        }
        if (_ownsAccelerator) _accelerator.Dispose();
        _ownedContext?.Dispose();
    }

    /// <summary>The elements of a float32 tensor (an empty view for null: "not wanted").</summary>
    public static ArrayView<float> F(Tensor? t)
    {
        if (t is null) return ArrayView<float>.Empty;
        if (t.Storage is not MemoryBuffer1D<float, Stride1D.Dense> buffer) throw new ArgumentException($"{t} is not a float32 tensor of an ILGPU backend");
        return buffer.AsContiguous().SubView(t.Offset, t.Length);
    }

    /// <summary>The elements of an int32 tensor.</summary>
    public static ArrayView<int> I(Tensor t)
    {
        if (t.Storage is not MemoryBuffer1D<int, Stride1D.Dense> buffer) throw new ArgumentException($"{t} is not an int32 tensor of an ILGPU backend");
        return buffer.AsContiguous().SubView(t.Offset, t.Length);
    }

    /// <summary>The elements of a float64 tensor.</summary>
    public static ArrayView<double> D(Tensor t)
    {
        if (t.Storage is not MemoryBuffer1D<double, Stride1D.Dense> buffer) throw new ArgumentException($"{t} is not a float64 tensor of an ILGPU backend");
        return buffer.AsContiguous().SubView(t.Offset, t.Length);
    }

    public void Upload(Tensor dst, ReadOnlySpan<float> src)
    {
        RequireSameLength(dst, src.Length);
        Written(dst);
        Enqueue(F(dst), src);
    }

    public void Upload(Tensor dst, ReadOnlySpan<int> src)
    {
        RequireSameLength(dst, src.Length);
        Enqueue(I(dst), src);
    }

    /// <summary>Queues the copy of src into dst on the stream without waiting for the device (ILGPU's CopyFromCPU would): the copy is taken
    /// from pageable host memory, which the driver stages before the call returns (CUDA's cuMemcpyHtoDAsync), so src may change afterwards.</summary>
    static unsafe void Enqueue<T>(ArrayView<T> dst, ReadOnlySpan<T> src) where T : unmanaged
    {
        if (src.IsEmpty) return;
        fixed (T* pinned = src) dst.CopyFromCPUUnsafeAsync(ref *pinned, src.Length);
    }

    /// <summary>Waits for all queued work, then copies the tensor to the host.</summary>
    public void Download(Tensor src, Span<float> dst)
    {
        RequireSameLength(src, dst.Length);
        WaitForDevice();
        F(src).CopyToCPU(dst);
    }

    /// <inheritdoc cref="Download(Tensor, Span{float})"/>
    public void Download(Tensor src, Span<double> dst)
    {
        RequireSameLength(src, dst.Length);
        WaitForDevice();
        D(src).CopyToCPU(dst);
    }

    /// <summary>A write that may reach a weight: its bf16 copies are rounded again at their next use.</summary>
    void Written(Tensor tensor) => _bf16Weights?.Written(tensor);

    /// <summary>Every wait of this backend for the device, counted.</summary>
    void WaitForDevice()
    {
        Interlocked.Increment(ref _synchronizations);
        _accelerator.Synchronize();
    }

    public void Zero(Tensor tensor)
    {
        if (tensor.Length == 0) return;
        Written(tensor);
        if (tensor.DType == DType.F32) F(tensor).MemSetToZero();
        else if (tensor.DType == DType.I32) I(tensor).MemSetToZero();
        else D(tensor).MemSetToZero();
    }

    public void Copy(Tensor dst, Tensor src)
    {
        if (dst.DType != src.DType) throw new ArgumentException($"cannot copy {src} into {dst}: the dtypes differ", nameof(src));
        RequireSameLength(dst, src.Length);
        if (src.Length == 0) return;
        Written(dst);
        if (src.DType == DType.F32) F(src).CopyTo(F(dst));
        else if (src.DType == DType.I32) I(src).CopyTo(I(dst));
        else D(src).CopyTo(D(dst));
    }

    static void RequireSameLength(Tensor tensor, long length)
    {
        if (tensor.Length != length) throw new ArgumentException($"{tensor} has {tensor.Length} elements but the other side has {length}");
    }

    /// <summary>An op family's launcher (kernels/), made at the first call of one of its ops, which loads its kernels; the ones that hold
    /// device memory are disposed with the backend. Each op family's file declares its launcher beside the IBackend methods using it.</summary>
    T Launcher<T>(ref T? launcher, Func<Accelerator, T> make) where T : class
    {
        if (launcher is not null) return launcher;
        lock (_launchers)
        {
            if (launcher is null)
            {
                launcher = make(_accelerator);
                if (launcher is IDisposable owned) _launchers.Add(owned);
            }
            return launcher;
        }
    }
}
