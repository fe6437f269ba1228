using Engine.Kernels;

using Engine.Tensors;

namespace Engine.Backends.Cpu;

/// <summary>
/// The host backend: tensors are float[]/int[] arrays, ops are the span functions of this folder.
/// Released arrays go back to a pool keyed by capacity (<see cref="PoolBuckets"/>), so a training step's activations reuse the
/// last step's memory.
/// </summary>
public sealed class CpuBackend : IBackend
{
    private readonly Dictionary<(DType, long), Stack<Array>> _pool = new();

    public string Name => "cpu";

    public Tensor Allocate(DType dtype, params int[] shape) => Rent(dtype, shape, zeroed: true);

    /// <summary>A pooled array as it was left (a new one is zero anyway): no pass over memory the op then overwrites.</summary>
    public Tensor AllocateUninitialized(DType dtype, params int[] shape) => Rent(dtype, shape, zeroed: false);

    private Tensor Rent(DType dtype, int[] shape, bool zeroed)
    {
        long length = Tensor.ElementCount(shape);
        long capacity = PoolBuckets.Capacity(length);
        if (capacity > Array.MaxLength) throw new ArgumentException($"a tensor of shape [{string.Join(", ", shape)}] is too large for the CPU backend");
        Array? storage = null;
        lock (_pool)
        {
            if (_pool.TryGetValue((dtype, capacity), out var free) && free.Count > 0) storage = free.Pop();
        }
        bool reused = storage is not null;
        storage ??= dtype == DType.F32 ? new float[capacity] : new int[capacity];
        var tensor = new Tensor(this, storage, 0, dtype, shape, ownsStorage: true);
        if (zeroed && reused) Zero(tensor);
        return tensor;
    }

    public void Release(Tensor tensor)
    {
        var storage = (Array)tensor.Storage;
        lock (_pool)
        {
            if (!_pool.TryGetValue((tensor.DType, storage.LongLength), out var free))
                _pool[(tensor.DType, storage.LongLength)] = free = new Stack<Array>();
            free.Push(storage);
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

    public void Upload(Tensor dst, ReadOnlySpan<float> src) => src.CopyTo(F(dst));
    public void Upload(Tensor dst, ReadOnlySpan<int> src) => src.CopyTo(I(dst));
    public void Download(Tensor src, Span<float> dst) => F(src).CopyTo(dst);

    public void Zero(Tensor tensor)
    {
        if (tensor.DType == DType.F32) CpuElementwise.Zero(F(tensor));
        else I(tensor).Clear();
    }

    public void Copy(Tensor dst, Tensor src)
    {
        if (src.DType == DType.F32) F(src).CopyTo(F(dst));
        else I(src).CopyTo(I(dst));
    }

    public void EmbeddingForward(Tensor y, Tensor ids, Tensor positions, Tensor wte, Tensor? wpe, int n, int c)
        => CpuEmbedding.Forward(F(y), I(ids), I(positions), F(wte), F(wpe), n, c);

    public void EmbeddingBackward(Tensor? dwte, Tensor? dwpe, Tensor dy, Tensor ids, Tensor positions, int n, int c)
        => CpuEmbedding.Backward(F(dwte), F(dwpe), F(dy), I(ids), I(positions), n, c);

    public void LayerNormForward(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor w, Tensor b, int n, int c, float eps)
        => CpuLayerNorm.Forward(F(y), F(mean), F(rstd), F(x), F(w), F(b), n, c, eps);

    public void LayerNormBackward(Tensor? dx, Tensor? dw, Tensor? db, Tensor dy, Tensor x, Tensor w, Tensor mean, Tensor rstd, int n, int c)
        => CpuLayerNorm.Backward(F(dx), F(dw), F(db), F(dy), F(x), F(w), F(mean), F(rstd), n, c);

    public void RmsNormForward(Tensor y, Tensor rstd, Tensor x, Tensor w, int n, int c, float eps)
        => CpuRmsNorm.Forward(F(y), F(rstd), F(x), F(w), n, c, eps);

    public void RmsNormBackward(Tensor? dx, Tensor? dw, Tensor dy, Tensor x, Tensor w, Tensor rstd, int n, int c)
        => CpuRmsNorm.Backward(F(dx), F(dw), F(dy), F(x), F(w), F(rstd), n, c);

    public void MatMulForward(Tensor y, Tensor x, Tensor w, Tensor? bias, int n, int inDim, int outDim)
        => CpuMatMul.Forward(F(y), F(x), F(w), F(bias), n, inDim, outDim);

    public void MatMulBackward(Tensor? dx, Tensor? dw, Tensor? dbias, Tensor dy, Tensor x, Tensor w, int n, int inDim, int outDim)
        => CpuMatMul.Backward(F(dx), F(dw), F(dbias), F(dy), F(x), F(w), n, inDim, outDim);

    public void LoraForward(Tensor y, Tensor h, Tensor x, Tensor w, Tensor? bias, Tensor loraA, Tensor loraB, float scale, int n, int inDim, int outDim, int rank)
        => CpuLora.Forward(F(y), F(h), F(x), F(w), F(bias), F(loraA), F(loraB), scale, n, inDim, outDim, rank);

    public void LoraBackward(Tensor? dx, Tensor? dw, Tensor? dbias, Tensor? dLoraA, Tensor? dLoraB, Tensor dy, Tensor x, Tensor w, Tensor loraA, Tensor loraB, Tensor h,
        float scale, int n, int inDim, int outDim, int rank)
        => CpuLora.Backward(F(dx), F(dw), F(dbias), F(dLoraA), F(dLoraB), F(dy), F(x), F(w), F(loraA), F(loraB), F(h), scale, n, inDim, outDim, rank);

    public void RopeForward(Tensor y, Tensor x, Tensor positions, Tensor invFreq, int n, int heads, int headDim)
        => CpuRope.Forward(F(y), F(x), I(positions), F(invFreq), n, heads, headDim);

    public void RopeBackward(Tensor dx, Tensor dy, Tensor positions, Tensor invFreq, int n, int heads, int headDim)
        => CpuRope.Backward(F(dx), F(dy), I(positions), F(invFreq), n, heads, headDim);

    public void AttentionForward(Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor segments, AttentionShape s)
        => CpuAttention.Forward(F(output), F(lse), F(q), F(k), F(v), I(segments), s.Batch, s.SeqLen, s.Heads, s.KvHeads, s.HeadDim);

    public void AttentionBackward(Tensor? dq, Tensor? dk, Tensor? dv, Tensor dOutput, Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor segments, AttentionShape s)
        => CpuAttention.Backward(F(dq), F(dk), F(dv), F(dOutput), F(output), F(lse), F(q), F(k), F(v), I(segments), s.Batch, s.SeqLen, s.Heads, s.KvHeads, s.HeadDim);

    public void CachedAttentionForward(Tensor output, Tensor q, Tensor k, Tensor v, Tensor kCache, Tensor vCache, Tensor slots, CachedAttentionShape s)
    {
        int width = s.KvHeads * s.HeadDim;
        CpuCachedAttention.Append(F(kCache), F(k), I(slots), s.Rows, s.NewTokens, s.Capacity, width);
        CpuCachedAttention.Append(F(vCache), F(v), I(slots), s.Rows, s.NewTokens, s.Capacity, width);
        CpuCachedAttention.Forward(F(output), F(q), F(kCache), F(vCache), I(slots), s.Rows, s.NewTokens, s.Capacity, s.Heads, s.KvHeads, s.HeadDim);
    }

    public void GeluForward(Tensor y, Tensor x) => CpuGelu.Forward(F(y), F(x));
    public void GeluBackward(Tensor dx, Tensor dy, Tensor x) => CpuGelu.Backward(F(dx), F(dy), F(x));

    public void SwiGluForward(Tensor y, Tensor gate, Tensor up) => CpuSwiGlu.Forward(F(y), F(gate), F(up));
    public void SwiGluBackward(Tensor? dGate, Tensor? dUp, Tensor dy, Tensor gate, Tensor up)
        => CpuSwiGlu.Backward(F(dGate), F(dUp), F(dy), F(gate), F(up));

    public void DropoutForward(Tensor y, Tensor x, float p, float scale, uint seed) => CpuDropout.Forward(F(y), F(x), p, scale, seed);
    public void DropoutBackward(Tensor dx, Tensor dy, float p, float scale, uint seed) => CpuDropout.Backward(F(dx), F(dy), p, scale, seed);

    public void Add(Tensor y, Tensor a, Tensor b) => CpuElementwise.Add(F(y), F(a), F(b));
    public void Accumulate(Tensor dst, Tensor src) => CpuElementwise.Accumulate(F(dst), F(src));

    public double CrossEntropyForwardBackward(Tensor? dx, Tensor? dw, Tensor x, Tensor w, Tensor targets, int n, int c, int vocab, float gradScale)
        => CpuCrossEntropy.ForwardBackward(F(dx), F(dw), F(x), F(w), I(targets), n, c, vocab, gradScale);

    public double SumOfSquares(Tensor x) => CpuElementwise.SumOfSquares(F(x));
    public void Scale(Tensor x, float s) => CpuElementwise.Scale(F(x), s);

    public void AdamW(Tensor param, Tensor grad, Tensor m, Tensor v, AdamWStep s)
        => CpuAdamW.Step(F(param), F(grad), F(m), F(v), s.LearningRate, s.Beta1, s.Beta2, s.Eps, s.WeightDecay, s.Step);
}
