using Engine.Kernels;
using Engine.Tensors;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace Engine.Backends.Ilgpu;

/// <summary>
/// The device backend: tensors are ILGPU buffers (<c>MemoryBuffer1D&lt;float or int, Stride1D.Dense&gt;</c>, a tensor being the range
/// [Offset, Offset + Length) of one), ops are the kernels of Engine.Kernels, launched in order on the accelerator's default stream.
/// Only Download, SumOfSquares and the uploads wait for the device. Released buffers go back to a pool keyed by (dtype, length),
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
    readonly MemoryBuffer1D<double, Stride1D.Dense> _sumOfSquares;

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
        _sumOfSquares = accelerator.Allocate1D<double>(1);
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
            buffer = dtype == DType.F32 ? _accelerator.Allocate1D<float>(bufferLength) : _accelerator.Allocate1D<int>(bufferLength);
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
        _accelerator.Synchronize();
        _norms.Dispose();
        _reduce.Dispose();
        _attention.Dispose();
        _lora.Dispose();
        _sumOfSquares.Dispose();
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

    public void Upload(Tensor dst, ReadOnlySpan<float> src)
    {
        RequireSameLength(dst, src.Length);
        F(dst).CopyFromCPU(src);
    }

    public void Upload(Tensor dst, ReadOnlySpan<int> src)
    {
        RequireSameLength(dst, src.Length);
        I(dst).CopyFromCPU(src);
    }

    /// <summary>Waits for all queued work, then copies the tensor to the host.</summary>
    public void Download(Tensor src, Span<float> dst)
    {
        RequireSameLength(src, dst.Length);
        _accelerator.Synchronize();
        F(src).CopyToCPU(dst);
    }

    public void Zero(Tensor tensor)
    {
        if (tensor.Length == 0) return;
        if (tensor.DType == DType.F32) F(tensor).MemSetToZero();
        else I(tensor).MemSetToZero();
    }

    public void Copy(Tensor dst, Tensor src)
    {
        if (dst.DType != src.DType) throw new ArgumentException($"cannot copy {src} into {dst}: the dtypes differ", nameof(src));
        RequireSameLength(dst, src.Length);
        if (src.Length == 0) return;
        if (src.DType == DType.F32) F(src).CopyTo(F(dst));
        else I(src).CopyTo(I(dst));
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

    public void DropoutForward(Tensor y, Tensor x, float p, float scale, uint seed) => _dropout.Forward(F(y), F(x), p, scale, seed);
    public void DropoutBackward(Tensor dx, Tensor dy, float p, float scale, uint seed) => _dropout.Backward(F(dx), F(dy), p, scale, seed);

    public void Add(Tensor y, Tensor a, Tensor b) => _elementwise.Add(F(y), F(a), F(b));
    public void Accumulate(Tensor dst, Tensor src) => _elementwise.Accumulate(F(dst), F(src));

    /// <summary>
    /// The LM head fused with cross-entropy over the kept rows only, a chunk of them at a time (at most MaxLogitsPerChunk logits):
    /// gather the chunk's rows of x (an embedding lookup of x by row), logits = xs·Wᵀ, then each row's loss and, in place,
    /// gradScale·(softmax − onehot); then dxs = dlogits·W scattered back into dx (accumulating), dW += dlogitsᵀ·xs.
    /// One host round trip: the row losses' download.
    /// </summary>
    public double CrossEntropyForwardBackward(Tensor? dx, Tensor? dw, Tensor x, Tensor w, Tensor rows, Tensor targets, int n, int kept, int c, int vocab, float gradScale)
    {
        Arguments.RequireLength(x.Length, (long)n * c, nameof(x), "n*c");
        Arguments.RequireLength(rows.Length, kept, nameof(rows), "kept");
        Arguments.RequireLength(targets.Length, kept, nameof(targets), "kept");
        if (kept == 0) return 0;
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
        var losses = new float[kept];
        Download(rowLoss, losses);
        double loss = 0;
        foreach (float l in losses) loss += l;
        return loss;
    }

    // ---- optimizer ----

    /// <summary>Σ x² in float64 (fixed order), waiting for the device to return it.</summary>
    public double SumOfSquares(Tensor x)
    {
        var result = _sumOfSquares.AsContiguous();
        _reduce.SumOfSquares(result, F(x));
        _accelerator.Synchronize();
        Span<double> value = stackalloc double[1];
        result.CopyToCPU(value);
        return value[0];
    }

    public void Scale(Tensor x, float s) => _elementwise.Scale(F(x), s);

    public void AdamW(Tensor param, Tensor grad, Tensor m, Tensor v, AdamWStep s)
        => _adamW.Step(F(param), F(grad), F(m), F(v), s.LearningRate, s.Beta1, s.Beta2, s.Eps, s.WeightDecay, s.Step);
}
