using System.Diagnostics;
using Engine.Backends;
using Engine.Tensors;

namespace Engine.Diagnostics;

/// <summary>
/// An IBackend that forwards every call to another and adds up the wall time spent in each op, for the breakdown of a training
/// step by op. Exact for the CPU backend, whose ops are synchronous; on an asynchronous device it would time launches only.
/// </summary>
public sealed class ProfilingBackend(IBackend inner) : IBackend
{
    private readonly Dictionary<string, (double Ms, long Calls)> _totals = new();

    public string Name => inner.Name;

    /// <summary>Total milliseconds and calls per op since the last <see cref="Reset"/>, largest first.</summary>
    public IReadOnlyList<(string Op, double Ms, long Calls)> Totals =>
        _totals.Select(kv => (kv.Key, kv.Value.Ms, kv.Value.Calls)).OrderByDescending(t => t.Ms).ToList();

    public void Reset() => _totals.Clear();

    private void Time(string op, Action call)
    {
        long start = Stopwatch.GetTimestamp();
        call();
        Add(op, start);
    }

    private T Time<T>(string op, Func<T> call)
    {
        long start = Stopwatch.GetTimestamp();
        T result = call();
        Add(op, start);
        return result;
    }

    private void Add(string op, long start)
    {
        double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        _totals[op] = _totals.TryGetValue(op, out var t) ? (t.Ms + ms, t.Calls + 1) : (ms, 1);
    }

    public Tensor Allocate(DType dtype, params int[] shape) => Time("Allocate", () => inner.Allocate(dtype, shape));
    public Tensor AllocateUninitialized(DType dtype, params int[] shape) => Time("AllocateUninitialized", () => inner.AllocateUninitialized(dtype, shape));
    public void Release(Tensor tensor) => inner.Release(tensor);
    public void Upload(Tensor dst, ReadOnlySpan<float> src) => inner.Upload(dst, src);
    public void Upload(Tensor dst, ReadOnlySpan<int> src) => inner.Upload(dst, src);
    public void Download(Tensor src, Span<float> dst) => inner.Download(src, dst);
    public void Zero(Tensor tensor) => Time("Zero", () => inner.Zero(tensor));
    public void Copy(Tensor dst, Tensor src) => Time("Copy", () => inner.Copy(dst, src));

    public void EmbeddingForward(Tensor y, Tensor ids, Tensor positions, Tensor wte, Tensor? wpe, int n, int c)
        => Time("EmbeddingForward", () => inner.EmbeddingForward(y, ids, positions, wte, wpe, n, c));
    public void EmbeddingBackward(Tensor? dwte, Tensor? dwpe, Tensor dy, Tensor ids, Tensor positions, int n, int c)
        => Time("EmbeddingBackward", () => inner.EmbeddingBackward(dwte, dwpe, dy, ids, positions, n, c));
    public void LayerNormForward(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor w, Tensor b, int n, int c, float eps)
        => Time("LayerNormForward", () => inner.LayerNormForward(y, mean, rstd, x, w, b, n, c, eps));
    public void LayerNormBackward(Tensor? dx, Tensor? dw, Tensor? db, Tensor dy, Tensor x, Tensor w, Tensor mean, Tensor rstd, int n, int c)
        => Time("LayerNormBackward", () => inner.LayerNormBackward(dx, dw, db, dy, x, w, mean, rstd, n, c));
    public void RmsNormForward(Tensor y, Tensor rstd, Tensor x, Tensor w, int n, int c, float eps)
        => Time("RmsNormForward", () => inner.RmsNormForward(y, rstd, x, w, n, c, eps));
    public void RmsNormBackward(Tensor? dx, Tensor? dw, Tensor dy, Tensor x, Tensor w, Tensor rstd, int n, int c)
        => Time("RmsNormBackward", () => inner.RmsNormBackward(dx, dw, dy, x, w, rstd, n, c));
    public void MatMulForward(Tensor y, Tensor x, Tensor w, Tensor? bias, int n, int inDim, int outDim)
        => Time("MatMulForward", () => inner.MatMulForward(y, x, w, bias, n, inDim, outDim));
    public void MatMulBackward(Tensor? dx, Tensor? dw, Tensor? dbias, Tensor dy, Tensor x, Tensor w, int n, int inDim, int outDim)
        => Time("MatMulBackward", () => inner.MatMulBackward(dx, dw, dbias, dy, x, w, n, inDim, outDim));
    public void LoraForward(Tensor y, Tensor h, Tensor x, Tensor w, Tensor? bias, Tensor loraA, Tensor loraB, float scale, int n, int inDim, int outDim, int rank)
        => Time("LoraForward", () => inner.LoraForward(y, h, x, w, bias, loraA, loraB, scale, n, inDim, outDim, rank));
    public void LoraBackward(Tensor? dx, Tensor? dw, Tensor? dbias, Tensor? dLoraA, Tensor? dLoraB, Tensor dy, Tensor x, Tensor w, Tensor loraA, Tensor loraB, Tensor h,
        float scale, int n, int inDim, int outDim, int rank)
        => Time("LoraBackward", () => inner.LoraBackward(dx, dw, dbias, dLoraA, dLoraB, dy, x, w, loraA, loraB, h, scale, n, inDim, outDim, rank));
    public void RopeForward(Tensor y, Tensor x, Tensor positions, Tensor invFreq, int n, int heads, int headDim)
        => Time("RopeForward", () => inner.RopeForward(y, x, positions, invFreq, n, heads, headDim));
    public void RopeBackward(Tensor dx, Tensor dy, Tensor positions, Tensor invFreq, int n, int heads, int headDim)
        => Time("RopeBackward", () => inner.RopeBackward(dx, dy, positions, invFreq, n, heads, headDim));
    public void AttentionForward(Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor segments, AttentionShape shape)
        => Time("AttentionForward", () => inner.AttentionForward(output, lse, q, k, v, segments, shape));
    public void AttentionBackward(Tensor? dq, Tensor? dk, Tensor? dv, Tensor dOutput, Tensor output, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor segments, AttentionShape shape)
        => Time("AttentionBackward", () => inner.AttentionBackward(dq, dk, dv, dOutput, output, lse, q, k, v, segments, shape));
    public void CachedAttentionForward(Tensor output, Tensor q, Tensor k, Tensor v, Tensor kCache, Tensor vCache, Tensor slots, CachedAttentionShape shape)
        => Time("CachedAttentionForward", () => inner.CachedAttentionForward(output, q, k, v, kCache, vCache, slots, shape));
    public void GeluForward(Tensor y, Tensor x) => Time("GeluForward", () => inner.GeluForward(y, x));
    public void GeluBackward(Tensor dx, Tensor dy, Tensor x) => Time("GeluBackward", () => inner.GeluBackward(dx, dy, x));
    public void SwiGluForward(Tensor y, Tensor gate, Tensor up) => Time("SwiGluForward", () => inner.SwiGluForward(y, gate, up));
    public void SwiGluBackward(Tensor? dGate, Tensor? dUp, Tensor dy, Tensor gate, Tensor up)
        => Time("SwiGluBackward", () => inner.SwiGluBackward(dGate, dUp, dy, gate, up));
    public void DropoutForward(Tensor y, Tensor x, float p, float scale, uint seed) => Time("DropoutForward", () => inner.DropoutForward(y, x, p, scale, seed));
    public void DropoutBackward(Tensor dx, Tensor dy, float p, float scale, uint seed) => Time("DropoutBackward", () => inner.DropoutBackward(dx, dy, p, scale, seed));
    public void Add(Tensor y, Tensor a, Tensor b) => Time("Add", () => inner.Add(y, a, b));
    public void Accumulate(Tensor dst, Tensor src) => Time("Accumulate", () => inner.Accumulate(dst, src));
    public double CrossEntropyForwardBackward(Tensor? dx, Tensor? dw, Tensor x, Tensor w, Tensor targets, int n, int c, int vocab, float gradScale)
        => Time("CrossEntropy (LM head)", () => inner.CrossEntropyForwardBackward(dx, dw, x, w, targets, n, c, vocab, gradScale));
    public double SumOfSquares(Tensor x) => Time("SumOfSquares", () => inner.SumOfSquares(x));
    public void Scale(Tensor x, float s) => Time("Scale", () => inner.Scale(x, s));
    public void AdamW(Tensor param, Tensor grad, Tensor m, Tensor v, AdamWStep step) => Time("AdamW", () => inner.AdamW(param, grad, m, v, step));

    public void Dispose() => inner.Dispose();
}
