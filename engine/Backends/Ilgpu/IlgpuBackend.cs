using Engine.Kernels;
using Engine.Tensors;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace Engine.Backends.Ilgpu;

/// <summary>
/// The device backend: tensors are ILGPU buffers (<c>MemoryBuffer1D&lt;float, int or double, Stride1D.Dense&gt;</c>, a tensor being the range
/// [Offset, Offset + Length) of one), ops are the kernels of Engine.Kernels, launched in order on the accelerator's default stream.
/// Only Download waits for the device (counted: <see cref="Synchronizations"/>); uploads are queued on the stream, and the loss and the
/// gradient norm stay on the device, so a training step waits once. Released buffers go back to a pool keyed by (dtype, length),
/// so a training step allocates nothing after the first.
/// </summary>
/// <remarks>
/// Two ways to get one: <see cref="Create"/> makes and owns a context and accelerator ("cuda": the first CUDA device;
/// "ilgpu-cpu": ILGPU's CPU simulator with warps of 32 and groups of up to 256 threads), disposing them with the backend;
/// the public constructor runs on an accelerator the caller made and still owns (its device must allow groups of 256 threads).
/// </remarks>
public sealed class IlgpuBackend : IBackend
{
    readonly Context? _ownedContext;
    readonly Accelerator _accelerator;
    readonly bool _ownsAccelerator;
    readonly Dictionary<(DType, long), Stack<MemoryBuffer>> _pool = new();
    readonly List<MemoryBuffer> _allocated = new();
    long _synchronizations;

    readonly Norms _norms;
    readonly Activations _activations;
    readonly Embedding _embedding;
    readonly Elementwise _elementwise;
    readonly Dropout _dropout;
    readonly Reduce _reduce;
    readonly Kernels.AdamW _adamW;
    readonly MatMul _matMul;
    readonly Lora _lora;
    readonly CrossEntropy _crossEntropy;
    readonly Attention _attention;
    readonly CachedAttention _cachedAttention;
    readonly Rope _rope;

    /// <summary>A backend on an accelerator the caller owns (and disposes after this backend).</summary>
    public IlgpuBackend(Accelerator accelerator) : this(accelerator, ownedContext: null, ownsAccelerator: false) { }

    IlgpuBackend(Accelerator accelerator, Context? ownedContext, bool ownsAccelerator)
    {
        _accelerator = accelerator;
        _ownedContext = ownedContext;
        _ownsAccelerator = ownsAccelerator;
        _norms = new Norms(accelerator);
        _activations = new Activations(accelerator);
        _embedding = new Embedding(accelerator);
        _elementwise = new Elementwise(accelerator);
        _dropout = new Dropout(accelerator);
        _reduce = new Reduce(accelerator);
        _adamW = new Kernels.AdamW(accelerator);
        _matMul = new MatMul(accelerator);
        _lora = new Lora(accelerator);
        _crossEntropy = new CrossEntropy(accelerator);
        _attention = new Attention(accelerator);
        _cachedAttention = new CachedAttention(accelerator);
        _rope = new Rope(accelerator);
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
    public static IlgpuBackend Create(string kind)
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
            return new IlgpuBackend(accelerator, context, ownsAccelerator: true);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    public string Name => _accelerator.AcceleratorType == AcceleratorType.Cuda ? "ilgpu-cuda" : "ilgpu-cpu";

    /// <summary>Upper bound on the logits the fused LM head + cross-entropy holds at once.</summary>
    public int MaxLogitsPerChunk { get; init; } = Cpu.CpuCrossEntropy.MaxLogitsPerChunk;

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
        MemoryBuffer? buffer = null;
        lock (_pool)
        {
            if (_pool.TryGetValue((dtype, bufferLength), out var free) && free.Count > 0) buffer = free.Pop();
        }
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
        var buffer = (MemoryBuffer)tensor.Storage;
        lock (_pool)
        {
            if (!_pool.TryGetValue((tensor.DType, buffer.Length), out var free))
                _pool[(tensor.DType, buffer.Length)] = free = new Stack<MemoryBuffer>();
            free.Push(buffer);
        }
    }

    /// <summary>Waits for the queued work, then frees every buffer this backend allocated (tensors still held become invalid),
    /// and the context and accelerator when it owns them.</summary>
    public void Dispose()
    {
        WaitForDevice();
        _norms.Dispose();
        _reduce.Dispose();
        _attention.Dispose();
        _lora.Dispose();
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

    /// <summary>Every wait of this backend for the device, counted.</summary>
    void WaitForDevice()
    {
        Interlocked.Increment(ref _synchronizations);
        _accelerator.Synchronize();
    }

    public void Zero(Tensor tensor)
    {
        if (tensor.Length == 0) return;
        if (tensor.DType == DType.F32) F(tensor).MemSetToZero();
        else if (tensor.DType == DType.I32) I(tensor).MemSetToZero();
        else D(tensor).MemSetToZero();
    }

    public void Copy(Tensor dst, Tensor src)
    {
        if (dst.DType != src.DType) throw new ArgumentException($"cannot copy {src} into {dst}: the dtypes differ", nameof(src));
        RequireSameLength(dst, src.Length);
        if (src.Length == 0) return;
        if (src.DType == DType.F32) F(src).CopyTo(F(dst));
        else if (src.DType == DType.I32) I(src).CopyTo(I(dst));
        else D(src).CopyTo(D(dst));
    }

    static void RequireSameLength(Tensor tensor, long length)
    {
        if (tensor.Length != length) throw new ArgumentException($"{tensor} has {tensor.Length} elements but the other side has {length}");
    }

    // ---- ops ----

    public void EmbeddingForward(Tensor y, Tensor ids, Tensor positions, Tensor wte, Tensor? wpe, int n, int c)
        => _embedding.Forward(F(y), I(ids), I(positions), F(wte), F(wpe), n, c);

    public void EmbeddingBackward(Tensor? dwte, Tensor? dwpe, Tensor dy, Tensor ids, Tensor positions, int n, int c)
        => _embedding.Backward(F(dwte), F(dwpe), F(dy), I(ids), I(positions), n, c);

    public void LayerNormForward(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor w, Tensor b, int n, int c, float eps)
        => _norms.LayerNormForward(F(y), F(mean), F(rstd), F(x), F(w), F(b), n, c, eps);

    public void LayerNormBackward(Tensor? dx, Tensor? dw, Tensor? db, Tensor dy, Tensor x, Tensor w, Tensor mean, Tensor rstd, int n, int c)
        => _norms.LayerNormBackward(F(dx), F(dw), F(db), F(dy), F(x), F(w), F(mean), F(rstd), n, c);

    public void RmsNormForward(Tensor y, Tensor rstd, Tensor x, Tensor w, int n, int c, float eps)
        => _norms.RmsNormForward(F(y), F(rstd), F(x), F(w), n, c, eps);

    public void RmsNormBackward(Tensor? dx, Tensor? dw, Tensor dy, Tensor x, Tensor w, Tensor rstd, int n, int c)
        => _norms.RmsNormBackward(F(dx), F(dw), F(dy), F(x), F(w), F(rstd), n, c);

    public void MatMulForward(Tensor y, Tensor x, Tensor w, Tensor? bias, int n, int inDim, int outDim)
        => _matMul.Forward(F(y), F(x), F(w), F(bias), n, inDim, outDim);

    public void MatMulBackward(Tensor? dx, Tensor? dw, Tensor? dbias, Tensor dy, Tensor x, Tensor w, int n, int inDim, int outDim)
        => _matMul.Backward(F(dx), F(dw), F(dbias), F(dy), F(x), F(w), n, inDim, outDim);

    public void LoraForward(Tensor y, Tensor h, Tensor x, Tensor w, Tensor? bias, Tensor loraA, Tensor loraB, float scale, int n, int inDim, int outDim, int rank)
        => _lora.Forward(F(y), F(h), F(x), F(w), F(bias), F(loraA), F(loraB), scale, n, inDim, outDim, rank);

    public void LoraBackward(Tensor? dx, Tensor? dw, Tensor? dbias, Tensor? dLoraA, Tensor? dLoraB, Tensor dy, Tensor x, Tensor w, Tensor loraA, Tensor loraB, Tensor h,
        float scale, int n, int inDim, int outDim, int rank)
        => _lora.Backward(F(dx), F(dw), F(dbias), F(dLoraA), F(dLoraB), F(dy), F(x), F(w), F(loraA), F(loraB), F(h), scale, n, inDim, outDim, rank);

    public void RopeForward(Tensor y, Tensor x, Tensor positions, Tensor invFreq, int n, int heads, int headDim)
        => _rope.Forward(F(y), F(x), I(positions), F(invFreq), n, heads, headDim);

    public void RopeBackward(Tensor dx, Tensor dy, Tensor positions, Tensor invFreq, int n, int heads, int headDim)
        => _rope.Backward(F(dx), F(dy), I(positions), F(invFreq), n, heads, headDim);

    public void AttentionForward(Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor segments, AttentionShape s)
        => _attention.Forward(F(output), F(lse), F(q), F(k), F(v), I(segments), s.Batch, s.SeqLen, s.Heads, s.KvHeads, s.HeadDim, s.Window);

    public void AttentionBackward(Tensor? dq, Tensor? dk, Tensor? dv, Tensor dOutput, Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor segments, AttentionShape s)
        => _attention.Backward(F(dq), F(dk), F(dv), F(dOutput), F(output), F(lse), F(q), F(k), F(v), I(segments), s.Batch, s.SeqLen, s.Heads, s.KvHeads, s.HeadDim, s.Window);

    /// <summary>Three launches in stream order: the new keys, the new values into their cache slots, then the attention over the cache.</summary>
    public void CachedAttentionForward(Tensor output, Tensor q, Tensor k, Tensor v, Tensor kCache, Tensor vCache, Tensor slots, CachedAttentionShape s)
    {
        int width = s.KvHeads * s.HeadDim;
        _cachedAttention.Append(F(kCache), F(k), I(slots), s.Rows, s.NewTokens, s.Capacity, width);
        _cachedAttention.Append(F(vCache), F(v), I(slots), s.Rows, s.NewTokens, s.Capacity, width);
        _cachedAttention.Forward(F(output), F(q), F(kCache), F(vCache), I(slots), s.Rows, s.NewTokens, s.Capacity, s.Heads, s.KvHeads, s.HeadDim, s.Window);
    }

    public void GeluForward(Tensor y, Tensor x) => _activations.GeluForward(F(y), F(x));
    public void GeluBackward(Tensor dx, Tensor dy, Tensor x) => _activations.GeluBackward(F(dx), F(dy), F(x));

    public void SwiGluForward(Tensor y, Tensor gate, Tensor up) => _activations.SwiGluForward(F(y), F(gate), F(up));
    public void SwiGluBackward(Tensor? dGate, Tensor? dUp, Tensor dy, Tensor gate, Tensor up)
        => _activations.SwiGluBackward(F(dGate), F(dUp), F(dy), F(gate), F(up));

    public void GeGluForward(Tensor y, Tensor gate, Tensor up) => _activations.GeGluForward(F(y), F(gate), F(up));
    public void GeGluBackward(Tensor? dGate, Tensor? dUp, Tensor dy, Tensor gate, Tensor up)
        => _activations.GeGluBackward(F(dGate), F(dUp), F(dy), F(gate), F(up));

    public void DropoutForward(Tensor y, Tensor x, float p, float scale, uint seed) => _dropout.Forward(F(y), F(x), p, scale, seed);
    public void DropoutBackward(Tensor dx, Tensor dy, float p, float scale, uint seed) => _dropout.Backward(F(dx), F(dy), p, scale, seed);

    public void Add(Tensor y, Tensor a, Tensor b) => _elementwise.Add(F(y), F(a), F(b));
    public void Accumulate(Tensor dst, Tensor src) => _elementwise.Accumulate(F(dst), F(src));

    /// <summary>
    /// The LM head fused with cross-entropy over the kept rows only, a chunk of them at a time (at most MaxLogitsPerChunk logits):
    /// gather the chunk's rows of x (an embedding lookup of x by row), logits = xs·Wᵀ, then each row's loss and, in place,
    /// gradScale·(softmax − onehot); then dxs = dlogits·W scattered back into dx (accumulating), dW += dlogitsᵀ·xs. Finally loss[0] += Σ row
    /// losses, summed on the device (no host read).
    /// </summary>
    public void CrossEntropyForwardBackward(Tensor loss, Tensor? dx, Tensor? dw, Tensor x, Tensor w, Tensor rows, Tensor targets, int n, int kept, int c, int vocab, float gradScale)
    {
        Arguments.RequireLength(x.Length, (long)n * c, nameof(x), "n*c");
        Arguments.RequireLength(rows.Length, kept, nameof(rows), "kept");
        Arguments.RequireLength(targets.Length, kept, nameof(targets), "kept");
        Arguments.RequireLength(loss.Length, 1, nameof(loss), "one element");
        if (kept == 0) return;
        bool wantGrad = dx is not null || dw is not null;
        int chunk = Math.Clamp(MaxLogitsPerChunk / vocab, 1, kept);
        using var xs = AllocateUninitialized(DType.F32, chunk, c);
        using var dxs = AllocateUninitialized(DType.F32, dx is null ? 0 : chunk, c);
        using var logits = AllocateUninitialized(DType.F32, chunk, vocab);
        using var rowLoss = AllocateUninitialized(DType.F32, kept);
        for (int start = 0; start < kept; start += chunk)
        {
            int m = Math.Min(chunk, kept - start);
            var chunkRows = I(rows).SubView(start, m);
            var xChunk = F(xs).SubView(0, (long)m * c);
            var z = F(logits).SubView(0, (long)m * vocab);
            _embedding.Forward(xChunk, chunkRows, ArrayView<int>.Empty, F(x), ArrayView<float>.Empty, m, c);
            _matMul.Forward(z, xChunk, F(w), ArrayView<float>.Empty, m, c, vocab);
            _crossEntropy.SoftmaxRows(F(rowLoss).SubView(start, m), z, I(targets).SubView(start, m), m, vocab, wantGrad, gradScale);
            if (!wantGrad) continue;
            var dxChunk = dx is null ? ArrayView<float>.Empty : F(dxs).SubView(0, (long)m * c);
            if (dx is not null) dxChunk.MemSetToZero();
            _matMul.Backward(dxChunk, F(dw), ArrayView<float>.Empty, z, xChunk, F(w), m, c, vocab);
            if (dx is not null) _crossEntropy.ScatterAddRows(F(dx), dxChunk, chunkRows, m, c);
        }
        _reduce.AddSum(D(loss), F(rowLoss));
    }

    // ---- optimizer ----

    /// <summary>Two launches per tensor into one device scalar, in list order; nothing waits.</summary>
    public void SumOfSquares(Tensor sum, IReadOnlyList<Tensor> xs) => _reduce.SumOfSquares(D(sum), xs.Select(x => F(x)).ToArray());

    public void ClipScale(Tensor scale, Tensor loss, Tensor sumOfSquares, float maxNorm) => _adamW.ClipScale(F(scale), D(loss), D(sumOfSquares), maxNorm);

    public void Scale(Tensor x, float s) => _elementwise.Scale(F(x), s);

    public void AdamW(Tensor param, Tensor grad, Tensor gradScale, Tensor m, Tensor v, AdamWStep s)
        => _adamW.Step(F(param), F(grad), F(gradScale), F(m), F(v), s.LearningRate, s.Beta1, s.Beta2, s.Eps, s.WeightDecay, s.Step);
}
